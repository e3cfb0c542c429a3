"""API keys: find, validate, mask, redact, save and remove.

Lookup order (first match wins):
1. ``PERPLEXITY_API_KEY`` in the environment;
2. the Colab secret ``PERPLEXITY_API_KEY`` (only inside Google Colab, where ``google.colab`` imports);
3. ``PERPLEXITY_API_KEY`` in the key file (see below);
4. ``PPLX_API_KEY`` (the older name) in the environment, then in the key file, with a hint to rename.

The key file is the project's ``.env`` when the notebooks run from a checkout of this repository
(found upward from the working directory). Where there is none (an installed package, Colab, a
JupyterHub image), or the checkout is read-only or writable by other users (a shared course
folder), it is ``.env`` in the user's own configuration folder (platformdirs), so a key is always
per user and never inside ``site-packages``. ``PERPLEXITY_ENV_FILE`` names another file instead
(tests and recording).

A key is a secret: it is only ever displayed through :func:`mask_key`, and any text that could
hold it (a rendered request, a log line, an error) passes through :func:`redact` first;
:func:`install_log_redaction` does that for every log record. A key is written only to the key
file (mode 0600 where the system has modes, atomically), or to a throw-away practice file for fake keys.
Where a key may be refused or a write may fail, it is held as a :class:`~helpers.masking.Secret`:
``%xmode Verbose`` and debuggers print the variables of every frame an error passes through.

The key file is read as python-dotenv reads it, but never fails on its encoding: bytes that are not
UTF-8 (Notepad's Windows-1252 ``é``) are read as the replacement character and written back as the
very same bytes, and values are taken literally (no ``${...}`` expansion), as Save writes them.
"""

from __future__ import annotations

import atexit
import io
import logging
import os
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import platformdirs
from dotenv import dotenv_values
from dotenv.parser import parse_stream

from helpers.errors import InvalidKeyError, KeyFileError
from helpers.masking import KEY_PREFIX, MAX_KEY_LENGTH, MIN_KEY_LENGTH, Secret, mask_key, redact_log_text
from helpers.masking import redact as redact  # re-exported: callers mask text through helpers.keys too

KEY_VARIABLE = "PERPLEXITY_API_KEY"
LEGACY_KEY_VARIABLE = "PPLX_API_KEY"
ENV_FILE_VARIABLE = "PERPLEXITY_ENV_FILE"
ENV_FILE_HEADER = "# Secrets for the Perplexity tutorial. Never commit this file.\n"
# The folder name under the user's configuration folder (e.g. ~/.config/perplexity-tutorial on Linux).
USER_CONFIG_NAME = "perplexity-tutorial"


@dataclass(frozen=True)
class FoundKey:
    """A key and where it came from. Its repr never shows the key itself."""

    value: str
    source: str
    hint: str = ""

    def __repr__(self) -> str:
        return f"FoundKey(value={self.masked!r}, source={self.source!r})"

    @property
    def masked(self) -> str:
        return mask_key(self.value)


# --- where the project and the key file live ---------------------------------------------


@dataclass(frozen=True)
class KeyFile:
    """Where the key file is, and one sentence saying why there (notebook 01 and the doctor show it)."""

    path: Path
    why: str


def find_checkout(start: Path | None = None) -> Path | None:
    """The checkout of this repository the notebooks run from, or None when there is none.

    Searched upward from ``start`` (the working directory: notebooks run in their own folder), then
    the folder above the ``helpers`` package, which is the checkout for an editable install. A
    non-editable install puts ``helpers`` in ``site-packages``, which is never taken for a checkout.
    """
    here = (start or Path.cwd()).resolve()
    folders = (here, *here.parents, Path(__file__).resolve().parent.parent)
    return next((f for f in folders if (f / "pyproject.toml").is_file() and (f / "helpers").is_dir()), None)


def project_root(start: Path | None = None) -> Path:
    """The checkout (see :func:`find_checkout`); without one, the folder that contains the ``helpers`` package."""
    return find_checkout(start) or Path(__file__).resolve().parent.parent


def user_key_file() -> Path:
    """``.env`` in the user's own configuration folder: the key file wherever there is no writable checkout.

    ``appauthor=False`` keeps the Windows path one level deep (``%LOCALAPPDATA%\\perplexity-tutorial``).
    """
    return platformdirs.user_config_path(USER_CONFIG_NAME, appauthor=False) / ".env"


def key_file_location(start: Path | None = None) -> KeyFile:
    """Where the key file is and why: the override, the checkout's ``.env``, or the per-user file."""
    override = os.environ.get(ENV_FILE_VARIABLE, "").strip()
    if override:
        return KeyFile(Path(override).expanduser().resolve(), f"the file that {ENV_FILE_VARIABLE} names.")
    checkout = find_checkout(start)
    instead = "so your key is kept in your own configuration folder instead."
    if checkout is None:
        return KeyFile(
            user_key_file(),
            "no checkout of the tutorial was found here (an installed package, Colab or a hub), "
            "so the key file lives in your own configuration folder.",
        )
    if not os.access(checkout, os.W_OK):
        return KeyFile(user_key_file(), f"the course folder {checkout} is read-only (shared by the class), {instead}")
    if others_may_write(checkout):
        return KeyFile(user_key_file(), f"other users can write to the course folder {checkout}, {instead}")
    return KeyFile(checkout / ".env", "the project's own .env file, which git ignores.")


def others_may_write(folder: Path) -> bool:
    """Whether users other than the owner may create or replace files in ``folder`` (group or world write bit).

    Such a folder cannot hold a key file: another user could replace it, or write a ``.env`` of their
    own before yours exists, so that your requests would use their key. The sticky bit (``/tmp``)
    does not help against the second. Windows reports no such bits: there, folders are per user.
    """
    return os.name == "posix" and bool(folder.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def key_file_status(start: Path | None = None) -> str:
    """One sentence: where the key file is and why (the override's path is left out: it changes per run)."""
    location = key_file_location(start)
    if os.environ.get(ENV_FILE_VARIABLE, "").strip():
        return f"Your key file is {location.why}"
    return f"Your key file is {location.path}: {location.why} Only you can read it."


def env_file_path() -> Path:
    """Where the key file is (or would be): see :func:`key_file_location`.

    ``PERPLEXITY_ENV_FILE`` names another file instead; the tests and the record command use it
    so that a developer's own key never changes what a notebook shows.
    """
    return key_file_location().path


# --- finding a key ----------------------------------------------------------------------


class _KeyCandidate(NamedTuple):
    """One place a key may be: its value there, the variable, where (as :func:`key_sources` lists it), the
    source (as "Using the key ... from the <source>" names it) and a hint when the place could not be read.

    The value is a :class:`~helpers.masking.Secret` (of None when not set), so any repr shows only the mask.
    """

    value: Secret
    variable: str
    where: str
    source: str
    hint: str = ""

    @property
    def key(self) -> str:
        """The key found here without surrounding spaces ("" when there is none)."""
        return (self.value.reveal() or "").strip()


_RENAME_HINT = f"{LEGACY_KEY_VARIABLE} is the old name: rename it to {KEY_VARIABLE}."


def find_api_key(environ: dict[str, str] | None = None, env_file: Path | None = None) -> FoundKey | None:
    """Return the configured key and its source, or ``None`` when there is none."""
    found = next((place for place in _key_candidates(environ, env_file) if place.key), None)
    if found is None:
        return None
    return FoundKey(found.key, found.source, _RENAME_HINT if found.variable == LEGACY_KEY_VARIABLE else "")


def key_sources(environ: dict[str, str] | None = None, env_file: Path | None = None) -> str:
    """The places a key is looked up, in order, each with what it holds (masked) and which one is used."""
    lines, used = [], False
    for number, place in enumerate(_key_candidates(environ, env_file), start=1):
        old = " (old name)" if place.variable == LEGACY_KEY_VARIABLE else ""
        state = f"not set. {place.hint}" if place.hint else "not set"
        if place.key:
            state = mask_key(place.key) + ("  (not used: an earlier one wins)" if used else "  <- used")
            used = True
        lines.append(f"{number}. {place.variable}{old} in {place.where}: {state}")
    return "\n".join(lines)


def _key_candidates(environ: dict[str, str] | None, env_file: Path | None) -> list[_KeyCandidate]:
    """Each place a key may be, in lookup order: each name in the environment, then in the key file.

    Colab Secrets belong to this process's own environment: they are asked only when the lookup is
    about it (``environ`` omitted, or ``os.environ`` itself), never for an explicit mapping, which
    asks about the environment and file given and nothing else.
    """
    env_file = env_file or env_file_path()
    in_file = read_env_file(env_file)  # first: an unreadable file fails before any key is held here
    colab = colab_secret(KEY_VARIABLE) if environ is None or environ is os.environ else None
    environ = os.environ if environ is None else environ
    file = f"{env_file.name} file"
    sources = ((environ, "the environment", "environment variable {}"), (in_file, f"the {file}", f"{file} ({{}})"))
    places = [
        _KeyCandidate(Secret(values.get(variable)), variable, where, source.format(variable))
        for variable in (KEY_VARIABLE, LEGACY_KEY_VARIABLE)
        for values, where, source in sources
    ]
    return [places[0], *filter(None, [colab]), *places[1:]]  # the Colab secret right after the environment


def colab_secret(name: str) -> _KeyCandidate | None:
    """The Colab secret ``name``, or None outside Colab (where ``google.colab`` does not import); read once per kernel.

    ``userdata.get`` raises when the secret is missing or this notebook may not read it: both mean
    "no key here", with a hint that says how to add the secret or grant access.
    """
    try:
        from google.colab import userdata
    except ImportError:
        return None
    where, source = "Colab Secrets", f"Colab secret {name}"
    try:
        value = _colab_secrets.get(name) or userdata.get(name)
    except Exception as error:  # any failure of Colab's own messaging means "no key here", never a crash
        return _KeyCandidate(Secret(None), name, where, source, _colab_hint(type(error).__name__, name))
    if value:
        _colab_secrets[name] = value
    return _KeyCandidate(Secret(value), name, where, source)


# Each userdata.get asks Colab's frontend (a round trip, and a consent prompt the first time): a secret
# is read once per kernel. Only a found one is kept, so that the secret a hint asked for is seen once added.
_colab_secrets: dict[str, str] = {}


def forget_colab_secrets() -> None:
    """Read Colab Secrets afresh at the next lookup: after changing a secret's value, and between tests."""
    _colab_secrets.clear()


def _colab_hint(error: str, name: str) -> str:
    panel = "the Secrets panel (the key icon in Colab's left bar)"
    if error == "SecretNotFoundError":
        return f"To use your key in Colab, add a secret named {name} in {panel} and turn on its Notebook access."
    if error == "NotebookAccessError":
        return f"The Colab secret {name} exists, but this notebook may not read it: turn on Notebook access in {panel}."
    return f"Colab Secrets could not be read ({error}), so they were skipped."


def read_env_file(path: Path) -> dict[str, str]:
    """The variables a key file sets, as python-dotenv reads them; empty when there is no file.

    Whatever the file's encoding: a byte that is not UTF-8 reads as U+FFFD (a key holding one is then
    refused as non-ASCII, in one sentence). Values are literal: ``${NAME}`` stays as it is, since
    :func:`save_setting` writes any value, ``$`` included, to be read back exactly.
    """
    text = path.read_bytes().decode("utf-8", "replace") if path.is_file() else ""
    values = dotenv_values(stream=io.StringIO(text), interpolate=False)  # StringIO translates no line endings
    return {name: value for name, value in values.items() if value is not None}


def holds_non_utf8(path: Path) -> bool:
    """Whether the key file holds bytes that are not UTF-8 (Notepad's "ANSI" encoding writes ``é`` as one byte)."""
    return any("\udc80" <= ch <= "\udcff" for ch in _read_exactly(path))


def key_status(environ: dict[str, str] | None = None, env_file: Path | None = None) -> str:
    """One sentence: which key is configured (masked) and where it comes from."""
    found = find_api_key(environ, env_file)
    if found is None:
        hints = "".join(f" {p.hint}" for p in _key_candidates(environ, env_file) if p.hint)
        return (
            "No API key is configured yet. That is fine: until you save one, the notebooks use the built-in sandbox."
            + hints
        )
    hint = f" {found.hint}" if found.hint else ""
    problem = _problem(_cleaned(Secret(found.value))[0], _KEY_PROBLEMS)
    if problem:
        hint += f" But this key cannot work: {problem}"
    return f"Using the key {found.masked} from the {found.source}.{hint}"


def explain_key(raw: str | Secret) -> str:
    """Validate without saving and say what is wrong (or that the key looks right)."""
    raw = Secret(raw)  # every variable of this frame is masked (see validate_api_key)
    try:
        key, note = _validated(raw)
    except InvalidKeyError as problem:
        return f"Not valid: {problem}"
    return f"Looks right: {mask_key(key)}." + (f" Note: {note}." if note else "")


# --- validating -------------------------------------------------------------------------
# What no key holds (and no header may carry), in the order it is checked: a pattern that finds it, and the
# sentence that says so ({odd} lists what the pattern found). Keys are letters, digits, dashes and
# underscores; anything else ($, #, =) would also confuse the .env file.
_CHARACTER_PROBLEMS = {
    r"[\r\n]": "The key contains a line break. Paste it again as a single line.",
    r"\s": "The key contains spaces. Paste only the key itself, as one word.",
    r"[\"'`]": "The key contains quotes. Paste the key without quotes around it.",
    r"[^\x00-\x7f]": (
        "The key contains non-ASCII characters (often a smart quote or an invisible character). "
        "Copy it again from the API portal."
    ),
    r"[^A-Za-z0-9_-]": (
        "The key contains {odd}, which Perplexity keys never contain. Copy the key again from the API portal."
    ),
}
# The same for a pasted key (cleaned up): empty, then its characters, its start and its length ({length}).
_KEY_PROBLEMS = {
    r"\A\Z": "The key is empty. Paste the key you copied from the API portal.",
    **_CHARACTER_PROBLEMS,
    rf"\A(?!{re.escape(KEY_PREFIX)})": (
        f"This does not look like a Perplexity key: keys start with '{KEY_PREFIX}'. "
        "Copy the key again from the API portal."
    ),
    rf"\A(?!.{{{MIN_KEY_LENGTH},{MAX_KEY_LENGTH}}}\Z)": (
        "The key is {length} characters long, which is implausible for a Perplexity key. "
        "Copy the whole key again from the API portal."
    ),
}


def validate_api_key(raw: str | Secret) -> tuple[str, str]:
    """Check a pasted key and return ``(key, note)``; raise :class:`InvalidKeyError` if unusable.

    The note is non-empty when the key was cleaned up (a pasted ``Bearer`` prefix or
    surrounding whitespace). Messages never contain the key; nor does any frame a refusal passes
    through: each holds the key as a :class:`~helpers.masking.Secret`, whose repr is the mask, since
    ``%xmode Verbose`` and debuggers print every frame's variables.
    """
    raw = Secret(raw)  # first: from here on, this frame shows only the mask
    key, note = _validated(raw)
    return key.reveal(), note


def check_key_characters(key: str | Secret) -> None:
    """Raise :class:`InvalidKeyError` when ``key`` holds a character no key has (and no header may carry)."""
    key = Secret(key)  # first: from here on, this frame shows only the mask
    problem = _problem(key, _CHARACTER_PROBLEMS)
    if problem:
        raise InvalidKeyError(problem)


def _validated(raw: Secret) -> tuple[Secret, str]:
    """:func:`validate_api_key`, with the key kept as a Secret for callers that store it."""
    key, note = _cleaned(raw)
    problem = _problem(key, _KEY_PROBLEMS)
    if problem:
        raise InvalidKeyError(problem)
    return key, note


# The two helpers below see the plain key, and so they never raise: they return, and the frames that
# raise hold only Secrets. (A frame that has returned is in no traceback.)


def _cleaned(raw: Secret) -> tuple[Secret, str]:
    """The key without surrounding spaces or a pasted ``Bearer`` prefix, and a note saying what was removed."""
    text = raw.reveal() if isinstance(raw.reveal(), str) else ""
    key, notes = text.strip(), []
    if key != text:
        notes.append("removed spaces around the key")
    if key.lower().startswith("bearer "):
        key = key[len("bearer ") :].strip()
        notes.append("removed the 'Bearer ' prefix, which the request adds for you")
    return Secret(key), "; ".join(notes)


def _problem(key: Secret, problems: dict[str, str]) -> str:
    """The sentence of the first of ``problems`` that ``key`` has, or "" when it has none."""
    plain = key.reveal()
    for pattern, sentence in problems.items():
        found = sorted(set(re.findall(pattern, plain)))
        if found:
            return sentence.format(odd=" ".join(repr(ch) for ch in found), length=len(plain))
    return ""


# --- logging ----------------------------------------------------------------------------


def install_log_redaction() -> None:
    """Make every log record, from any library, pass through :func:`redact` before a handler sees it.

    A record factory rather than a handler filter, so that handlers added later are covered too.
    """
    global _log_redaction_installed
    if not _log_redaction_installed:
        make_record = logging.getLogRecordFactory()
        logging.setLogRecordFactory(lambda *args, **kwargs: redact_log_record(make_record(*args, **kwargs)))
        _log_redaction_installed = True


def redact_log_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact a record's message and exception text in place (formatting them now)."""
    try:
        message = record.getMessage()
    except (TypeError, ValueError):  # a broken format string: leave it to logging to report
        return record
    cleaned = redact_log_text(message)
    if cleaned != message:
        record.msg, record.args = cleaned, ()
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = redact_log_text(logging.Formatter().formatException(record.exc_info))
    return record


_log_redaction_installed = False


# --- saving and removing ----------------------------------------------------------------
# python-dotenv's own set_key and unset_key cannot do this (checked with 1.2): they read and write in
# text mode (CRLF and CR-only files come back as LF, a value's "\r" as "\n", a Windows-1252 byte fails
# to decode), replace a line where it stands, one name at a time (so the old name would stay), and keep
# a readable file's mode instead of making it private. Its parser still decides what an assignment is
# (see _rewritten), so Save and Remove agree with the reading.


def save_api_key(raw: str | Secret, env_file: Path | None = None) -> tuple[FoundKey, str]:
    """Validate ``raw`` and store it in the key file (the project's ``.env`` or the per-user one; mode 0600, atomic).

    A key under the old name is replaced too. Every other byte of an existing ``.env`` is kept as
    editors wrote it: a UTF-8 BOM (Windows Notepad adds one), CRLF, LF, CR-only or mixed line
    endings, bytes in another encoding than UTF-8. The new key line goes last and ends with the line
    ending the file uses most, so a CRLF file stays CRLF; a last line without a newline gets one, or
    the key would be glued to it. Returns the stored key and a note.
    """
    raw = Secret(raw)  # first: from here on, this frame shows only the mask
    key, note = _validated(raw)
    path = save_setting(KEY_VARIABLE, key, env_file, replaces=(LEGACY_KEY_VARIABLE,))
    return FoundKey(value=key.reveal(), source=f"{path.name} file ({KEY_VARIABLE})"), note


def save_setting(
    variable: str, value: str | Secret, env_file: Path | None = None, *, replaces: tuple[str, ...] = ()
) -> Path:
    """Store ``variable=value`` last in the key file, instead of any earlier line for it (or for ``replaces``).

    Any value (quotes, ``=``, ``#``, ``$``, backslashes, line breaks) is written so that python-dotenv
    reads back exactly that value and every other line as it was (see :func:`env_line`). Every other
    byte of the file is kept, as :func:`save_api_key` describes. Returns the file's path.
    """
    value = Secret(value)  # it may be the key: this frame shows only the mask
    if not isinstance(value.reveal(), str) or _LONE_SURROGATE.search(value.reveal()):
        raise KeyFileError(f"The value for {variable} holds characters a text file cannot store; it was not saved.")
    path = _checked_env_path(env_file)
    _rewrite(path, (variable, *replaces), Secret(env_line(variable, value.reveal())))
    return path


def env_line(variable: str, value: str) -> str:
    """``variable=value`` (no line ending) as python-dotenv reads back exactly ``value``.

    A plain word (letters, digits, ``._-``: every key, mode and port) as it is; anything else in double
    quotes, with ``\\``, ``"`` and line breaks escaped. Unquoted, ``'Ann`` would open a quote that
    the next lines close, swallowing the key; ``a #b`` would lose ``#b``; a raw line break would end it.
    """
    if re.fullmatch(r"[A-Za-z0-9._-]+", value):
        return f"{variable}={value}"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'{variable}="{escaped}"'


def remove_api_key(env_file: Path | None = None) -> bool:
    """Remove the key (under its current or its old name) from ``.env``; return whether there was one.

    Every other byte is kept (BOM, line endings and encoding included, as for :func:`save_api_key`),
    and a file without a key is not rewritten at all, so its mode stays as it was.
    """
    return _rewrite(_checked_env_path(env_file), (KEY_VARIABLE, LEGACY_KEY_VARIABLE))


def practice_key_file() -> Path:
    """A throw-away key file in a new temporary folder, to try saving and removing with fake keys.

    Notebook 01 practises on it so that "Run all" never touches your real ``.env``.
    """
    folder = Path(tempfile.mkdtemp(prefix="pplx-practice-")).resolve()
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # fake keys, but no litter either
    _PRACTICE_FILES.add(folder / ".env")
    return folder / ".env"


def is_practice_file(path: Path) -> bool:
    return path.resolve() in _PRACTICE_FILES


def key_file_label(path: Path) -> str:
    """How messages name a key file: the per-user one with its path (it is not beside the notebooks).

    The others without a path, which changes from run to run (practice files, the tests' override).
    """
    if is_practice_file(path):
        return "the practice key file"
    if path.resolve() == user_key_file().resolve():
        return f"your key file {path}"
    return f"your {path.name} file"


_PRACTICE_FILES: set[Path] = set()
# A character no file can hold: a lone surrogate, which UTF-8 cannot encode.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _checked_env_path(env_file: Path | None) -> Path:
    """Only the key file, a ``.env`` beside a ``pyproject.toml``, or a practice file may hold a key."""
    path = (env_file or env_file_path()).resolve()
    in_a_project = path.name == ".env" and (path.parent / "pyproject.toml").is_file()
    if path == env_file_path().resolve() or is_practice_file(path) or in_a_project:
        return path
    raise InvalidKeyError(
        f"Refusing to write a key to {path}: keys are saved only in the project's own .env file "
        "or your per-user key file."
    )


def _read_exactly(path: Path) -> str:
    """The file's text as stored, BOM and ``\\r`` included ("" if there is none): text mode would turn CRLF into LF.

    A byte that is not UTF-8 becomes a lone surrogate (``surrogateescape``), which :func:`_write_private`
    turns back into the same byte: reading never fails on a file Notepad saved in Windows-1252, and
    UnicodeDecodeError, whose ``object`` is the whole file and so the key, is never raised.
    """
    return path.read_bytes().decode("utf-8", "surrogateescape") if path.is_file() else ""


def _rewrite(path: Path, variables: tuple[str, ...], line: Secret | None = None) -> bool:
    """Remove the assignments to ``variables`` from the key file and add ``line`` last; return whether one was removed.

    Without ``line`` and with nothing to remove, the file is not written at all.
    """
    rewritten = _rewritten(_read_exactly(path), variables, line)
    if rewritten is None:
        raise KeyFileError("python-dotenv read the .env file in an unexpected way, so it was left unchanged.")
    text, removed = rewritten
    if removed or line is not None:
        _write_private(path, text)
    return removed


def _rewritten(text: str, variables: tuple[str, ...], line: Secret | None) -> tuple[Secret, bool] | None:
    """``.env`` text without ``variables`` and with ``line`` last, and whether an assignment was removed.

    python-dotenv's own parser, the one behind ``dotenv_values`` and so :func:`find_api_key`, decides
    what an assignment is: Remove then removes exactly the key that would be used (``export``, spaces
    around ``=``, quotes, a quoted name) and never a look-alike line inside another quoted value. Its
    pieces joined are the text itself (after a BOM), so everything that is not a key stays byte for
    byte; the blank lines it counts into an assignment are not the key's, so they stay too. The line
    ends as the file's lines end most (a new file gets the header first). None if dotenv reads the
    text unexpectedly: this frame holds the text, which may hold the key, so it returns rather than raise.
    """
    bindings = list(parse_stream(io.StringIO(text)))  # StringIO translates no line endings
    parsed = "".join(binding.original.string for binding in bindings)
    if not text.endswith(parsed):
        return None
    bom, rest, removed = text[: len(text) - len(parsed)], "", False
    for binding in bindings:
        piece = binding.original.string
        if binding.key in variables and binding.value is not None:
            lead = piece[: len(piece) - len(piece.lstrip())]
            piece, removed = lead[: max(lead.rfind("\n"), lead.rfind("\r")) + 1], True
        rest += piece
    if line is not None:
        endings = re.findall(r"\r\n|\r|\n", text)
        eol = max(dict.fromkeys(endings), key=endings.count) if endings else "\n"  # the first seen wins a tie
        if not rest:
            rest = ENV_FILE_HEADER.replace("\n", eol)
        elif not rest.endswith(("\n", "\r")):
            rest += eol
        rest += line.reveal() + eol
    return Secret(bom + rest), removed


def _write_private(path: Path, content: str | Secret) -> None:
    """Write ``content`` atomically to ``path``, readable by the owner only from the start.

    The bytes are exactly the text's (line endings as given; bytes read by :func:`_read_exactly` that
    were not UTF-8 come back as they were). On Windows ``chmod`` only clears the read-only flag: the
    file is private there through the user's own profile folder, and the write works the same.
    """
    content = Secret(content)  # the file's text holds the key: this frame shows only the mask
    # Checked, not tried: a UnicodeEncodeError would carry the text. Lone surrogates other than the
    # undecodable bytes _read_exactly kept (U+DC80 to U+DCFF) have no bytes to go back to.
    if re.search("[\ud800-\udc7f\udd00-\udfff]", content.reveal()):
        raise KeyFileError("The key file's new text holds characters a file cannot store; it was left unchanged.")
    if path.resolve() == user_key_file().resolve():  # the per-user folder may not exist yet; another one is an error
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".env.", suffix=".tmp")  # mkstemp is 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content.reveal().encode("utf-8", "surrogateescape"))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
