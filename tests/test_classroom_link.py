"""``python -m helpers classroom-link``: the nbgitpuller link an instructor hands a JupyterHub class.

The link must be what nbgitpuller reads: ``/hub/user-redirect/git-pull`` with ``repo``, ``branch``,
``targetpath`` and an ``urlpath`` that opens a notebook inside the folder the course is pulled into.
Its repository is the one the instructor's copy was cloned from (its git ``origin``, as learners can
clone it) or the one ``--repo`` names. The hub test (tests/test_jupyterhub.py) follows such a link on a real hub.

README's badges and each notebook's install cell and Colab badge are checked here against
helpers.classroom, the one place that names the published repository and branch.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import nbformat
import pytest

from helpers import classroom
from helpers.classroom import (
    NO_ORIGIN,
    REPOSITORY_URL,
    classroom_link,
    course_folder,
    nbgitpuller_link,
    origin_repository,
)
from tests.hub.course import copy_repository

ROOT = Path(__file__).resolve().parent.parent
HUB = "https://hub.example.org"
NOTEBOOKS = sorted(path.name for path in (ROOT / "notebooks").glob("*.ipynb"))
SetOrigin = Callable[[str | None], Path]


def query_of(link: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(link).query, strict_parsing=True).items()}


def test_the_link_pulls_this_repository_and_opens_notebook_01() -> None:
    link = nbgitpuller_link("https://hub.example.org", REPOSITORY_URL)
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
    assert nbgitpuller_link(hub, REPOSITORY_URL).startswith("https://hub.example.org/hub/user-redirect/git-pull?")


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
    link = nbgitpuller_link("https://hub.example.org", REPOSITORY_URL, app="notebook")
    assert query_of(link)["urlpath"].startswith("notebook/tree/")


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
    ``requires-python``); .binder/runtime.txt pins one that tests/test_python_versions.py runs. The
    requirements install after the whole repository is copied in, since they install it (``.``).
    """
    buildpacks = pytest.importorskip("repo2docker.app", reason="jupyter-repo2docker is in requirements-dev.txt")
    monkeypatch.chdir(copy_repository(tmp_path / "repo"))
    app = buildpacks.Repo2Docker()
    picked = next(bp for bp in (kind(base_image=app.base_image) for kind in app.buildpacks) if bp.detect())
    assert type(picked).__name__ == "PythonBuildPack"
    assert picked.python_version == "3.12" and picked.binder_dir == ".binder"
    assert not picked._should_preassemble_pip  # local requirements: installed once the repository is there
    picked.platform = "linux/amd64"
    dockerfile = picked.render()
    assert any("environment.py-3.12-linux-64" in name for name in picked.get_build_script_files())
    copy_all, install = (
        dockerfile.index("COPY --chown=1000:1000 src/ ${REPO_DIR}/"),
        dockerfile.index('pip install --no-cache-dir -r ".binder/requirements.txt"'),
    )
    assert copy_all < install


def test_the_binder_requirements_are_the_learners_plus_nbgitpuller() -> None:
    lines = [line for line in (ROOT / ".binder/requirements.txt").read_text().splitlines() if line and line[0] != "#"]
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
    arguments = (
        {"hub": url, "repo": REPOSITORY_URL} if option == "hub" else {"hub": "https://hub.example.org", "repo": url}
    )
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


# --- the repository: the instructor's clone, or --repo ----------------------------------------------


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The instructor's copy of the course: a git repository of its own, whose origin each test sets."""
    folder = copy_repository(tmp_path_factory.mktemp("instructor") / "course")
    git(folder, "init", "-q")
    return folder


@pytest.fixture
def origin(clone: Path) -> Iterator[SetOrigin]:
    """Set the clone's ``origin`` (None: no origin at all); removed again after the test."""

    def set_origin(url: str | None) -> Path:
        git(clone, "remote", "remove", "origin", check=False)
        if url is not None:
            git(clone, "remote", "add", "origin", url)
        return clone

    yield set_origin
    set_origin(None)


def git(folder: Path, *arguments: str, check: bool = True) -> None:
    subprocess.run(["git", "-C", str(folder), *arguments], capture_output=True, timeout=60, check=check)


def classroom_command(folder: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """``python -m helpers classroom-link --hub ...`` run in ``folder``, as an instructor runs it there."""
    command = [sys.executable, "-m", "helpers", "classroom-link", "--hub", HUB, *arguments]
    env = {name: value for name, value in os.environ.items() if not name.startswith("GIT_")}
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("remote", "public"),
    [
        ("git@github.com:someone/course.git", "https://github.com/someone/course"),
        ("ssh://git@github.com:22/someone/course.git", "https://github.com/someone/course"),
        (
            "https://x-access-token:ghp_abcd1234secret@github.com/someone/course.git",
            "https://github.com/someone/course",
        ),
        ("https://github.com/someone/course/", "https://github.com/someone/course"),
        ("https://gitlab.example.org:8443/group/course.git", "https://gitlab.example.org:8443/group/course"),
    ],
)
def test_the_repository_is_the_clones_origin_as_learners_can_clone_it(
    origin: SetOrigin, remote: str, public: str
) -> None:
    clone = origin(remote)
    assert origin_repository(clone) == public
    assert query_of(classroom_link(HUB, folder=clone))["repo"] == public


def test_the_command_takes_the_origin_of_the_folder_it_runs_in(origin: SetOrigin) -> None:
    shown = classroom_command(origin("git@github.com:someone/course.git"), "--branch", "spring")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == nbgitpuller_link(HUB, "https://github.com/someone/course", branch="spring") + "\n"


def test_without_an_origin_the_command_asks_for_repo_in_one_sentence(origin: SetOrigin) -> None:
    clone = origin(None)
    with pytest.raises(ValueError, match="no git remote 'origin'"):
        classroom_link(HUB, folder=clone)
    shown = classroom_command(clone)
    assert shown.returncode == 2 and shown.stdout == "" and NO_ORIGIN in shown.stderr
    assert REPOSITORY_URL not in shown.stdout + shown.stderr  # never a default address that may not exist
    given = classroom_command(clone, "--repo", "https://github.com/someone/course")
    assert given.returncode == 0 and query_of(given.stdout.strip())["repo"] == "https://github.com/someone/course"


def test_an_origin_that_is_a_folder_on_this_computer_asks_for_repo(origin: SetOrigin, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="learners cannot pull from: give the repository's public address with --repo"):
        classroom_link(HUB, folder=origin(str(tmp_path / "course.git")))


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("git@github.com:someone/course.git", "SSH address, which learners cannot clone without an SSH key"),
        ("ssh://git@github.com/someone/course.git", "SSH address, which learners cannot clone without an SSH key"),
        ("https://ann@github.com/someone/course", "holds a user name, password or token"),
        ("ftp://files.example.org/course.git", "must start with https://"),
        ("github.com/someone/course", "must start with https://"),
    ],
)
def test_a_typed_repo_learners_cannot_clone_is_refused(origin: SetOrigin, typed: str, words: str) -> None:
    shown = classroom_command(origin("https://github.com/someone/course"), "--repo", typed)
    assert shown.returncode == 2 and shown.stdout == "" and words in shown.stderr, shown.stderr
    assert "Traceback" not in shown.stderr
    if "SSH" in words:
        assert "https://github.com/someone/course." in shown.stderr  # the address to give instead


@pytest.mark.parametrize("notebook", ["04_missing.ipynb", "../README.md", "notebooks/01_create_api_key.ipynb", ""])
def test_a_notebook_that_is_not_in_notebooks_is_refused(origin: SetOrigin, notebook: str) -> None:
    shown = classroom_command(origin("https://github.com/someone/course"), "--notebook", notebook)
    assert shown.returncode == 2 and shown.stdout == ""
    assert "is not a notebook in notebooks/: choose one of 01_create_api_key.ipynb" in shown.stderr


def test_any_notebook_of_the_course_may_be_opened(origin: SetOrigin) -> None:
    clone = origin("https://github.com/someone/course")
    for notebook in NOTEBOOKS:
        assert query_of(classroom_link(HUB, notebook=notebook, folder=clone))["urlpath"].endswith(f"/{notebook}")


# --- README and the notebooks name what helpers.classroom names ---------------------------------------


def badges_in(text: str) -> list[str]:
    return re.findall(r"\[!\[[^\]]*\]\([^)]*\)\]\([^)]*\)", text)


def test_readmes_badges_are_the_ones_helpers_classroom_builds() -> None:
    readme = (ROOT / "README.md").read_text()
    expected = [classroom.binder_badge(), classroom.colab_badge(classroom.FIRST_NOTEBOOK)]
    expected += [classroom.colab_badge(notebook) for notebook in NOTEBOOKS]
    assert badges_in(readme) == expected
    for notebook in NOTEBOOKS:  # each in its own row of the table
        assert re.search(
            rf"(?m)^\| `notebooks/{re.escape(notebook)}` .*{re.escape(classroom.colab_badge(notebook))}", readme
        )


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_each_notebooks_install_cell_and_badge_are_the_ones_helpers_classroom_builds(notebook: str) -> None:
    cells = nbformat.read(ROOT / "notebooks" / notebook, as_version=4).cells
    install = [cell.source for cell in cells if cell.cell_type == "code" and "pip" in cell.source]
    assert install == [classroom.install_cell()]
    assert badges_in("\n".join(cell.source for cell in cells if cell.cell_type == "markdown")) == [
        classroom.colab_badge(notebook)
    ]


def test_no_other_repository_is_named_in_readme_or_the_notebooks() -> None:
    """A changed address or branch in helpers.classroom, with README or a notebook left behind, fails the
    tests above; this one fails for any other GitHub repository named for learners to install or open."""
    texts = [(ROOT / "README.md").read_text()]
    texts += [(ROOT / "notebooks" / notebook).read_text() for notebook in NOTEBOOKS]
    owner_and_name = classroom.github_path()
    pattern = r"(?:github(?:\.com)?|/gh)/([\w.-]+/[\w.-]+?)(?:\.git)?[/@)\"\\\s]"
    named = [found for text in texts for found in re.findall(pattern, text)]
    assert len(named) >= len(NOTEBOOKS) * 3  # README's badges, and each notebook's badge and install cell
    assert set(named) == {owner_and_name}, named
