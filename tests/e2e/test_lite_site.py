"""The browser edition (``make lite``): the built site, served from loopback, runs notebooks 01, 02 and 03 in chromium.

Every request to another host is refused twice over (the browser resolves no other name, and the page's routes
abort anything not on 127.0.0.1) and recorded: the test fails if the page asked for any. Each notebook runs top to
bottom in the Pyodide kernel, with the sandbox inside it: the answers, the connector's Test and no error output.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from lab_page import NotebookPage
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect

from conftest import CHROMIUM_ARGS, PROJECT_ROOT, launched_chromium, logged_page

SITE = PROJECT_ROOT / "build" / "lite"
# The browser resolves no name but loopback's: a request that slipped past the routes still goes nowhere.
OFFLINE_ARGS = [*CHROMIUM_ARGS, "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
# Pyodide and the kernel's packages load before the first cell runs: much longer than a JupyterLab kernel.
LITE_KERNEL_TIMEOUT = 240_000
LITE_RUN_TIMEOUT = 240_000
SDK_SKIPPED = re.compile(r"needs the (perplexityai|openai) SDK, which runs in the full edition")

pytestmark = [pytest.mark.slow]


class QuietHandler(SimpleHTTPRequestHandler):
    """A static file server, as any static host is (Python's own sends .mjs and .wasm with their media types)."""

    def log_message(self, message_format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def lite_url(chromium_path: Path) -> Iterator[str]:
    """``make lite``, then build/lite/ served from a free loopback port."""
    built = subprocess.run(["make", "-s", "lite"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=1200)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(SITE)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def offline_browser(playwright_driver: Playwright, chromium_path: Path) -> Iterator[Browser]:
    """A chromium of its own, resolving no name but loopback's (the session's browser resolves every name)."""
    yield from launched_chromium(playwright_driver, chromium_path, OFFLINE_ARGS)


@pytest.fixture
def requested() -> list[str]:
    """Every URL the page and its workers asked for (Pyodide runs in a worker: its requests are here too)."""
    return []


@pytest.fixture
def elsewhere(requested: list[str]) -> Iterator[list[str]]:
    """The URLs asked for on any other host than the site's (each was refused); checked to see the kernel's own."""
    found: list[str] = []
    yield found
    assert any(url.endswith("/pyodide/pyodide.asm.wasm") for url in requested), "the worker's requests were not seen"


def is_local(url: str) -> bool:
    return urlsplit(url).hostname == "127.0.0.1" or url.startswith(("data:", "blob:"))


@pytest.fixture
def lite_page(
    offline_browser: Browser, requested: list[str], elsewhere: list[str], request: pytest.FixtureRequest
) -> Iterator[Page]:
    context: BrowserContext = offline_browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)

    def only_loopback(route, routed_request) -> None:
        if is_local(routed_request.url):
            route.continue_()
        else:
            route.abort()

    def record(sent) -> None:
        requested.append(sent.url)
        if not is_local(sent.url):
            elsewhere.append(sent.url)

    context.route("**/*", only_loopback)
    context.on("request", record)
    yield from logged_page(context, request)


class LiteNotebook(NotebookPage):
    """A notebook of the browser edition: opened by its path in the site, run in the Pyodide kernel."""

    def open(self, path: str) -> LiteNotebook:
        self.page.goto(f"{self.base_url}/lab/index.html?path={path}")
        expect(self.panel.locator(".jp-Cell").first).to_be_visible(timeout=LITE_KERNEL_TIMEOUT)
        self.wait_for_idle_kernel(LITE_KERNEL_TIMEOUT)
        return self

    def run_all(self) -> LiteNotebook:
        super().run_all()
        return self

    def wait_until_all_ran(self) -> None:
        from lab_page import ALL_CELLS_RAN, NOTEBOOK

        self.page.wait_for_function(ALL_CELLS_RAN, arg=NOTEBOOK, timeout=LITE_RUN_TIMEOUT)
        self.wait_for_idle_kernel(LITE_RUN_TIMEOUT)


def run_notebook(page: Page, url: str, name: str) -> LiteNotebook:
    notebook = LiteNotebook(page, url, token="").open(name)
    return notebook.run_all()


def test_notebook_01_runs_in_the_browser_with_no_key(lite_page: Page, lite_url: str, elsewhere: list[str]) -> None:
    notebook = run_notebook(lite_page, lite_url, "01_create_api_key.ipynb")
    notebook.expect_output("Mode: sandbox")
    notebook.expect_output("the practice key file")
    # Key-entry practice: a fake key goes to a key file in the tab's memory, and the mode stays sandbox.
    key_box = notebook.widget_with_button("Save")
    key_box.root.locator("input[type=password]").fill("pplx-" + "fedcba9876543210" * 3)
    key_box.button("Save").click()
    expect(key_box.root).to_contain_text("Saved pplx-...3210 to the practice key file")
    expect(key_box.root.locator("input[type=password]")).to_have_value("")
    notebook.expect_no_errors()
    notebook.expect_no_tracebacks()
    assert elsewhere == []


def test_notebook_02_answers_from_the_sandbox_in_the_kernel(
    lite_page: Page, lite_url: str, elsewhere: list[str]
) -> None:
    notebook = run_notebook(lite_page, lite_url, "02_authenticate.ipynb")
    notebook.expect_output("Mode: sandbox")
    notebook.expect_output("HTTP 200")  # the taught requests.post cell, answered in-process
    notebook.expect_output("billion")  # the sandbox's answer to the guide's question
    expect(notebook.outputs.filter(has_text=SDK_SKIPPED)).to_have_count(3)
    playground = notebook.widget_with_button("Send")
    before = len(playground.root.inner_text())
    playground.button("Send").click()
    lengths = []
    for _ in range(80):  # the widget's text, sampled for about 4 s
        lengths.append(len(playground.root.inner_text()))
        time.sleep(0.05)
    expect(playground.output_with_text("billion").first).to_be_visible(timeout=60_000)
    # Streamed, not all at once: the page showed the answer part-written (at the sandbox's pace, 0.04 s an event).
    partial = {length for length in lengths if before < length < max(lengths)}
    assert len(partial) >= 3, lengths
    notebook.expect_no_errors()
    notebook.expect_no_tracebacks()
    assert elsewhere == []


def test_notebook_03_tests_the_connector_in_the_browser(lite_page: Page, lite_url: str, elsewhere: list[str]) -> None:
    notebook = run_notebook(lite_page, lite_url, "03_creator_studio_connector.ipynb")
    notebook.expect_output("Mode: sandbox")
    notebook.expect_output("Successful execution")  # the connector's Test, answered in-process
    form = notebook.widget_with_button("Test")
    form.button("Test").click()
    expect(form.output_with_text("Successful execution").first).to_be_visible(timeout=60_000)
    notebook.expect_no_errors()
    notebook.expect_no_tracebacks()
    assert elsewhere == []
