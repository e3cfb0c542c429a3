"""Import a cURL command into a connector and an HTTP action, as Creator Studio's "Import cURL" does.

The command is split into words with :mod:`shlex` (so shell quoting works as in a terminal),
then read with a small table of curl's options. The URL is read once, as requests will connect to
it, and split into the connector's Base URL and the action's path and query table; an
``Authorization`` header (or ``-u``, or a ``user:password@`` in the URL) becomes the connector's
auth, never a plain header or part of the Base URL. No refusal quotes a secret of the command.
"""

from __future__ import annotations

import base64
import binascii
import re
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, unquote_plus, urlsplit

from urllib3.exceptions import LocationParseError
from urllib3.util import Url, parse_url

from helpers.connector import (
    BasicAuth,
    Connector,
    ConnectorError,
    HeaderAuth,
    HttpAction,
    NoAuth,
    is_secret_name,
    ordered_secrets,
    secret_values,
)
from helpers.masking import redact

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
    "-X": "method",
    "--request": "method",
    "-H": "header",
    "--header": "header",
    "-d": "data",
    "--data": "data",
    "--data-binary": "data",
    "--data-ascii": "data",
    "--data-raw": "raw",
    "--json": "json",
    "--url": "url",
    "-u": "user",
    "--user": "user",
}
# Options that change nothing Creator Studio keeps (output, progress, compression).
_IGNORED_FLAGS = {
    "-s",
    "--silent",
    "-S",
    "--show-error",
    "-i",
    "--include",
    "-v",
    "--verbose",
    "--compressed",
    "-L",
    "--location",
    "-f",
    "--fail",
    "--fail-with-body",
    "-sS",
    "-Ss",
}


@dataclass
class CurlRequest:
    """The parts of a curl command that matter to Creator Studio (only the method in its ``repr``: the rest
    may hold a key, and a verbose traceback prints every frame's variables)."""

    method: str = ""
    url: str = field(default="", repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    data: list[str] = field(default_factory=list, repr=False)
    user: str = field(default="", repr=False)


@dataclass(frozen=True)
class CurlImport:
    """What an import gives: a connector (Base URL and auth) and an HTTP action."""

    connector: Connector
    action: HttpAction


def parse_curl(command: str) -> CurlRequest:
    """Read a curl command; raise :class:`ConnectorError` with one clear sentence when it cannot."""
    with _secrets_hidden(command):
        words = _words(command)
        if not words or words[0] != "curl":
            raise ConnectorError("Paste a command that starts with 'curl', such as the guide's example.")
        request = CurlRequest()
        position = 1
        while position < len(words):
            position = _read_option(words, position, request)
        if not request.url:
            raise ConnectorError(
                "The curl command has no URL: add one, such as --url https://api.perplexity.ai/v1/agent."
            )
        request.method = (request.method or ("POST" if request.data else "GET")).upper()
        return request


def import_curl(command: str, name: str = "") -> CurlImport:
    """A connector and an HTTP action from a curl command.

    The URL's host is read as requests will connect to it (urllib3's ``parse_url``); a URL that
    another tool could read with another host (a backslash, a space...) is refused, so the key in
    the command can never go elsewhere than where the learner sees.
    """
    request = parse_curl(command)
    with _secrets_hidden(command):
        parts = _read_url(request.url)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        authorization = next((v for k, v in request.headers.items() if k.lower() == "authorization"), "")
        # As in curl: -u, or else an Authorization header, wins over the URL's user:password@.
        from_url = parts.auth and not (request.user or authorization)
        auth = _basic_from_url(parts.auth) if from_url else _auth_from(authorization, request.user)
        port = f":{parts.port}" if parts.port is not None else ""
        connector = Connector(parts.host, f"{parts.scheme}://{parts.host}{port}", auth)
        path, query = parts.path or "/", dict(parse_qsl(parts.query or "", keep_blank_values=True))
        action = HttpAction(
            name or f"{request.method} {path}", path, request.method, headers, query, "&".join(request.data).strip()
        )
        return CurlImport(connector, action)


def curl_secrets(command: str) -> tuple[str, ...]:
    """The secrets a curl command carries, for :func:`~helpers.masking.redact`.

    Credential-named header values (``Authorization``, ``X-API-Key``...), ``--user``, and the URL's
    user info and credential-named query values. Read word by word, so a command that does not
    parse still gives them.
    """
    try:
        words = _words(command)
    except ConnectorError:
        return ()
    found: list[str] = []
    for index, word in enumerate(words):
        option, value = _option_value(words, index)
        kind = _VALUE_OPTIONS.get(option)
        if kind == "header":
            name, colon, header_value = value.partition(":")
            found += secret_values({name: header_value} if colon else {value.split(" ")[0]: value})
        elif kind == "user":
            found += [value, value.partition(":")[2]]
        elif "://" in word or "@" in word:
            found += _url_secrets(word)
    return ordered_secrets(found)


# --- reading the words ----------------------------------------------------------------------


def _words(command: str) -> list[str]:
    joined = re.sub(r"\\\r?\n", " ", command.strip())  # line continuations, as the shell joins them
    try:
        return shlex.split(joined)
    except ValueError:
        raise ConnectorError("The curl command has an unclosed quote: check that every ' and \" is closed.") from None


def _read_option(words: list[str], position: int, request: CurlRequest) -> int:
    """Apply the option at ``position`` to ``request``; return where the next option starts.

    A refusal names the option, never its value: the value may be a key or a password.
    """
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
        raise ConnectorError(_unsupported(word))
    elif request.url:
        raise ConnectorError(_second_url(word))
    else:
        request.url = word
    return position + 1


def _unsupported(word: str) -> str:
    """Why the option ``word`` is refused, naming only the option itself."""
    name = word.split("=", 1)[0] if word.startswith("--") else word if word[1:].isalpha() else word[:2]
    if name in _VALUE_OPTIONS and name != word:
        return f"curl reads the value of {name} after a space, not after '=': write {name} 'value'."
    return f"The curl option {name} is not supported here: remove it and import again."


def _second_url(word: str) -> str:
    """Why a word after the URL is refused; a word that is not a URL (perhaps a key) is not quoted."""
    if "://" in word:
        return f"The curl command has a second URL{_shown_url(word)}: keep only one."
    return (
        "The curl command has a word after the URL that belongs to no option: check the quotes, and that "
        "every line but the last ends with a backslash (\\)."
    )


def _option_value(words: list[str], index: int) -> tuple[str, str]:
    """The option at ``index`` and its value, however it is attached (``-Hx``, ``--header=x``, ``-H x``)."""
    word = words[index]
    option, value = word.partition("=")[::2] if word.startswith("--") and "=" in word else _split_attached(word)
    if value is None:
        value = words[index + 1] if index + 1 < len(words) else ""
    return option, value


def _url_secrets(url: str) -> list[str]:
    """The user info and the credential-named query values of ``url``, as written and decoded."""
    head, _, query = url.partition("?")
    user_info = re.split(r"[/\\]", head.split("://", 1)[-1], maxsplit=1)[0].rpartition("@")[0]
    password = user_info.partition(":")[2]
    pairs = (pair.partition("=") for pair in query.partition("#")[0].split("&"))
    values = [value for name, _, value in pairs if is_secret_name(unquote_plus(name))]
    return [user_info, password, unquote(password), *values, *map(unquote_plus, values)]


def _read_url(url: str) -> Url:
    """``url`` as requests will connect to it, or one sentence that quotes no user info and no query."""
    shown = _shown_url(url)
    if not (url.isascii() and url.isprintable()) or any(ch.isspace() or ch == "\\" for ch in url):
        raise ConnectorError(
            f"The URL{shown} holds a backslash, a space or a character that tools read "
            "differently: write it as https://host/path."
        )
    try:
        parts, other_host = parse_url(url), urlsplit(url).hostname or ""
    except (LocationParseError, ValueError):
        raise ConnectorError(f"The URL{shown} cannot be read: write it as https://host/path.") from None
    if "://" not in url or not parts.scheme or not parts.host:
        raise ConnectorError(f"The URL{shown} is not complete: write it as https://host/path.")
    if other_host != parts.host.strip("[]").lower():
        raise ConnectorError(
            f"The URL{shown} names its host in a way tools read differently: write it as https://host/path."
        )
    return parts


def _shown_url(url: str) -> str:
    """`` 'URL'`` for a sentence, up to its query, or "" when it has no scheme, has user info or odd characters."""
    head = re.split(r"[?#]", url, maxsplit=1)[0]
    if "://" not in head or "@" in head or not (head.isascii() and head.isprintable()):
        return ""
    return f" '{head}'"


@contextmanager
def _secrets_hidden(command: str) -> Iterator[None]:
    """Re-raise a refusal with the command's secrets masked: its sentence may quote a word of the command."""
    try:
        yield
    except ConnectorError as error:
        raise ConnectorError(redact(str(error), curl_secrets(command))) from None


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
            first, *rest = value.split() or [""]
            raise ConnectorError(f"The header {'starting ' if rest else ''}'{first}' needs the form 'Name: value'.")
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
