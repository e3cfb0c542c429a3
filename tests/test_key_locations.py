"""Where the key file lives: the checkout's .env, or the user's own configuration folder where there is none.

A non-editable install (plain pip from a wheel, Colab, a JupyterHub image) puts ``helpers`` in
``site-packages``; the key must then never be looked for, or written, there. These tests move the
package's apparent location with ``keys.__file__`` and the working directory with ``start``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import platformdirs
import pytest

from helpers import keys
from helpers.doctor import check_key_file, run_checks
from helpers.keys import (
    ENV_FILE_VARIABLE,
    USER_CONFIG_NAME,
    find_api_key,
    find_checkout,
    key_file_label,
    key_file_location,
    key_file_status,
    save_api_key,
    user_key_file,
)
from tests.support import FAKE_KEY


@pytest.fixture
def no_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No ``PERPLEXITY_ENV_FILE``, and a user configuration folder inside ``tmp_path`` (XDG on Linux)."""
    monkeypatch.delenv(ENV_FILE_VARIABLE, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch, no_override: Path) -> Path:
    """``helpers`` as a non-editable install sees itself: inside a ``site-packages`` with no pyproject.toml.

    The working directory moves out of this repository too, so nothing can reach the developer's own .env.
    """
    site = no_override / "venv" / "lib" / "site-packages"
    (site / "helpers").mkdir(parents=True)
    (no_override / "home").mkdir()
    monkeypatch.chdir(no_override / "home")
    monkeypatch.setattr(keys, "__file__", str(site / "helpers" / "keys.py"))
    assert no_override in user_key_file().parents
    return site


def make_checkout(folder: Path) -> Path:
    """The two marks of a checkout of this repository, and the notebooks' folder."""
    (folder / "helpers").mkdir(parents=True)
    (folder / "notebooks").mkdir()
    (folder / "pyproject.toml").write_text("[project]\nname = 'perplexity-onboarding-notebooks'\n")
    return folder


@pytest.fixture
def read_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[Path]]:
    """Folders to treat as read-only. Patched, because root may write anywhere (CI runs as root)."""
    folders: set[Path] = set()
    real_access = os.access

    def access(path: os.PathLike[str] | str, mode: int, **kwargs: object) -> bool:
        if mode & os.W_OK and Path(path).resolve() in folders:
            return False
        return real_access(path, mode, **kwargs)

    monkeypatch.setattr(keys.os, "access", access)
    yield folders


def test_the_checkout_is_found_from_the_notebooks_folder(installed: Path, tmp_path: Path) -> None:
    checkout = make_checkout(tmp_path / "course")
    location = key_file_location(start=checkout / "notebooks")
    assert location.path == checkout.resolve() / ".env"
    assert "project's own .env" in location.why


def test_without_a_checkout_the_key_file_is_in_the_users_config_folder(installed: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "content"  # Colab's working folder, or a hub user's home without the course
    elsewhere.mkdir()
    assert find_checkout(elsewhere) is None
    location = key_file_location(start=elsewhere)
    assert location.path == platformdirs.user_config_path(USER_CONFIG_NAME, appauthor=False) / ".env"
    assert location.path == tmp_path / "config" / USER_CONFIG_NAME / ".env"
    assert "your own configuration folder" in location.why


def test_a_non_editable_install_never_puts_the_key_in_site_packages(installed: Path, tmp_path: Path) -> None:
    location = key_file_location(start=installed)
    assert installed not in location.path.parents
    assert location.path == user_key_file()


def test_an_editable_install_finds_its_checkout_from_anywhere(no_override: Path, tmp_path: Path) -> None:
    outside = tmp_path / "somewhere"
    outside.mkdir()
    here = Path(keys.__file__).resolve().parent.parent  # this repository: the dev venv installs it editable
    assert key_file_location(start=outside).path == here / ".env"


def test_a_read_only_course_folder_falls_back_to_the_user_with_a_sentence(
    installed: Path, tmp_path: Path, read_only: set[Path]
) -> None:
    course = make_checkout(tmp_path / "srv" / "course")
    read_only.add(course.resolve())
    location = key_file_location(start=course / "notebooks")
    assert location.path == user_key_file()
    assert f"the course folder {course.resolve()} is read-only" in location.why
    status = key_file_status(start=course / "notebooks")
    assert status.startswith(f"Your key file is {user_key_file()}: the course folder")
    assert status.count(".") >= 1 and "\n" not in status


def test_saving_to_the_user_location_creates_a_private_folder_and_file(installed: Path, tmp_path: Path) -> None:
    path = user_key_file()
    assert not path.parent.exists()
    found, _ = save_api_key(FAKE_KEY)  # the default key file, as the widget in notebook 01 saves
    assert path.is_file() and find_api_key({}, path).value == FAKE_KEY
    assert found.value == FAKE_KEY
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    assert key_file_label(path) == f"your key file {path}"


def test_saving_works_where_chmod_changes_nothing(
    installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Windows ``os.chmod(path, 0o600)`` only clears the read-only flag: the save must not depend on it."""
    monkeypatch.setattr(keys.os, "chmod", lambda *args, **kwargs: None)
    save_api_key(FAKE_KEY)
    assert find_api_key({}, user_key_file()).value == FAKE_KEY


def test_the_override_names_no_path_that_changes_per_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_FILE_VARIABLE, str(tmp_path / "keys.env"))
    assert key_file_location().path == (tmp_path / "keys.env").resolve()
    assert key_file_status() == f"Your key file is the file that {ENV_FILE_VARIABLE} names."


def test_the_doctor_says_where_the_key_file_is(installed: Path) -> None:
    line = next(check for check in run_checks(call=False) if check.name == "Key file")
    assert line.status == "ok"
    assert line.detail.startswith(f"{user_key_file()}: no checkout of the tutorial was found here")


@pytest.mark.skipif(os.name != "posix", reason="Windows reports no group or world write bits")
@pytest.mark.parametrize("mode", [0o775, 0o757, 0o777, 0o1777], ids=["group", "world", "both", "sticky"])
def test_a_course_folder_others_can_write_to_never_holds_the_key(
    installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int
) -> None:
    """A shared checkout: another user could replace .env, or write one first, so that you use their key."""
    course = make_checkout(tmp_path / "srv" / "course")
    course.chmod(mode)
    location = key_file_location(start=course / "notebooks")
    assert location.path == user_key_file()
    assert location.why == (
        f"other users can write to the course folder {course.resolve()}, "
        "so your key is kept in your own configuration folder instead."
    )
    monkeypatch.chdir(course / "notebooks")  # where a notebook runs
    save_api_key(FAKE_KEY)  # the widget's default: the key file
    assert not (course / ".env").exists() and find_api_key({}, user_key_file()).value == FAKE_KEY
    status = key_file_status(start=course / "notebooks")
    assert status.startswith(f"Your key file is {user_key_file()}: other users can write") and "\n" not in status


@pytest.mark.skipif(os.name != "posix", reason="Windows reports no group or world write bits")
def test_a_course_folder_only_its_owner_writes_to_keeps_the_key_beside_the_notebooks(
    installed: Path, tmp_path: Path
) -> None:
    course = make_checkout(tmp_path / "home" / "course")
    course.chmod(0o755)
    assert key_file_location(start=course / "notebooks").path == course.resolve() / ".env"


@pytest.mark.skipif(os.name != "posix", reason="Windows reports no group or world write bits")
def test_the_doctor_points_out_a_key_left_in_a_shared_course_folder(
    installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    course = make_checkout(tmp_path / "srv" / "course")
    (course / ".env").write_text(f"PERPLEXITY_API_KEY={FAKE_KEY}\n")
    course.chmod(0o777)
    monkeypatch.chdir(course / "notebooks")
    left = course.resolve() / ".env"
    line = check_key_file()
    assert line.status == "PROBLEM"
    assert line.detail.endswith(f"But {left} still holds a key, in a folder other users can write to.")
    assert line.fix == f"Save your key again with notebook 01 (it now goes to your own folder), then delete {left}."
    assert FAKE_KEY not in line.detail + line.fix
