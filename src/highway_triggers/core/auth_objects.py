"""Signature and auth objects (``{"type": "hmac", …}``) as pydantic models.

They are a ``WEBHOOK`` trigger's ``auth`` and a per-run webhook's ``signature``, and
what other ingress plugins configure. Secret fields are stored sealed
(:meth:`AuthObject.sealed`); :meth:`AuthObject.check` turns an object into the check a
request must pass, given the cipher's ``unseal``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from highway_triggers.core import signatures
from highway_triggers.core.secrets import SEALED
from highway_triggers.core.signatures import Headers
from highway_triggers.core.validation import HeaderName

Check = Callable[[Headers, bytes, float], None]
"""``check(headers, body, now)``: returns when the request is authentic, else raises 401."""
Unseal = Callable[[str], str]
Secret = Annotated[str, Field(min_length=1, max_length=4096)]


class AuthObject(BaseModel):
    """Base of the objects; ``secret_fields`` name what :meth:`sealed` encrypts."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def sealed(self, seal: Callable[[str], str]) -> Self:
        """A copy whose secret fields are sealed (for storage)."""
        update: dict[str, object] = {}
        for name in self.secret_fields:
            value = getattr(self, name)
            if isinstance(value, str):
                update[name] = seal(value)
            elif isinstance(value, list):
                update[name] = [seal(item) for item in value]
        return self.model_copy(update=update)

    @property
    def redacted_headers(self) -> tuple[str, ...]:
        """Headers carrying this object's signature, hidden in captured request data."""
        return ()

    def delivery_id(self, headers: Headers, body: Any) -> str | None:
        """The id the scheme gives a delivery, the same on each redelivery, or ``None``.

        Ingress deduplicates on it unless configured otherwise. Ask only for a request
        this object's check admitted (where the scheme signs the id, it is then
        authentic); ``body`` is the parsed JSON body, ``None`` when it is not JSON.
        """
        return None

    def check(self, unseal: Unseal, tolerance: float) -> Check:
        """The check for requests; ``tolerance`` bounds signed timestamps (seconds)."""
        raise NotImplementedError


class NoAuth(AuthObject):
    type: Literal["none"] = "none"

    def check(self, unseal: Unseal, tolerance: float) -> Check:
        return lambda headers, body, now: None


class BearerAuth(AuthObject):
    type: Literal["bearer"]
    token: Secret
    secret_fields = ("token",)

    def check(self, unseal: Unseal, tolerance: float) -> Check:
        token = unseal(self.token).encode()
        return lambda headers, body, now: signatures.verify_bearer(
            headers.get("authorization"), token
        )


class BasicAuth(AuthObject):
    type: Literal["basic"]
    username: Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[^:]*$")]
    password: Secret
    secret_fields = ("password",)

    def check(self, unseal: Unseal, tolerance: float) -> Check:
        username, password = self.username.encode(), unseal(self.password).encode()
        return lambda headers, body, now: signatures.verify_basic(
            headers.get("authorization"), username, password
        )


class HmacKeysAuth(AuthObject):
    """A scheme keyed by HMAC secrets: ``secret``, or ``secrets`` during a rotation (any of
    them may have signed)."""

    secret: Secret | None = None
    secrets: Annotated[list[Secret], Field(max_length=16)] = []
    secret_fields = ("secret", "secrets")

    @model_validator(mode="after")
    def _some_secret(self) -> Self:
        _one_or_more(self.secret, self.secrets, "secret")
        return self

    def keys(self, unseal: Unseal) -> list[bytes]:
        """Every secret, unsealed, as the HMAC's key."""
        return [unseal(s).encode() for s in _one_or_more(self.secret, self.secrets, "secret")]


class HmacAuth(HmacKeysAuth):
    """A header holding ``prefix`` + the hex or base64 HMAC of the raw body."""

    type: Literal["hmac"]
    header: HeaderName
    algorithm: Literal["sha256", "sha1"] = "sha256"
    prefix: Annotated[str, Field(max_length=64)] = ""
    encoding: Literal["hex", "base64"] = "hex"

    @property
    def redacted_headers(self) -> tuple[str, ...]:
        return (self.header,)

    def check(self, unseal: Unseal, tolerance: float) -> Check:
        keys = self.keys(unseal)

        def check(headers: Headers, body: bytes, now: float) -> None:
            signatures.verify_hmac(
                body,
                headers.get(self.header),
                keys,
                algorithm=self.algorithm,
                prefix=self.prefix,
                encoding=self.encoding,
            )

        return check


class StandardWebhooksAuth(AuthObject):
    """v1 (HMAC, ``whsec_`` secrets) and v1a (ed25519, ``whpk_`` public keys); the lists
    hold more keys during a rotation, and any of them may have signed."""

    type: Literal["standard-webhooks"]
    secret: Secret | None = None
    secrets: Annotated[list[Secret], Field(max_length=16)] = []
    public_key: Secret | None = None
    public_keys: Annotated[list[Secret], Field(max_length=16)] = []
    secret_fields = ("secret", "secrets")

    @field_validator("secret", "secrets")
    @classmethod
    def _secrets_well_formed(cls, value: str | list[str] | None) -> str | list[str] | None:
        return _each_plaintext(value, signatures.standard_webhooks_key)

    @field_validator("public_key", "public_keys")
    @classmethod
    def _keys_well_formed(cls, value: str | list[str] | None) -> str | list[str] | None:
        return _each_plaintext(value, signatures.standard_webhooks_public_key)

    @model_validator(mode="after")
    def _some_key(self) -> Self:
        if not (self.secret or self.secrets or self.public_key or self.public_keys):
            raise ValueError("give a secret (v1) or a public_key (v1a), or lists of them")
        return self

    def delivery_id(self, headers: Headers, body: Any) -> str | None:
        """``webhook-id`` (or ``svix-id``, beside a Svix signature): the spec's idempotency
        key, covered by the signature."""
        message_id, _, _ = signatures.standard_webhooks_headers(headers)
        return message_id or None

    def check(self, unseal: Unseal, tolerance: float) -> Check:
        secrets = ([self.secret] if self.secret else []) + self.secrets
        public_keys = ([self.public_key] if self.public_key else []) + self.public_keys
        hmac_keys = [signatures.standard_webhooks_key(unseal(s)) for s in secrets]
        verify_keys = [signatures.standard_webhooks_public_key(k) for k in public_keys]

        def check(headers: Headers, body: bytes, now: float) -> None:
            signatures.verify_standard_webhooks(
                headers,
                body,
                hmac_keys=hmac_keys,
                verify_keys=verify_keys,
                tolerance=tolerance,
                now=now,
            )

        return check


class StripeAuth(HmacKeysAuth):
    """``Stripe-Signature``; during Stripe's own rotation it carries several ``v1``, and
    ``secrets`` holds more endpoint secrets (one URL for several endpoints, or a secret
    changed by hand)."""

    type: Literal["stripe"]

    def delivery_id(self, headers: Headers, body: Any) -> str | None:
        """The event's ``id`` (``evt_…``), at the top of the signed body."""
        event_id = body.get("id") if isinstance(body, dict) else None
        return event_id if isinstance(event_id, str) and event_id else None

    def check(self, unseal: Unseal, tolerance: float) -> Check:
        keys = self.keys(unseal)
        return lambda headers, body, now: signatures.verify_stripe(
            headers.get("stripe-signature"), body, keys, tolerance=tolerance, now=now
        )


class GitHubAuth(HmacKeysAuth):
    """``X-Hub-Signature-256``."""

    type: Literal["github"]

    @property
    def redacted_headers(self) -> tuple[str, ...]:
        return ("X-Hub-Signature-256",)

    def check(self, unseal: Unseal, tolerance: float) -> Check:
        keys = self.keys(unseal)
        return lambda headers, body, now: signatures.verify_github(headers, body, keys)


class SlackAuth(AuthObject):
    """Slack's ``v0`` request signature; ``signing_secrets`` holds more during a rotation."""

    type: Literal["slack"]
    signing_secret: Secret | None = None
    signing_secrets: Annotated[list[Secret], Field(max_length=16)] = []
    secret_fields = ("signing_secret", "signing_secrets")

    @model_validator(mode="after")
    def _some_secret(self) -> Self:
        _one_or_more(self.signing_secret, self.signing_secrets, "signing_secret")
        return self

    @property
    def redacted_headers(self) -> tuple[str, ...]:
        return ("X-Slack-Signature",)

    def check(self, unseal: Unseal, tolerance: float) -> Check:
        secrets = _one_or_more(self.signing_secret, self.signing_secrets, "signing_secret")
        keys = [unseal(s).encode() for s in secrets]
        return lambda headers, body, now: signatures.verify_slack(
            headers, body, keys, tolerance=tolerance, now=now
        )


Auth = Annotated[
    NoAuth
    | BearerAuth
    | BasicAuth
    | HmacAuth
    | StandardWebhooksAuth
    | StripeAuth
    | GitHubAuth
    | SlackAuth,
    Field(discriminator="type"),
]
"""Any signature or auth object, chosen by its ``type``."""
_ANY_AUTH: Any = Auth  # mypy's view of an Annotated union as a value varies between runs
AUTH: TypeAdapter[Auth] = TypeAdapter(_ANY_AUTH)


def _one_or_more(single: str | None, more: list[str], name: str) -> list[str]:
    """``single`` and ``more`` as one list; ValueError when both are empty."""
    found = ([single] if single else []) + more
    if not found:
        raise ValueError(f"give a {name} or a list of them ({name}s)")
    return found


def _each_plaintext(
    value: str | list[str] | None, parse: Callable[[str], object]
) -> str | list[str] | None:
    """Check the format of each value that is not sealed (a sealed one was checked before)."""
    for item in [value] if isinstance(value, str) else value or []:
        if not item.startswith(SEALED):
            parse(item)
    return value
