"""Keys: lookup order, validation, masking, redaction and the .env file."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from helpers import keys
from helpers.errors import InvalidKeyError, KeyFileError
from helpers.keys import (
    _write_private,
    explain_key,
    find_api_key,
    key_sources,
    key_status,
    mask_key,
    practice_key_file,
    redact,
    remove_api_key,
    save_api_key,
    save_setting,
    validate_api_key,
)
from tests.support import FAKE_KEY

OTHER_KEY = "pplx-" + "0th3r" * 9


def test_environment_variable_wins_over_env_file(project: Path) -> None:
    from_file = "pplx-" + "f1le" * 10
    (project / ".env").write_text(f"PERPLEXITY_API_KEY={from_file}\n")
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
        ("\n", "empty"),
        ("pplx-abc\tdef" + "0" * 20, "spaces"),
        ("pplx-abc\ndef" + "0" * 20, "line break"),
        ("'pplx-" + "0" * 30 + "'", "quotes"),
        ("pplx-" + "0" * 30 + "`", "quotes"),
        ("\u201cpplx-" + "0" * 30 + "\u201d", "non-ASCII"),  # smart quotes from a chat or a document
        ("pplx-" + "0" * 15 + "\u200b" + "0" * 15, "non-ASCII"),  # an invisible zero-width space
        ("pplx-" + "0" * 15 + "$HOME" + "0" * 15, "never contain"),  # .env files expand $ variables
        ("pplx-" + "0" * 15 + "#" + "0" * 15, "never contain"),
        ("PPLX-" + "0" * 40, "start with 'pplx-'"),
        ("Bearer sk-" + "0" * 40, "start with 'pplx-'"),
        ("Bearer", "start with 'pplx-'"),
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
    assert FAKE_KEY not in explain_key(FAKE_KEY)
    assert explain_key(FAKE_KEY).startswith("Looks right")
    assert explain_key("nope").startswith("Not valid")


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


@pytest.mark.parametrize("prefix", ["Bearer ", "bearer ", "BEARER  "])
def test_bearer_prefix_in_any_case_is_removed(prefix: str) -> None:
    key, note = validate_api_key(prefix + FAKE_KEY)
    assert key == FAKE_KEY and "Bearer" in note


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "  ",
        "sk-" + "0" * 40,
        "pplx-abc def" + "0" * 20,
        f'"{FAKE_KEY}"',
        FAKE_KEY + "\nX-Evil: 1",
        "pplx-" + "0" * 10 + "\u00e9" + "0" * 10,
    ],
)
def test_nothing_invalid_is_saved(project: Path, raw: str) -> None:
    env = project / ".env"
    env.write_text("OTHER=1\n")
    before = env.read_bytes()
    with pytest.raises(InvalidKeyError):
        save_api_key(raw, env)
    assert env.read_bytes() == before


def test_save_is_0600_whatever_the_umask(project: Path) -> None:
    old_umask = os.umask(0)
    try:
        save_api_key(FAKE_KEY, project / ".env")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((project / ".env").stat().st_mode) == 0o600


def test_save_tightens_a_readable_env_file(project: Path) -> None:
    env = project / ".env"
    env.write_text("OTHER=1\n")
    env.chmod(0o644)
    save_api_key(FAKE_KEY, env)
    assert stat.S_IMODE(env.stat().st_mode) == 0o600


def test_save_replaces_the_file_instead_of_rewriting_it_in_place(project: Path) -> None:
    env = project / ".env"
    env.write_text("OTHER=1\n")
    inode = env.stat().st_ino
    save_api_key(FAKE_KEY, env)
    assert env.stat().st_ino != inode  # written to a temporary file, then renamed over .env


def test_a_failed_write_leaves_the_old_file_whole(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = project / ".env"
    env.write_text(f"PERPLEXITY_API_KEY={FAKE_KEY}\n")

    def disk_full(fd: int) -> None:  # fails half-way: the new text is written, not yet on disk
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keys.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        _write_private(env, f"PERPLEXITY_API_KEY={OTHER_KEY}\n")
    assert env.read_text() == f"PERPLEXITY_API_KEY={FAKE_KEY}\n"
    assert [p.name for p in project.iterdir() if p.name.startswith(".env")] == [".env"]


def test_text_no_file_can_hold_is_refused_before_anything_is_written(project: Path) -> None:
    """A lone surrogate cannot be encoded; the UnicodeEncodeError would carry the whole text, key included."""
    env = project / ".env"
    env.write_text(f"PERPLEXITY_API_KEY={FAKE_KEY}\n")
    with pytest.raises(KeyFileError) as refused:
        _write_private(env, f"PERPLEXITY_API_KEY={OTHER_KEY}\nBROKEN=\ud800\n")
    assert refused.value.__context__ is None and OTHER_KEY not in repr(refused.value.args)
    with pytest.raises(KeyFileError, match="holds characters a text file cannot store"):
        save_setting("PERPLEXITY_LEARNER_NAME", "Ann \udfff")
    assert env.read_text() == f"PERPLEXITY_API_KEY={FAKE_KEY}\n"
    assert [p.name for p in project.iterdir() if p.name.startswith(".env")] == [".env"]


def test_save_after_a_last_line_without_newline(project: Path) -> None:
    env = project / ".env"
    env.write_text("OTHER=1")
    save_api_key(FAKE_KEY, env)
    assert env.read_text() == f"OTHER=1\nPERPLEXITY_API_KEY={FAKE_KEY}\n"


def test_save_replaces_an_exported_key_line(project: Path) -> None:
    env = project / ".env"
    env.write_text("export PERPLEXITY_API_KEY=pplx-old\nOTHER=1\n")
    save_api_key(FAKE_KEY, env)
    assert "pplx-old" not in env.read_text() and "OTHER=1\n" in env.read_text()


def test_save_refuses_a_dot_env_outside_any_project(tmp_path: Path) -> None:
    stray = tmp_path / "not-a-project" / ".env"
    stray.parent.mkdir()
    with pytest.raises(InvalidKeyError, match="only in the project's own"):
        save_api_key(FAKE_KEY, stray)
    assert not stray.exists()


def test_practice_file_accepts_keys_and_lives_outside_the_project(project: Path) -> None:
    practice = practice_key_file()
    save_api_key(FAKE_KEY, practice)
    assert find_api_key({}, practice).value == FAKE_KEY
    assert not (project / ".env").exists()
    assert remove_api_key(practice) is True


def test_remove_also_removes_the_old_variable_name(project: Path) -> None:
    env = project / ".env"
    env.write_text(f"PPLX_API_KEY={FAKE_KEY}\nOTHER=1\n")
    assert remove_api_key(env) is True
    assert env.read_text() == "OTHER=1\n"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600


def test_remove_without_a_key_leaves_the_file_untouched(project: Path) -> None:
    env = project / ".env"
    env.write_text("OTHER=1\n")
    env.chmod(0o640)
    assert remove_api_key(env) is False
    assert env.read_text() == "OTHER=1\n" and stat.S_IMODE(env.stat().st_mode) == 0o640


def test_key_sources_lists_the_lookup_order_masked(project: Path) -> None:
    env = project / ".env"
    legacy = "pplx-" + "l3gacy" * 6
    env.write_text(f"PPLX_API_KEY={legacy}\n")
    listing = key_sources({"PERPLEXITY_API_KEY": FAKE_KEY}, env)
    lines = listing.splitlines()
    assert [line.split(".")[0] for line in lines] == ["1", "2", "3", "4"]
    assert lines[0] == f"1. PERPLEXITY_API_KEY in the environment: {mask_key(FAKE_KEY)}  <- used"
    assert lines[1:3] == [
        "2. PERPLEXITY_API_KEY in the .env file: not set",
        "3. PPLX_API_KEY (old name) in the environment: not set",
    ]
    assert lines[3] == (
        f"4. PPLX_API_KEY (old name) in the .env file: {mask_key(legacy)}  (not used: an earlier one wins)"
    )
    assert FAKE_KEY not in listing and legacy not in listing


def test_key_status_says_when_the_configured_key_cannot_work(project: Path) -> None:
    status = key_status({"PERPLEXITY_API_KEY": "sk-" + "0" * 40}, project / ".env")
    assert "cannot work" in status and "pplx-" in status
    assert "0" * 40 not in status


def test_every_log_record_is_redacted_even_through_later_handlers() -> None:
    import io
    import logging

    from helpers.keys import install_log_redaction

    install_log_redaction()
    install_log_redaction()  # twice is harmless
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("sending %s", {"Authorization": f"Bearer {FAKE_KEY}"})
        logger.warning("curl -H 'Authorization: Bearer not-shaped-like-a-key'")
        try:
            raise ValueError(f"bad key {FAKE_KEY}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    logged = stream.getvalue()
    assert FAKE_KEY not in logged and "not-shaped-like-a-key" not in logged
    assert logged.count(mask_key(FAKE_KEY)) == 2 and "Bearer ****" in logged and "ValueError" in logged


def test_saving_replaces_a_key_stored_under_the_old_name(project: Path) -> None:
    env = project / ".env"
    old_key = "pplx-" + "o1d" * 12
    env.write_text(f"OTHER=1\nPPLX_API_KEY={old_key}\n")
    save_api_key(FAKE_KEY, env)
    assert old_key not in env.read_text() and "OTHER=1" in env.read_text()
    assert find_api_key({}, env).value == FAKE_KEY


def test_redaction_covers_the_shortest_key_validation_accepts() -> None:
    shortest = "pplx-" + "q" * 15
    assert validate_api_key(shortest)[0] == shortest
    assert shortest not in redact(f"error: {shortest}")
