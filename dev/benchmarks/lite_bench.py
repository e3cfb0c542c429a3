"""Time from opening notebook 02 to its first answer: the browser edition (build/lite/) beside JupyterLab.

Both are served from 127.0.0.1 and driven by headless Debian chromium in the same way: open the notebook in a fresh
browser context (an empty cache, as a learner's first visit), wait for the kernel, Run All Cells, and stop the clock
when the taught ``requests.post`` cell shows its answer (``HTTP 200``). The browser edition's figure includes
loading Pyodide and every package into the tab; JupyterLab's includes starting a kernel and the local sandbox.
Runs alternate between the two, so both see the same machine load; the median of each is printed.

    make lite && .venv/bin/python dev/benchmarks/lite_bench.py [--runs 3]

This is a script that prints figures, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]  # dev/benchmarks/ -> the repository
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "e2e")]  # the checkout's helpers, and the browser tests' modules
from lab_server import LabServer, copy_project, start_lab  # noqa: E402 - the browser tests' own JupyterLab

SITE = ROOT / "build" / "lite"
NOTEBOOK = "02_authenticate.ipynb"
CHROMIUM = "/usr/bin/chromium"
# Only loopback resolves, as in the browser edition's test: a request elsewhere could only fail.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
TIMEOUT_MS = 300_000
KERNEL_IDLE = re.compile(r"\| Idle$")


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, message_format: str, *args: object) -> None:
        pass


@contextmanager
def lite_site() -> Iterator[str]:
    """build/lite/ on a free loopback port, as any static host serves it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(SITE)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/lab/index.html?path={NOTEBOOK}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def jupyterlab() -> Iterator[tuple[str, LabServer]]:
    """``jupyter lab`` from this virtual environment on a copy of the project, in sandbox mode."""
    base = Path(tempfile.mkdtemp(prefix="pplx-bench-"))
    try:
        project = copy_project(ROOT, base / "projects" / "bench")
        server = start_lab(root=base / "projects", state_dir=base / "lab")
        try:
            path = (project / "notebooks" / NOTEBOOK).relative_to(server.root).as_posix()
            yield f"{server.url}/lab/tree/{path}?reset&token={server.token}", server
        finally:
            server.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def end_sessions(server: LabServer) -> None:
    """Shut down every kernel, so that the next run starts a new one (as a learner's first visit does)."""
    api = f"{server.url}/api/sessions"
    for session in requests.get(api, params={"token": server.token}, timeout=10).json():
        requests.delete(f"{api}/{session['id']}", params={"token": server.token}, timeout=30)


def first_answer(browser: Browser, url: str) -> tuple[float, float]:
    """Seconds from opening ``url`` to an idle kernel, and to the taught cell's answer after Run All."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        start = time.perf_counter()
        page.goto(url)
        wait_for_idle_kernel(page)
        ready = time.perf_counter() - start
        run_all(page)
        page.locator(".jp-OutputArea-output", has_text="HTTP 200").first.wait_for(timeout=TIMEOUT_MS)
        return ready, time.perf_counter() - start
    finally:
        context.close()


def wait_for_idle_kernel(page: Page) -> None:
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=TIMEOUT_MS)
    page.locator("#jp-main-statusbar .jp-StatusBar-TextItem", has_text=KERNEL_IDLE).wait_for(timeout=TIMEOUT_MS)


def run_all(page: Page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def report(name: str, samples: list[tuple[float, float]]) -> None:
    ready = statistics.median(sample[0] for sample in samples)
    answer = statistics.median(sample[1] for sample in samples)
    print(f"{name:<28} kernel ready {ready:6.1f} s   first answer {answer:6.1f} s   (median of {len(samples)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    if not (SITE / "pyodide" / "pyodide-lock.json").exists():
        print("build/lite/ is missing: run `make lite` first.", file=sys.stderr)
        return 1
    print(f"{NOTEBOOK}: from opening the page to the first answer, each in a fresh browser context")
    lite_samples: list[tuple[float, float]] = []
    lab_samples: list[tuple[float, float]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            with lite_site() as lite_url, jupyterlab() as (lab_url, lab):
                for _ in range(runs):
                    lite_samples.append(first_answer(browser, lite_url))
                    lab_samples.append(first_answer(browser, lab_url))
                    end_sessions(lab)
        finally:
            browser.close()
    samples = {"browser edition (JupyterLite)": lite_samples, "JupyterLab": lab_samples}
    for name, measured in samples.items():
        report(name, measured)
    return 0


if __name__ == "__main__":
    sys.exit(main())
