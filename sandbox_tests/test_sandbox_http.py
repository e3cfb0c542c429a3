"""The sandbox's HTTP layer: odd requests, big bodies, methods, logging, rate limiting, the CLI."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from perplexity_sandbox import Sandbox
from perplexity_sandbox.server import MAX_BODY_BYTES
from sandbox_tests.support import AUTH, FAKE_KEY, GUIDE_AGENT, assert_error_envelope, raw_exchange

ROOT = Path(__file__).resolve().parents[1]


def test_wrong_content_type_is_415(sandbox: Sandbox) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        reply = requests.post(
            sandbox.url_for("/v1/agent"),
            data=json.dumps(GUIDE_AGENT),
            headers={**AUTH, "Content-Type": content_type},
            timeout=5,
        )
        assert reply.status_code == 415 and "application/json" in reply.json()["error"]["message"]
    ok = requests.post(
        sandbox.url_for("/v1/agent"),
        data=json.dumps(GUIDE_AGENT),
        headers={**AUTH, "Content-Type": "application/json; charset=utf-8"},
        timeout=5,
    )
    assert ok.status_code == 200


def test_oversized_body_is_413_from_the_header_alone(sandbox: Sandbox) -> None:
    # Only 10 bytes of the announced 32 MiB + 1 are sent: the answer must come without waiting for the rest.
    head = (
        f"POST /v1/agent HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {FAKE_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n"
    )
    started = time.monotonic()
    status, headers, body = raw_exchange(sandbox, head.encode() + b"0123456789")
    assert status == 413 and headers["connection"] == "close"
    assert_error_envelope(body, 413)
    assert time.monotonic() - started < 3


def test_oversized_body_sent_in_full_still_gets_413(sandbox: Sandbox) -> None:
    reply = requests.post(
        sandbox.url_for("/v1/agent"),
        data=b" " * (MAX_BODY_BYTES + 1),
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=30,
    )
    assert reply.status_code == 413 and reply.json()["error"]["type"] == "payload_too_large"


def test_chunked_request_body_is_read(sandbox: Sandbox) -> None:
    def pieces():  # a generator body makes requests send Transfer-Encoding: chunked
        text = json.dumps(GUIDE_AGENT).encode()
        yield text[:10]
        yield text[10:]

    reply = requests.post(
        sandbox.url_for("/v1/agent"), data=pieces(), headers={**AUTH, "Content-Type": "application/json"}, timeout=5
    )
    assert reply.status_code == 200 and reply.json()["status"] == "completed"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"NONSENSE\r\n\r\n", 400),
        (b"GET /v1/models HTTP/9.9\r\n\r\n", 505),
        (b"GET /v1/models HTTP/1.1\r\n" + b"X-Many: 1\r\n" * 150 + b"\r\n", 431),
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414),
        (
            b"POST /v1/agent HTTP/1.1\r\nAuthorization: Bearer "
            + FAKE_KEY.encode()
            + b"\r\nContent-Length: -5\r\n\r\n",
            400,
        ),
        (
            b"POST /v1/agent HTTP/1.1\r\nAuthorization: Bearer "
            + FAKE_KEY.encode()
            + b"\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
        ),
        (b"BREW /v1/agent HTTP/1.1\r\nConnection: close\r\n\r\n", 405),
        (b"DELETE /v1/models HTTP/1.1\r\nConnection: close\r\n\r\n", 405),
    ],
)
def test_malformed_requests_get_a_json_error(sandbox: Sandbox, request_bytes: bytes, status: int) -> None:
    got, headers, body = raw_exchange(sandbox, request_bytes)
    assert got == status and headers["content-type"] == "application/json"
    assert_error_envelope(body, status)
    assert b"Traceback" not in body
    assert requests.get(sandbox.url_for("/v1/models"), timeout=5).status_code == 200


def test_wrong_method_names_the_allowed_one(sandbox: Sandbox) -> None:
    reply = requests.put(sandbox.url_for("/v1/agent"), json=GUIDE_AGENT, headers=AUTH, timeout=5)
    assert reply.status_code == 405 and reply.headers["Allow"] == "POST"
    assert reply.json()["error"]["type"] == "method_not_allowed"
    head = requests.head(sandbox.url_for("/v1/agent"), timeout=5)
    assert head.status_code == 405 and head.content == b""


def test_keep_alive_survives_errors(sandbox: Sandbox) -> None:
    with requests.Session() as session:
        statuses = [
            session.get(sandbox.url_for("/nowhere"), timeout=5).status_code,
            session.post(sandbox.url_for("/v1/agent"), data=b"{nope", headers=AUTH, timeout=5).status_code,
            session.post(sandbox.url_for("/v1/agent"), json=GUIDE_AGENT, headers=AUTH, timeout=5).status_code,
        ]
    assert statuses == [404, 400, 200]


def test_keep_alive_survives_a_body_on_a_route_that_ignores_it(sandbox: Sandbox) -> None:
    # The unread body of the first request must not be parsed as the next request on the same connection.
    models = sandbox.url_for("/v1/models")
    with requests.Session() as session:
        first = session.get(models, json={"x": 1}, timeout=5)
        second = session.get(models, timeout=5)
        third = session.post(sandbox.url_for("/v1/agent"), json=GUIDE_AGENT, headers=AUTH, timeout=5)
    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 200), second.text
    assert first.json() == second.json()


def test_stop_hangs_up_on_keep_alive_connections() -> None:
    with requests.Session() as session:
        server = Sandbox().start()
        url = server.url_for("/v1/models")
        assert session.get(url, timeout=5).status_code == 200
        server.stop()
        with pytest.raises(requests.ConnectionError):
            session.get(url, timeout=5)


def test_one_log_line_per_request_without_the_key(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="perplexity_sandbox")
    requests.post(sandbox.url_for("/v1/agent"), json=GUIDE_AGENT, headers=AUTH, timeout=5)
    requests.post(
        sandbox.url_for(f"/v1/agent?api_key={FAKE_KEY}"), json={**GUIDE_AGENT, "stream": True}, headers=AUTH, timeout=5
    )
    requests.get(sandbox.url_for(f"/{FAKE_KEY}"), timeout=5)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(lines) == 3
    assert '"POST /v1/agent" 200' in lines[0] and '"POST /v1/agent" 200' in lines[1] and " 404 " in lines[2]
    assert "key#" in lines[0] and lines[0].split()[-1] == lines[1].split()[-1]
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert FAKE_KEY not in everything and FAKE_KEY[5:25] not in everything


def test_rate_limit_per_key() -> None:
    other = {"Authorization": "Bearer pplx-" + "0th3r" * 8}
    with Sandbox(rate_limit=2) as server:
        url = server.url_for("/v1/agent")
        statuses = [requests.post(url, json=GUIDE_AGENT, headers=AUTH, timeout=5) for _ in range(3)]
        assert [r.status_code for r in statuses] == [200, 200, 429]
        limited = statuses[-1]
        assert limited.json()["error"]["type"] == "request_rate_limit_exceeded"
        assert limited.headers["Retry-After"] == "1" and 0 < int(limited.headers["retry-after-ms"]) <= 1000
        assert requests.post(url, json=GUIDE_AGENT, headers=other, timeout=5).status_code == 200
        time.sleep(int(limited.headers["retry-after-ms"]) / 1000)
        assert requests.post(url, json=GUIDE_AGENT, headers=AUTH, timeout=5).status_code == 200


def test_stream_delay_spaces_events() -> None:
    with Sandbox(stream_delay=0.02) as server:
        started = time.monotonic()
        reply = requests.post(
            server.url_for("/v1/agent"), json={**GUIDE_AGENT, "stream": True}, headers=AUTH, timeout=10
        )
        events = reply.text.count("event: ")
    assert time.monotonic() - started >= 0.02 * (events - 1)


def test_invalid_server_options_are_refused() -> None:
    with pytest.raises(ValueError, match="rate_limit"):
        Sandbox(rate_limit=0)
    with pytest.raises(ValueError, match="stream_delay"):
        Sandbox(stream_delay=-1)


def test_standalone_command_serves_logs_and_stops() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "perplexity_sandbox", "--port", "0", "--rate-limit", "100"]
    with subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        err_lines: list[str] = []
        reader = threading.Thread(target=lambda: err_lines.extend(iter(process.stderr.readline, "")), daemon=True)
        reader.start()
        try:
            first_line = process.stdout.readline()
            base_url = first_line.split("serving at ")[1].split()[0]
            reply = requests.post(base_url + "/v1/agent", json=GUIDE_AGENT, headers=AUTH, timeout=5)
            assert reply.status_code == 200
            # The request line is logged just after the reply is sent: wait for it before stopping.
            deadline = time.monotonic() + 5
            while not any("/v1/agent" in line for line in err_lines) and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            process.terminate()
        process.wait(timeout=10)
        out = process.stdout.read()  # stderr belongs to the reader thread alone
        reader.join(timeout=5)
    err = "".join(err_lines)
    assert process.returncode == 0 and "Sandbox stopped." in out
    request_lines = [line for line in err.splitlines() if "/v1/agent" in line]
    assert len(request_lines) == 1 and " 200 " in request_lines[0]
    assert FAKE_KEY not in err + out


def test_standalone_command_explains_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    from perplexity_sandbox.__main__ import main

    assert main(["--port", "0", "--rate-limit", "-1"]) == 2
    assert "rate_limit must be a positive number" in capsys.readouterr().err


def test_the_cli_refuses_a_port_out_of_range_with_a_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    from perplexity_sandbox.__main__ import main

    with pytest.raises(SystemExit) as stopped:
        main(["--port", "70000"])
    assert stopped.value.code == 2
    assert "70000 is not a port number" in capsys.readouterr().err


def test_answers_carry_real_utf8_not_escapes(sandbox: Sandbox) -> None:
    body = {"model": "perplexity/sonar", "input": "What is the capital of France?"}
    plain = requests.post(sandbox.url_for("/v1/agent"), json=body, headers=AUTH, timeout=5)
    streamed = requests.post(sandbox.url_for("/v1/agent"), json={**body, "stream": True}, headers=AUTH, timeout=5)
    for raw in (plain.content, streamed.content):
        assert "Île-de-France".encode() in raw and b"\\u00ce" not in raw
    assert "Île-de-France" in plain.json()["output"][-1]["content"][0]["text"]
