"""The record command is reproducible and portable: recording again writes the committed notebooks' bytes.

Each notebook is recorded afresh into a temporary copy of the notebooks folder and compared byte for
byte with the committed one. The recorder writes what a machine can vary (the Python and package
versions, the sandbox's port, a round-trip time) in the canonical form of the nbval masks, so there
is no mask here: a difference is a real change, and the failure names the notebook and the cells.
tests/test_python_versions.py does the same on Python 3.12 and 3.13.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from itertools import zip_longest
from pathlib import Path

import nbformat
import pytest

from helpers.recording import (
    MASKS_FILE,
    RERECORD_ADVICE,
    Canonical,
    notebook_paths,
    oldest_python,
    read_masks,
    record,
    stable_widget_ids,
)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = [path.name for path in notebook_paths(ROOT / "notebooks")]


def differences(committed: str, fresh: str) -> list[str]:
    """Where a freshly recorded notebook differs from the committed one: the metadata, or cells by number."""
    old, new = json.loads(committed), json.loads(fresh)
    found = [
        f"notebook {part}" for part in ("metadata", "nbformat", "nbformat_minor") if old.get(part) != new.get(part)
    ]
    for number, (before, after) in enumerate(zip_longest(old["cells"], new["cells"]), start=1):
        if before == after:
            continue
        if before is None or after is None:
            found.append(f"cell {number}: {'added' if before is None else 'removed'}")
            continue
        parts = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
        found.append(f"cell {number} ({first_line(before)}): {', '.join(parts)}")
    if not found and committed != fresh:
        found.append("the same content, written differently (line endings or JSON layout)")
    return found


def first_line(cell: dict) -> str:
    source = "".join(cell.get("source", []))
    return repr(source.strip().splitlines()[0][:60]) if source.strip() else "empty"


def explain(changed: dict[str, list[str]]) -> str:
    """One line per notebook that differs, then what to do."""
    lines = [f"{name}: {'; '.join(found)}" for name, found in changed.items()]
    return "\n".join([*lines, RERECORD_ADVICE])


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


@pytest.mark.slow  # runs whole notebooks in kernels: make test, not test-quick
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_recording_again_changes_no_byte(rerecorded: Path, name: str) -> None:
    committed = (ROOT / "notebooks" / name).read_bytes().decode("utf-8")
    fresh = (rerecorded / name).read_bytes().decode("utf-8")
    if fresh != committed:
        pytest.fail(explain({name: differences(committed, fresh)}), pytrace=False)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_committed_notebooks_are_in_canonical_form(name: str) -> None:
    """Masking the committed outputs again changes nothing: no version, port or time of a machine is in them."""
    path = ROOT / "notebooks" / name
    canonical = Canonical.of_project(ROOT).apply(nbformat.read(path, as_version=4))
    committed = path.read_bytes().decode("utf-8")
    again = nbformat.writes(canonical) + "\n"
    if again != committed:
        pytest.fail(explain({name: differences(committed, again)}), pytrace=False)


def test_canonical_form_masks_outputs_as_nbval_does_and_names_the_oldest_python() -> None:
    notebook = nbformat.v4.new_notebook(metadata={"language_info": {"name": "python", "version": "3.13.0"}})
    cell = nbformat.v4.new_code_cell("print(url)")
    cell.outputs = [
        nbformat.v4.new_output("stream", text="ok       Python: 3.13.0 (3.11 or newer needed)\n"),
        nbformat.v4.new_output("display_data", data={"text/markdown": "**ok** · HTTP 200 · 1.4 s"}),
        nbformat.v4.new_output("execute_result", data={"text/plain": "'http://127.0.0.1:53211/v1/agent'"}),
    ]
    notebook.cells.append(cell)
    canonical = Canonical.of_project(ROOT).apply(notebook)
    assert canonical.metadata.language_info.version == oldest_python(">=3.11") == "3.11"
    assert [output.get("text") or next(iter(output.data.values())) for output in canonical.cells[0].outputs] == [
        "ok       Python: VERSION (3.11 or newer needed)\n",
        "**ok** · HTTP 200 · TIME",
        "'http://127.0.0.1:PORT/v1/agent'",
    ]


def test_the_recorder_reads_the_masks_as_nbval_does() -> None:
    from nbval.plugin import get_sanitize_patterns

    text = (ROOT / MASKS_FILE).read_text(encoding="utf-8")
    assert read_masks(text) == get_sanitize_patterns(text) != []


def test_the_oldest_python_comes_from_requires_python() -> None:
    assert oldest_python(">=3.12, <4") == "3.12"
    with pytest.raises(ValueError, match="names no lowest version"):
        oldest_python("~=3.11")


def test_recording_outside_a_checkout_refuses_in_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notebooks").mkdir()
    untouched = tmp_path / "notebooks" / "01_x.ipynb"
    untouched.write_text("not run")
    assert record([untouched], root=tmp_path) == []
    said = capsys.readouterr().err
    assert said == f"Recording needs {tmp_path / MASKS_FILE}: run it from a checkout of the repository.\n"
    assert untouched.read_text() == "not run"


def test_differences_name_the_cells_that_changed() -> None:
    def notebook(answer: str, version: str) -> str:
        cells = [
            nbformat.v4.new_markdown_cell("# Title", id="a"),
            nbformat.v4.new_code_cell("print(answer)\nmore", id="b"),
        ]
        cells[1].outputs = [nbformat.v4.new_output("stream", text=answer)]
        made = nbformat.v4.new_notebook(cells=cells, metadata={"language_info": {"name": "python", "version": version}})
        return nbformat.writes(made)

    committed = notebook("42\n", "3.11")
    assert differences(committed, committed) == []
    assert differences(committed, notebook("43\n", "3.11")) == ["cell 2 ('print(answer)'): outputs"]
    assert differences(committed, notebook("42\n", "3.12")) == ["notebook metadata"]
    assert differences(committed, committed.replace("\n", "\r\n")) == [
        "the same content, written differently (line endings or JSON layout)"
    ]


@pytest.mark.slow  # runs whole notebooks in kernels: make test, not test-quick
def test_an_nbval_failure_says_to_record_and_review_the_diff(tmp_path: Path) -> None:
    """A plain `pytest --nbval` on a notebook whose committed output is stale: the failure says what to do."""
    for name in ("conftest.py", "pyproject.toml", str(MASKS_FILE)):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    cell = nbformat.v4.new_code_cell("print('new answer')", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", text="old answer\n")]
    (tmp_path / "notebooks").mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), tmp_path / "notebooks" / "stale.ipynb")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "notebooks"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stdout[-3000:]
    assert "Cell outputs differ" in done.stdout
    assert RERECORD_ADVICE in done.stdout


def test_widget_outputs_get_ids_from_their_place() -> None:
    view = "application/vnd.jupyter.widget-view+json"
    cell = {"outputs": [{"data": {view: {"model_id": "random"}}}]}
    notebook = type("Notebook", (), {"cells": [cell]})()
    first = stable_widget_ids(notebook, "a.ipynb").cells[0]["outputs"][0]["data"][view]["model_id"]
    cell["outputs"][0]["data"][view]["model_id"] = "another random id"
    assert stable_widget_ids(notebook, "a.ipynb").cells[0]["outputs"][0]["data"][view]["model_id"] == first != "random"


@pytest.mark.slow  # runs whole notebooks in kernels: make test, not test-quick
def test_recording_prints_no_kernel_warning(tmp_path: Path) -> None:
    """`make record` printed "Kernel is running over TCP without encryption" once per notebook.

    The recorder now asks jupyter_client for CurveZMQ keys, so the kernel has nothing to warn about.
    A one-cell notebook in a temporary folder is enough: the warning comes from starting the kernel.
    """
    notebook = tmp_path / "notebooks" / "01_hello.ipynb"
    notebook.parent.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hello')")]), notebook)
    done = subprocess.run(
        [sys.executable, "-m", "helpers", "record", str(notebook)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == f"recorded {notebook}\n"
    assert "without encryption" not in done.stderr and "WARNING" not in done.stderr, done.stderr
    assert nbformat.read(notebook, as_version=4).cells[0].outputs[0].text == "hello\n"
