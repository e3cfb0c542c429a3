"""Class-scale benchmark of the standalone sandbox: each scenario prints its figures beside its baseline or goal.

It starts ``python -m perplexity_sandbox --port 0`` as a subprocess (as an instructor would run it; its
per-request log goes to /dev/null) and drives it from load-generator processes on the same machine, on
127.0.0.1 only, each scenario bounded in connections and in time:

- ``steady``: 32 and 128 keep-alive clients post the guide's question to ``/v1/agent`` for ``--duration``
  seconds; then the same against Stoplight Prism's mock server (``npx prism mock``) serving the same answer
  from a small OpenAPI file written at run time. Goals: p99 <= 100 ms at 128 clients; at 32, at least
  3,400 requests/s and twice Prism's.
- ``burst``: a class presses Send at once: 500 streaming requests on new connections, stream delay 0.04 s
  (the notebooks'), three times. Goal: no error, first event p99 <= 250 ms.
- ``lockout``: the server under ``ulimit -n 1024``; one client holds 3,000 idle connections and 1,000 that
  send their head one byte a second (re-opening any the server closes) while 8 learners post the question.
  Goal: learners' p99 <= 250 ms, no error.
- ``memory``: 20 clients each post a 31 MiB body at once (retrying after a 503). Goal: peak RSS <= 300 MB.
- ``strict``: conflicting or malformed framing, one raw request each. Goal: 400 and the connection closed.
- ``table`` (not run by default): the earlier table, 1 to 64 keep-alive clients, streaming or not.

    .venv/bin/python dev/benchmarks/sandbox_bench.py                       # every class scenario
    .venv/bin/python dev/benchmarks/sandbox_bench.py --scenario burst --scenario lockout
    .venv/bin/python dev/benchmarks/sandbox_bench.py --scenario table --clients 1,8,32,64

This is a script that prints figures, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import multiprocessing
import os
import resource
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]  # dev/benchmarks/ -> the repository
KEY = "pplx-" + "bench" * 8  # built at run time, like the tests' key
BODY = {
    "model": "perplexity/sonar",
    "input": "How many stars are there in our galaxy?",
    "instructions": "Be precise and concise.",
    "tools": [{"type": "web_search"}],
}
NOTEBOOK_STREAM_DELAY = 0.04
# Prism as it ships: its request log (a few lines per request) goes to /dev/null, as the sandbox's does.
# ["-v", "warn"] silences it, and Prism then answers about 60% more requests per second.
PRISM_OPTIONS: list[str] = []
SCENARIOS = ("steady", "burst", "lockout", "memory", "strict")
Address = tuple[str, int]


# --- requests and responses over raw sockets ------------------------------------------------


def build_request(host: str, port: int, stream: bool, body: bytes | None = None, close: bool = False) -> bytes:
    data = body if body is not None else json.dumps({**BODY, "stream": True} if stream else BODY).encode()
    head = (
        f"POST /v1/agent HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    )
    return (head + ("Connection: close\r\n" if close else "") + "\r\n").encode() + data


def read_response(conn: socket.socket, buffer: bytearray) -> int:
    """Read one HTTP/1.1 response (Content-Length or chunked) from a keep-alive connection; its status."""
    while b"\r\n\r\n" not in buffer:
        _receive(conn, buffer)
    head_end = buffer.index(b"\r\n\r\n") + 4
    head = bytes(buffer[:head_end]).lower()
    if b"transfer-encoding: chunked" in head:
        while not buffer.endswith(b"\r\n0\r\n\r\n"):
            _receive(conn, buffer)
        del buffer[:]
    else:
        length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
        while len(buffer) < head_end + length:
            _receive(conn, buffer)
        del buffer[: head_end + length]
    return int(head[9:12])


def _receive(conn: socket.socket, buffer: bytearray) -> None:
    chunk = conn.recv(262144)
    if not chunk:
        raise ConnectionError("server closed the connection")
    buffer += chunk


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")


# --- keep-alive clients (steady, table) ------------------------------------------------------


def client_loop(address: Address, request: bytes, start: float, stop: float, out: list[float]) -> None:
    """One keep-alive client: send, read, repeat; keep latencies of requests that start inside the window."""
    conn = socket.create_connection(address)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = bytearray()
    while (now := time.perf_counter()) < stop:
        conn.sendall(request)
        if read_response(conn, buffer) != 200:
            raise RuntimeError("unexpected status")
        if now >= start:
            out.append(time.perf_counter() - now)
    conn.close()


def keep_alive_worker(
    address: Address, request: bytes, clients: int, warmup: float, duration: float, start_at: float
) -> list[float]:
    """A process running ``clients`` threads; returns every measured latency (seconds)."""
    time.sleep(max(0.0, start_at - time.time()))
    begin = time.perf_counter() + warmup
    latencies: list[list[float]] = [[] for _ in range(clients)]
    threads = [
        threading.Thread(target=client_loop, args=(address, request, begin, begin + duration, out)) for out in latencies
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [x for out in latencies for x in out]


def keep_alive_run(
    pool: multiprocessing.pool.Pool, address: Address, clients: int, stream: bool, duration: float
) -> dict:
    request = build_request(*address, stream)
    processes = min(2, clients)
    shares = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    start_at = time.time() + 0.3
    jobs = [pool.apply_async(keep_alive_worker, (address, request, n, 0.5, duration, start_at)) for n in shares]
    latencies = [x for job in jobs for x in job.get()]
    return {
        "rps": len(latencies) / duration,
        "p50": statistics.median(latencies) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
    }


# --- servers -----------------------------------------------------------------------------------


@contextmanager
def sandbox(*options: str, open_files: int | None = None) -> Iterator[tuple[subprocess.Popen, str]]:
    """``python -m perplexity_sandbox --port 0 [options]``, with the open-file limit lowered if asked."""

    def limit() -> None:
        if open_files:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    command = [sys.executable, "-m", "perplexity_sandbox", "--port", "0", *options]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=limit
    )
    try:
        first_line = process.stdout.readline()
        yield process, first_line.split("serving at ")[1].split()[0]
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def prism() -> Iterator[str | None]:
    """Stoplight Prism's mock server answering POST /v1/agent with the sandbox's own answer, or None if absent."""
    command = shutil.which("prism", path=str(ROOT / "dev" / "node_modules" / ".bin"))
    if command is None:
        yield None
        return
    from perplexity_sandbox import api  # the same answer the sandbox gives, as the OpenAPI example

    spec = {
        "openapi": "3.0.3",
        "info": {"title": "Perplexity Agent API, one answer", "version": "1"},
        "paths": {
            "/v1/agent": {
                "post": {
                    "operationId": "agent",
                    "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                    "responses": {
                        "200": {
                            "description": "An Agent API response",
                            "content": {
                                "application/json": {"schema": {"type": "object"}, "example": api.agent(BODY).body}
                            },
                        }
                    },
                }
            }
        },
    }
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        document = Path(folder, "prism-agent.json")
        document.write_text(json.dumps(spec), encoding="utf-8")
        options = ["mock", "-h", "127.0.0.1", "-p", str(port), *PRISM_OPTIONS, str(document)]
        process = subprocess.Popen([command, *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_for_port(("127.0.0.1", port), 60)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=10)


def _wait_for_port(address: Address, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(address) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {address} after {seconds:g} s")


def address_of(url: str) -> Address:
    parts = urlsplit(url)
    return parts.hostname, parts.port


# --- steady: keep-alive clients, beside Prism --------------------------------------------------


def steady(pool: multiprocessing.pool.Pool, duration: float) -> None:
    print("\n## steady: keep-alive clients, POST /v1/agent (non-streaming), beside Stoplight Prism's mock")
    columns = f"{'clients':>8} {'sandbox req/s':>14} {'p50 ms':>8} {'p99 ms':>8}"
    print(f"{columns} {'prism req/s':>12} {'p99 ms':>8} {'ratio':>6}")
    with sandbox() as (_, url), prism() as prism_url:
        for clients in (32, 128):
            ours = keep_alive_run(pool, address_of(url), clients, False, duration)
            theirs = keep_alive_run(pool, address_of(prism_url), clients, False, duration) if prism_url else None
            shown = (
                f"{theirs['rps']:>12.0f} {theirs['p99']:>8.1f} {ours['rps'] / theirs['rps']:>5.2f}x" if theirs else ""
            )
            print(f"{clients:>8} {ours['rps']:>14.0f} {ours['p50']:>8.1f} {ours['p99']:>8.1f} {shown}", flush=True)
    if prism_url is None:
        print("Prism is not installed (npm install): no baseline.")
    print("goal: at 32 clients >= 3,400 req/s and >= 2x Prism; at 128 clients p99 <= 100 ms")


# --- burst: a class presses Send at once -------------------------------------------------------


def burst_worker(address: Address, count: int, start_at: float, limit: float) -> list[tuple]:
    """``count`` streaming requests on new connections, all begun at ``start_at``, driven by one selector.

    Per request: seconds from connect() to the first event, seconds to the closing chunk, and an error or None.
    """
    request = build_request(*address, True, close=True)
    time.sleep(max(0.0, start_at - time.time()))
    selector = selectors.DefaultSelector()
    for _ in range(count):
        conn = socket.socket()
        conn.setblocking(False)
        conn.connect_ex(address)
        state = {"begun": time.perf_counter(), "data": bytearray(), "request": request}
        selector.register(conn, selectors.EVENT_WRITE, state)
    results: list[tuple] = []
    deadline = time.perf_counter() + limit
    while len(results) < count and time.perf_counter() < deadline:
        for key, _ in selector.select(timeout=0.5):
            if (outcome := _burst_step(selector, key)) is not None:
                results.append(outcome)
    for key in list(selector.get_map().values()):
        results.append((None, None, "timeout"))
        key.fileobj.close()
    return results


def _burst_step(selector: selectors.BaseSelector, key: selectors.SelectorKey) -> tuple | None:
    """One readiness event of one connection: send the request once connected, then read the stream."""
    conn, state = key.fileobj, key.data
    try:
        if key.events & selectors.EVENT_WRITE:
            conn.sendall(state["request"])
            selector.modify(conn, selectors.EVENT_READ, state)
            return None
        chunk = conn.recv(65536)
    except OSError as error:
        return _burst_done(selector, conn, (None, None, type(error).__name__))
    now, data = time.perf_counter(), state["data"]
    data += chunk
    if "first" not in state and b"event: " in data.partition(b"\r\n\r\n")[2]:
        state["first"] = now - state["begun"]
    if chunk and not data.endswith(b"\r\n0\r\n\r\n"):
        return None
    ok = data.startswith(b"HTTP/1.1 200") and data.endswith(b"\r\n0\r\n\r\n")
    return _burst_done(selector, conn, (state.get("first"), now - state["begun"], None if ok else "incomplete"))


def _burst_done(selector: selectors.BaseSelector, conn: socket.socket, outcome: tuple) -> tuple:
    selector.unregister(conn)
    conn.close()
    return outcome


def burst(pool: multiprocessing.pool.Pool, learners: int = 500, rounds: int = 3) -> None:
    print(
        f"\n## burst: {learners} streaming requests at once on new connections, stream delay {NOTEBOOK_STREAM_DELAY} s"
    )
    print(
        f"{'round':>6} {'errors':>7} {'first p50 ms':>13} {'first p99 ms':>13} {'first max ms':>13} {'whole p99 s':>12}"
    )
    firsts: list[float] = []
    with sandbox("--stream-delay", str(NOTEBOOK_STREAM_DELAY)) as (_, url):
        burst_worker(address_of(url), 20, time.time(), 10.0)  # warm-up, not measured: the instructor's own test
        for number in range(1, rounds + 1):
            start_at = time.time() + 0.5
            jobs = [pool.apply_async(burst_worker, (address_of(url), learners // 2, start_at, 30.0)) for _ in (0, 1)]
            results = [x for job in jobs for x in job.get()]
            errors = sum(1 for _, _, error in results if error)
            first = [f * 1000 for f, _, error in results if f is not None and not error]
            whole = [w for _, w, error in results if w is not None and not error]
            firsts += first
            print(
                f"{number:>6} {errors:>7} {percentile(first, 0.5):>13.0f} {percentile(first, 0.99):>13.0f} "
                f"{max(first, default=float('nan')):>13.0f} {percentile(whole, 0.99):>12.2f}",
                flush=True,
            )
            time.sleep(1.0)
    print(f"all rounds: first event p99 {percentile(firsts, 0.99):.0f} ms; goal: 0 errors, first event p99 <= 250 ms")


# --- lockout: idle and slow-header connections against a class ----------------------------------


SLOW_HEAD = b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Slow: "


def attacker(address: Address, idle: int, slow: int, start_at: float, duration: float, reopen_after: float) -> dict:
    """Hold ``idle`` silent connections and ``slow`` ones sending their head a byte a second.

    A connection the server closes is opened again ``reopen_after`` seconds later (0: at once, a connect flood).
    """
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, idle + slow + 256), hard))
    time.sleep(max(0.0, start_at - time.time()))
    selector = selectors.DefaultSelector()
    counts = {"opened": 0, "closed_by_server": 0, "failed": 0, "most_open": 0}
    reopen: list[tuple[float, bool]] = []  # (when, slow) of connections to open again

    def open_one(slow_head: bool) -> None:
        conn = socket.socket()
        conn.setblocking(False)
        if conn.connect_ex(address) not in (0, errno.EINPROGRESS):
            conn.close()
            counts["failed"] += 1
            reopen.append((time.monotonic() + max(reopen_after, 0.1), slow_head))
            return
        selector.register(conn, selectors.EVENT_READ, {"slow": slow_head, "sent": 0})
        counts["opened"] += 1

    for number, slow_head in ((idle, False), (slow, True)):
        for _ in range(number):
            open_one(slow_head)
    stop, next_byte = time.monotonic() + duration, time.monotonic()
    while time.monotonic() < stop:
        for key, _ in selector.select(timeout=0.05):
            if _closed_by_server(selector, key):
                counts["closed_by_server"] += 1
                reopen.append((time.monotonic() + reopen_after, key.data["slow"]))
        now = time.monotonic()
        while reopen and reopen[0][0] <= now:
            open_one(reopen.pop(0)[1])
        if now >= next_byte:
            next_byte += 1.0
            _one_more_byte(selector)
        counts["most_open"] = max(counts["most_open"], len(selector.get_map()))
    for key in list(selector.get_map().values()):
        key.fileobj.close()
    return counts


def _closed_by_server(selector: selectors.BaseSelector, key: selectors.SelectorKey) -> bool:
    try:
        alive = key.fileobj.recv(4096) != b""
    except OSError:
        alive = False
    if not alive:
        selector.unregister(key.fileobj)
        key.fileobj.close()
    return not alive


def _one_more_byte(selector: selectors.BaseSelector) -> None:
    """Each slow connection sends the next byte of a head that never ends (an X-Slow header growing)."""
    for key in list(selector.get_map().values()):
        state = key.data
        if state["slow"]:
            piece = SLOW_HEAD[state["sent"] : state["sent"] + 1] or b"a"
            with contextlib.suppress(OSError):  # not connected yet, or closed: the selector reports it
                state["sent"] += key.fileobj.send(piece)


def learner_loop(address: Address, request: bytes, stop: float, out: list[tuple[float, str | None]]) -> None:
    """A learner running a cell now and then: a new connection, the question, the whole answer, a short pause."""
    while time.perf_counter() < stop:
        begun = time.perf_counter()
        try:
            with socket.create_connection(address, timeout=5) as conn:
                conn.sendall(request)
                status = read_response(conn, bytearray())
            out.append((time.perf_counter() - begun, None if status == 200 else f"status {status}"))
        except OSError as error:
            out.append((time.perf_counter() - begun, type(error).__name__))
        time.sleep(0.05)


def learners_process(address: Address, learners: int, start_at: float, duration: float) -> list[tuple]:
    time.sleep(max(0.0, start_at - time.time()))
    request = build_request(*address, False, close=True)
    out: list[tuple] = []
    stop = time.perf_counter() + duration
    threads = [threading.Thread(target=learner_loop, args=(address, request, stop, out)) for _ in range(learners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


def lockout(pool: multiprocessing.pool.Pool, duration: float) -> None:
    idle, slow, learners = 3000, 1000, 8
    print(
        f"\n## lockout: server under ulimit -n 1024; {idle} idle + {slow} slow-header connections; {learners} learners"
    )
    print(f"{'phase':<34} {'requests':>9} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8}")
    with sandbox(open_files=1024) as (process, url):
        address = address_of(url)
        alone = pool.apply_async(learners_process, (address, learners, time.time() + 0.2, 3.0)).get()
        _print_learners("learners alone", alone)
        for label, reopen_after in (
            ("under attack (re-opened after 1 s)", 1.0),
            ("connect flood (re-opened at once)", 0.0),
        ):
            attack = pool.apply_async(attacker, (address, idle, slow, time.time() + 0.2, duration + 4.0, reopen_after))
            under = pool.apply_async(learners_process, (address, learners, time.time() + 3.0, duration)).get()
            counts = attack.get()
            _print_learners(label, under)
            print(
                f"{'':<4}attacker: {counts['opened']} connections opened, {counts['closed_by_server']} closed by the "
                f"server, at most {counts['most_open']} open at once"
            )
            time.sleep(11.0)  # the head deadline clears what is left of the attack before the next one
        alive = "still serving" if process.poll() is None else f"exited with {process.returncode}"
    print(f"server {alive}; goal: learners' p99 <= 250 ms under attack, no errors")


def _print_learners(phase: str, results: list[tuple]) -> None:
    times = [t * 1000 for t, error in results if error is None]
    errors = [error for _, error in results if error]
    kinds = f"  ({', '.join(sorted(set(errors)))})" if errors else ""
    print(
        f"{phase:<34} {len(results):>9} {len(errors):>7} {percentile(times, 0.5):>8.1f} "
        f"{percentile(times, 0.99):>8.1f}{kinds}",
        flush=True,
    )


# --- memory: large bodies at once -------------------------------------------------------------


def big_body(size: int) -> bytes:
    """The guide's request, padded with spaces (valid JSON) to ``size`` bytes."""
    text = json.dumps(BODY).encode()
    return text + b" " * (size - len(text))


def big_poster(address: Address, body: bytes, patience: float, out: list[tuple[int, int]]) -> None:
    """Post ``body`` until it is answered with something other than 503 (retrying after a second)."""
    request, busy, stop = build_request(*address, False, body=body, close=True), 0, time.monotonic() + patience
    while time.monotonic() < stop:
        try:
            with socket.create_connection(address, timeout=30) as conn:
                conn.sendall(request)
                status = read_response(conn, bytearray())
        except OSError:
            status = 0
        if status != 503:
            out.append((status, busy))
            return
        busy += 1
        time.sleep(1.0)
    out.append((503, busy))


def memory(clients: int = 20, size: int = 31 * 1024 * 1024) -> None:
    print(f"\n## memory: {clients} clients post a {size // (1024 * 1024)} MiB body at once (retrying after a 503)")
    body = big_body(size)
    with sandbox() as (process, url):
        before = _status_kib(process.pid, "VmRSS")
        out: list[tuple[int, int]] = []
        threads = [
            threading.Thread(target=big_poster, args=(address_of(url), body, 120.0, out)) for _ in range(clients)
        ]
        begun = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - begun
        peak = _status_kib(process.pid, "VmHWM")
    statuses = {status: sum(1 for s, _ in out if s == status) for status in sorted({s for s, _ in out})}
    print(
        f"answers {statuses}; 503s along the way {sum(b for _, b in out)}; {elapsed:.1f} s; "
        f"RSS {before / 1024:.0f} MB before, peak {peak / 1024:.0f} MB (goal <= 300 MB)"
    )


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


# --- strict: framing another parser could read differently ------------------------------------


def strict() -> None:
    head = f"POST /v1/agent HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
    data = json.dumps(BODY)
    cases = {
        "Content-Length + Transfer-Encoding": "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "two Content-Lengths": f"Content-Length: {len(data)}\r\nContent-Length: {len(data)}\r\n\r\n{data}",
        "Content-Length '+5'": f"Content-Length: +{len(data)}\r\n\r\n{data}",
        "Content-Length '5x'": f"Content-Length: {len(data)}x\r\n\r\n{data}",
        "chunk size '0x...'": f"Transfer-Encoding: chunked\r\n\r\n0x{len(data):x}\r\n{data}\r\n0\r\n\r\n",
        "chunk size with extension": f"Transfer-Encoding: chunked\r\n\r\n{len(data):x};a=b\r\n{data}\r\n0\r\n\r\n",
        "Transfer-Encoding on HTTP/1.0": "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    }
    print("\n## strict: one raw request each (goal: 400, then the connection closed)")
    with sandbox() as (_, url):
        for name, rest in cases.items():
            request = (head if "1.0" not in name else head.replace("HTTP/1.1", "HTTP/1.0")) + rest
            status, closed, took = _raw_exchange(address_of(url), request.encode())
            print(f"{name:<36} {status}  {'closed' if closed else 'left open'}  {took * 1000:.0f} ms")


def _raw_exchange(address: Address, request: bytes) -> tuple[str, bool, float]:
    begun = time.perf_counter()
    received, closed = b"", False
    with socket.create_connection(address, timeout=3) as conn:
        conn.sendall(request)
        try:
            while chunk := conn.recv(65536):
                received += chunk
            closed = True
        except TimeoutError:
            pass
    return received[9:12].decode() or "-", closed, time.perf_counter() - begun


# --- table: the earlier keep-alive table -------------------------------------------------------


def table(pool: multiprocessing.pool.Pool, counts: list[int], duration: float) -> None:
    print(f"\n{'kind':<14}{'clients':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    with sandbox() as (_, url):
        for stream in (False, True):
            for clients in counts:
                result = keep_alive_run(pool, address_of(url), clients, stream, duration)
                kind = "streaming" if stream else "non-streaming"
                print(
                    f"{kind:<14}{clients:>8}{result['rps']:>9.0f}{result['p50']:>9.2f}{result['p99']:>9.2f}", flush=True
                )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append", choices=[*SCENARIOS, "table"], help="run only these")
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per run (default 5)")
    parser.add_argument("--clients", default="1,8,32,64", help="client counts of the table scenario")
    args = parser.parse_args(argv)
    chosen = args.scenario or list(SCENARIOS)
    print(
        f"# {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}; "
        f"{time.strftime('%Y-%m-%d %H:%M')}; python {sys.version.split()[0]}"
    )
    runs: dict[str, Callable[[], None]] = {
        "steady": lambda: steady(pool, args.duration),
        "burst": lambda: burst(pool),
        "lockout": lambda: lockout(pool, args.duration * 2),
        "memory": memory,
        "strict": strict,
        "table": lambda: table(pool, [int(c) for c in args.clients.split(",")], args.duration),
    }
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        for name in chosen:
            runs[name]()
    print(f"\n# load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
