"""Keys: lookup order, validation, masking, redaction and the .env file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from helpers.errors import InvalidKeyError
from helpers.keys import (
    check_key,
    find_api_key,
    key_status,
    mask_key,
    redact,
    remove_api_key,
    save_api_key,
    validate_api_key,
)
from tests.conftest import FAKE_KEY


def test_environment_variable_wins_over_env_file(project: Path) -> None:
    (project / ".env").write_text("PERPLEXITY_API_KEY=pplx-from-file-000000000000\n")
    found = find_api_key({"PERPLEXITY_API_KEY": FAKE_KEY}, project / ".env")
    assert found.value == FAKE_KEY
    assert found.source == "environment variable PERPLEXITY_API_KEY"


def test_env_file_is_used_without_environment_variable(project: Path) -> None:
    (project / ".env").write_text(f"OTHER=1\nPERPLEXITY_API_KEY={FAKE_KEY}\n")
    found = find_api_key({}, project / ".env")
    assert found.value == FAKE_KEY
    assert ".env" in found.source


def test_legacy_name_is_accepted_with_a_rename_hint(project: Path) -> None:
    found = find_api_key({"PPLX_API_KEY": FAKE_KEY}, project / ".env")
    assert found.value == FAKE_KEY
    assert "rename it to PERPLEXITY_API_KEY" in found.hint


def test_no_key_anywhere(project: Path) -> None:
    assert find_api_key({}, project / ".env") is None
    assert "No API key is configured" in key_status({}, project / ".env")


def test_found_key_repr_is_masked() -> None:
    found = find_api_key({"PERPLEXITY_API_KEY": FAKE_KEY}, Path("/nonexistent/.env"))
    assert FAKE_KEY not in repr(found)
    assert mask_key(FAKE_KEY) in repr(found)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty"),
        ("   \t ", "empty"),
        ("pplx-abc def" + "0" * 20, "spaces"),
        ("pplx-abc\r\nX-Evil: 1" + "0" * 20, "line break"),
        ('"pplx-' + "0" * 30 + '"', "quotes"),
        ("pplx-" + "0" * 20 + "\u00e9", "non-ASCII"),
        ("sk-" + "0" * 40, "start with 'pplx-'"),
        ("pplx-short", "implausible"),
        ("pplx-" + "0" * 300, "implausible"),
    ],
)
def test_invalid_keys_are_refused_with_a_clear_message(raw: str, message: str) -> None:
    with pytest.raises(InvalidKeyError, match=message) as caught:
        validate_api_key(raw)
    assert raw.strip() == "" or raw.strip() not in str(caught.value)


def test_bearer_prefix_and_whitespace_are_stripped_and_reported() -> None:
    key, note = validate_api_key(f"  Bearer {FAKE_KEY}\n")
    assert key == FAKE_KEY
    assert "Bearer" in note and "spaces" in note


def test_mask_shows_prefix_and_last_four_only() -> None:
    assert mask_key(FAKE_KEY) == "pplx-..." + FAKE_KEY[-4:]
    assert mask_key("") == "(no key)"
    assert mask_key("pplx-abc") == "pplx-..."


def test_redact_removes_known_secrets_and_key_shapes() -> None:
    text = f"Authorization: Bearer {FAKE_KEY}; other pplx-{'Z' * 40}; secret-value"
    cleaned = redact(text, ["secret-value"])
    assert FAKE_KEY not in cleaned and "Z" * 40 not in cleaned and "secret-value" not in cleaned
    assert mask_key(FAKE_KEY) in cleaned


def test_check_key_never_repeats_the_key() -> None:
    assert FAKE_KEY not in check_key(FAKE_KEY)
    assert check_key(FAKE_KEY).startswith("Looks right")
    assert check_key("nope").startswith("Not valid")


def test_save_writes_mode_0600_and_keeps_other_lines(project: Path) -> None:
    env = project / ".env"
    env.write_text("# mine\nOTHER=1\nPERPLEXITY_API_KEY=old-value\n")
    save_api_key(FAKE_KEY, env)
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    text = env.read_text()
    assert "# mine\nOTHER=1\n" in text
    assert "old-value" not in text
    assert find_api_key({}, env).value == FAKE_KEY
    assert not [p for p in project.iterdir() if p.name.endswith(".tmp")]


def test_save_refuses_invalid_key_and_keeps_the_old_one(project: Path) -> None:
    env = project / ".env"
    save_api_key(FAKE_KEY, env)
    with pytest.raises(InvalidKeyError):
        save_api_key("not a key", env)
    assert find_api_key({}, env).value == FAKE_KEY


def test_save_refuses_a_file_outside_the_project(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "keys.txt"
    outside.parent.mkdir()
    with pytest.raises(InvalidKeyError, match="Refusing"):
        save_api_key(FAKE_KEY, outside)
    assert not outside.exists()


def test_remove_deletes_only_the_key(project: Path) -> None:
    env = project / ".env"
    env.write_text("OTHER=1\n")
    save_api_key(FAKE_KEY, env)
    assert remove_api_key(env) is True
    assert env.read_text().endswith("OTHER=1\n")
    assert remove_api_key(env) is False


def test_env_file_override_is_honoured(project: Path) -> None:
    assert os.environ["PERPLEXITY_ENV_FILE"] == str(project / ".env")
    save_api_key(FAKE_KEY)
    assert find_api_key({}).value == FAKE_KEY
