"""API keys: find, validate, mask, redact, save and remove.

Lookup order (first match wins):
1. ``PERPLEXITY_API_KEY`` in the environment;
2. ``PERPLEXITY_API_KEY`` in the project's ``.env`` file;
3. ``PPLX_API_KEY`` (the older name) in the environment, then in ``.env``, with a hint to rename.

A key is a secret: it is only ever displayed through :func:`mask_key`, and any text that could
hold it (a rendered request, a log line, an error) passes through :func:`redact` first;
:func:`install_log_redaction` does that for every log record. A key is written only to the
project's ``.env`` (mode 0600, atomically), or to a throw-away practice file for fake keys.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

from helpers.errors import InvalidKeyError

KEY_VARIABLE = "PERPLEXITY_API_KEY"
LEGACY_KEY_VARIABLE = "PPLX_API_KEY"
ENV_FILE_VARIABLE = "PERPLEXITY_ENV_FILE"
KEY_PREFIX = "pplx-"
# Real keys are "pplx-" plus 48 characters; allow some slack for future formats.
MIN_KEY_LENGTH = 20
MAX_KEY_LENGTH = 200
ENV_FILE_HEADER = "# Secrets for the Perplexity tutorial. Never commit this file.\n"


@dataclass(frozen=True)
class FoundKey:
    """A key and where it came from. Its repr never shows the key itself."""

    value: str
    source: str
    hint: str = ""

    def __repr__(self) -> str:
        return f"FoundKey(value={mask_key(self.value)!r}, source={self.source!r})"

    @property
    def masked(self) -> str:
        return mask_key(self.value)


# --- where the project lives -------------------------------------------------------------


def project_root(start: Path | None = None) -> Path:
    """The folder holding this project's ``pyproject.toml``, searched upward from ``start``.

    Notebooks run with their own folder as working directory, so ``.env`` must be found
    from there. Falls back to the folder that contains the ``helpers`` package.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "helpers").is_dir():
            return folder
    return Path(__file__).resolve().parent.parent


def env_file_path(root: Path | None = None) -> Path:
    """Where the project's ``.env`` is (or would be).

    ``PERPLEXITY_ENV_FILE`` names another file instead; the tests and the record command use it
    so that a developer's own key never changes what a notebook shows.
    """
    override = os.environ.get(ENV_FILE_VARIABLE, "").strip()
    if override and root is None:
        return Path(override).expanduser().resolve()
    return (root or project_root()) / ".env"


# --- finding a key ----------------------------------------------------------------------


def find_api_key(environ: dict[str, str] | None = None, env_file: Path | None = None) -> FoundKey | None:
    """Return the configured key and its source, or ``None`` when there is none."""
    for value, variable, file in _key_candidates(environ, env_file):
        if value and value.strip():
            source = f"environment variable {variable}" if file is None else f"{file.name} file ({variable})"
            hint = _rename_hint() if variable == LEGACY_KEY_VARIABLE else ""
            return FoundKey(value=value.strip(), source=source, hint=hint)
    return None


def key_sources(environ: dict[str, str] | None = None, env_file: Path | None = None) -> str:
    """The places a key is looked up, in order, each with what it holds (masked) and which one is used."""
    lines, used = [], False
    for number, (value, variable, file) in enumerate(_key_candidates(environ, env_file), start=1):
        old = " (old name)" if variable == LEGACY_KEY_VARIABLE else ""
        where = "the environment" if file is None else f"the {file.name} file"
        state = "not set"
        if value and value.strip():
            state = mask_key(value.strip()) + ("  (not used: an earlier one wins)" if used else "  <- used")
            used = True
        lines.append(f"{number}. {variable}{old} in {where}: {state}")
    return "\n".join(lines)


def _key_candidates(environ: dict[str, str] | None, env_file: Path | None) -> list[tuple[str | None, str, Path | None]]:
    """(value, variable, file or None for the environment) for each place a key may be, in lookup order."""
    environ = os.environ if environ is None else environ
    env_file = env_file or env_file_path()
    file_values = _read_env_file(env_file)
    return [
        (environ.get(KEY_VARIABLE), KEY_VARIABLE, None),
        (file_values.get(KEY_VARIABLE), KEY_VARIABLE, env_file),
        (environ.get(LEGACY_KEY_VARIABLE), LEGACY_KEY_VARIABLE, None),
        (file_values.get(LEGACY_KEY_VARIABLE), LEGACY_KEY_VARIABLE, env_file),
    ]


def _rename_hint() -> str:
    return f"{LEGACY_KEY_VARIABLE} is the old name: rename it to {KEY_VARIABLE}."


def _read_env_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def key_status(environ: dict[str, str] | None = None, env_file: Path | None = None) -> str:
    """One sentence: which key is configured (masked) and where it comes from."""
    found = find_api_key(environ, env_file)
    if found is None:
        return ("No API key is configured yet. That is fine: until you save one, "
                "the notebooks use the built-in sandbox.")
    hint = f" {found.hint}" if found.hint else ""
    try:
        validate_api_key(found.value)
    except InvalidKeyError as error:
        hint += f" But this key cannot work: {error}"
    return f"Using the key {found.masked} from the {found.source}.{hint}"


def check_key(raw: str) -> str:
    """Validate without saving and say what is wrong (or that the key looks right)."""
    try:
        key, note = validate_api_key(raw)
    except InvalidKeyError as error:
        return f"Not valid: {error}"
    return f"Looks right: {mask_key(key)}." + (f" Note: {note}." if note else "")


# --- validating -------------------------------------------------------------------------


def validate_api_key(raw: str) -> tuple[str, str]:
    """Check a pasted key and return ``(key, note)``; raise :class:`InvalidKeyError` if unusable.

    The note is non-empty when the key was cleaned up (a pasted ``Bearer`` prefix or
    surrounding whitespace). Messages never contain the key.
    """
    if raw is None or not raw.strip():
        raise InvalidKeyError("The key is empty. Paste the key you copied from the API portal.")
    key, notes = raw.strip(), []
    if key != raw:
        notes.append("removed spaces around the key")
    if key.lower().startswith("bearer "):
        key = key[len("bearer ") :].strip()
        notes.append("removed the 'Bearer ' prefix, which the request adds for you")
    check_key_characters(key)
    if not key.startswith(KEY_PREFIX):
        raise InvalidKeyError(
            f"This does not look like a Perplexity key: keys start with '{KEY_PREFIX}'. "
            "Copy the key again from the API portal."
        )
    if not MIN_KEY_LENGTH <= len(key) <= MAX_KEY_LENGTH:
        raise InvalidKeyError(
            f"The key is {len(key)} characters long, which is implausible for a Perplexity key. "
            "Copy the whole key again from the API portal."
        )
    return key, "; ".join(notes)


def check_key_characters(key: str) -> None:
    """Raise :class:`InvalidKeyError` when ``key`` holds a character no key has (and no header may carry)."""
    if any(ch in key for ch in "\r\n"):
        raise InvalidKeyError("The key contains a line break. Paste it again as a single line.")
    if any(ch.isspace() for ch in key):
        raise InvalidKeyError("The key contains spaces. Paste only the key itself, as one word.")
    if any(ch in key for ch in "\"'`"):
        raise InvalidKeyError("The key contains quotes. Paste the key without quotes around it.")
    if not key.isascii():
        raise InvalidKeyError(
            "The key contains non-ASCII characters (often a smart quote or an invisible character). "
            "Copy it again from the API portal."
        )
    # Keys are letters, digits and dashes; anything else ($, #, =) would also confuse the .env file.
    odd = sorted({ch for ch in key if not (ch.isalnum() or ch in "-_")})
    if odd:
        raise InvalidKeyError(
            f"The key contains {' '.join(repr(ch) for ch in odd)}, which Perplexity keys never contain. "
            "Copy the key again from the API portal."
        )


# --- displaying -------------------------------------------------------------------------


def mask_key(key: str | None) -> str:
    """Show a key as ``pplx-...abcd``: enough to recognise it, never enough to use it."""
    if not key:
        return "(no key)"
    prefix = KEY_PREFIX if key.startswith(KEY_PREFIX) else ""
    tail = key[-4:] if len(key) >= 12 else ""
    return f"{prefix}...{tail}"


def redact(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """Replace each secret in ``text`` (and anything shaped like a key) by its mask."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, mask_key(secret))
    return _KEY_SHAPE.sub(lambda m: mask_key(m.group(0)), text)


# Every key validate_api_key accepts has this shape, so redaction catches keys nobody named too.
_KEY_SHAPE = re.compile(rf"{KEY_PREFIX}[A-Za-z0-9_\-]{{{MIN_KEY_LENGTH - len(KEY_PREFIX)},}}")
# In log lines only: whatever follows "Bearer" is a credential, even when it is not shaped like a key.
_BEARER_VALUE = re.compile(r"(?i)\b(bearer\s+)(?!pplx-\.\.\.)([^\s'\",;]+)")


def install_log_redaction() -> None:
    """Make every log record, from any library, pass through :func:`redact` before a handler sees it.

    A record factory rather than a handler filter, so that handlers added later are covered too.
    """
    global _log_redaction_installed
    if _log_redaction_installed:
        return
    make_record = logging.getLogRecordFactory()
    logging.setLogRecordFactory(lambda *args, **kwargs: redact_log_record(make_record(*args, **kwargs)))
    _log_redaction_installed = True


def redact_log_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact a record's message and exception text in place (formatting them now)."""
    try:
        message = record.getMessage()
    except (TypeError, ValueError):  # a broken format string: leave it to logging to report
        return record
    cleaned = _redact_log_text(message)
    if cleaned != message:
        record.msg, record.args = cleaned, ()
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = _redact_log_text(logging.Formatter().formatException(record.exc_info))
    return record


def _redact_log_text(text: str) -> str:
    return redact(_BEARER_VALUE.sub(lambda m: m.group(1) + mask_key(m.group(2)), text))


_log_redaction_installed = False


# --- saving and removing ----------------------------------------------------------------


def save_api_key(raw: str, env_file: Path | None = None) -> tuple[FoundKey, str]:
    """Validate ``raw`` and store it in the project's ``.env`` (mode 0600, atomic).

    Other lines of an existing ``.env`` are kept; a key under the old name is replaced too.
    Returns the stored key and a note.
    """
    key, note = validate_api_key(raw)
    path = _checked_env_path(env_file)
    lines = _lines_without(path, KEY_VARIABLE, LEGACY_KEY_VARIABLE)
    if not lines:
        lines = [ENV_FILE_HEADER]
    elif not lines[-1].endswith("\n"):
        lines[-1] += "\n"  # or the key would be glued to the last line
    lines.append(f"{KEY_VARIABLE}={key}\n")
    _write_private(path, "".join(lines))
    return FoundKey(value=key, source=f"{path.name} file ({KEY_VARIABLE})"), note


def remove_api_key(env_file: Path | None = None) -> bool:
    """Remove the key (under its current or its old name) from ``.env``; return whether there was one.

    Every other line is kept.
    """
    path = _checked_env_path(env_file)
    if not path.is_file():
        return False
    before = path.read_text(encoding="utf-8").splitlines(keepends=True)
    after = _lines_without(path, KEY_VARIABLE, LEGACY_KEY_VARIABLE)
    if len(after) == len(before):
        return False
    _write_private(path, "".join(after))
    return True


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
    """How messages name a key file, without a path that changes from run to run."""
    return "the practice key file" if is_practice_file(path) else f"your {path.name} file"


_PRACTICE_FILES: set[Path] = set()


def _checked_env_path(env_file: Path | None) -> Path:
    """Only the configured key file, a ``.env`` beside a ``pyproject.toml``, or a practice file may hold a key."""
    path = (env_file or env_file_path()).resolve()
    if path == env_file_path() or is_practice_file(path):
        return path
    if path.name == ".env" and (path.parent / "pyproject.toml").is_file():
        return path
    raise InvalidKeyError(
        f"Refusing to write a key to {path}: keys are saved only in the project's own .env file."
    )


def _lines_without(path: Path, *variables: str) -> list[str]:
    if not path.is_file():
        return []
    names = "|".join(re.escape(v) for v in variables)
    pattern = re.compile(rf"^\s*(export\s+)?({names})\s*=")
    return [line for line in path.read_text(encoding="utf-8").splitlines(keepends=True) if not pattern.match(line)]


def _write_private(path: Path, content: str) -> None:
    """Write ``content`` atomically to ``path``, readable by the owner only from the start."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".env.", suffix=".tmp")  # mkstemp is 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
