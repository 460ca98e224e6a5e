"""The plugin API: everything a plugin uses besides ``hookimpl``, ``BaseTrigger``,
``TriggerConfig``, ``Event`` and ``RouteResult`` (importable from ``highway_triggers``).

A plugin's source imports ``highway_triggers`` and this module, nothing else of the
package; ``docs/plugins.md`` describes every name here. The names are a contract: a
test lists them, so that changing them is a deliberate act.
"""

from highway_triggers.client import HighwayClient
from highway_triggers.core.archive import DeliveryArchive
from highway_triggers.core.auth_objects import (
    AUTH,
    Auth,
    AuthObject,
    BasicAuth,
    BearerAuth,
    GitHubAuth,
    HmacAuth,
    NoAuth,
    SlackAuth,
    StandardWebhooksAuth,
    StripeAuth,
)
from highway_triggers.core.changes import announce
from highway_triggers.core.context import GatewayContext, PluginWaits, TriggerLookup
from highway_triggers.core.deployment import Deployments
from highway_triggers.core.engine import EngineAdapter, EngineError, PausedRun
from highway_triggers.core.errors import ConfigError, HTTPError
from highway_triggers.core.guard import Admitted, IngressGuard, admit_first
from highway_triggers.core.http import (
    FORM,
    accepted,
    admin,
    admin_or_tenant,
    context_of,
    duplicate,
    form_fields,
    form_payload,
    media_type,
    read_body,
    read_json,
    read_object,
)
from highway_triggers.core.ingress import Claim
from highway_triggers.core.ipfilter import Networks
from highway_triggers.core.json_body import parse_json
from highway_triggers.core.jitter import hash_jitter
from highway_triggers.core.leases import Leases
from highway_triggers.core.links import LinkError, SignedLinks
from highway_triggers.core.openapi import Accepted, Partial, operation
from highway_triggers.core.pages import SECURITY_HEADERS, Pages, html_endpoint
from highway_triggers.core.plugin_settings import BaseUrl, PluginSettings, PluginSettingsError
from highway_triggers.core.tasks import Tasks
from highway_triggers.core.validation import (
    DELIVERY_ID_SCHEMA,
    IDENTIFIER_SCHEMA,
    HeaderName,
    Identifier,
    JsonSchema,
    Printable,
    RequestBody,
    check_delivery_id,
    path_identifier,
    query_identifier,
)
from highway_triggers.core.waits import WaitRequest
from highway_triggers.db.columns import JSONType, UtcDateTime, driver_timestamp, utcnow
from highway_triggers.db.database import Database
from highway_triggers.db.driver import DriverSQL, placeholder
from highway_triggers.db.pruning import delete_oldest
from highway_triggers.gateway_commands import (
    connect,
    gateway_options,
    json_option,
    show,
    show_answer,
)
from highway_triggers.table import table

__all__ = [
    "AUTH",
    "DELIVERY_ID_SCHEMA",
    "FORM",
    "IDENTIFIER_SCHEMA",
    "SECURITY_HEADERS",
    "Accepted",
    "Admitted",
    "Auth",
    "AuthObject",
    "BaseUrl",
    "BasicAuth",
    "BearerAuth",
    "Claim",
    "ConfigError",
    "Database",
    "Deployments",
    "DeliveryArchive",
    "DriverSQL",
    "EngineAdapter",
    "EngineError",
    "GatewayContext",
    "GitHubAuth",
    "HTTPError",
    "HeaderName",
    "HighwayClient",
    "HmacAuth",
    "Identifier",
    "IngressGuard",
    "JSONType",
    "JsonSchema",
    "Leases",
    "LinkError",
    "Networks",
    "NoAuth",
    "Pages",
    "Partial",
    "PausedRun",
    "PluginSettings",
    "PluginSettingsError",
    "PluginWaits",
    "Printable",
    "RequestBody",
    "SignedLinks",
    "SlackAuth",
    "StandardWebhooksAuth",
    "StripeAuth",
    "Tasks",
    "TriggerLookup",
    "UtcDateTime",
    "WaitRequest",
    "accepted",
    "admin",
    "admin_or_tenant",
    "admit_first",
    "announce",
    "check_delivery_id",
    "connect",
    "context_of",
    "delete_oldest",
    "driver_timestamp",
    "duplicate",
    "form_fields",
    "form_payload",
    "gateway_options",
    "hash_jitter",
    "html_endpoint",
    "json_option",
    "media_type",
    "operation",
    "parse_json",
    "path_identifier",
    "placeholder",
    "query_identifier",
    "read_body",
    "read_json",
    "read_object",
    "show",
    "show_answer",
    "table",
    "utcnow",
]
