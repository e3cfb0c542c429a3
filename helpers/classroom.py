"""Links for running the notebooks where a class runs them: a JupyterHub (nbgitpuller), Binder and Colab.

The repository's public address lives here and nowhere else in the package: README's Binder and
Colab badges (:func:`binder_badge`, :func:`colab_badge`) and each notebook's install cell
(:func:`install_cell`) are built from :data:`REPOSITORY_URL`, and tests/test_classroom_link.py
checks that README and the notebooks say exactly that.

``python -m helpers classroom-link --hub URL`` prints a hub's link (see teaching/README.md) for the
repository the instructor's copy was cloned from (:func:`origin_repository`), or the one ``--repo``
names: never a default address that may not be the class's course.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from urllib3.util import Url

from helpers.masking import mask_url, url_has_credentials
from helpers.settings import split_url

# The repository learners pull, launch and install from: the one place that names it.
REPOSITORY_URL = "https://github.com/perplexity-tutorial/perplexity-onboarding-notebooks"
BRANCH = "main"
FIRST_NOTEBOOK = "01_create_api_key.ipynb"
DISTRIBUTION = "perplexity-onboarding-notebooks"
NOTEBOOKS_FOLDER = "notebooks"
# Addresses learners can clone without credentials of their own. file:// serves a hub's own disk.
CLONABLE_SCHEMES = ("https", "http", "file")
SSH_SCHEMES = ("ssh", "git+ssh", "ssh+git")
# git's other way of writing an SSH address: [user@]host:path, with no scheme (a Windows drive has a one-letter host).
SCP_LIKE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/@]{2,}):(?P<path>(?!//).+)$")
NO_ORIGIN = (
    "This folder has no git remote 'origin' to take the course's repository from: give the address learners "
    "pull with --repo, such as --repo https://github.com/owner/name."
)


def course_folder(repo: str = REPOSITORY_URL) -> str:
    """The folder each learner gets the course in, in their home: the repository's name, without ``.git``.

    The link names it (``targetpath``) rather than leave it to nbgitpuller, whose default keeps a
    ``.git`` ending; the link's ``urlpath`` opens a notebook inside that same folder.
    """
    name = urlsplit(repo).path.rstrip("/").rsplit("/", 1)[-1]
    return name.removesuffix(".git") or "course"


def classroom_link(
    hub: str,
    repo: str | None = None,
    branch: str = BRANCH,
    notebook: str = FIRST_NOTEBOOK,
    app: str = "lab",
    folder: Path | None = None,
) -> str:
    """What ``classroom-link`` prints: :func:`nbgitpuller_link` for the course in ``folder``.

    ``repo`` defaults to ``folder``'s git remote ``origin`` in the form learners can clone
    (:func:`public_repository`); without one, a ValueError says to give ``--repo``. ``notebook`` must
    be one of the notebooks in ``folder``'s ``notebooks/``. ``folder`` defaults to the course checkout
    found from the working directory (:func:`helpers.keys.find_checkout`).
    """
    from helpers.keys import find_checkout  # platformdirs and dotenv: only when a link is asked for

    _checked_hub(hub)  # what the instructor typed first is checked first
    folder = folder or find_checkout() or Path.cwd()
    if repo is None:
        repo = origin_repository(folder)
        if repo is None:
            raise ValueError(NO_ORIGIN)
    return nbgitpuller_link(hub, repo, branch, checked_notebook(notebook, folder), app)


def nbgitpuller_link(
    hub: str, repo: str, branch: str = BRANCH, notebook: str = FIRST_NOTEBOOK, app: str = "lab"
) -> str:
    """The link a class follows: log in to ``hub``, pull (or update) the course, open ``notebook``.

    Pulling again later merges new commits without overwriting a learner's own changes (nbgitpuller's
    rule), so the same link serves the first lesson and every one after it.
    """
    hub_url = _checked_hub(hub)
    repo = checked_repository(repo)
    urlpath = f"{app}/tree/{course_folder(repo)}/{NOTEBOOKS_FOLDER}/{notebook}"
    fields = {"repo": repo, "branch": branch, "targetpath": course_folder(repo), "urlpath": urlpath}
    query = urlencode(fields, quote_via=quote, safe="")
    return f"{hub_url}/hub/user-redirect/git-pull?{query}"


def origin_repository(folder: Path) -> str | None:
    """The repository ``folder`` was cloned from (``git remote get-url origin``), as learners can clone it.

    None when there is no git, no repository or no ``origin``. An origin that cannot be made public
    (a folder on this computer) is a ValueError, in one sentence.
    """
    command = ["git", "-C", str(folder), "remote", "get-url", "origin"]
    try:
        found = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):  # no git on this computer, or it hung
        return None
    origin = found.stdout.strip()
    return public_repository(origin) if found.returncode == 0 and origin else None


def public_repository(url: str) -> str:
    """The https address of a git remote: an SSH one (``git@github.com:o/r.git``, ``ssh://...``) becomes
    ``https://github.com/o/r``; user info (a token in ``https://user:token@...``), a port of SSH, the
    query and ``.git`` are left out. A ValueError for a remote that is a folder on this computer.
    """
    url = url.strip()
    scp = SCP_LIKE.match(url) if "://" not in url else None
    if scp:
        return f"https://{scp['host']}/{scp['path'].strip('/').removesuffix('.git')}"
    parts = _read(url)
    if parts is None or parts.scheme not in ("https", "http", *SSH_SCHEMES, "git") or not parts.host:
        raise ValueError(
            f"The git remote 'origin' is '{mask_url(url)}', which learners cannot pull from: give the "
            "repository's public address with --repo, such as --repo https://github.com/owner/name."
        )
    web = parts.scheme in ("https", "http")  # an SSH port is not the web's
    host = parts.host + (f":{parts.port}" if web and parts.port else "")
    return f"{parts.scheme if web else 'https'}://{host}{(parts.path or '').rstrip('/').removesuffix('.git')}"


def checked_repository(repo: str) -> str:
    """``repo`` when learners can clone it as it is; a ValueError (one sentence, masked) when not.

    An SSH address (``ssh://...``, or git's scheme-less ``user@host:path``) needs each learner's own
    SSH key, and user info hands a credential to the whole class.
    """
    repo = repo.strip()
    parts = _read(repo)
    if ("://" not in repo and SCP_LIKE.match(repo)) or (parts and parts.scheme in SSH_SCHEMES):
        try:
            instead = public_repository(repo)
        except ValueError:
            instead = "https://github.com/owner/name"
        raise ValueError(
            f"The repository '{mask_url(repo)}' is an SSH address, which learners cannot clone without an SSH "
            f"key of their own: give its https address, such as {instead}."
        )
    _refuse_credentials(repo, "repository", "https://github.com/owner/name")
    if parts is None or parts.scheme not in CLONABLE_SCHEMES:
        raise ValueError(
            f"The repository URL must start with https:// (or http://, or file:// on the hub itself), as "
            f"https://github.com/owner/name does: '{mask_url(repo)}'."
        )
    return repo


def checked_notebook(notebook: str, folder: Path) -> str:
    """``notebook`` when it is a notebook in ``folder``'s ``notebooks/``; a ValueError naming those there."""
    there = sorted(path.name for path in (folder / NOTEBOOKS_FOLDER).glob("*.ipynb"))
    if not there:
        raise ValueError(
            f"There is no {NOTEBOOKS_FOLDER}/ folder with notebooks in {folder}: run the command in the course folder."
        )
    if notebook not in there:
        raise ValueError(f"'{notebook}' is not a notebook in {NOTEBOOKS_FOLDER}/: choose one of {', '.join(there)}.")
    return notebook


def _checked_hub(hub: str) -> str:
    """The hub's base URL without a trailing slash; a ValueError (one sentence) for anything but http(s)."""
    _refuse_credentials(hub, "hub", "https://hub.example.org")
    parts = _read(hub.strip())
    if parts is None or parts.scheme not in ("http", "https") or not parts.host:
        raise ValueError(
            f"The hub URL must start with https:// (or http://), as https://hub.example.org does: "
            f"'{mask_url(hub.strip())}'."
        )
    return hub.strip().rstrip("/").removesuffix("/hub")


def _read(url: str) -> Url | None:
    """``url`` read by the one URL reader (:func:`helpers.settings.split_url`); None when it cannot be read."""
    try:
        return split_url(url)
    except ValueError:
        return None


def _refuse_credentials(url: str, what: str, example: str) -> None:
    """A ValueError (one sentence, the URL masked) when ``url`` holds user info, a query or a fragment.

    The link goes to a whole class, and into every learner's browser history and git config: a
    password or token in it (``user:token@``, ``?token=``) would reach them all. A hub logs each learner
    in itself, and the repository must be one the class may pull without credentials.
    """
    if url_has_credentials(url.strip()):
        raise ValueError(
            f"The {what} URL '{mask_url(url.strip())}' holds a user name, password or token (user@, '?' or '#'), "
            f"which the link would hand to every learner: give the plain address, such as {example}."
        )


def github_path(repo: str = REPOSITORY_URL) -> str:
    """``owner/name`` of a GitHub repository URL, as Binder and Colab address it."""
    return urlsplit(repo).path.strip("/").removesuffix(".git")


def binder_url(notebook: str = FIRST_NOTEBOOK, repo: str = REPOSITORY_URL, branch: str = BRANCH) -> str:
    """A mybinder.org launch link that opens ``notebook`` in JupyterLab (repo2docker reads runtime.txt)."""
    return f"https://mybinder.org/v2/gh/{github_path(repo)}/{branch}?urlpath={quote(f'lab/tree/notebooks/{notebook}')}"


def colab_url(notebook: str, repo: str = REPOSITORY_URL, branch: str = BRANCH) -> str:
    """Open one notebook from GitHub in Colab (alone: its first cell installs the package)."""
    return f"https://colab.research.google.com/github/{github_path(repo)}/blob/{branch}/{NOTEBOOKS_FOLDER}/{notebook}"


def binder_badge(notebook: str = FIRST_NOTEBOOK) -> str:
    """The Markdown of a "launch binder" badge."""
    return f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder_url(notebook)})"


def colab_badge(notebook: str) -> str:
    """The Markdown of an "Open in Colab" badge for one notebook."""
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(notebook)})"


def install_cell(repo: str = REPOSITORY_URL, branch: str = BRANCH) -> str:
    """The source of each notebook's install cell: a no-op where ``helpers`` imports, an install where not.

    Plain Python rather than ``%pip``, so that tests can run it; ``invalidate_caches`` lets the very
    next ``import helpers`` see what pip just put in ``site-packages``.
    """
    return (
        "# In Colab, or opened on its own, this notebook first installs the tutorial's package (elsewhere: nothing).\n"
        "import importlib.util\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if importlib.util.find_spec("helpers") is None:\n'
        f'    repository = "{repo}"\n'
        f'    package = f"{DISTRIBUTION}[notebooks] @ git+{{repository}}@{branch}"\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", package], check=True)\n'
        "    importlib.invalidate_caches()"
    )
