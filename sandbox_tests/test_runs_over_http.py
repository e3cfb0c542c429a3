"""Stored and background runs over real HTTP, with plain requests and with the official SDK.

``GET /v1/agent/{id}`` and ``GET /v1/responses/{id}`` (the SDK's ``responses.retrieve``) return a
stored run; ``POST .../{id}/cancel`` cancels a background one. Each needs the key.
"""

from __future__ import annotations

import time

import perplexity
import pytest
import requests

from perplexity_sandbox import Sandbox
from sandbox_tests.support import AUTH, FAKE_KEY

BODY = {"model": "perplexity/sonar", "input": "What is the capital of France?"}


def create(sandbox: Sandbox, **fields: object) -> dict:
    reply = requests.post(sandbox.url_for("/v1/agent"), json={**BODY, **fields}, headers=AUTH, timeout=5)
    assert reply.status_code == 200, reply.text
    return reply.json()


@pytest.mark.parametrize("prefix", ["/v1/agent", "/v1/responses"])
def test_a_stored_run_is_retrieved(sandbox: Sandbox, prefix: str) -> None:
    run = create(sandbox)
    assert run["store"] is True
    again = requests.get(sandbox.url_for(f"{prefix}/{run['id']}"), headers=AUTH, timeout=5)
    assert again.status_code == 200 and again.json()["id"] == run["id"] and again.json()["status"] == "completed"


def test_an_unstored_run_and_an_unknown_id_are_404(sandbox: Sandbox) -> None:
    run = create(sandbox, store=False)
    for run_id in (run["id"], "resp_unknown"):
        reply = requests.get(sandbox.url_for(f"/v1/agent/{run_id}"), headers=AUTH, timeout=5)
        assert reply.status_code == 404 and reply.json()["error"]["type"]


def test_retrieving_needs_the_key(sandbox: Sandbox) -> None:
    run = create(sandbox)
    assert requests.get(sandbox.url_for(f"/v1/agent/{run['id']}"), timeout=5).status_code == 401


def test_a_background_run_is_queued_then_completes_and_can_be_cancelled(sandbox: Sandbox) -> None:
    queued = create(sandbox, background=True, input="Background question one?")
    assert queued["status"] == "queued" and queued["output"] == []
    statuses = set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "completed" not in statuses:
        statuses.add(
            requests.get(sandbox.url_for(f"/v1/agent/{queued['id']}"), headers=AUTH, timeout=5).json()["status"]
        )
        time.sleep(0.05)
    assert {"in_progress", "completed"} <= statuses
    other = create(sandbox, background=True, input="Background question two?")
    cancel = requests.post(sandbox.url_for(f"/v1/responses/{other['id']}/cancel"), headers=AUTH, timeout=5)
    assert cancel.status_code == 200
    after = requests.get(sandbox.url_for(f"/v1/responses/{other['id']}"), headers=AUTH, timeout=5).json()
    assert after["status"] == "cancelled"


def test_the_sdk_retrieves_and_cancels(sandbox: Sandbox) -> None:
    with perplexity.Perplexity(api_key=FAKE_KEY, base_url=sandbox.url, max_retries=0) as client:
        made = client.responses.create(model="perplexity/sonar", input="What is the capital of France?")
        assert client.responses.retrieve(made.id).id == made.id
        background = client.responses.create(model="perplexity/sonar", input="Another one?", background=True)
        assert background.status == "queued"
        client.responses.cancel(background.id)
        assert client.responses.retrieve(background.id).status == "cancelled"


def test_the_practice_endpoint_accepts_an_api_key_header_or_basic_auth(sandbox: Sandbox) -> None:
    url = sandbox.url_for("/practice/auth")
    assert requests.get(url, headers={"X-API-Key": "k"}, timeout=5).json()["auth"] == "X-API-Key header"
    assert requests.get(url, auth=("ada", "pw"), timeout=5).json()["username"] == "ada"
    assert requests.get(url, timeout=5).status_code == 401
