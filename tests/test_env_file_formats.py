""".env files as editors write them: CRLF, CR, mixed endings, no final newline, a UTF-8 BOM.

Save and Remove must keep every byte that is not the key, and agree with python-dotenv (which
``find_api_key`` reads through) about which line is the key.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import NamedTuple

import pytest

from helpers.keys import ENV_FILE_HEADER, find_api_key, remove_api_key, save_api_key

OLD_KEY = "pplx-" + "0ld" * 16  # fake keys, built at run time: "pplx-" and 48 letters/digits
NEW_KEY = "pplx-" + "n3w" * 16
BOM = "\ufeff"


class Shape(NamedTuple):
    """A .env file before, after Remove and after Save; ``<old>``/``<new>`` stand for the keys."""

    before: str
    removed: str
    saved: str


def header(eol: str) -> str:
    """The header Save writes to an otherwise empty file, with that file's line ending."""
    return ENV_FILE_HEADER.replace("\n", eol)


SHAPES = {
    "lf": Shape(
        "# mine\nOTHER=1\nPERPLEXITY_API_KEY=<old>\nLAST=2\n",
        "# mine\nOTHER=1\nLAST=2\n",
        "# mine\nOTHER=1\nLAST=2\nPERPLEXITY_API_KEY=<new>\n",
    ),
    "crlf": Shape(
        "# mine\r\nOTHER=1\r\nPERPLEXITY_API_KEY=<old>\r\nLAST=2\r\n",
        "# mine\r\nOTHER=1\r\nLAST=2\r\n",
        "# mine\r\nOTHER=1\r\nLAST=2\r\nPERPLEXITY_API_KEY=<new>\r\n",
    ),
    "cr-only": Shape(
        "OTHER=1\rPERPLEXITY_API_KEY=<old>\rLAST=2\r",
        "OTHER=1\rLAST=2\r",
        "OTHER=1\rLAST=2\rPERPLEXITY_API_KEY=<new>\r",
    ),
    "mixed-mostly-crlf": Shape(
        "A=1\r\nPERPLEXITY_API_KEY=<old>\nB=2\r\nC=3\r\n",
        "A=1\r\nB=2\r\nC=3\r\n",
        "A=1\r\nB=2\r\nC=3\r\nPERPLEXITY_API_KEY=<new>\r\n",
    ),
    "key-last-without-newline": Shape(
        "A=1\nPERPLEXITY_API_KEY=<old>",
        "A=1\n",
        "A=1\nPERPLEXITY_API_KEY=<new>\n",
    ),
    "other-last-without-newline-crlf": Shape(
        "PERPLEXITY_API_KEY=<old>\r\nA=1",
        "A=1",
        "A=1\r\nPERPLEXITY_API_KEY=<new>\r\n",
    ),
    "bom-key-first-lf": Shape(
        BOM + "PERPLEXITY_API_KEY=<old>\nA=1\n",
        BOM + "A=1\n",
        BOM + "A=1\nPERPLEXITY_API_KEY=<new>\n",
    ),
    "bom-key-first-crlf-notepad": Shape(
        BOM + "PERPLEXITY_API_KEY=<old>\r\nA=1\r\n",
        BOM + "A=1\r\n",
        BOM + "A=1\r\nPERPLEXITY_API_KEY=<new>\r\n",
    ),
    "bom-key-only-crlf": Shape(
        BOM + "PERPLEXITY_API_KEY=<old>\r\n",
        BOM,
        BOM + header("\r\n") + "PERPLEXITY_API_KEY=<new>\r\n",
    ),
    "bom-key-later-crlf": Shape(
        BOM + "# mine\r\nPERPLEXITY_API_KEY=<old>\r\n",
        BOM + "# mine\r\n",
        BOM + "# mine\r\nPERPLEXITY_API_KEY=<new>\r\n",
    ),
    "export": Shape(
        "export PERPLEXITY_API_KEY=<old>\nA=1\n",
        "A=1\n",
        "A=1\nPERPLEXITY_API_KEY=<new>\n",
    ),
    "spaces-double-quotes-comment": Shape(
        'A=1\r\nPERPLEXITY_API_KEY = "<old>"  # mine\r\n',
        "A=1\r\n",
        "A=1\r\nPERPLEXITY_API_KEY=<new>\r\n",
    ),
    "indented-single-quotes": Shape(
        "  PERPLEXITY_API_KEY='<old>'\nA=1\n",
        "A=1\n",
        "A=1\nPERPLEXITY_API_KEY=<new>\n",
    ),
    "quoted-name": Shape(
        "'PERPLEXITY_API_KEY'=<old>\nA=1\n",
        "A=1\n",
        "A=1\nPERPLEXITY_API_KEY=<new>\n",
    ),
    "legacy-name-crlf": Shape(
        "PPLX_API_KEY=<old>\r\nA=1\r\n",
        "A=1\r\n",
        "A=1\r\nPERPLEXITY_API_KEY=<new>\r\n",
    ),
    "both-names-and-blank-lines": Shape(
        "PPLX_API_KEY=<old>\n\nA=1\n\nPERPLEXITY_API_KEY=<old>\n",
        "\nA=1\n\n",
        "\nA=1\n\nPERPLEXITY_API_KEY=<new>\n",
    ),
    "key-like-line-inside-a-quoted-value": Shape(
        'NOTE="line one\nPERPLEXITY_API_KEY=not-a-key"\nPERPLEXITY_API_KEY=<old>\n',
        'NOTE="line one\nPERPLEXITY_API_KEY=not-a-key"\n',
        'NOTE="line one\nPERPLEXITY_API_KEY=not-a-key"\nPERPLEXITY_API_KEY=<new>\n',
    ),
}


def fill(template: str) -> bytes:
    """The file's bytes: the template with the fake keys in, encoded as editors save it (UTF-8)."""
    return template.replace("<old>", OLD_KEY).replace("<new>", NEW_KEY).encode("utf-8")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def env(project: Path) -> Path:
    """The project's .env, not yet written."""
    return project / ".env"


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_remove_keeps_every_other_byte(env: Path, shape: Shape) -> None:
    env.write_bytes(fill(shape.before))
    assert find_api_key(environ={}, env_file=env).value == OLD_KEY  # dotenv does read this key
    env.chmod(0o644)
    assert remove_api_key(env) is True
    assert env.read_bytes() == fill(shape.removed)
    assert mode(env) == 0o600
    assert find_api_key(environ={}, env_file=env) is None


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_save_replaces_the_key_and_keeps_every_other_byte(env: Path, shape: Shape) -> None:
    env.write_bytes(fill(shape.before))
    env.chmod(0o644)
    save_api_key(NEW_KEY, env)
    content = env.read_bytes()
    assert content == fill(shape.saved)
    assert content.count(f"PERPLEXITY_API_KEY={NEW_KEY}".encode()) == 1 and OLD_KEY.encode() not in content
    assert mode(env) == 0o600
    assert find_api_key(environ={}, env_file=env).value == NEW_KEY


@pytest.mark.parametrize(
    "before", [BOM + "A=1\r\nB=2", "A=1\rB=2\r", "# PERPLEXITY_API_KEY=x\r\n"], ids=["bom-crlf", "cr", "comment"]
)
def test_remove_without_a_key_leaves_the_file_alone(env: Path, before: str) -> None:
    env.write_bytes(fill(before))
    env.chmod(0o640)
    assert remove_api_key(env) is False
    assert env.read_bytes() == fill(before)
    assert mode(env) == 0o640


def test_save_twice_keeps_one_key_line_in_a_crlf_file_with_bom(env: Path) -> None:
    env.write_bytes(fill(BOM + "A=1\r\n"))
    save_api_key(OLD_KEY, env)
    save_api_key(NEW_KEY, env)
    assert env.read_bytes() == fill(BOM + "A=1\r\nPERPLEXITY_API_KEY=<new>\r\n")
    assert find_api_key(environ={}, env_file=env).value == NEW_KEY


def test_save_to_a_new_file_writes_the_header_with_lf(env: Path) -> None:
    save_api_key(NEW_KEY, env)
    assert env.read_bytes() == fill(header("\n") + "PERPLEXITY_API_KEY=<new>\n")
    assert mode(env) == 0o600
