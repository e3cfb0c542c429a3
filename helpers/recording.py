"""Record the notebooks' outputs: run each one top to bottom in sandbox mode and save it.

The outputs committed with the notebooks come from here, never from hand edits, so that nbval
compares them with a fresh run. The run is isolated from the developer's own set-up: no key in
the environment, an empty key file, sandbox mode, and the built-in sandbox.

A recording is portable: it holds nothing that depends on the recorder's Python or package
versions, operating system, clock or paths, so recording on any supported Python gives the same
bytes. What would vary is written in a canonical form: the nbval masks (the text nbval ignores
when it compares) are applied to the outputs, the notebook names the oldest supported Python, the
streams a cell printed are one output per stream whatever the kernel's flush timing, and the file
always has ``\n`` line endings.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import tomllib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Any free port for the sandbox while recording ("0"), never a fixed one, so that two recordings (or a
# recording and the recording test) can run at once; the port mask writes its URLs as PORT.
RECORD_SANDBOX_PORT = "0"
ISOLATED_ENV = {"PERPLEXITY_MODE": "sandbox"}
CLEARED_ENV = ("PERPLEXITY_API_KEY", "PPLX_API_KEY", "PERPLEXITY_BASE_URL")
# The nbval masks, relative to the project root; pyproject.toml gives nbval the same file.
MASKS_FILE = Path("tests") / "nbval_sanitize.cfg"
# Output fields nbval leaves unmasked when it compares (nbval.plugin's sanitize_outputs): so does recording.
UNMASKED_FIELDS = frozenset({"metadata", "traceback", "text/latex", "prompt_number", "output_type", "name"})
RERECORD_ADVICE = (
    "The notebooks' outputs changed: if that is what you meant, run `make record` "
    "(or `python -m helpers record`) and review the diff of notebooks/ before committing it."
)


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

    return NotebookClient(
        nbformat.read(path, as_version=4),
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        # ipykernel sends printed text in chunks as its flush timer fires: one output per stream instead.
        coalesce_streams=True,
        store_widget_state=store_widget_state,
        resources={"metadata": {"path": str(path.parent)}},
        config=encrypted_kernel_config(),
    ).execute()


def encrypted_kernel_config() -> Any:
    """Kernel manager settings that give the kernel CurveZMQ keys, where jupyter_client and pyzmq can.

    ipykernel warns "Kernel is running over TCP without encryption" on stderr for every kernel
    started without keys: four lines in each `make record` that read like a failure. "auto"
    provisions the keys only for a kernel whose kernelspec says it supports them (ipykernel does).
    """
    import zmq
    from jupyter_client import KernelManager
    from traitlets.config import Config

    if "transport_encryption" in KernelManager.class_trait_names() and zmq.has("curve"):
        return Config({"KernelManager": {"transport_encryption": "auto"}})
    return Config()  # an older jupyter_client, or a libzmq without CurveZMQ: the kernel runs as before


def kernel_key_arguments() -> list[str]:
    """The same settings as command-line options, for `make lab`: its kernels warned in the terminal too."""
    config = encrypted_kernel_config()
    return [f"--{section}.{name}={value}" for section, traits in config.items() for name, value in traits.items()]


def record(paths: list[Path], root: Path | None = None) -> list[Path]:
    """Execute and save each notebook in its canonical form; returns the paths written.

    ``root`` is the checkout whose masks and supported Python apply (by default the one found from
    the working directory, as ``python -m helpers record`` finds the notebooks).
    """
    import nbformat
    from nbclient.exceptions import CellExecutionError

    from helpers.keys import project_root

    try:
        canonical = Canonical.of_project(root or project_root())
    except FileNotFoundError as missing:
        print(f"Recording needs {missing.filename}: run it from a checkout of the repository.", file=sys.stderr)
        return []
    written = []
    with isolated_environment(extra={"PERPLEXITY_SANDBOX_PORT": RECORD_SANDBOX_PORT}):
        for path in paths:
            try:
                notebook = execute_notebook(path)
            except CellExecutionError as error:
                print(f"Recording stopped: {path} failed and was not saved.\n{error}", file=sys.stderr)
                return written
            notebook = canonical.apply(stable_widget_ids(notebook, path.name))
            # newline="\n": the same bytes on Windows, where text mode would write "\r\n".
            path.write_text(nbformat.writes(notebook).rstrip("\n") + "\n", encoding="utf-8", newline="\n")
            written.append(path)
            print(f"recorded {path}")
    return written


@dataclass(frozen=True)
class Canonical:
    """What a recording writes instead of what depends on the machine that recorded it."""

    masks: list[tuple[re.Pattern[str], str]]
    python_version: str

    @classmethod
    def of_project(cls, root: Path) -> Canonical:
        """The project's nbval masks and the oldest Python its ``requires-python`` accepts."""
        masks = read_masks((root / MASKS_FILE).read_text(encoding="utf-8"))
        with (root / "pyproject.toml").open("rb") as file:
            requires = tomllib.load(file)["project"]["requires-python"]
        return cls([(re.compile(pattern), replacement) for pattern, replacement in masks], oldest_python(requires))

    def text(self, text: str) -> str:
        """``text`` with every mask applied, in the file's order, as nbval applies them."""
        for pattern, replacement in self.masks:
            text = pattern.sub(replacement, text)
        return text

    def apply(self, notebook: Any) -> Any:
        """Mask every output as nbval would (the fields it compares), and name the oldest supported Python."""
        language = notebook.metadata.get("language_info")
        if language is not None and "version" in language:
            language["version"] = self.python_version
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                for field, value in output.items():
                    if field == "data":
                        value.update({kind: self.text(text) for kind, text in value.items() if _masked(kind, text)})
                    elif _masked(field, value):
                        output[field] = self.text(value)
        return notebook


def _masked(field: str, value: Any) -> bool:
    """Whether nbval masks ``field`` when it compares: text, in a field it does not leave alone."""
    return field not in UNMASKED_FIELDS and isinstance(value, str)


def read_masks(text: str) -> list[tuple[str, str]]:
    """The ``regex:``/``replace:`` pairs of an nbval sanitize file, read as nbval reads them."""
    return re.findall(r"^regex: (.*)$\n^replace: (.*)$", text, flags=re.MULTILINE)


def oldest_python(requires_python: str) -> str:
    """``">=3.11"`` gives ``"3.11"``: the version a recorded notebook names, whichever Python recorded it."""
    found = re.search(r">=\s*(\d+\.\d+)", requires_python)
    if found is None:
        raise ValueError(f"requires-python {requires_python!r} names no lowest version (such as >=3.11)")
    return found.group(1)


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
