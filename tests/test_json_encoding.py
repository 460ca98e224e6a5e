"""JSON on the hot path: orjson, with the standard library for what orjson refuses."""

import json
from typing import Any

import pytest
from starlette.responses import JSONResponse

from highway_triggers.core.event import RouteResult
from highway_triggers.core.http import accepted
from highway_triggers.db.driver import DriverSQL


@pytest.mark.parametrize(
    "payload",
    [
        {"text": "é ✓", "list": [1, 2.5, None, True], "nested": {"a": {}}},
        {"big": 2**70},  # orjson refuses integers past 64 bits
        {"lone": "\ud800"},  # and lone surrogates
        {1: "key that is not a string"},
    ],
)
def test_payload_json_round_trips_exactly(payload: dict[Any, Any]) -> None:
    text = DriverSQL.json(payload)
    assert json.loads(text) == json.loads(json.dumps(payload))
    assert text.encode("utf-8"), "the text binds as UTF-8 (a lone surrogate stays escaped)"


def test_the_202_answer_has_the_bytes_of_a_starlette_json_response() -> None:
    answer = accepted(RouteResult("ev-1", ("d-1", "d-2"), started=1, resumed=1), "done ✓")
    expected = {
        "status": "accepted",
        "event_id": "ev-1",
        "delivered_to": 2,
        "dispatch_ids": ["d-1", "d-2"],
        "duplicate": False,
        "message": "done ✓",
    }
    assert answer.status_code == 202
    assert answer.body == JSONResponse(expected).body
    assert answer.headers["content-type"] == "application/json"
