"""Docs and comments name only files the repository has (issue 21: no stale references).

A path in backticks that starts with one of the repository's folders must exist. CHANGELOG.md is history: it
names files as they were, moved ones included; this file names made-up ones to test the reader.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("helpers/", "perplexity_sandbox/", "tests/", "sandbox_tests/", "notebooks/", "docs/", "teaching/", "dev/")
FOLDERS += (".binder/", ".github/", ".ci/")
QUOTED_PATH = re.compile("`((?:" + "|".join(map(re.escape, FOLDERS)) + r")[^`\s]*)`")
# Patterns and placeholders, not paths: "tests/test_*.py", "notebooks/0N_<step>.ipynb", "{name}".
NOT_A_PATH = re.compile(r"[*{…<]")
NOT_CHECKED = {"CHANGELOG.md", "tests/test_references.py"}
CHECKED = (".py", ".md", ".yml", ".yaml", ".sh", "Makefile")


def quoted_paths(text: str) -> list[str]:
    """The repository paths a text names in backticks, without a pytest node id or a line number."""
    paths = (match.group(1).split("::")[0].split(":")[0].rstrip(".,") for match in QUOTED_PATH.finditer(text))
    return [path for path in paths if not NOT_A_PATH.search(path)]


def tracked_files() -> list[str]:
    listing = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [name for name in listing.split() if name.endswith(CHECKED) and name not in NOT_CHECKED]


def test_quoted_paths_are_found_in_text() -> None:
    text = "See `helpers/keys.py:12`, `tests/test_x.py::test_y`, `tests/test_*.py` and `docs/gone.md`."
    assert quoted_paths(text) == ["helpers/keys.py", "tests/test_x.py", "docs/gone.md"]


def test_every_file_named_in_docs_and_comments_exists() -> None:
    missing = []
    for name in tracked_files():
        lines = (ROOT / name).read_text(encoding="utf-8", errors="replace").splitlines()
        for number, line in enumerate(lines, 1):
            missing += [f"{name}:{number}: {path}" for path in quoted_paths(line) if not (ROOT / path).exists()]
    assert not missing, "these name files the repository does not have: " + "; ".join(missing)
