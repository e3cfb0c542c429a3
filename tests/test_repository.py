"""Repository-wide checks: notebooks were recorded properly, and no key-shaped string is committed."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ALL_NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# Wider than real keys (pplx- and 48 letters or digits), to catch keys with separators or cut short.
SECRET_SHAPE = re.compile(r"pplx-[A-Za-z0-9_-]{20,}")


def test_there_is_one_notebook_per_guide_step() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01_create_api_key.ipynb",
        "02_authenticate.ipynb",
        "03_creator_studio_connector.ipynb",
    ]


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_cells_use_only_top_level_helpers_names(path: Path) -> None:
    code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    assert re.findall(r"(?m)^\s*(?:from|import)\s+(helpers\.\w+|perplexity_sandbox)\b", code) == []
    assert re.findall(r"\bhelpers\.\w+\.\w+\(", code) == []  # no reaching into a module through the package


def test_notebook_03_shows_and_exports_the_guides_base_url_never_a_sandbox_port() -> None:
    notebook = nbformat.read(ROOT / "notebooks/03_creator_studio_connector.ipynb", as_version=4)
    outputs = json.dumps([c.get("outputs", []) for c in notebook.cells])
    assert "https://api.perplexity.ai" in outputs
    assert "127.0.0.1" not in outputs and "localhost" not in outputs


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_was_recorded_top_to_bottom_without_errors(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "re-record with `make record`"
    for cell in code:
        assert all(o.output_type != "error" for o in cell.outputs), cell.source
        assert all(o.get("name") != "stderr" for o in cell.outputs), cell.source


# Key-shaped strings that may appear in the repository, each with where it is and why it is harmless.
# Anything else that looks like a key fails the scan: build test keys at run time (see tests/support.py).
ALLOWED_KEY_SHAPES = {
    "pplx-sandbox-demo-key-not-a-secret": "helpers/settings.py: sent to the sandbox when no key is configured",
    "pplx-from-file-000000000000": "an obviously fake key in an early tests/test_keys.py (git history only)",
}


def key_shaped(text: str) -> list[str]:
    return [m.group(0) for m in SECRET_SHAPE.finditer(text) if m.group(0) not in ALLOWED_KEY_SHAPES]


def test_no_key_shaped_string_in_the_repository() -> None:
    """Tracked and new files (outputs and widget state of notebooks included), and this branch's history."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    hits = []
    for name in files:
        path = ROOT / name
        if path.is_file() and ".venv" not in path.parts:
            text = path.read_text(encoding="utf-8", errors="ignore")
            hits += [f"{name}: {found[:12]}..." for found in key_shaped(text)]
    history = subprocess.run(
        ["git", "log", "-p", "--format=", "HEAD"], cwd=ROOT, capture_output=True, text=True, errors="ignore", check=True
    ).stdout
    hits += [f"git history: {found[:12]}..." for found in key_shaped(history)]
    assert hits == [], "a key-shaped string is committed: remove it, and revoke it if it was ever a real key"


def test_the_scan_catches_keys_and_only_allows_the_documented_placeholders() -> None:
    real_looking = "pplx-" + "Ab3" * 16
    assert key_shaped(f"PERPLEXITY_API_KEY={real_looking}") == [real_looking]
    assert key_shaped("key = 'pplx-" + "with-dashes-and_underscores-123'") != []
    assert key_shaped(" ".join(ALLOWED_KEY_SHAPES)) == []
    assert key_shaped("pplx-your-key-here, pplx-...abcd") == []  # short placeholders and masks are fine


# What a newcomer sees at the top of the repository, each with why it is there and not in a folder. The card's
# own (notebooks, helpers, tests, requirements, README) first, then the sandbox, then instructor and
# maintainer material, then what a tool only reads at the top. A new top-level entry needs a reason here.
TOP_LEVEL = {
    "notebooks": "the three guide steps and the appendix",
    "helpers": "what the notebooks teach",
    "tests": "the helpers' tests",
    "requirements.txt": "the README's plain pip install, run from the top",
    "requirements-dev.txt": "the test tools, beside requirements.txt (make test, CI's pip cache)",
    "README.md": "the card GitHub shows first",
    "perplexity_sandbox": "the local API, a package of its own",
    "sandbox_tests": "the sandbox's tests: inside tests/, tests/conftest.py's helpers fixtures would wrap them",
    "teaching": "instructor material: the guide, the solutions, the Zero to JupyterHub config",
    "docs": "sandbox.md",
    "dev": "maintainer tooling: the Node tools, the chromium installer, the benchmarks",
    ".binder": "repo2docker reads binder/ or .binder/ only at the top",
    ".github": "GitHub reads workflows only at the top",
    ".ci": "the CI entry point",
    "Makefile": "make lab, make test: make reads the Makefile where it runs",
    "pyproject.toml": "the package, pytest, ruff and import-linter settings: tools look for it at the top",
    "conftest.py": "isolation for every pytest run, notebooks included: it must sit at pytest's rootdir",
    "LICENSE": "GitHub and the package (license-files) read it at the top",
    "CHANGELOG.md": "for learners and instructors, beside the README",
    "CONTRIBUTING.md": "GitHub links it from issues and pull requests",
    ".env.example": "the template of .env, which the key finder looks for at the checkout's top",
    ".gitignore": "the repository's ignore rules",
}


def test_the_top_level_holds_only_the_intended_entries() -> None:
    """Tracked entries only: a developer's .venv, build/ or dev/node_modules are git-ignored and not shown."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    top_level = {name.split("/")[0] for name in tracked.splitlines()}
    assert top_level - TOP_LEVEL.keys() == set(), "give each new top-level entry a home, or a reason in TOP_LEVEL"
    assert TOP_LEVEL.keys() - top_level == set(), "remove what the repository no longer has from TOP_LEVEL"
