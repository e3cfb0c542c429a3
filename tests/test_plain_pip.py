"""The README's plain pip path: a fresh virtual environment and only ``pip install -r requirements.txt``.

No ``make``, no ``pip install -e .``: requirements.txt itself installs the tutorial's package, and
every notebook then runs from the repository root, in sandbox mode, with no error output. The
package is the installed copy in ``site-packages`` (as for a learner, and unlike this checkout's
editable one), so the key file must be found from the notebooks' folder, not from the package.
Minutes (a venv with JupyterLab); pip's cache makes a second run faster.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.hub.course import clean_environment, copy_repository, execute_notebooks, plain_pip_environment, problems_in

pytestmark = pytest.mark.slow


def run_every_notebook_after_plain_pip(python: str, tmp_path: Path) -> Path:
    """Copy the repository, install it the plain pip way with ``python``, run every notebook; the venv's bin."""
    project = copy_repository(tmp_path / "perplexity-onboarding-notebooks")
    env = clean_environment(tmp_path / "home")
    bin_dir = plain_pip_environment(python, project, tmp_path / "venv", env)
    executed = execute_notebooks(bin_dir, project, tmp_path / "executed", env)
    assert [p.name for p in executed] == sorted(p.name for p in (project / "notebooks").glob("*.ipynb"))
    assert [problem for notebook in executed for problem in problems_in(notebook)] == []
    return bin_dir


def test_plain_pip_runs_every_notebook_from_the_repository_root(tmp_path: Path) -> None:
    bin_dir = run_every_notebook_after_plain_pip(sys.executable, tmp_path)
    project, env = tmp_path / "perplexity-onboarding-notebooks", clean_environment(tmp_path / "home")
    where = subprocess.run(
        [
            str(bin_dir / "python"),
            "-c",
            "import helpers, helpers.keys as k; print(helpers.__file__); print(k.env_file_path())",
        ],
        cwd=project / "notebooks",
        env={**env, "PERPLEXITY_ENV_FILE": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()
    assert Path(where[0]).is_relative_to(tmp_path / "venv"), "the notebooks must use the installed package"
    assert where[1] == str(project.resolve() / ".env"), "a non-editable install still finds the project's .env"
