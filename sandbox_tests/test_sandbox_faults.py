"""Fault injection: per-request header and server-wide option."""

from __future__ import annotations

import pytest
import requests

from perplexity_sandbox import Sandbox
from sandbox_tests.support import AUTH, FAKE_KEY, GUIDE_AGENT


@pytest.mark.parametrize(
    ("fault", "status"),
    [("rate_limit", 429), ("server_error", 500), ("bad_gateway", 502), ("unavailable", 503), ("gateway_timeout", 504)],
)
def test_status_faults_by_header(sandbox: Sandbox, fault: str, status: int) -> None:
    reply = requests.post(
        sandbox.url_for("/v1/agent"), json=GUIDE_AGENT, headers={**AUTH, "X-Sandbox-Fault": fault}, timeout=5
    )
    assert reply.status_code == status and reply.json()["error"]["code"] == status
    if status == 429:
        assert reply.headers["Retry-After"] == "1"


def test_failed_run_is_wrapped_in_200(sandbox: Sandbox) -> None:
    reply = requests.post(
        sandbox.url_for("/v1/agent"), json=GUIDE_AGENT, headers={**AUTH, "X-Sandbox-Fault": "failed"}, timeout=5
    )
    assert reply.status_code == 200
    assert reply.json()["status"] == "failed" and reply.json()["error"]["message"]


def test_drop_closes_without_an_answer(sandbox: Sandbox) -> None:
    with pytest.raises(requests.ConnectionError):
        requests.post(
            sandbox.url_for("/v1/agent"), json=GUIDE_AGENT, headers={**AUTH, "X-Sandbox-Fault": "drop"}, timeout=5
        )


def test_truncated_stream_has_no_terminal_event() -> None:
    with Sandbox(fault="truncate_stream") as server:
        reply = requests.post(
            server.url_for("/v1/agent"),
            json={**GUIDE_AGENT, "stream": True},
            headers={"Authorization": f"Bearer {FAKE_KEY}"},
            stream=True,
            timeout=5,
        )
        received = b""
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            for chunk in reply.iter_content(None):
                received += chunk
    assert b"response.created" in received and b"response.completed" not in received


def test_slow_answers_after_the_delay(sandbox: Sandbox) -> None:
    with pytest.raises(requests.Timeout):
        requests.post(
            sandbox.url_for("/v1/agent"),
            json=GUIDE_AGENT,
            timeout=(2, 0.3),
            headers={**AUTH, "X-Sandbox-Fault": "slow", "X-Sandbox-Delay": "1"},
        )


def test_unknown_fault_is_a_clear_400(sandbox: Sandbox) -> None:
    reply = requests.post(
        sandbox.url_for("/v1/agent"), json=GUIDE_AGENT, headers={**AUTH, "X-Sandbox-Fault": "meteor"}, timeout=5
    )
    assert reply.status_code == 400 and "rate_limit" in reply.json()["error"]["message"]
    with pytest.raises(ValueError, match="Unknown fault"):
        Sandbox(fault="meteor")


# The fault switches are part of the sandbox's documented HTTP interface: clients (the tutorial's
# playground among them) write these names literally, so the names themselves are tested here.
DOCUMENTED_FAULT_HEADER = "X-Sandbox-Fault"
DOCUMENTED_DELAY_HEADER = "X-Sandbox-Delay"


def test_the_documented_header_names_are_the_ones_the_server_honours(sandbox: Sandbox) -> None:
    import time
    from pathlib import Path

    from perplexity_sandbox import DELAY_HEADER, FAULT_HEADER

    assert (FAULT_HEADER, DELAY_HEADER) == (DOCUMENTED_FAULT_HEADER, DOCUMENTED_DELAY_HEADER)
    docs = (Path(__file__).resolve().parents[1] / "docs" / "sandbox.md").read_text(encoding="utf-8")
    assert f"`{DOCUMENTED_FAULT_HEADER}: <name>`" in docs and f"`{DOCUMENTED_DELAY_HEADER}`" in docs
    url = sandbox.url_for("/v1/agent")
    failed = requests.post(url, json=GUIDE_AGENT, headers={**AUTH, DOCUMENTED_FAULT_HEADER: "server_error"}, timeout=5)
    assert failed.status_code == 500
    started = time.monotonic()
    slow = {**AUTH, DOCUMENTED_FAULT_HEADER: "slow", DOCUMENTED_DELAY_HEADER: "0.3"}
    assert requests.post(url, json=GUIDE_AGENT, headers=slow, timeout=5).status_code == 200
    assert 0.3 <= time.monotonic() - started < 2.5  # the header's delay, not the 3 s default
