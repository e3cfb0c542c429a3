"""Import a cURL command into a connector and an HTTP action, as Creator Studio's "Import cURL" does.

The command is split into words with :mod:`shlex` (so shell quoting works as in a terminal),
then read with a small table of curl's options. The URL is split into the connector's Base URL
and the action's path and query table; an ``Authorization`` header (or ``-u``, or a
``user:password@`` in the URL) becomes the connector's auth, never a plain header or part of the Base URL.
"""

from __future__ import annotations

import base64
import binascii
import re
import shlex
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from helpers.connector import BasicAuth, Connector, ConnectorError, HeaderAuth, HttpAction, NoAuth

# The guide's own command, exactly as the guide prints it.
GUIDE_CURL = """curl --request POST \\
     --url https://api.perplexity.ai/chat/completions \\
     --header 'accept: application/json' \\
     --header 'content-type: application/json' \\
     --data '
{
  "model": "mistral-7b-instruct",
  "messages": [
    {
      "role": "system",
      "content": "Be precise and concise."
    },
    {
      "role": "user",
      "content": "How many stars are there in our galaxy?"
    }
  ]
}
'"""

# Options that take a value, by what they set.
_VALUE_OPTIONS = {
    "-X": "method", "--request": "method",
    "-H": "header", "--header": "header",
    "-d": "data", "--data": "data", "--data-binary": "data", "--data-ascii": "data", "--data-raw": "raw",
    "--json": "json",
    "--url": "url",
    "-u": "user", "--user": "user",
}
# Options that change nothing Creator Studio keeps (output, progress, compression).
_IGNORED_FLAGS = {"-s", "--silent", "-S", "--show-error", "-i", "--include", "-v", "--verbose",
                  "--compressed", "-L", "--location", "-f", "--fail", "--fail-with-body", "-sS", "-Ss"}


@dataclass
class CurlRequest:
    """The parts of a curl command that matter to Creator Studio."""

    method: str = ""
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    data: list[str] = field(default_factory=list)
    user: str = ""


@dataclass(frozen=True)
class CurlImport:
    """What an import gives: a connector (Base URL and auth) and an HTTP action."""

    connector: Connector
    action: HttpAction


def parse_curl(command: str) -> CurlRequest:
    """Read a curl command; raise :class:`ConnectorError` with one clear sentence when it cannot."""
    words = _words(command)
    if not words or words[0] != "curl":
        raise ConnectorError("Paste a command that starts with 'curl', such as the guide's example.")
    request = CurlRequest()
    position = 1
    while position < len(words):
        position = _read_option(words, position, request)
    if not request.url:
        raise ConnectorError("The curl command has no URL: add one, such as --url https://api.perplexity.ai/v1/agent.")
    request.method = (request.method or ("POST" if request.data else "GET")).upper()
    return request


def import_curl(command: str, name: str = "") -> CurlImport:
    """A connector and an HTTP action from a curl command."""
    request = parse_curl(command)
    shown = "" if "@" in request.url else f" '{request.url}'"  # never repeat a password
    try:
        parts = urlsplit(request.url)
    except ValueError:
        parts = urlsplit("")
    if not parts.scheme or not parts.netloc:
        raise ConnectorError(f"The URL{shown} is not complete: write it as https://host/path.")
    user_info, at, host = parts.netloc.rpartition("@")
    headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
    authorization = next((v for k, v in request.headers.items() if k.lower() == "authorization"), "")
    # As in curl: -u, or else an Authorization header, wins over the URL's user:password@.
    auth = _basic_from_url(user_info) if at and not (request.user or authorization) else \
        _auth_from(authorization, request.user)
    connector = Connector(parts.hostname or "Imported", f"{parts.scheme}://{host}", auth)
    action = HttpAction(name or f"{request.method} {parts.path or '/'}", parts.path or "/", request.method,
                        headers, dict(parse_qsl(parts.query, keep_blank_values=True)),
                        "&".join(request.data).strip())
    return CurlImport(connector, action)


# --- reading the words ----------------------------------------------------------------------


def _words(command: str) -> list[str]:
    joined = re.sub(r"\\\r?\n", " ", command.strip())  # line continuations, as the shell joins them
    try:
        return shlex.split(joined)
    except ValueError:
        raise ConnectorError("The curl command has an unclosed quote: check that every ' and \" is closed.") from None


def _read_option(words: list[str], position: int, request: CurlRequest) -> int:
    """Apply the option at ``position`` to ``request``; return where the next option starts."""
    word = words[position]
    option, value = _split_attached(word)
    if option in _VALUE_OPTIONS:
        if value is None:
            if position + 1 >= len(words):
                raise ConnectorError(f"The curl option {option} needs a value after it.")
            value, position = words[position + 1], position + 1
        _apply(request, _VALUE_OPTIONS[option], value)
    elif word in _IGNORED_FLAGS:
        pass
    elif word.startswith("-"):
        raise ConnectorError(f"The curl option {word} is not supported here: remove it and import again.")
    elif request.url:
        raise ConnectorError(f"The curl command has a second URL '{word}': keep only one.")
    else:
        request.url = word
    return position + 1


def _split_attached(word: str) -> tuple[str, str | None]:
    """``-XPOST`` -> (``-X``, ``POST``); a long option or a bare short option has no attached value."""
    if len(word) > 2 and word[0] == "-" and word[1] != "-" and word[:2] in _VALUE_OPTIONS:
        return word[:2], word[2:]
    return word, None


def _apply(request: CurlRequest, target: str, value: str) -> None:
    if target == "method":
        request.method = value
    elif target == "url":
        request.url = value
    elif target == "user":
        request.user = value
    elif target == "header":
        name, colon, header_value = value.partition(":")
        if not colon or not name.strip():
            raise ConnectorError(f"The header '{value}' needs the form 'Name: value'.")
        request.headers[name.strip()] = header_value.strip()
    else:
        if value.startswith("@") and target != "raw":  # --data-raw alone takes @ literally
            raise ConnectorError("The body is read from a file (@...): paste the body itself after --data.")
        request.data.append(value)
        if target == "json":
            request.headers.setdefault("Content-Type", "application/json")
            request.headers.setdefault("Accept", "application/json")


def _auth_from(authorization: str, user: str) -> NoAuth | HeaderAuth | BasicAuth:
    """An Authorization header (or ``--user``) as the connector's auth."""
    if user:
        username, _, password = user.partition(":")
        return BasicAuth(username, password)
    if not authorization:
        return NoAuth()
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() == "basic" and credential:
        return _basic_from(credential.strip())
    if scheme.lower() == "bearer":
        return HeaderAuth(credential.strip(), "Authorization", "Bearer %s")
    if credential:  # another scheme word, such as "Token": keep it in the pattern
        return HeaderAuth(credential.strip(), "Authorization", f"{scheme} %s")
    return HeaderAuth(authorization, "Authorization", "%s")


def _basic_from_url(user_info: str) -> BasicAuth:
    """``user:password`` from a URL (percent-encoded, as curl reads it) as Basic Auth, like ``-u``."""
    username, _, password = user_info.partition(":")
    return BasicAuth(unquote(username), unquote(password))


def _basic_from(token: str) -> BasicAuth:
    try:
        username, _, password = base64.b64decode(token, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise ConnectorError("The 'Authorization: Basic' header is not valid base64 of username:password.") from None
    return BasicAuth(username, password)
