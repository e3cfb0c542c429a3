"""Repository-wide checks: notebooks were recorded properly, and no key-shaped string is committed."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
KEY_SHAPE = re.compile(r"pplx-[A-Za-z0-9]{32,}")


def test_there_is_one_notebook_per_guide_step() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01_create_api_key.ipynb", "02_authenticate.ipynb", "03_creator_studio_connector.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_was_recorded_top_to_bottom_without_errors(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "re-record with `make record`"
    for cell in code:
        assert all(o.output_type != "error" for o in cell.outputs), cell.source
        assert all(o.get("name") != "stderr" for o in cell.outputs), cell.source


def test_no_key_shaped_string_in_tracked_files() -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    hits = []
    for name in files:
        path = ROOT / name
        if path.is_file() and ".venv" not in path.parts:
            text = path.read_text(encoding="utf-8", errors="ignore")
            hits += [f"{name}: {m.group(0)[:12]}..." for m in KEY_SHAPE.finditer(text)]
    assert hits == []
