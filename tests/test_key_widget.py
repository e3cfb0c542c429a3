"""The key widget, driven as a learner would: type into the Password field, click Save or Remove."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import ipywidgets as widgets
import pytest

from helpers.keys import find_api_key, mask_key, practice_key_file
from helpers.widgets import key_entry, save_key_message
from helpers.widgets.key_entry import KeyEntry
from tests.support import FAKE_KEY

OTHER_KEY = "pplx-" + "n3wk" * 12


def every_widget_state(entry: KeyEntry) -> str:
    """All that Jupyter could save about these widgets (and every other live widget), as text."""
    own = [entry, *entry.children, *entry.children[0].children]
    states = [w.get_state() for w in own] + [widgets.Widget.get_manager_state(drop_defaults=False)]
    return json.dumps(states, default=str)


def type_and_save(entry: KeyEntry, raw: str) -> None:
    entry.password.value = raw
    entry.save_button.click()


def test_save_clears_the_field_and_stores_the_key_privately(project: Path) -> None:
    entry = key_entry()
    type_and_save(entry, FAKE_KEY)
    assert entry.password.value == ""
    assert entry.status.value.startswith(f"Saved {mask_key(FAKE_KEY)} to your .env file. Next: restart")
    env = project / ".env"
    assert f"PERPLEXITY_API_KEY={FAKE_KEY}\n" in env.read_text()
    assert stat.S_IMODE(env.stat().st_mode) == 0o600


def test_the_key_is_in_no_repr_and_no_widget_state_after_save(project: Path) -> None:
    entry = key_entry()
    type_and_save(entry, f"  Bearer {FAKE_KEY} ")
    assert FAKE_KEY not in repr(entry)
    assert FAKE_KEY not in every_widget_state(entry)
    assert mask_key(FAKE_KEY) in every_widget_state(entry)  # the check above looked at the right data
    assert "Bearer" in entry.status.value


def test_an_invalid_key_is_cleared_and_not_saved(project: Path) -> None:
    env = project / ".env"
    env.write_text("OTHER=1\n")
    entry = key_entry()
    type_and_save(entry, "sk-" + "0" * 40)
    assert entry.password.value == ""
    assert entry.status.value.startswith("Not saved: This does not look like a Perplexity key")
    assert env.read_text() == "OTHER=1\n"
    assert "0" * 40 not in every_widget_state(entry)


def test_saving_again_replaces_the_key_and_keeps_other_lines(project: Path) -> None:
    env = project / ".env"
    env.write_text("# my notes\nOTHER=1\n")
    entry = key_entry()
    type_and_save(entry, FAKE_KEY)
    type_and_save(entry, OTHER_KEY)
    assert entry.status.value.startswith(
        f"Replaced {mask_key(FAKE_KEY)} with {mask_key(OTHER_KEY)} in your .env file. Next: restart"
    )
    assert env.read_text() == f"# my notes\nOTHER=1\nPERPLEXITY_API_KEY={OTHER_KEY}\n"


def test_remove_deletes_the_key_and_keeps_the_rest(project: Path) -> None:
    env = project / ".env"
    env.write_text("OTHER=1\n")
    entry = key_entry()
    type_and_save(entry, FAKE_KEY)
    entry.remove_button.click()
    assert entry.status.value == "Removed the key from your .env file."
    assert env.read_text() == "OTHER=1\n"
    assert find_api_key({}, env) is None
    entry.remove_button.click()
    assert entry.status.value == "There was no key in your .env file: nothing to remove."


def test_remove_clears_a_half_typed_key(project: Path) -> None:
    entry = key_entry()
    entry.password.value = FAKE_KEY
    entry.remove_button.click()
    assert entry.password.value == "" and FAKE_KEY not in every_widget_state(entry)


def test_the_widget_opens_with_where_the_key_comes_from(project: Path) -> None:
    (project / ".env").write_text(f"PERPLEXITY_API_KEY={FAKE_KEY}\n")
    entry = key_entry()
    assert entry.status.value.startswith(f"Using the key {mask_key(FAKE_KEY)} from the .env file")
    assert FAKE_KEY not in every_widget_state(entry)


def test_an_environment_variable_that_wins_is_pointed_out(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERPLEXITY_API_KEY", OTHER_KEY)
    entry = key_entry()
    type_and_save(entry, FAKE_KEY)
    assert "environment variable PERPLEXITY_API_KEY is also set" in entry.status.value
    assert OTHER_KEY not in every_widget_state(entry)


def test_a_file_that_cannot_be_written_gives_one_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERPLEXITY_ENV_FILE", str(tmp_path / "missing-folder" / ".env"))
    entry = key_entry()
    type_and_save(entry, FAKE_KEY)
    assert entry.status.value.startswith("Not saved: could not write your .env file (No such file or directory)")
    assert entry.password.value == ""


def test_the_widget_text_is_short_and_stable() -> None:
    # nbval compares this text: ipywidgets' own repr would list every child's settings.
    assert repr(key_entry()) == "KeyEntry(saves_to='.env')"


# --- what happens next: saving says to restart, and which mode then applies --------------------

RESTART = "restart the kernel of each open notebook (Kernel > Restart Kernel)"


@pytest.mark.parametrize("mode", ["auto", "live"])
def test_saving_says_to_restart_and_that_live_mode_costs_money(
    mode: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERPLEXITY_MODE", mode)
    message = save_key_message(FAKE_KEY)
    assert RESTART in message
    assert message.endswith("it then runs in live mode: requests go to the Perplexity API and cost money.")
    assert FAKE_KEY not in message


def test_saving_where_the_environment_forces_the_sandbox_says_so(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERPLEXITY_MODE", "sandbox")  # what a class hub sets for every learner
    message = save_key_message(FAKE_KEY)
    assert RESTART in message
    assert "it still uses the sandbox, because PERPLEXITY_MODE=sandbox is set in this environment" in message
    assert "live mode" not in message and "cost money" not in message


def test_the_widget_shows_what_happens_next(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERPLEXITY_MODE", "auto")
    entry = key_entry()
    type_and_save(entry, FAKE_KEY)
    assert "Restart Kernel" in entry.status.value and "cost money" in entry.status.value


def test_saving_to_the_practice_file_asks_for_no_restart(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERPLEXITY_MODE", "auto")
    message = save_key_message(FAKE_KEY, practice_key_file())
    assert message == f"Saved {mask_key(FAKE_KEY)} to the practice key file."
