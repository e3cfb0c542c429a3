"""Odd input never shows a key: a Notepad .env, a smart quote, http.client's debug output, a quoted name.

Each case is something a learner really does: saves ``.env`` from Notepad in Windows-1252, pastes a
key with a smart quote, turns on ``http.client`` debugging to see their requests, types ``'Ann`` as
a display name. None of it may put a key into a traceback (verbose ones print every frame's
variables), an exception chain, a printed line or the class page.
"""

from __future__ import annotations

import http.client
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from dotenv import dotenv_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.ultratb import VerboseTB
from jupyter_client.manager import start_new_kernel

from helpers import keys, setup_notebook
from helpers import settings as settings_module
from helpers.client import PerplexityClient
from helpers.errors import InvalidKeyError
from helpers.keys import (
    check_key_characters,
    find_api_key,
    key_status,
    read_env_file,
    remove_api_key,
    save_api_key,
    save_setting,
    validate_api_key,
)
from helpers.masking import Secret, mask_key, mask_url, url_credentials, url_has_credentials
from helpers.recording import CLEARED_ENV
from helpers.widgets import learner_name_entry, remove_key_message, save_key_message
from tests.support import FAKE_KEY, EchoServer

ROOT = Path(__file__).resolve().parent.parent
OTHER_KEY = "pplx-" + "n3wk" * 12
LEARNER = "PERPLEXITY_LEARNER_NAME"


# --- a .env that is not UTF-8 ---------------------------------------------------------------

NOTEPAD_1252 = "# Mon clé pour le cours\r\nPERPLEXITY_API_KEY=<key>\r\nNOTE=café\r\n"


def notepad_bytes(template: str, key: str = FAKE_KEY) -> bytes:
    """What Notepad's "ANSI" encoding (Windows-1252) writes: ``é`` is the single byte 0xE9."""
    return template.replace("<key>", key).encode("cp1252")


def test_a_windows_1252_env_file_is_read(project: Path) -> None:
    env = project / ".env"
    env.write_bytes(notepad_bytes(NOTEPAD_1252))
    assert find_api_key({}, env).value == FAKE_KEY
    assert key_status({}, env).startswith(f"Using the key {mask_key(FAKE_KEY)} from the .env file")
    assert read_env_file(env)["NOTE"] == "caf\ufffd"  # the undecodable byte, shown as the replacement character


def test_save_and_remove_keep_every_byte_of_a_windows_1252_file(project: Path) -> None:
    env = project / ".env"
    env.write_bytes(notepad_bytes(NOTEPAD_1252))
    replaced = f"Replaced {mask_key(FAKE_KEY)} with {mask_key(OTHER_KEY)} in your .env file."
    assert save_key_message(OTHER_KEY).startswith(replaced)  # then what happens next
    saved = notepad_bytes("# Mon clé pour le cours\r\nNOTE=café\r\nPERPLEXITY_API_KEY=<key>\r\n", OTHER_KEY)
    assert env.read_bytes() == saved
    save_setting(LEARNER, "Zoé")
    assert read_env_file(env)[LEARNER] == "Zoé" and find_api_key({}, env).value == OTHER_KEY
    assert remove_key_message() == "Removed the key from your .env file."
    name_line = f'{LEARNER}="Zoé"\r\n'.encode()  # a new line is UTF-8, as every editor reads it
    assert env.read_bytes() == notepad_bytes("# Mon clé pour le cours\r\nNOTE=café\r\n") + name_line
    assert remove_api_key(env) is False


def test_a_non_utf8_key_line_is_refused_in_one_sentence_without_the_key(project: Path) -> None:
    env = project / ".env"
    env.write_bytes(b"PERPLEXITY_API_KEY=" + FAKE_KEY.encode() + b"\xe9\r\n")  # a stray byte glued to the key
    status = key_status({}, env)
    assert "But this key cannot work: The key contains non-ASCII characters" in status
    assert FAKE_KEY not in status and "\n" not in status


# --- a key with a bad character, in a verbose traceback -------------------------------------

BODY = "V3rb0se" * 7  # what must never show: the key's own letters
BAD_KEYS = {
    "smart quote": f"pplx-{BODY}\u2019",
    "curly quotes around": f"\u201cpplx-{BODY}\u201d",
    "inner space": f"pplx-{BODY[:20]} {BODY[20:]}",
    "line break": f"pplx-{BODY}\nmore",
    "dollar": f"pplx-{BODY}$",
    "zero-width space": f"pplx-{BODY}\u200b",
    "too short": "pplx-" + BODY[:9],
    "another vendor": f"sk-{BODY}",
}


def every_way_to_show(error: BaseException) -> str:
    """The error as ``%xmode Verbose`` and as a traceback with every local show it, chain included.

    The test's own frames are left out: they hold what the test pasted, as a learner's cell would.
    """
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    verbose = VerboseTB(theme_name="nocolor").structured_traceback(type(error), error, tb)
    with_locals = traceback.TracebackException(type(error), error, tb, capture_locals=True)
    return "\n".join([*verbose, *with_locals.format()])


def shown_chain(error: BaseException) -> str:
    """Every message and argument of the error and of each exception chained to it."""
    seen = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return "\n".join(f"{e!r} {e} {e.args!r}" for e in seen)


ENTRY_POINTS: dict[str, Callable[[str], object]] = {
    "validate_api_key": validate_api_key,
    "check_key_characters": check_key_characters,
    "save_api_key": save_api_key,
    "validate_api_key(Secret)": lambda raw: validate_api_key(Secret(raw)),
    "check_key_characters(Secret)": lambda raw: check_key_characters(Secret(raw)),
    "PerplexityClient": lambda raw: PerplexityClient(raw, "https://api.perplexity.ai"),  # code that builds one
}
ONLY_CHARACTERS_CHECKED = ("check_key_characters", "check_key_characters(Secret)", "PerplexityClient")


@pytest.mark.parametrize("entry", ENTRY_POINTS.keys())
@pytest.mark.parametrize("name", BAD_KEYS.keys())
def test_a_bad_key_is_refused_without_the_key_in_any_frame(project: Path, entry: str, name: str) -> None:
    if entry in ONLY_CHARACTERS_CHECKED and name in ("too short", "another vendor"):
        pytest.skip("only the characters are checked there")
    with pytest.raises(InvalidKeyError) as caught:
        ENTRY_POINTS[entry](BAD_KEYS[name])
    shown = every_way_to_show(caught.value)
    assert "helpers/keys.py" in shown  # our frames, and their variables, were really printed
    assert BODY[:8] not in shown and BODY[:8] not in shown_chain(caught.value)
    assert not (project / ".env").exists()


def test_save_never_raises_even_on_a_bug(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected error while saving is one sentence in the widget, never a traceback with the key."""

    def broken(*args: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(keys, "_write_private", broken)
    assert save_key_message(FAKE_KEY).startswith("Not saved: Something unexpected went wrong")
    monkeypatch.setattr(keys, "_rewritten", broken)
    assert remove_key_message().startswith("Not removed: Something unexpected went wrong")


# --- a display name with quotes or "=" ------------------------------------------------------


def test_a_quoted_display_name_keeps_the_key(project: Path) -> None:
    env = project / ".env"
    save_setting(LEARNER, "'Ann")
    save_api_key(FAKE_KEY)
    save_setting(LEARNER, "Ann = 'the' #1")
    assert read_env_file(env) == {keys.KEY_VARIABLE: FAKE_KEY, LEARNER: "Ann = 'the' #1"}
    assert find_api_key({}, env).value == FAKE_KEY


# Values a person may type: any printable text, and line breaks; no lone surrogates (a file cannot hold them).
VALUES = st.text(st.characters(exclude_categories=("Cs", "Cc")) | st.sampled_from("'\"=#\\$ {}\n\r\t"), max_size=40)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=VALUES, other=VALUES)
def test_any_value_reads_back_exactly_and_every_other_line_stays(project: Path, value: str, other: str) -> None:
    env = project / ".env"
    before = f"# mine\r\nA=1\r\nPERPLEXITY_API_KEY={FAKE_KEY}\r\nB='two words'\r\n"
    env.write_bytes(before.encode())
    save_setting("OTHER_SETTING", other)
    save_setting(LEARNER, value)
    expected = {"A": "1", keys.KEY_VARIABLE: FAKE_KEY, "B": "two words", "OTHER_SETTING": other, LEARNER: value}
    assert read_env_file(env) == expected
    assert dotenv_values(env, interpolate=False) == expected  # python-dotenv's own reading of the file
    assert env.read_bytes().startswith(before.encode())
    save_setting(LEARNER, "Ada")  # replacing it removes exactly the quoted value
    assert read_env_file(env) == {**expected, LEARNER: "Ada"}


# --- http.client's debug output -------------------------------------------------------------


@pytest.fixture
def http_debugging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The usual "debug my requests" recipe, undone afterwards; sys.stdout and sys.stderr come back too."""
    monkeypatch.setattr(http.client.HTTPConnection, "debuglevel", 1)
    monkeypatch.setattr(sys, "stdout", sys.stdout)
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    monkeypatch.setattr(settings_module, "local_sandbox_url", None)
    yield


def test_http_client_debug_output_shows_no_key_after_setup(
    http_debugging: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PERPLEXITY_API_KEY", FAKE_KEY)
    setup_notebook(quiet=True)
    setup_notebook(quiet=True)  # twice, as when the first cell is run again: still one layer
    with EchoServer() as echo:
        requests.get(echo.url + "/v1/models", headers={"Authorization": f"Bearer {FAKE_KEY}"}, timeout=5)
    print("and on stderr:", FAKE_KEY, file=sys.stderr)
    shown = capsys.readouterr()
    assert "send: b'GET /v1/models HTTP/1.1" in shown.out and f"Bearer {mask_key(FAKE_KEY)}" in shown.out
    assert echo.requests[0]["headers"]["Authorization"] == f"Bearer {FAKE_KEY}"  # the wire still carries the key
    assert FAKE_KEY not in shown.out + shown.err and mask_key(FAKE_KEY) in shown.err
    assert type(sys.stdout).__name__ == type(sys.stderr).__name__ == "RedactingStream"
    assert sys.stdout.wrapped is not None and not hasattr(sys.stdout.wrapped, "wrapped")


def test_a_key_that_is_not_shaped_like_one_is_masked_too(
    http_debugging: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = "Zq" * 12  # configured but not "pplx-...": its shape alone would not give it away
    monkeypatch.setenv("PERPLEXITY_API_KEY", odd)
    setup_notebook(quiet=True)
    print(f"Authorization: Bearer {odd}")
    assert odd not in capsys.readouterr().out


def kernel_cells(echo_url: str) -> list[str]:
    """A learner's cells: setup (run twice), the debug recipe and a request, prints, a widget's Output.

    The key comes from the kernel's environment, as a learner's does: no cell's source holds it.
    """
    return [
        "import http.client, os, sys, requests, helpers, ipywidgets\n"
        "key = os.environ['PERPLEXITY_API_KEY']\n"
        "helpers.setup_notebook(quiet=True)\n"
        "helpers.setup_notebook(quiet=True)\n"
        "http.client.HTTPConnection.debuglevel = 1\n"
        f"requests.get({echo_url!r}, headers={{'Authorization': 'Bearer ' + key}}, timeout=5).ok",
        "print('plain', key)",
        "print('error', key, file=sys.stderr)",
        "out = ipywidgets.Output()\nwith out:\n    print('captured', bool(out.msg_id), key)",
        "print(type(sys.stdout).__name__, hasattr(sys.stdout, 'set_parent'), type(sys.stdout.wrapped).__name__)",
        # IPython records printed text for its history and %notebook: it must have recorded the masks
        "recorded = [text for outputs in get_ipython().history_manager.outputs.values() for output in outputs\n"
        "            for text in output.bundle.get('stream', [])]\n"
        "print(len(recorded) > 3, any(key in text for text in recorded))",
    ]


def test_in_a_real_kernel_no_output_shows_the_key(tmp_path: Path) -> None:
    """ipykernel's own streams, widgets' Output capture, IPython's history and http.client's prints."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env.update(PERPLEXITY_API_KEY=FAKE_KEY, PERPLEXITY_MODE="sandbox", PERPLEXITY_ENV_FILE=str(tmp_path / ".env"))
    manager, client = start_new_kernel(kernel_name="python3", env=env, cwd=str(ROOT))
    try:
        with EchoServer() as echo:
            outputs = [run_in_kernel(client, cell) for cell in kernel_cells(echo.url + "/v1/models")]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    shown = "\n".join(outputs)
    assert echo.requests[0]["headers"]["Authorization"] == f"Bearer {FAKE_KEY}"
    assert "send: b'GET /v1/models" in outputs[0] and f"Bearer {mask_key(FAKE_KEY)}" in outputs[0], shown
    assert outputs[1:4] == [f"{what} {mask_key(FAKE_KEY)}\n" for what in ("plain", "error", "captured True")], shown
    assert outputs[4:] == ["RedactingStream True OutStream\n", "True False\n"], shown
    assert FAKE_KEY not in shown


def run_in_kernel(client: object, code: str) -> str:
    """Run ``code``; return what its stdout and stderr showed (an error's text too)."""
    msg_id = client.execute(code)
    shown = []
    while True:
        message = client.get_iopub_msg(timeout=60)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "stream":
            shown.append(content["text"])
        elif kind == "error":
            shown.append("\n".join(content["traceback"]))
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(shown)


def test_the_name_box_never_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERPLEXITY_ENV_FILE", str(tmp_path / "missing-folder" / ".env"))
    monkeypatch.delenv(LEARNER, raising=False)
    box = learner_name_entry()
    (name, save), status = box.children[0].children, box.children[1]
    name.value = "'Ann"
    save.click()
    assert status.value.startswith("Not saved: could not write your key file (No such file or directory)")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://ann:pw1234@hub.example.org/x", "https://****@hub.example.org/x"),
        ("https://a@b:pw1234@host", "https://****@host"),  # the last "@" ends the user info, as browsers read it
        ("https://host/p?token=abcd#frag", "https://host/p?****"),
        ("https://host#access_token=abcd", "https://host#****"),
        ("https://us\\er:pw1234@host", "https://****@host"),
        ("ann:pw1234@host//x", "****@host//x"),  # no scheme, and a "//" only after the user info
        ("https://host/\nnext line", "https://host/?next line"),
        ("https://hub.example.org", "https://hub.example.org"),
    ],
)
def test_a_url_is_echoed_without_its_credentials(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    assert url_has_credentials(url) == ("****" in shown)
    assert not any(secret in shown for secret in url_credentials(url))
