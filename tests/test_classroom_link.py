"""``python -m helpers classroom-link``: the nbgitpuller link an instructor hands a JupyterHub class.

The link must be what nbgitpuller reads: ``/hub/user-redirect/git-pull`` with ``repo``, ``branch``,
``targetpath`` and an ``urlpath`` that opens a notebook inside the folder the course is pulled into.
The hub test (tests/test_jupyterhub.py) follows such a link on a real hub.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from helpers import classroom
from helpers.classroom import REPOSITORY_URL, course_folder, nbgitpuller_link
from tests.hub.course import copy_repository

ROOT = Path(__file__).resolve().parent.parent


def query_of(link: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(link).query, strict_parsing=True).items()}


def test_the_link_pulls_this_repository_and_opens_notebook_01() -> None:
    link = nbgitpuller_link("https://hub.example.org")
    assert link.startswith("https://hub.example.org/hub/user-redirect/git-pull?")
    assert query_of(link) == {
        "repo": REPOSITORY_URL,
        "branch": "main",
        "targetpath": "perplexity-onboarding-notebooks",
        "urlpath": "lab/tree/perplexity-onboarding-notebooks/notebooks/01_create_api_key.ipynb",
    }


@pytest.mark.parametrize(
    "hub",
    [
        "https://hub.example.org/",
        "https://hub.example.org/hub",
        "https://hub.example.org/hub/",
        " https://hub.example.org ",
    ],
)
def test_the_hub_address_may_be_written_as_people_copy_it(hub: str) -> None:
    assert nbgitpuller_link(hub).startswith("https://hub.example.org/hub/user-redirect/git-pull?")


@pytest.mark.parametrize(
    ("repo", "folder"),
    [
        ("https://github.com/someone/course.git", "course"),
        ("https://gitlab.example.org/group/sub/course/", "course"),
        ("file:///srv/git/perplexity-onboarding-notebooks.git", "perplexity-onboarding-notebooks"),
    ],
)
def test_the_notebook_opens_inside_the_folder_the_course_is_pulled_into(repo: str, folder: str) -> None:
    fields = query_of(
        nbgitpuller_link("https://hub.example.org", repo=repo, notebook="03_creator_studio_connector.ipynb")
    )
    assert course_folder(repo) == folder
    assert fields["targetpath"] == folder
    assert fields["urlpath"] == f"lab/tree/{folder}/notebooks/03_creator_studio_connector.ipynb"


def test_the_classic_notebook_interface_can_be_chosen() -> None:
    assert query_of(nbgitpuller_link("https://hub.example.org", app="notebook"))["urlpath"].startswith("notebook/tree/")


def test_the_command_prints_the_link() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "helpers", "classroom-link", "--hub", "https://hub.example.org", "--branch", "spring"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert shown.stdout == nbgitpuller_link("https://hub.example.org", branch="spring") + "\n"


def test_a_hub_address_without_a_scheme_is_refused_in_one_sentence() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "helpers", "classroom-link", "--hub", "hub.example.org"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 2 and shown.stdout == ""
    assert "The hub URL must start with https://" in shown.stderr


def test_the_binder_link_opens_notebook_01_in_jupyterlab() -> None:
    owner_and_name = REPOSITORY_URL.removeprefix("https://github.com/")
    assert classroom.binder_url() == (
        f"https://mybinder.org/v2/gh/{owner_and_name}/main?urlpath=lab/tree/notebooks/01_create_api_key.ipynb"
    )


def test_the_repository_address_is_written_in_one_place_in_the_package() -> None:
    """Badges, the Colab install cell and the hub link are all built from classroom.REPOSITORY_URL."""
    holders = [
        p.relative_to(ROOT).as_posix() for p in (ROOT / "helpers").rglob("*.py") if REPOSITORY_URL in p.read_text()
    ]
    assert holders == ["helpers/classroom.py"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", REPOSITORY_URL)


def test_repo2docker_builds_binder_with_a_pinned_python_and_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """repo2docker's own buildpack choice on a copy of the repository, read without Docker.

    Without runtime.txt, newer repo2docker picks the newest Python it knows (its default 3.10 is below
    ``requires-python``); binder/runtime.txt pins one that tests/test_python_versions.py runs. The
    requirements install after the whole repository is copied in, since they install it (``.``).
    """
    buildpacks = pytest.importorskip("repo2docker.app", reason="jupyter-repo2docker is in requirements-dev.txt")
    monkeypatch.chdir(copy_repository(tmp_path / "repo"))
    app = buildpacks.Repo2Docker()
    picked = next(bp for bp in (kind(base_image=app.base_image) for kind in app.buildpacks) if bp.detect())
    assert type(picked).__name__ == "PythonBuildPack"
    assert picked.python_version == "3.12" and picked.binder_dir == "binder"
    assert not picked._should_preassemble_pip  # local requirements: installed once the repository is there
    picked.platform = "linux/amd64"
    dockerfile = picked.render()
    assert any("environment.py-3.12-linux-64" in name for name in picked.get_build_script_files())
    copy_all, install = (
        dockerfile.index("COPY --chown=1000:1000 src/ ${REPO_DIR}/"),
        dockerfile.index('pip install --no-cache-dir -r "binder/requirements.txt"'),
    )
    assert copy_all < install


def test_the_binder_requirements_are_the_learners_plus_nbgitpuller() -> None:
    lines = [line for line in (ROOT / "binder/requirements.txt").read_text().splitlines() if line and line[0] != "#"]
    assert lines == ["-r ../requirements.txt", "nbgitpuller~=1.3"]
    assert (ROOT / "requirements.txt").read_text().splitlines()[-1] == "."  # the tutorial's package, not editable


CREDENTIAL_URLS = {
    "hub with user and password": ("hub", "https://ann:hunter2secret@hub.example.org", "https://****@hub.example.org"),
    "hub with a token in the query": (
        "hub",
        "https://hub.example.org/hub/?token=abcd1234secret",
        "https://hub.example.org/hub/?****",
    ),
    "hub without scheme, with user info": ("hub", "ann:hunter2secret@hub.example.org", "****@hub.example.org"),
    "repo with a GitHub token": (
        "repo",
        "https://x-access-token:ghp_abcd1234secret@github.com/o/course.git",
        "https://****@github.com/o/course.git",
    ),
    "repo with a private token": (
        "repo",
        "https://gitlab.example.org/o/course.git?private_token=glpat-abcd1234secret",
        "https://gitlab.example.org/o/course.git?****",
    ),
    "repo with a token as user": (
        "repo",
        "https://abcd1234secret@github.com/o/course",
        "https://****@github.com/o/course",
    ),
}


@pytest.mark.parametrize(("option", "url", "masked"), CREDENTIAL_URLS.values(), ids=CREDENTIAL_URLS.keys())
def test_a_url_with_credentials_is_refused_in_one_sentence_masked(option: str, url: str, masked: str) -> None:
    arguments = {"hub": url} if option == "hub" else {"hub": "https://hub.example.org", "repo": url}
    with pytest.raises(ValueError, match="holds a user name, password or token") as refused:
        nbgitpuller_link(**arguments)
    sentence = str(refused.value)
    assert f"'{masked}'" in sentence and "secret" not in sentence
    assert sentence.count(". ") == 0 and sentence.endswith(".")  # one sentence
    assert refused.value.__cause__ is None and refused.value.__context__ is None


def test_the_command_refuses_a_hub_url_with_a_password_without_echoing_it() -> None:
    url = "https://ann:hunter2secret@hub.example.org"
    shown = subprocess.run(
        [sys.executable, "-m", "helpers", "classroom-link", "--hub", url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 2 and shown.stdout == ""
    assert "'https://****@hub.example.org' holds a user name, password or token" in shown.stderr
    assert "hunter2secret" not in shown.stderr and "Traceback" not in shown.stderr
