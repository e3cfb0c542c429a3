"""Class scale: the limits that keep one client from locking a class out, with small numbers so the tests are quick.

The cap on connections (a newcomer replaces the longest-waiting idle connection; a 503 at once when all are busy),
the head deadline, the idle timeout for bodies, the per-request and class-wide body limits, tornado's own refusals
answered as JSON, errors kept rather than lost, and the limits as options of the Sandbox and of the command line.
Speed is the benchmark's business (dev/benchmarks/sandbox_bench.py): nothing here is timed beyond "at once".
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
import requests

from perplexity_sandbox import Sandbox, api
from perplexity_sandbox import limits as limits_module
from perplexity_sandbox.__main__ import build_parser
from perplexity_sandbox.http1 import MAX_HEAD_BYTES
from perplexity_sandbox.limits import Limits, MiB
from sandbox_tests.support import AUTH, FAKE_KEY, GUIDE_AGENT, assert_error_envelope, raw_exchange

AGENT_HEAD = f"POST /v1/agent HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer {FAKE_KEY}\r\n"
GUIDE_JSON = json.dumps(GUIDE_AGENT)


@contextmanager
def raw(sandbox: Sandbox, timeout: float = 3.0) -> Iterator[socket.socket]:
    host, port = sandbox.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as conn:
        yield conn


def closed_by_server(conn: socket.socket, within: float) -> bool:
    """True when the server ends the connection (EOF or reset) within ``within`` seconds, reading what comes."""
    conn.settimeout(within)
    try:
        while conn.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def padded(size: int) -> bytes:
    """The guide's request as JSON, padded with spaces to ``size`` bytes."""
    return GUIDE_JSON.encode() + b" " * (size - len(GUIDE_JSON))


# --- the limits, as options --------------------------------------------------------------------


def test_the_limits_have_their_documented_defaults() -> None:
    assert Sandbox().limits == Limits(1000, 10.0, 60.0, 32 * MiB, 128 * MiB, 5.0)
    shown = " ".join(build_parser().format_help().split())
    for default in ("(default 1000)", "(default 10)", "(default 60)", "(default 5)", "(default 32)", "(default 128)"):
        assert default in shown


def test_the_command_line_passes_the_limits_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from perplexity_sandbox import __main__ as cli

    seen: dict = {}
    monkeypatch.setattr(cli, "serve", lambda *args, **options: seen.update(options) or 0)
    argv = ["--max-connections", "50", "--head-timeout", "2", "--idle-timeout", "3", "--stall-timeout", "1.5"]
    assert cli.main([*argv, "--max-body-mib", "1", "--max-bodies-mib", "4"]) == 0
    assert seen["max_connections"] == 50 and (seen["head_timeout"], seen["idle_timeout"]) == (2.0, 3.0)
    assert seen["stall_timeout"] == 1.5
    assert (seen["max_body_size"], seen["max_total_body_size"]) == (MiB, 4 * MiB)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"max_connections": 0}, "max_connections"),
        ({"head_timeout": 0}, "head_timeout"),
        ({"idle_timeout": -1}, "idle_timeout"),
        ({"stall_timeout": 0}, "stall_timeout"),
        ({"max_body_size": 0}, "max_body_size"),
        ({"max_body_size": 2 * MiB, "max_total_body_size": MiB}, "max_total_body_size"),
    ],
)
def test_impossible_limits_are_refused(options: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Sandbox(**options)


def test_the_cap_leaves_descriptors_to_spare_under_the_open_file_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # Beyond the limit a server cannot even accept a connection to refuse it: the cap stays below it.
    monkeypatch.setattr(limits_module.resource, "getrlimit", lambda _: (1024, 1024))
    assert Limits().connection_cap() == 1024 - 128
    assert Limits(max_connections=100).connection_cap() == 100
    monkeypatch.setattr(limits_module.resource, "getrlimit", lambda _: (100, 100))
    assert Limits().connection_cap() == 1


# --- the cap on connections ---------------------------------------------------------------------


def test_at_the_cap_a_newcomer_replaces_the_longest_waiting_idle_connection() -> None:
    with Sandbox(max_connections=3) as server:
        host, port = server.url.removeprefix("http://").split(":")
        idle = [socket.create_connection((host, int(port)), timeout=3) for _ in range(3)]
        try:
            time.sleep(0.1)  # all three accepted, oldest first
            reply = requests.post(server.url_for("/v1/agent"), json=GUIDE_AGENT, headers=AUTH, timeout=5)
            assert reply.status_code == 200
            assert closed_by_server(idle[0], within=2)  # the longest-waiting one made room
            assert not closed_by_server(idle[2], within=0.2)  # the newest idle one is still open
        finally:
            for conn in idle:
                conn.close()


def test_when_every_connection_is_busy_a_newcomer_gets_a_503_at_once() -> None:
    # Two streams in progress (busy: sending a reply) fill a cap of two; the third client is told at once.
    streaming = f"{AGENT_HEAD}Content-Type: application/json\r\nContent-Length: {{}}\r\n\r\n{{}}"
    body = json.dumps({**GUIDE_AGENT, "stream": True})
    with Sandbox(max_connections=2, stream_delay=0.5) as server, raw(server) as first, raw(server) as second:
        for conn in (first, second):
            conn.sendall(streaming.format(len(body), body).encode())
            assert b"event: response.created" in conn.recv(65536)
        started = time.monotonic()
        status, headers, answer = raw_exchange(server, b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n", timeout=3)
        assert time.monotonic() - started < 1.0
    assert status == 503 and headers["retry-after"] == "1" and headers["connection"] == "close"
    assert_error_envelope(answer, 503)
    assert "maximum of 2 connections" in json.loads(answer)["error"]["message"]


# --- deadlines ---------------------------------------------------------------------------------


def test_a_head_sent_a_byte_at_a_time_is_cut_off_at_the_head_deadline() -> None:
    with Sandbox(head_timeout=0.5) as server, raw(server) as conn:
        started = time.monotonic()
        conn.settimeout(0.1)
        for byte in b"GET /v1/models HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa":
            try:
                conn.sendall(bytes([byte]))
                if conn.recv(1) == b"":
                    break
            except TimeoutError:
                continue
            except OSError:
                break
        assert time.monotonic() - started < 2.5  # cut off after 0.5 s, give or take a sweep
        assert requests.get(server.url_for("/v1/models"), timeout=5).status_code == 200


def test_an_idle_keep_alive_connection_closes_after_the_head_deadline() -> None:
    with Sandbox(head_timeout=0.5) as server, raw(server) as conn:
        conn.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
        assert conn.recv(65536).startswith(b"HTTP/1.1 200 ")
        assert closed_by_server(conn, within=2.0)


def test_a_body_that_stops_coming_is_dropped_after_the_idle_timeout_and_its_room_given_back() -> None:
    with Sandbox(idle_timeout=0.5, max_body_size=1000, max_total_body_size=1000) as server:
        with raw(server) as stalled:
            stalled.sendall(f"{AGENT_HEAD}Content-Length: 1000\r\n\r\n{GUIDE_JSON[:10]}".encode())
            time.sleep(0.1)  # its 1000 bytes are reserved: nothing else fits meanwhile
            status, headers, answer = raw_exchange(server, f"{AGENT_HEAD}Content-Length: 600\r\n\r\n".encode())
            assert status == 503 and headers["retry-after"] == "1"
            assert "retry in a moment" in json.loads(answer)["error"]["message"]
            assert closed_by_server(stalled, within=2.0)  # no answer: the body never came
        fits = requests.post(server.url_for("/v1/agent"), data=padded(600), headers=AUTH, timeout=5)
        assert fits.status_code == 200


# --- bodies: per request, and all together ------------------------------------------------------


def test_a_body_over_the_per_request_limit_is_413_from_the_header_alone() -> None:
    with Sandbox(max_body_size=1000, max_total_body_size=1000) as server:
        started = time.monotonic()
        status, headers, answer = raw_exchange(server, f"{AGENT_HEAD}Content-Length: 1001\r\n\r\n0123".encode())
        assert status == 413 and headers["connection"] == "close" and time.monotonic() - started < 2
        assert "larger than 1000 bytes" in json.loads(answer)["error"]["message"]
        chunks = "258\r\n" + " " * 600 + "\r\n" + "258\r\n" + " " * 600 + "\r\n0\r\n\r\n"  # 2 x 600 bytes
        status, headers, answer = raw_exchange(
            server, f"{AGENT_HEAD}Transfer-Encoding: chunked\r\n\r\n{chunks}".encode()
        )
        assert status == 413 and headers["connection"] == "close"
        assert_error_envelope(answer, 413)
        assert requests.post(server.url_for("/v1/agent"), data=padded(1000), headers=AUTH, timeout=5).ok


def test_a_chunked_body_beyond_the_class_wide_budget_is_503() -> None:
    with Sandbox(idle_timeout=5, max_body_size=1000, max_total_body_size=1000) as server, raw(server) as holder:
        holder.sendall(f"{AGENT_HEAD}Content-Length: 950\r\n\r\n{GUIDE_JSON[:10]}".encode())
        time.sleep(0.1)
        chunks = "64\r\n" + " " * 100 + "\r\n0\r\n\r\n"
        status, headers, answer = raw_exchange(
            server, f"{AGENT_HEAD}Transfer-Encoding: chunked\r\n\r\n{chunks}".encode()
        )
        assert status == 503 and headers["connection"] == "close"
        assert_error_envelope(answer, 503)


# --- tornado's own refusals, answered as JSON ---------------------------------------------------


@pytest.mark.parametrize(
    ("head", "status", "words"),
    [
        (b"GET /v1/models HTTP/1.1\r\nX-Bad: a\x01b\r\n\r\n", 400, "header line"),  # a control character
        (b"GET /v1/models HTTP/1.1\r\nX-Folded: a\r\n b\r\n\r\n", 400, "folded"),  # obsolete line folding
        (b"GET /v1/models HTTP/1.1\r\nNo colon here\r\n\r\n", 400, "header line"),
        (b"GET  /v1/models HTTP/1.1\r\n\r\n", 400, "request line"),  # two spaces
        (b"GET /v1/models HTTP/1.2\r\n\r\n", 505, "HTTP/1.1"),
        (b"GET /v1/models HTTP/2.0\r\n\r\n", 505, "HTTP/1.1"),
    ],
)
def test_heads_tornado_would_refuse_bare_get_a_json_answer(
    sandbox: Sandbox, head: bytes, status: int, words: str
) -> None:
    got, headers, body = raw_exchange(sandbox, head)
    assert got == status and headers["content-type"] == "application/json" and headers["connection"] == "close"
    assert_error_envelope(body, status)
    assert words in json.loads(body)["error"]["message"]


def test_a_head_that_never_ends_is_cut_off_and_the_server_carries_on(sandbox: Sandbox) -> None:
    with raw(sandbox) as conn:
        with contextlib.suppress(OSError):  # the server may hang up while this is still being sent
            conn.sendall(b"GET /v1/models HTTP/1.1\r\n" + b"X-Long: " + b"a" * (MAX_HEAD_BYTES + 1024))
        assert closed_by_server(conn, within=3)
    assert requests.get(sandbox.url_for("/v1/models"), timeout=5).status_code == 200


# --- errors are kept, never lost; stop() is quick ------------------------------------------------


def test_an_error_in_the_server_thread_is_a_500_and_is_kept(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a bug in an endpoint")

    monkeypatch.setattr(api, "agent", broken)
    caplog.set_level(logging.INFO, logger="perplexity_sandbox")
    reply = requests.post(sandbox.url_for("/v1/agent"), json=GUIDE_AGENT, headers=AUTH, timeout=5)
    assert reply.status_code == 500 and reply.headers["Connection"] == "close"
    assert "Traceback" not in reply.text and "a bug" not in reply.text
    assert [str(error) for error in sandbox.errors] == ["a bug in an endpoint"]
    logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(logged) == 1 and logged[0].exc_info is not None


def test_stop_hangs_up_on_streams_in_progress_at_once() -> None:
    server = Sandbox(stream_delay=1.0).start()
    body = json.dumps({**GUIDE_AGENT, "stream": True})
    with raw(server) as conn:
        conn.sendall(f"{AGENT_HEAD}Content-Length: {len(body)}\r\n\r\n{body}".encode())
        assert b"response.created" in conn.recv(65536)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2 and not server.is_running
        assert closed_by_server(conn, within=2)


def test_many_paced_streams_at_once_each_arrive_whole_and_in_order() -> None:
    # The pacer serves every stream from one queue: each still gets all its events, in sequence.
    with Sandbox(stream_delay=0.01) as server:
        url = server.url_for("/v1/agent")

        def one(_: int) -> list[int]:
            reply = requests.post(url, json={**GUIDE_AGENT, "stream": True}, headers=AUTH, timeout=10)
            lines = [line for line in reply.text.splitlines() if line.startswith("data: ")]
            return [json.loads(line[6:])["sequence_number"] for line in lines]

        with ThreadPoolExecutor(20) as pool:
            numbers = list(pool.map(one, range(20)))
    assert all(sequence == list(range(len(numbers[0]))) for sequence in numbers) and len(numbers[0]) > 20
