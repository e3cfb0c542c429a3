"""API keys: find, validate, mask, redact, save and remove.

Lookup order (first match wins):
1. ``PERPLEXITY_API_KEY`` in the environment;
2. ``PERPLEXITY_API_KEY`` in the project's ``.env`` file;
3. ``PPLX_API_KEY`` (the older name) in the environment, then in ``.env``, with a hint to rename.

A key is a secret: it is only ever displayed through :func:`mask_key`, and any text that could
hold it (a rendered request, a log line, an error) passes through :func:`redact` first.
"""

from __future__ import annotations

import os
import re
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
    environ = os.environ if environ is None else environ
    env_file = env_file or env_file_path()
    file_values = _read_env_file(env_file)
    candidates = [
        (environ.get(KEY_VARIABLE), f"environment variable {KEY_VARIABLE}", ""),
        (file_values.get(KEY_VARIABLE), f"{env_file.name} file ({KEY_VARIABLE})", ""),
        (environ.get(LEGACY_KEY_VARIABLE), f"environment variable {LEGACY_KEY_VARIABLE}", _rename_hint()),
        (file_values.get(LEGACY_KEY_VARIABLE), f"{env_file.name} file ({LEGACY_KEY_VARIABLE})", _rename_hint()),
    ]
    for value, source, hint in candidates:
        if value and value.strip():
            return FoundKey(value=value.strip(), source=source, hint=hint)
    return None


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
    _check_characters(key)
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


def _check_characters(key: str) -> None:
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


_KEY_SHAPE = re.compile(r"pplx-[A-Za-z0-9_\-]{16,}")


# --- saving and removing ----------------------------------------------------------------


def save_api_key(raw: str, env_file: Path | None = None) -> tuple[FoundKey, str]:
    """Validate ``raw`` and store it in the project's ``.env`` (mode 0600, atomic).

    Other lines of an existing ``.env`` are kept. Returns the stored key and a note.
    """
    key, note = validate_api_key(raw)
    path = _checked_env_path(env_file)
    lines = _lines_without(path, KEY_VARIABLE)
    if not lines:
        lines = [ENV_FILE_HEADER]
    lines.append(f"{KEY_VARIABLE}={key}\n")
    _write_private(path, "".join(lines))
    return FoundKey(value=key, source=f"{path.name} file ({KEY_VARIABLE})"), note


def remove_api_key(env_file: Path | None = None) -> bool:
    """Remove the key from ``.env``; return whether there was one."""
    path = _checked_env_path(env_file)
    if not path.is_file():
        return False
    before = path.read_text(encoding="utf-8").splitlines(keepends=True)
    after = _lines_without(path, KEY_VARIABLE)
    _write_private(path, "".join(after))
    return len(after) != len(before)


def _checked_env_path(env_file: Path | None) -> Path:
    """Only the configured key file, or a ``.env`` beside a ``pyproject.toml``, may hold the key."""
    path = (env_file or env_file_path()).resolve()
    if path == env_file_path() or (path.name == ".env" and (path.parent / "pyproject.toml").is_file()):
        return path
    raise InvalidKeyError(
        f"Refusing to write a key to {path}: keys are saved only in the project's own .env file."
    )


def _lines_without(path: Path, variable: str) -> list[str]:
    if not path.is_file():
        return []
    pattern = re.compile(rf"^\s*(export\s+)?{re.escape(variable)}\s*=")
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
