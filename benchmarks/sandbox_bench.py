"""Load test of the standalone sandbox: requests/s and p50/p99 latency for 1, 8, 32 and 64 clients.

It starts ``python -m perplexity_sandbox --port 0`` as a subprocess (as an instructor would run it;
its per-request log goes to /dev/null), then for each number of clients and each kind of request
(non-streaming and streaming ``POST /v1/agent``, the guide's question with web search) runs
keep-alive clients for ``--duration`` seconds and prints one line of figures.

The load generator is deliberately light (raw sockets, one prepared request, a minimal HTTP/1.1
reader) and spread over worker processes, so that on a small machine most CPU goes to the server.

    .venv/bin/python benchmarks/sandbox_bench.py               # the full table
    .venv/bin/python benchmarks/sandbox_bench.py --clients 32 --duration 10
    .venv/bin/python benchmarks/sandbox_bench.py --url http://127.0.0.1:8000   # an already running server

This is a script that prints figures, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
KEY = "pplx-" + "bench" * 8  # built at run time, like the tests' key
BODY = {
    "model": "perplexity/sonar",
    "input": "How many stars are there in our galaxy?",
    "instructions": "Be precise and concise.",
    "tools": [{"type": "web_search"}],
}


def build_request(host: str, port: int, stream: bool) -> bytes:
    body = json.dumps({**BODY, "stream": True} if stream else BODY).encode()
    head = (
        f"POST /v1/agent HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def read_response(conn: socket.socket, buffer: bytearray) -> None:
    """Read one HTTP/1.1 response (Content-Length or chunked) from a keep-alive connection."""
    while b"\r\n\r\n" not in buffer:
        _receive(conn, buffer)
    head_end = buffer.index(b"\r\n\r\n") + 4
    head = bytes(buffer[:head_end]).lower()
    if not head.startswith(b"http/1.1 200"):
        raise RuntimeError(f"unexpected answer: {bytes(buffer[:80])!r}")
    if b"transfer-encoding: chunked" in head:
        while not buffer.endswith(b"\r\n0\r\n\r\n"):
            _receive(conn, buffer)
        del buffer[:]
        return
    length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
    while len(buffer) < head_end + length:
        _receive(conn, buffer)
    del buffer[: head_end + length]


def _receive(conn: socket.socket, buffer: bytearray) -> None:
    chunk = conn.recv(262144)
    if not chunk:
        raise ConnectionError("server closed the connection")
    buffer += chunk


def client_loop(address: tuple[str, int], request: bytes, start: float, stop: float, out: list[float]) -> None:
    """One keep-alive client: send, read, repeat; keep latencies of requests that start inside the window."""
    conn = socket.create_connection(address)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = bytearray()
    while (now := time.perf_counter()) < stop:
        conn.sendall(request)
        read_response(conn, buffer)
        if now >= start:
            out.append(time.perf_counter() - now)
    conn.close()


def worker(
    address: tuple[str, int], request: bytes, clients: int, warmup: float, duration: float, start_at: float
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


def run_scenario(
    pool: multiprocessing.pool.Pool,
    address: tuple[str, int],
    clients: int,
    stream: bool,
    duration: float,
    processes: int,
) -> dict:
    request = build_request(*address, stream)
    shares = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    start_at = time.time() + 0.3
    jobs = [pool.apply_async(worker, (address, request, n, 0.5, duration, start_at)) for n in shares if n]
    latencies = sorted(x for job in jobs for x in job.get())
    return {
        "clients": clients,
        "stream": stream,
        "requests": len(latencies),
        "rps": len(latencies) / duration,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


def start_server() -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "perplexity_sandbox", "--port", "0"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    first_line = process.stdout.readline()
    return process, first_line.split("serving at ")[1].split()[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default="1,8,32,64", help="comma-separated client counts (default 1,8,32,64)")
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per scenario (default 5)")
    parser.add_argument("--processes", type=int, default=2, help="load-generator processes (default 2)")
    parser.add_argument("--url", help="benchmark this running server instead of starting one")
    args = parser.parse_args(argv)
    server, url = (None, args.url) if args.url else start_server()
    parts = urlsplit(url)
    address = (parts.hostname, parts.port)
    print(
        f"# sandbox at {url}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}; "
        f"{args.duration:g} s per scenario; {time.strftime('%Y-%m-%d %H:%M')}"
    )
    print(f"{'kind':<14}{'clients':>8}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    try:
        with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
            for stream in (False, True):
                for clients in (int(c) for c in args.clients.split(",")):
                    processes = min(args.processes, clients)
                    result = run_scenario(pool, address, clients, stream, args.duration, processes)
                    kind = "streaming" if stream else "non-streaming"
                    print(
                        f"{kind:<14}{clients:>8}{result['requests']:>10}{result['rps']:>9.0f}"
                        f"{result['p50_ms']:>9.2f}{result['p99_ms']:>9.2f}",
                        flush=True,
                    )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
