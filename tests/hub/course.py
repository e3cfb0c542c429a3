"""The repository as a learner gets it, and a fresh virtual environment set up the README's plain pip way.

A copy holds exactly the files git would ship (tracked, plus new files that are not ignored), as they
are in the working tree now, so the tests see uncommitted changes but never a developer's .env,
.venv or build folders.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
# Variables that would let the developer's own set-up leak into a learner's run.
LEAKY = ("PERPLEXITY_API_KEY", "PPLX_API_KEY", "PERPLEXITY_BASE_URL", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
PIP_TIMEOUT = 900  # a cold pip cache downloads JupyterLab and its dependencies
RUN_TIMEOUT = 900  # every notebook, top to bottom; each cell has its own limit below
CELL_TIMEOUT = 300


def repository_files() -> list[str]:
    """The paths git would ship: tracked files and new, not ignored ones (deleted files left out)."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    return sorted({name for name in listed.split("\0") if name and (ROOT / name).is_file()})


def copy_repository(destination: Path) -> Path:
    """A copy of the repository in ``destination``, file modes kept; returns it."""
    for name in repository_files():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    return destination


def bare_repository(folder: Path, name: str = "perplexity-onboarding-notebooks") -> str:
    """A one-commit bare git repository of the copy in ``folder``: what a course link or pip pulls. Its file:// URL."""
    source = copy_repository(folder / "source")
    people = {"GIT_AUTHOR_NAME": "Instructor", "GIT_AUTHOR_EMAIL": "instructor@example.org"}
    env = {**os.environ, **people, "GIT_COMMITTER_NAME": "Instructor", "GIT_COMMITTER_EMAIL": "instructor@example.org"}
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "The course"]):
        subprocess.run(["git", *command], cwd=source, env=env, check=True, timeout=60, capture_output=True)
    bare = folder / f"{name}.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(source), str(bare)], check=True, timeout=60)
    return bare.as_uri()


def clean_environment(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without a developer's key, base URL or Python paths, HOME in ``home``.

    Sandbox mode and a key file in ``home``: the run can reach nothing but this computer and never
    reads or writes a real key. Jupyter's own folders move into ``home`` too, so no kernel spec or
    setting of the developer's is used.
    """
    env = {name: value for name, value in os.environ.items() if name not in LEAKY and not name.startswith("JUPYTER")}
    env.setdefault("PIP_CACHE_DIR", pip_cache_dir())  # reuse downloads, wherever HOME now is
    (home / "run").mkdir(parents=True, exist_ok=True, mode=0o700)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_RUNTIME_DIR=str(home / "run"),
        JUPYTER_PLATFORM_DIRS="1",
        PERPLEXITY_MODE="sandbox",
        PERPLEXITY_ENV_FILE=str(home / "keys.env"),
        **extra,
    )
    return env


def pip_cache_dir() -> str:
    """pip's own cache folder, so a fresh environment installs from downloads already made."""
    found = subprocess.run(
        [sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True, timeout=60, check=False
    )
    return found.stdout.strip() or str(Path.home() / ".cache" / "pip")


def plain_pip_environment(python: str, project: Path, folder: Path, env: dict[str, str]) -> Path:
    """``python -m venv`` in ``folder``, then only ``pip install -r requirements.txt`` in ``project``: its bin."""
    subprocess.run([python, "-m", "venv", str(folder)], check=True, timeout=120, env=env)
    bin_dir = folder / ("Scripts" if os.name == "nt" else "bin")
    run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "-r", "requirements.txt"],
        project,
        env,
        PIP_TIMEOUT,
    )
    return bin_dir


def execute_notebooks(bin_dir: Path, project: Path, output: Path, env: dict[str, str]) -> list[Path]:
    """Every notebook in ``notebooks/``, run top to bottom by ``jupyter nbconvert --execute`` from the root.

    nbconvert stops at the first cell that raises; the executed copies land in ``output``.
    """
    notebooks = sorted((project / "notebooks").glob("*.ipynb"))
    env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}"}
    run(
        [
            str(bin_dir / "jupyter"),
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            f"--ExecutePreprocessor.timeout={CELL_TIMEOUT}",
            "--output-dir",
            str(output),
            *(str(p.relative_to(project)) for p in notebooks),
        ],
        project,
        env,
        RUN_TIMEOUT,
    )
    return [output / p.name for p in notebooks]


def problems_in(executed: Path) -> list[str]:
    """Error outputs and stderr streams of an executed notebook, each as the cell's first line and the text."""
    problems = []
    for cell in nbformat.read(executed, as_version=4).cells:
        for output in cell.get("outputs", []):
            if output.output_type == "error" or output.get("name") == "stderr":
                text = output.get("text") or f"{output.get('ename')}: {output.get('evalue')}"
                problems.append(f"{executed.name}: {cell.source.splitlines()[0]!r}: {text[:500]}")
    return problems


def run(command: list[str], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """Run ``command``; on failure, raise with the end of its output (pip's and nbconvert's are long)."""
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise AssertionError(
            f"{' '.join(command[:4])} ... failed with exit code {done.returncode}:\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
        )
    return done
