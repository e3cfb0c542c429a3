"""One classmate cannot spoil a class: what a single client can take from a class sandbox is bounded.

A class shares one sandbox and, mostly, one demo key. These tests take the part of the classmate who (by mistake or
not) sends the same request as everyone, reads someone else's run, sends megabytes of settings to be stored, never
reads a reply, sends bodies made of many tiny JSON values, or makes up a key per request; and they check that the
others are unaffected. Work on the event loop is counted, not timed: the machine is shared, counts are not.

New names are reached through their modules (``limits.RateLimiter``, ``validation.json_work``), so that against an
older sandbox each test fails on its own rather than the whole file failing to import.
"""

from __future__ import annotations

import asyncio
import gc
import json
import re
import socket
import threading
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from perplexity_sandbox import Sandbox, answers, api, core, limits, runs, validation
from perplexity_sandbox.limits import MiB
from perplexity_sandbox.runs import RunStore
from sandbox_tests.support import AUTH, FAKE_KEY, GUIDE_AGENT

OTHER_AUTH = {"Authorization": "Bearer pplx-" + "0th3r" * 8}
AGENT_HEAD = f"POST /v1/agent HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer {FAKE_KEY}\r\n"


def post(sandbox: Sandbox, body: dict, headers: dict[str, str] = AUTH) -> requests.Response:
    return requests.post(sandbox.url_for("/v1/agent"), json=body, headers=headers, timeout=10)


def get_run(sandbox: Sandbox, run_id: str, headers: dict[str, str] = AUTH) -> requests.Response:
    return requests.get(sandbox.url_for(f"/v1/agent/{run_id}"), headers=headers, timeout=10)


def values_in(value: Any) -> int:
    """Every JSON value in ``value``: scalars, arrays and objects (not the members' names)."""
    count, pending = 0, [value]
    while pending:
        item = pending.pop()
        count += 1
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return count


# --- stored runs: random ids, one run per request, the maker's key only ------------------------


def test_the_same_body_twice_makes_two_runs_with_ids_of_their_own(sandbox: Sandbox) -> None:
    # A class sends the same body with the same demo key: an id derived from the request would be everyone's.
    first, second = post(sandbox, GUIDE_AGENT).json(), post(sandbox, GUIDE_AGENT).json()
    assert first["id"] != second["id"]
    for made in (first, second):
        assert re.fullmatch(r"resp_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", made["id"])
        assert get_run(sandbox, made["id"]).json() == made  # each its own stored run
    # The same answer, shared (see test_agent_runs): only the ids differ.
    assert first["output"][-1]["content"] == second["output"][-1]["content"]


def test_a_run_is_read_and_cancelled_only_with_the_key_that_made_it(sandbox: Sandbox) -> None:
    run_id = post(sandbox, {**GUIDE_AGENT, "background": True}).json()["id"]
    unknown_id = f"resp_{uuid.uuid4()}"
    unknown = get_run(sandbox, unknown_id).json()["error"]
    for answer in (
        get_run(sandbox, run_id, OTHER_AUTH),
        requests.post(sandbox.url_for(f"/v1/responses/{run_id}/cancel"), headers=OTHER_AUTH, timeout=10),
    ):
        assert answer.status_code == 404  # exactly as an unknown id: nothing says the run exists
        error = answer.json()["error"]
        assert {**error, "message": error["message"].replace(run_id, unknown_id)} == unknown
    assert get_run(sandbox, run_id).status_code == 200  # its maker still reads it, and it was not cancelled
    cancel = requests.post(sandbox.url_for(f"/v1/responses/{run_id}/cancel"), headers=AUTH, timeout=10)
    assert cancel.status_code == 200 and get_run(sandbox, run_id).json()["status"] == "cancelled"


def test_megabytes_of_settings_do_not_stay_in_the_store() -> None:
    # Today's report: three 1.6 MB requests added 101 MB to the store. Here, smaller, the same shape.
    store = RunStore()
    schema = {"type": "json_schema", "json_schema": {"schema": [{}] * 100_000}}
    bodies = [
        json.dumps(
            {
                **GUIDE_AGENT,
                "input": f"Question {n}?",
                "response_format": schema,
                "tools": [{"type": "web_search"}] * 20_000,
            }
        )
        for n in range(3)
    ]
    gc.collect()
    tracemalloc.start()
    try:
        for body in bodies:
            assert api.agent(validation.parse_body(body.encode()), runs=store).status == 200
        gc.collect()
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(store) == 3 and kept < 1 * MiB, f"{kept:,} bytes kept for 3 runs"
    assert store.held <= 3 * (2 * runs.MAX_STORED_ECHO_BYTES + 32 * 1024)  # tools and text cut, the rest small


def test_a_stored_run_keeps_a_cut_copy_of_settings_it_echoes_whole(sandbox: Sandbox) -> None:
    instructions = "Answer as a pirate would. " * 40_000  # about 1 MB
    tools = [{"type": "web_search", "max_results": n % 50 + 1} for n in range(5_000)]
    made = post(sandbox, {**GUIDE_AGENT, "instructions": instructions, "tools": tools}).json()
    assert made["instructions"] == instructions and made["tools"] == tools  # the reply echoes all of it
    stored = get_run(sandbox, made["id"]).json()
    kept_text, kept_tools = stored["instructions"], stored["tools"]
    assert kept_text.endswith("\u2026") and instructions.startswith(kept_text[:-1])
    assert len(kept_text) < 20_000 and 0 < len(kept_tools) < 500 and tools[: len(kept_tools)] == kept_tools
    assert stored["output"] == made["output"] and stored["usage"] == made["usage"]  # the answer, whole


def test_the_store_forgets_its_oldest_runs_beyond_its_bytes() -> None:
    store = RunStore(max_bytes=200_000)
    ids = [api.agent({**GUIDE_AGENT, "input": f"Question {n}?"}, runs=store).body["id"] for n in range(60)]
    assert store.held <= store.max_bytes and 0 < len(store) < 60
    assert api.retrieve_run(ids[0], store).status == 404 and api.retrieve_run(ids[-1], store).status == 200
    assert RunStore().max_bytes == runs.MAX_STORED_BYTES


@pytest.mark.parametrize(
    ("value", "room"),
    [
        ("x" * 100_000, 1_000),
        ("é" * 100_000, 1_000),
        ([{}] * 100_000, 2_000),
        ({"a": [1] * 1000, "b": "y" * 10_000, "c": {"d": [{"e": "z" * 5_000}] * 50}}, 4_000),
    ],
)
def test_a_cut_copy_takes_about_its_room_and_keeps_its_shape(value: Any, room: int) -> None:
    cut = runs.within(value, room)
    assert type(cut) is type(value) and runs.footprint(cut) <= 2 * room
    small = {"type": "web_search", "filters": {"search_domain_filter": ["nasa.gov"]}}
    assert runs.within(small, room) is small  # what fits is kept as it is, not copied


# --- a reply nobody reads ------------------------------------------------------------------


def big_reply_request(size: int) -> bytes:
    """A request whose reply echoes ``size`` bytes of instructions: more than the sockets' buffers hold."""
    body = json.dumps({**GUIDE_AGENT, "instructions": "x" * size}).encode()
    head = AGENT_HEAD + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def small_window_connection(sandbox: Sandbox, window: int) -> socket.socket:
    """A client connection with a small receive buffer (no autotuning), so an unread reply backs up at once."""
    host, port = sandbox.url.removeprefix("http://").split(":")
    conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, window)
    conn.settimeout(10)
    conn.connect((host, int(port)))
    return conn


def test_connections_whose_replies_are_never_read_cannot_hold_the_cap() -> None:
    with Sandbox(max_connections=2, stall_timeout=0.5, idle_timeout=60) as server:
        readers_of_nothing = [small_window_connection(server, 16 * 1024) for _ in range(2)]
        try:
            for conn in readers_of_nothing:
                conn.sendall(big_reply_request(6 * MiB))  # and never a recv
            statuses, deadline = [], time.monotonic() + 15
            while time.monotonic() < deadline and 200 not in statuses:
                statuses.append(post(server, GUIDE_AGENT).status_code)  # 503 while both are still answered
                time.sleep(0.1)
            assert statuses[-1] == 200, f"a learner got only {set(statuses)} while two replies went unread"
        finally:
            for conn in readers_of_nothing:
                conn.close()


def test_a_client_that_reads_its_reply_slowly_but_steadily_keeps_its_connection() -> None:
    # Progress, not the total time, is what counts: this reply takes longer than idle_timeout to be read. (The server
    # sees progress each time the kernel lets it write again, about every 0.3 s at this pace, on loopback.)
    with Sandbox(idle_timeout=1.2, stall_timeout=0.5) as server, small_window_connection(server, 64 * 1024) as conn:
        conn.sendall(big_reply_request(12 * MiB))
        received, started = 0, time.monotonic()
        while chunk := conn.recv(MiB):
            received += len(chunk)
            if received > 12 * MiB and chunk.endswith(b"}"):
                break
            time.sleep(0.02)  # at most 128 KiB (the doubled window) per 20 ms: more than 1.9 s in all
        assert received > 12 * MiB and chunk.endswith(b"}"), f"cut off after {received:,} bytes"
        assert time.monotonic() - started > server.limits.idle_timeout


# --- JSON work on the event loop, counted ----------------------------------------------------


@pytest.fixture
def json_work_by_place(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter]:
    """JSON values parsed, and validated and answered, on the event loop's thread ("loop") or elsewhere ("worker")."""
    counted: Counter = Counter()
    real_parse, real_agent = core.parse_body, api.agent

    def place() -> str:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return "worker"
        return "loop"

    def parse_counted(raw: bytes) -> Any:
        parsed = real_parse(raw)
        counted[place()] += values_in(parsed)
        return parsed

    def agent_counted(body: Any, *args: Any, **options: Any) -> api.Reply:
        counted[place()] += values_in(body)
        return real_agent(body, *args, **options)

    monkeypatch.setattr(core, "parse_body", parse_counted)
    monkeypatch.setattr(api, "agent", agent_counted)
    yield counted


def test_bodies_of_many_small_json_values_are_handled_off_the_event_loop(
    sandbox: Sandbox, json_work_by_place: Counter
) -> None:
    # 240 KB of empty objects: under the old 256 KiB threshold, 80,000 values parsed on the loop everyone shares.
    empties = b"[" + b",".join([b"{}"] * 80_000) + b"]"
    reply = requests.post(sandbox.url_for("/v1/agent"), data=empties, headers=AUTH, timeout=10)
    assert reply.status_code == 400
    many_tools = {**GUIDE_AGENT, "tools": [{"type": "web_search"}] * 2_000}  # 48 KB, 4,000 values
    assert post(sandbox, many_tools).status_code == 200
    assert post(sandbox, GUIDE_AGENT).status_code == 200  # a learner's request: answered on the loop, as before
    guide_values = values_in(GUIDE_AGENT)
    assert json_work_by_place["loop"] == 2 * guide_values  # parsed, then validated and answered
    assert json_work_by_place["worker"] >= 80_000 + 2 * 4_000


def test_json_work_is_counted_before_parsing_and_never_under_counts() -> None:
    guide = json.dumps(GUIDE_AGENT).encode()
    assert validation.fits_on_the_loop(guide) and validation.json_work(guide) >= values_in(GUIDE_AGENT) - 1
    assert not validation.fits_on_the_loop(b"[" + b",".join([b"{}"] * 1_000) + b"]")
    assert not validation.fits_on_the_loop(b"[" * 1_001 + b"]" * 1_001)  # depth is work too
    assert not validation.fits_on_the_loop(json.dumps({"input": "x" * 200_000}).encode())  # and so are bytes


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=8) | st.dictionaries(st.text(max_size=8), inner, max_size=8),
    max_leaves=60,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_json_work_bounds_the_values_of_any_body(value: Any) -> None:
    # Every value but the first follows a comma or opens a container: the count is an upper bound.
    assert validation.json_work(json.dumps(value).encode()) >= values_in(value) - 1


def test_a_question_of_megabytes_is_read_no_further_than_its_head() -> None:
    # Split into words whole, 30 MiB of question took 750 MB and 4 s; only the head is ever quoted.
    key = "pplx-" + "k3y" * 16
    question = " " * 4090 + key + " and then" * 500_000  # 4.5 MB; the cut at 4096 falls inside the key
    gc.collect()
    tracemalloc.start()
    try:
        answer = answers.answer_for(question)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024, f"{peak:,} bytes at the peak"
    quoted = answer.text + answer.sources[0].title + answer.sources[0].url
    assert "pplx" not in quoted and key[5:15] not in quoted  # the word the cut fell in is dropped whole
    assert answers.answer_for("x " * 3000 + "Why?").text == answers.answer_for("x " * 3000 + "Why not?").text


# --- the rate limiter forgets -----------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_limiter_forgets_keys_whose_window_has_passed() -> None:
    clock = Clock()
    limiter = limits.RateLimiter(2, clock=clock)
    for n in range(20_000):  # a script making up a key per request
        assert limiter.wait_needed(f"key#{n:08x}") == 0.0
    assert limiter.keys_remembered() == 20_000  # all within the window: each still counts
    clock.now += limiter.window
    assert limiter.wait_needed("key#learner") == 0.0
    assert limiter.keys_remembered() == 1


def test_the_rate_limiter_still_limits_a_key_it_remembers() -> None:
    clock = Clock()
    limiter = limits.RateLimiter(2, clock=clock)
    assert [limiter.wait_needed("key#learner") for _ in range(2)] == [0.0, 0.0]
    clock.now += limiter.window / 2
    for n in range(1_000):  # other keys come and go meanwhile
        limiter.wait_needed(f"key#{n:08x}")
    assert limiter.wait_needed("key#learner") == pytest.approx(limiter.window / 2)
    clock.now += limiter.window / 2
    assert limiter.wait_needed("key#learner") == 0.0


def test_the_rate_limiter_is_safe_across_threads() -> None:
    limiter = limits.RateLimiter(1_000)

    def work(worker: int) -> None:
        for n in range(2_000):
            limiter.wait_needed(f"key#{worker}-{n % 50}")

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert limiter.keys_remembered() == 200
