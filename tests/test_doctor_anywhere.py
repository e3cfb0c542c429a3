"""``python -m helpers doctor`` tells the truth wherever it runs: another folder, another install, another Python.

Each test runs the command as a learner would, in a subprocess: from a folder outside the course, with
the package installed as the README's plain pip path leaves it (not editable), with a Python whose
packages are missing. The package is copied into ``tmp_path`` to stand for each kind of install.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
from importlib import metadata
from pathlib import Path

import pytest

from helpers.cli import DEPENDENCY_MODULES
from helpers.doctor import DISTRIBUTION, NOTE, OK, PROBLEM, check_packages
from helpers.keys import mask_key
from helpers.recording import CLEARED_ENV
from tests.support import FAKE_KEY, fix_under, report_line

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("helpers", "perplexity_sandbox")


def copy_package(into: Path, *, checkout: bool) -> Path:
    """The two packages in ``into``; with ``checkout``, beside pyproject.toml, as in a clone of the course."""
    into.mkdir(parents=True, exist_ok=True)
    for name in PACKAGES:
        shutil.copytree(ROOT / name, into / name, ignore=shutil.ignore_patterns("__pycache__"))
    if checkout:
        shutil.copy(ROOT / "pyproject.toml", into / "pyproject.toml")
        (into / "notebooks").mkdir()
    return into


def record_install(site: Path, *, url: str, editable: bool = False) -> None:
    """The distribution metadata pip writes beside a package it installed, with its PEP 610 ``direct_url.json``."""
    info = site / f"{DISTRIBUTION.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(metadata.distribution(DISTRIBUTION).read_text("METADATA") or "")
    (info / "direct_url.json").write_text(json.dumps({"url": url, "dir_info": {"editable": editable}}))


def save_key(course: Path) -> None:
    env_file = course / ".env"
    env_file.write_text(f"PERPLEXITY_API_KEY={FAKE_KEY}\n")
    env_file.chmod(0o600)


def doctor_in(cwd: Path, package_dir: Path, *options: str, python: str = sys.executable) -> subprocess.CompletedProcess:
    """``python -m helpers doctor`` from ``cwd``, importing the copy of the package in ``package_dir``.

    Nothing points it at a key file (no ``PERPLEXITY_ENV_FILE``); the per-user one is in ``cwd``'s
    sibling ``config``, never the developer's own.
    """
    env = {k: v for k, v in os.environ.items() if k not in (*CLEARED_ENV, "PERPLEXITY_ENV_FILE", "PYTHONPATH")}
    env.update(PERPLEXITY_MODE="sandbox", XDG_CONFIG_HOME=str(cwd.parent / "config"), PYTHONPATH=str(package_dir))
    return subprocess.run(
        [python, "-m", "helpers", "doctor", "--skip-call", *options],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def tip_under(report: str, name: str) -> str:
    following = fix_under(report, name)
    assert following.startswith(("Tip: ", "Fix: ")), report
    return following


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    folder = tmp_path / "home"  # a folder outside any course folder, as a learner's home is
    folder.mkdir()
    return folder


# --- which key file: outside the course folder --------------------------------------------


def test_an_editable_install_run_elsewhere_finds_its_course_folders_key(tmp_path: Path, elsewhere: Path) -> None:
    course = copy_package(tmp_path / "course", checkout=True)  # the package imported from its checkout: editable
    save_key(course)
    result = doctor_in(elsewhere, course)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stdout + result.stderr
    assert f"Key: {mask_key(FAKE_KEY)} from the .env file" in result.stdout
    assert report_line(result.stdout, "Key file").startswith(f"ok       Key file: {course / '.env'}: the project's own")
    assert FAKE_KEY not in result.stdout + result.stderr


def test_an_installed_package_run_elsewhere_says_it_cannot_know_and_how_to_point_it(
    tmp_path: Path, elsewhere: Path
) -> None:
    course = copy_package(tmp_path / "course", checkout=True)
    save_key(course)  # the notebooks in the course folder would use this key; the doctor cannot see it
    site = copy_package(tmp_path / "site", checkout=False)  # installed, not editable: nothing leads to the course
    result = doctor_in(elsewhere, site)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stdout + result.stderr
    user_file = tmp_path / "config" / "perplexity-tutorial" / ".env"
    assert report_line(result.stdout, "Key file").startswith(f"{NOTE:<8} Key file: {user_file}")
    tip = tip_under(result.stdout, "Key file")
    assert "cannot know whether your notebooks run in a course folder" in tip
    assert "--project DIR" in tip and "PERPLEXITY_ENV_FILE" in tip
    assert (
        report_line(result.stdout, "Key")
        == f"{NOTE:<8} Key: none configured, so notebooks outside a course folder use the sandbox."
    )


def test_the_project_option_checks_the_key_of_that_course_folder(tmp_path: Path, elsewhere: Path) -> None:
    course = copy_package(tmp_path / "course", checkout=True)
    save_key(course)
    site = copy_package(tmp_path / "site", checkout=False)
    result = doctor_in(elsewhere, site, "--project", str(course / "notebooks"))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stdout + result.stderr
    assert f"Key: {mask_key(FAKE_KEY)} from the .env file" in result.stdout
    key_file = report_line(result.stdout, "Key file")
    assert key_file.startswith(f"{OK:<8} Key file: {course / '.env'}")
    assert f"Checked for the notebooks in {course / 'notebooks'} (--project)." in key_file
    assert "cannot know" not in result.stdout and FAKE_KEY not in result.stdout + result.stderr


def test_the_project_option_refuses_a_folder_that_is_no_course_folder(tmp_path: Path, elsewhere: Path) -> None:
    site = copy_package(tmp_path / "site", checkout=False)
    result = doctor_in(elsewhere, site, "--project", str(elsewhere))
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr
    assert f"--project {elsewhere.resolve()}: that is not a copy of the course folder" in result.stderr


def test_a_package_pip_installed_from_a_course_folder_is_checked_for_that_folder(
    tmp_path: Path, elsewhere: Path
) -> None:
    course = copy_package(tmp_path / "course", checkout=True)
    save_key(course)
    site = copy_package(tmp_path / "site", checkout=False)
    record_install(site, url=course.as_uri())  # what `pip install -r requirements.txt` (its last line: .) records
    result = doctor_in(elsewhere, site)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stdout + result.stderr
    assert f"Key: {mask_key(FAKE_KEY)} from the .env file" in result.stdout
    key_file = report_line(result.stdout, "Key file")
    assert key_file.startswith(f"{OK:<8} Key file: {course / '.env'}") and "this package came from" in key_file


@pytest.mark.parametrize(
    "url", ["git+https://github.com/example/course.git", "file:///no/such/course"], ids=["from-git", "folder-gone"]
)
def test_a_package_installed_from_elsewhere_still_cannot_know(tmp_path: Path, elsewhere: Path, url: str) -> None:
    site = copy_package(tmp_path / "site", checkout=False)
    record_install(site, url=url)  # Colab installs from the repository; a course folder may have been deleted
    result = doctor_in(elsewhere, site)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cannot know whether your notebooks run in a course folder" in tip_under(result.stdout, "Key file")


# --- a Python without the tutorial's packages ---------------------------------------------


def bare_python(folder: Path) -> str:
    """A fresh virtual environment without pip or any package: a Python that lacks every dependency."""
    venv.create(folder, with_pip=False)
    return str(folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))


def run_module(python: str, cwd: Path, package_dir: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONPATH"] = str(package_dir)
    return subprocess.run(
        [python, "-m", "helpers", "doctor"], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def assert_one_sentence(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1 and result.stdout == "", result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "ModuleNotFoundError" not in result.stderr, result.stderr
    (sentence,) = result.stderr.strip().splitlines()
    return sentence


ACTIVATE_BOTH = "`source .venv/bin/activate` on Linux and macOS or `.venv\\Scripts\\activate` on Windows"


def test_another_python_than_the_virtual_environment_says_how_to_activate_it(tmp_path: Path) -> None:
    course = copy_package(tmp_path / "course", checkout=True)
    (course / ".venv").mkdir()  # the course's environment exists; the learner runs another Python
    python = bare_python(tmp_path / "system")
    sentence = assert_one_sentence(run_module(python, course, course))
    assert sentence.startswith(f"This Python ({python}) lacks the tutorial's packages: activate")
    assert ACTIVATE_BOTH in sentence and "cd " not in sentence


def test_run_from_another_folder_it_also_says_where_the_course_folder_is(tmp_path: Path, elsewhere: Path) -> None:
    course = copy_package(tmp_path / "course", checkout=True)
    (course / ".venv").mkdir()
    sentence = assert_one_sentence(run_module(bare_python(tmp_path / "system"), elsewhere, course))
    assert f"go to the course folder (`cd {course}`), activate" in sentence and ACTIVATE_BOTH in sentence


def test_without_a_virtual_environment_yet_it_says_how_to_create_and_activate_one(tmp_path: Path) -> None:
    course = copy_package(tmp_path / "course", checkout=True)
    sentence = assert_one_sentence(run_module(bare_python(tmp_path / "system"), course, course))
    assert "the course folder has no virtual environment yet" in sentence
    assert "`python3 -m venv .venv`" in sentence and ACTIVATE_BOTH in sentence
    assert "`pip install -r requirements.txt`" in sentence


def test_the_course_environment_itself_lacking_packages_says_to_install_them(tmp_path: Path) -> None:
    course = copy_package(tmp_path / "course", checkout=True)
    python = bare_python(course / ".venv")  # created, activated, but nothing installed yet
    sentence = assert_one_sentence(run_module(python, course, course))
    assert sentence.startswith("The tutorial's virtual environment lacks the tutorial's packages")
    assert "`python -m pip install -r requirements.txt`" in sentence and "activate" not in sentence


def test_a_dependency_first_imported_on_the_way_is_one_sentence_too(tmp_path: Path) -> None:
    """The ``perplexity-tutorial`` script has no ``-m`` guard: a package imported late (tornado) is one sentence too."""
    blocked = "import sys; sys.modules['tornado'] = None; from helpers.cli import main; sys.exit(main(['doctor']))"
    env = {k: v for k, v in os.environ.items() if k not in (*CLEARED_ENV, "PERPLEXITY_ENV_FILE")}
    env.update(PERPLEXITY_MODE="sandbox", XDG_CONFIG_HOME=str(tmp_path / "config"))
    result = subprocess.run(
        [sys.executable, "-c", blocked], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    sentence = assert_one_sentence(result)
    assert "lacks tornado" in sentence and "then run the command again" in sentence


def test_the_guard_knows_every_runtime_dependency() -> None:
    """The guard looks packages up by import name: each must belong to a dependency, and each dependency to one."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = {_canonical(re.split(r"[<>=~!;\[ ]", requirement)[0]) for requirement in declared}
    owners = metadata.packages_distributions()
    guarded = {_canonical(owner) for module in DEPENDENCY_MODULES for owner in owners.get(module, [])}
    assert guarded == wanted


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# --- the package list ---------------------------------------------------------------------


def test_the_package_list_names_jupyterlab_and_both_sdks_with_versions() -> None:
    report = check_packages()
    assert report.status == OK
    for name in ("jupyterlab", "perplexityai", "openai"):
        assert f"{name} {metadata.version(name)}" in report.detail


def test_a_missing_notebook_package_is_a_problem_with_its_install_command() -> None:
    report = check_packages(["requests>=2", "surely-not-installed-sdk>=1.0", "surely-not-installed-lab"])
    assert report.status == PROBLEM
    assert report.detail == "surely-not-installed-sdk is not installed; surely-not-installed-lab is not installed."
    assert report.fix.startswith('Run `python -m pip install "surely-not-installed-sdk>=1.0" surely-not-installed-lab`')


def test_in_a_notebook_jupyterlab_is_listed_but_not_required(monkeypatch: pytest.MonkeyPatch) -> None:
    real_version = metadata.version

    def without_jupyterlab(name: str) -> str:  # Colab: the notebook is open, and JupyterLab is not installed
        if name == "jupyterlab":
            raise metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(metadata, "version", without_jupyterlab)
    assert check_packages().status == PROBLEM
    in_notebook = check_packages(front_end_needed=False)
    assert in_notebook.status == OK and "jupyterlab not installed (not needed" in in_notebook.detail
