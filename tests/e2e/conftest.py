"""Browser tests: JupyterLab on a temporary copy of the project, driven by headless Debian chromium.

One server for the session (it is the slow part); every test gets its own fresh copy of the
project under the server's root, a new browser context and page, and a reset workspace.
Without chromium or playwright the tests skip, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from lab_page import NotebookPage
from lab_server import LabServer, copy_project, start_lab
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PROJECT_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = "test-artifacts"
CONSOLE_KEY = pytest.StashKey[list]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is an ``e2e`` test, so ``-m "not e2e"`` leaves them all out."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.e2e)


def _unavailable(reason: str) -> None:
    """Skip on a developer's machine; fail in CI, where the browser tests must run."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run; `make test` installs chromium)", pytrace=False)
    pytest.skip(f"{reason}; install Debian's chromium (make test does it when run as root) to run the browser tests")


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Checked first, so that a machine without the browser skips before starting anything."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing")
    return CHROMIUM


@pytest.fixture(scope="session")
def lab(chromium_path: Path) -> Iterator[LabServer]:
    """``jupyter lab`` from this venv in sandbox mode, on a free loopback port with a random token."""
    base = Path(tempfile.mkdtemp(prefix="pplx-e2e-"))
    (base / "projects").mkdir()
    try:
        server = start_lab(root=base / "projects", state_dir=base / "lab")
        try:
            yield server
        finally:
            survivors = server.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert not survivors, f"kernels outlived the JupyterLab server (killed now): {survivors}"


@pytest.fixture
def project(lab: LabServer, request: pytest.FixtureRequest) -> Path:
    """A fresh copy of the project for this test, under the server's root. Its .env is the key file."""
    name = re.sub(r"\W+", "-", request.node.name).strip("-")
    return copy_project(PROJECT_ROOT, lab.root / name)


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    """The one playwright of the session: a second ``sync_playwright()`` while this one runs is refused."""
    with sync_playwright() as playwright:
        yield playwright


def launched_chromium(driver: Playwright, chromium_path: Path, args: list[str]) -> Iterator[Browser]:
    """Debian's chromium, headless, driven by playwright (never a browser download of its own); closed after."""
    chromium = driver.chromium.launch(executable_path=str(chromium_path), headless=True, args=args)
    yield chromium
    chromium.close()


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright, chromium_path: Path) -> Iterator[Browser]:
    yield from launched_chromium(playwright_driver, chromium_path, CHROMIUM_ARGS)


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page in a new browser context (no cookies, storage or cache from another test)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)  # clicks and fills on a busy, shared machine
    yield from logged_page(context, request)


def logged_page(context: BrowserContext, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page of ``context`` whose console and page errors go to the test's report; the context closed after."""
    page = context.new_page()
    console = request.node.stash.setdefault(CONSOLE_KEY, [])
    page.on("console", lambda message: console.append(f"[{message.type}] {message.text}"))
    page.on("pageerror", lambda error: console.append(f"[pageerror] {error}"))
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def notebook(page: Page, lab: LabServer, project: Path) -> NotebookPage:
    """A notebook of this test's project copy, to open with ``notebook.open("notebooks/01_....ipynb")``."""
    return NotebookPage(page, lab.url, lab.token, folder=project.relative_to(lab.root).as_posix())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """When a browser test fails, save a screenshot and the console log, and name them in the report."""
    report = yield
    page = getattr(item, "funcargs", {}).get("page")
    if report.failed and report.when in ("setup", "call") and page is not None:
        report.sections.append(("browser artifacts", _save_artifacts(item, page)))
    return report


def _save_artifacts(item: pytest.Item, page: Page) -> str:
    folder = item.config.rootpath / ARTIFACTS_DIR / re.sub(r"\W+", "-", item.name).strip("-")
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    try:
        page.screenshot(path=str(folder / "screenshot.png"), full_page=True, timeout=10_000)
        lines.append(f"screenshot: {folder / 'screenshot.png'}")
    except Exception as error:  # the page may have crashed; the console log is still worth saving
        lines.append(f"screenshot failed: {error}")
    (folder / "console.log").write_text("".join(f"{line}\n" for line in item.stash.get(CONSOLE_KEY, [])))
    lines.append(f"console log: {folder / 'console.log'}")
    return "\n".join(lines)
