"""The record command is reproducible: recording again changes no byte of a committed notebook.

Each notebook is recorded afresh into a temporary copy of the notebooks folder, then compared with
the committed one after the nbval masks (tests/nbval_sanitize.cfg) that cover what a machine can
vary, such as its Python version. Everything else must be identical, so a maintainer's diff after
`make record` shows only what really changed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.recording import notebook_paths, stable_widget_ids

ROOT = Path(__file__).resolve().parent.parent
MASKS = re.findall(r"^regex: (.*)$\n^replace: (.*)$", (ROOT / "tests/nbval_sanitize.cfg").read_text(), re.M)


def masked(text: str) -> str:
    for pattern, replacement in MASKS:
        text = re.sub(pattern, replacement, text)
    return text


@pytest.fixture(scope="module")
def rerecorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("record") / "notebooks"
    shutil.copytree(ROOT / "notebooks", folder)
    paths = [str(path) for path in notebook_paths(folder)]
    done = subprocess.run(
        [sys.executable, "-m", "helpers", "record", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return folder


@pytest.mark.parametrize("name", [path.name for path in notebook_paths(ROOT / "notebooks")])
def test_recording_again_changes_no_byte(rerecorded: Path, name: str) -> None:
    committed = (ROOT / "notebooks" / name).read_text(encoding="utf-8")
    fresh = (rerecorded / name).read_text(encoding="utf-8")
    assert masked(fresh) == masked(committed)


def test_widget_outputs_get_ids_from_their_place() -> None:
    view = "application/vnd.jupyter.widget-view+json"
    cell = {"outputs": [{"data": {view: {"model_id": "random"}}}]}
    notebook = type("Notebook", (), {"cells": [cell]})()
    first = stable_widget_ids(notebook, "a.ipynb").cells[0]["outputs"][0]["data"][view]["model_id"]
    cell["outputs"][0]["data"][view]["model_id"] = "another random id"
    assert stable_widget_ids(notebook, "a.ipynb").cells[0]["outputs"][0]["data"][view]["model_id"] == first != "random"
