"""What the DeploymentService does before it stores triggers: configs prepared by their
type (defaults from the workflow, secrets sealed) and exclusive index keys refused with
409 when taken, in the deploy's transaction, for deploys and stand-alone triggers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from highway_triggers import BaseTrigger, TriggerConfig
from highway_triggers.core.deployment import DeploymentService
from highway_triggers.core.errors import ConfigError, HTTPError
from highway_triggers.core.secrets import SEALED, SecretCipher
from highway_triggers.db import migrate
from highway_triggers.db.database import Database

CIPHER = SecretCipher("test-predeploy")


class PathConfig(TriggerConfig):
    path: str
    password: str = ""


class PathTrigger(BaseTrigger):
    """A path no two active triggers share; the path defaults to the workflow id."""

    subtype = "PATHED"
    Config = PathConfig
    exclusive_index_key = True

    @classmethod
    def index_key(cls, config: PathConfig) -> str:
        return config.path

    @classmethod
    def prepare_config(
        cls, config: dict[str, Any], *, workflow_id: str, seal: Callable[[str], str]
    ) -> dict[str, Any]:
        prepared = {"path": workflow_id, **config}
        if "password" in prepared:
            prepared["password"] = seal(prepared["password"])
        return prepared


class TopicTrigger(BaseTrigger):
    subtype = "TOPIC"

    @classmethod
    def index_key(cls, config: TriggerConfig) -> str:
        return "shared"


TYPES: dict[str, type[BaseTrigger]] = {"PATHED": PathTrigger, "TOPIC": TopicTrigger}


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    migrate.upgrade(database)
    yield database
    database.close()


def service(db: Database) -> DeploymentService:
    return DeploymentService(db, TYPES, CIPHER)


def deploy(db: Database, workflow_id: str, body: Any) -> dict[str, Any]:
    return service(db).deploy(workflow_id, body)


def conflict(db: Database, workflow_id: str, body: dict[str, Any]) -> str:
    with pytest.raises(HTTPError) as caught:
        deploy(db, workflow_id, body)
    assert (caught.value.status, caught.value.code) == (409, "INDEX_KEY_IN_USE")
    status = service(db).status(workflow_id)
    assert status is not None and status["status"] == "DEPLOYMENT_FAILED"
    return caught.value.message


def pathed(**config: Any) -> dict[str, Any]:
    return {"triggers": [{"type": "PATHED", "config": config}]}


def test_configs_are_prepared_in_both_body_forms(db: Database) -> None:
    body = pathed(password="hunter2")
    (trigger,) = deploy(db, "wf-a", body)["triggers"]
    assert trigger["config"]["path"] == "wf-a" and trigger["config"]["password"].startswith(SEALED)
    assert CIPHER.unseal(trigger["config"]["password"]) == "hunter2"
    assert body == pathed(password="hunter2")  # the caller's body is left alone

    nodes = {
        "nodes": [
            {"type": "TRIGGER", "subtype": "PATHED", "configurations": {"path": "p"}},
            {"type": "TASK"},
        ]
    }
    (trigger,) = deploy(db, "wf-b", nodes)["triggers"]
    assert trigger["config"] == {"path": "p", "password": "", "on_fire": "start"}
    # what validation refuses is left for it to name
    with pytest.raises(ConfigError) as caught:
        deploy(db, "wf-c", {"triggers": [{"type": "NOPE"}, {"type": "PATHED", "config": 3}]})
    assert [e["field"] for e in caught.value.errors] == ["triggers[0].type", "triggers[1].config"]


def test_the_stored_config_and_spec_hold_no_plaintext_secret(db: Database) -> None:
    status = deploy(db, "wf-a", pathed(password="hunter2"))
    (trigger,) = status["triggers"]
    assert trigger["config"]["password"].startswith(SEALED)
    with db.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT spec FROM deployments").scalar()
    assert "hunter2" not in str(stored)


def test_an_exclusive_key_in_use_is_refused(db: Database) -> None:
    deploy(db, "wf-a", pathed(path="orders"))
    message = conflict(db, "wf-b", pathed(path="orders"))
    assert "'orders'" in message and "'wf-a'" in message
    deploy(db, "wf-b", pathed(path="refunds"))
    deploy(db, "wf-a", pathed(path="orders", password="x"))  # a redeploy replaces its own
    conflict(db, "wf-c", {"triggers": [{"type": "PATHED", "config": {"path": "x"}}] * 2})
    conflict(db, "refunds", pathed())  # the default path is the workflow id, and it is taken

    service(db).undeploy("wf-a")
    deploy(db, "wf-b", {"triggers": [{"type": "PATHED", "config": {"path": "orders"}}]})
    # other types' keys are shared freely
    deploy(db, "wf-d", {"triggers": [{"type": "TOPIC", "config": {}}]})
    deploy(db, "wf-e", {"triggers": [{"type": "TOPIC", "config": {}}]})


def test_stand_alone_triggers_are_prepared_and_checked(db: Database) -> None:
    deploy(db, "wf-a", pathed(path="orders"))
    with pytest.raises(HTTPError) as caught:
        service(db).create_trigger(
            {"type": "PATHED", "config": {"path": "orders"}, "workflow_id": "x"}
        )
    assert caught.value.code == "INDEX_KEY_IN_USE"
    created = service(db).create_trigger(
        {"type": "PATHED", "config": {"password": "pw"}, "workflow_id": "wf-s"}
    )
    assert created["config"]["path"] == "wf-s" and created["config"]["password"].startswith(SEALED)
    same = {"type": "PATHED", "config": {"path": "wf-s"}}
    assert service(db).update_trigger(created["trigger_id"], same) is not None  # its own key
    with pytest.raises(HTTPError):
        service(db).update_trigger(
            created["trigger_id"], {"type": "PATHED", "config": {"path": "orders"}}
        )


def test_sealing_and_unsealing() -> None:
    sealed = CIPHER.seal("s3cret")
    assert sealed.startswith(SEALED) and "s3cret" not in sealed
    assert CIPHER.seal(sealed) == sealed
    assert CIPHER.unseal(sealed) == "s3cret"
    assert CIPHER.unseal("plain") == "plain"
    assert CIPHER.seal("s3cret") != sealed  # a fresh nonce each time
