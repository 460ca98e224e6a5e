from highway_triggers.testing import RunningGateway, wait_until


def test_manual_trigger_start_is_recorded(gateway: RunningGateway) -> None:
    client = gateway.client()
    deployed = client.post(
        "/api/v1/deployment/workflows/wf-1/deploy",
        json={"triggers": [{"type": "MANUAL", "config": {}}]},
    )
    assert deployed.status_code == 200, deployed.text
    answer = client.post("/api/v1/triggers/workflows/wf-1/manual", json={"data": {"n": 1}})
    assert answer.status_code == 202
    assert answer.json()["delivered_to"] == 1
    recorder = gateway.gateway.engine
    wait_until(lambda: len(recorder.calls) == 1)
    assert recorder.calls[0].workflow_id == "wf-1"
    assert recorder.calls[0].data["trigger_data"] == {"n": 1}
