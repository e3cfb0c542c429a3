"""Record the notebooks' outputs: run each one top to bottom in sandbox mode and save it.

The outputs committed with the notebooks come from here, never from hand edits, so that nbval
compares them with a fresh run. The run is isolated from the developer's own set-up: no key in
the environment, an empty key file, sandbox mode, and the built-in sandbox.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# A fixed sandbox port while recording: the outputs that show its URL then never change.
RECORD_SANDBOX_PORT = "8719"
ISOLATED_ENV = {"PERPLEXITY_MODE": "sandbox"}
CLEARED_ENV = ("PERPLEXITY_API_KEY", "PPLX_API_KEY", "PERPLEXITY_BASE_URL")


@contextmanager
def isolated_environment(extra: dict[str, str] | None = None) -> Iterator[Path]:
    """Environment variables for a run that no developer set-up can influence; yields the key file."""
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="pplx-record-") as folder:
        env_file = Path(folder) / ".env"
        for name in CLEARED_ENV:
            os.environ.pop(name, None)
        os.environ.update({**ISOLATED_ENV, "PERPLEXITY_ENV_FILE": str(env_file), **(extra or {})})
        try:
            yield env_file
        finally:
            os.environ.clear()
            os.environ.update(saved)


def notebook_paths(folder: Path) -> list[Path]:
    """The step notebooks in order (``01_...``), then the appendices (``appendix_...``)."""
    paths = sorted(folder.glob("[0-9][0-9]_*.ipynb")) + sorted(folder.glob("appendix_*.ipynb"))
    return [p for p in paths if ".ipynb_checkpoints" not in p.parts]


def execute_notebook(path: Path, timeout: int = 120, store_widget_state: bool = False) -> object:
    """Run one notebook in its own folder and return the executed notebook node.

    ``store_widget_state=True`` keeps the widgets' state in the metadata, as Jupyter can save it
    (the canary test checks that no key ends up there).
    """
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        store_widget_state=store_widget_state,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return notebook


def record(paths: list[Path]) -> list[Path]:
    """Execute and save each notebook; returns the paths written."""
    import nbformat
    from nbclient.exceptions import CellExecutionError

    written = []
    with isolated_environment(extra={"PERPLEXITY_SANDBOX_PORT": RECORD_SANDBOX_PORT}):
        for path in paths:
            try:
                notebook = execute_notebook(path)
            except CellExecutionError as error:
                print(f"Recording stopped: {path} failed and was not saved.\n{error}", file=sys.stderr)
                return written
            nbformat.write(stable_widget_ids(notebook, path.name), path)
            written.append(path)
            print(f"recorded {path}")
    return written


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def stable_widget_ids(notebook: Any, name: str) -> Any:
    """Give each widget output an id derived from its place instead of a random one.

    The ids point at widget state that is not saved with the notebook, so they carry nothing; a
    random one would make every recording differ from the last in lines that mean nothing.
    """
    for number, cell in enumerate(notebook.cells):
        for place, output in enumerate(cell.get("outputs", [])):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is not None:
                view["model_id"] = uuid.uuid5(uuid.NAMESPACE_URL, f"{name}#{number}.{place}").hex
    return notebook
