"""Links for running the notebooks where a class runs them: a JupyterHub (nbgitpuller), Binder and Colab.

The repository's public address lives here and nowhere else in the package: the nbgitpuller link,
the Binder and Colab badges and Colab's install cell are all built from :data:`REPOSITORY_URL`.
``python -m helpers classroom-link --hub URL`` prints a hub's link (see docs/teaching.md).
"""

from __future__ import annotations

from urllib.parse import quote, urlencode, urlsplit

from helpers.masking import mask_url, url_has_credentials

# The repository learners pull, launch and install from: the one place that names it.
REPOSITORY_URL = "https://github.com/perplexity-tutorial/perplexity-onboarding-notebooks"
BRANCH = "main"
FIRST_NOTEBOOK = "01_create_api_key.ipynb"
DISTRIBUTION = "perplexity-onboarding-notebooks"
NOTEBOOKS_FOLDER = "notebooks"


def course_folder(repo: str = REPOSITORY_URL) -> str:
    """The folder each learner gets the course in, in their home: the repository's name, without ``.git``.

    The link names it (``targetpath``) rather than leave it to nbgitpuller, whose default keeps a
    ``.git`` ending; the link's ``urlpath`` opens a notebook inside that same folder.
    """
    name = urlsplit(repo).path.rstrip("/").rsplit("/", 1)[-1]
    return name.removesuffix(".git") or "course"


def nbgitpuller_link(
    hub: str,
    repo: str = REPOSITORY_URL,
    branch: str = BRANCH,
    notebook: str = FIRST_NOTEBOOK,
    app: str = "lab",
) -> str:
    """The link a class follows: log in to ``hub``, pull (or update) the course, open ``notebook``.

    Pulling again later merges new commits without overwriting a learner's own changes (nbgitpuller's
    rule), so the same link serves the first lesson and every one after it.
    """
    hub_url = _checked_hub(hub)
    _refuse_credentials(repo, "repository", "https://github.com/owner/name")
    urlpath = f"{app}/tree/{course_folder(repo)}/{NOTEBOOKS_FOLDER}/{notebook}"
    fields = {"repo": repo, "branch": branch, "targetpath": course_folder(repo), "urlpath": urlpath}
    query = urlencode(fields, quote_via=quote, safe="")
    return f"{hub_url}/hub/user-redirect/git-pull?{query}"


def _checked_hub(hub: str) -> str:
    """The hub's base URL without a trailing slash; a ValueError (one sentence) for anything but http(s)."""
    _refuse_credentials(hub, "hub", "https://hub.example.org")
    parts = urlsplit(hub.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"The hub URL must start with https:// (or http://), as https://hub.example.org does: "
            f"'{mask_url(hub.strip())}'."
        )
    return hub.strip().rstrip("/").removesuffix("/hub")


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
