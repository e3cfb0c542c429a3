"""Import a cURL command into a connector and an HTTP action, as Creator Studio's "Import cURL" does.

Commands are copied from API docs, browsers and terminals, so the import reads them as the shell
they were written for would: bash (``\\`` line ends, ``'...'``, ``$'...'``), Windows cmd (``^`` line
ends, ``^"``) and PowerShell (backtick line ends, ``curl.exe``), after a leading ``$ ``/``> `` prompt.
A trailing ``| jq .`` or ``> file`` is dropped with a note; anything else after an unquoted ``&`` or
``;`` is refused, since the shell would cut the command there.

Each option then follows one table, :data:`OPTION_POLICY` (curlconverter's policy): an option that
changes the request is mapped (``-A`` → ``User-Agent``, ``-G`` → the query...); one that changes
only how curl runs is accepted with a note (``-s``, ``-k``, ``--max-time``...); one a Creator Studio
action cannot express is refused with one sentence (``-F``, ``-T``, ``-K``...).

The URL is read once, as requests will connect to it, and split into the connector's Base URL and
the action's path and query table; an ``Authorization`` header (or ``-u``, ``--oauth2-bearer``, or
a ``user:password@`` in the URL) becomes the connector's auth, never a plain header or part of the
Base URL. A key written as a shell variable (``$PERPLEXITY_API_KEY``, ``${PERPLEXITY_API_KEY}``,
``%PERPLEXITY_API_KEY%``, ``$env:PERPLEXITY_API_KEY``, the older ``$PPLX_API_KEY``) means the configured
key: the import keeps the reference ``$PERPLEXITY_API_KEY``, never the key, and Test resolves it by
:func:`~helpers.settings.check_transport`'s rule, so a command for another host never gets the key
(a note says why). Any other shell text is never stored as a credential. No refusal quotes a
secret of the command.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, unquote_plus

from urllib3.util import Url

from helpers.connector import (
    GUIDE_BASE_URL,
    GUIDE_BODY,
    JSON_HEADERS,
    TEST_TIMEOUT_SECONDS,
    Auth,
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
from helpers.exports import curl_command
from helpers.keys import KEY_VARIABLE, LEGACY_KEY_VARIABLE, find_api_key
from helpers.masking import redact, url_credentials
from helpers.settings import (
    BASE_URL_VARIABLE,
    CONFIGURED_KEY,
    DEFAULT_BASE_URL,
    AmbiguousUrlError,
    key_may_go_to,
    read_base_url,
    split_url,
)

# The guide's own command, exactly as the guide prints it (notebook 03 shows it): the guide's layout is the one
# curl renderer's, and its body is the guide's chat completion, written between two line ends.
GUIDE_CURL = curl_command("POST", f"{GUIDE_BASE_URL}/chat/completions", JSON_HEADERS, f"\n{GUIDE_BODY}\n")


# --- the option policy --------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """What one curl option does to the import.

    ``effect`` names the request field the option sets (a key of ``_SETTERS``), or is ``"note"``
    (accepted: it changes only how curl runs, so the action needs nothing) or ``"refuse"`` (a
    Creator Studio action cannot express it). ``why`` is the note's reason, or the refusal's
    sentence after "The curl option -X".
    """

    effect: str
    short: str = ""  # the one-letter form, without "-"
    value: bool = False  # whether it takes a value: the next word, or the rest of a short cluster
    why: str = ""


# The options that change only how curl runs, accepted with a note, and those a Creator Studio action cannot
# express, refused with one sentence (after "The curl option -X"). Each reason, then the options it covers:
# curl's long name, "/x" its one-letter form, "=" when it takes a value (curl's manual; curlconverter's
# src/curl/opts.ts). A reason may go on over several lines; the option lines are indented.
_NOTED = f"""
it only changes what curl prints or saves
    silent/s show-error/S verbose/v include/i output/o= remote-name/O remote-name-all output-dir= create-dirs
    write-out/w= dump-header/D= stderr= trace= trace-ascii= trace-time progress-bar/# no-progress-meter
    styled-output remote-time/R
it only saves the cookies of the answer to a file
    cookie-jar/c=
it only makes curl print a streamed answer as it arrives
    no-buffer/N
it only changes curl's exit status
    fail/f fail-with-body fail-early
it only changes how long curl waits; Creator Studio allows {TEST_TIMEOUT_SECONDS} s per request
    max-time/m= connect-timeout= expect100-timeout= keepalive-time= speed-limit/Y= speed-time/y= limit-rate=
it only makes curl try again after a failure
    retry= retry-delay= retry-max-time= retry-connrefused retry-all-errors
Creator Studio chooses the HTTP version and the connection itself
    http1.0/0 http1.1 http2 http2-prior-knowledge http3 ipv4/4 ipv6/6 keepalive tcp-nodelay tcp-fastopen tlsv1.2
    tlsv1.3
it only matters when the server redirects, and a test shows a redirect as it is
    location/L location-trusted max-redirs=
Creator Studio always checks the server's TLS certificate
    insecure/k cacert= capath=
curl adds Accept-Encoding and unpacks the answer; Creator Studio handles compression itself
    compressed
Basic is already how -u is sent
    basic
it only changes how curl itself runs
    globoff/g disable/q parallel/Z junk-session-cookies/j
"""
_REFUSED = """
sends a multipart form (often a file upload), which a Creator Studio HTTP action cannot send: send the fields as a
JSON or form body with -d instead
    form/F= form-string=
uploads a file, which a Creator Studio HTTP action cannot send: paste the content as the body with -d instead
    upload-file/T=
reads more options from a file the import cannot see: paste those options into the command instead
    config/K=
starts a second request: import one request at a time
    next/:
asks for the headers only (HEAD), a method Creator Studio does not offer: use -X GET
    head/I
is not supported here: Creator Studio connects to the API directly, without a proxy; remove it and import again
    proxy/x= proxy-user/U= proxytunnel/p preproxy= socks5= socks5-hostname=
asks for an authentication Creator Studio does not offer (it has Basic, API key and Bearer): use -u or an
Authorization header instead
    digest ntlm negotiate anyauth aws-sigv4=
sends a client certificate, which Creator Studio cannot send: remove it if the API also accepts a key
    cert/E= key=
sends the request to another address than its URL, which Creator Studio cannot do: put that address in the URL
    resolve= connect-to= unix-socket=
reads the password from a .netrc file the import cannot see: use -u user:password instead
    netrc/n netrc-file= netrc-optional
"""


def _rules(effect: str, table: str) -> dict[str, Rule]:
    """The rules of one table above, by long name: each reason (its lines unindented), then its options."""
    rules: dict[str, Rule] = {}
    for reason, options in re.findall(r"((?:^\S.*\n)+)((?:^ .*\n)+)", table, re.MULTILINE):
        for spec in options.split():
            name, _, short = spec.removesuffix("=").partition("/")
            rules[name] = Rule(effect, short, spec.endswith("="), " ".join(reason.split()))
    return rules


# Every curl option the import knows, by long name. An option that is not here is refused as unsupported.
OPTION_POLICY: dict[str, Rule] = {
    # Mapped: they change the request, and the action says the same (the effect names its setter).
    "url": Rule("url", value=True),
    "request": Rule("method", "X", value=True),
    "header": Rule("header", "H", value=True),
    "data": Rule("data", "d", value=True),
    "data-ascii": Rule("data", value=True),
    "data-binary": Rule("data", value=True),
    "data-raw": Rule("raw", value=True),
    "data-urlencode": Rule("urlencode", value=True),
    "json": Rule("json", value=True),
    "url-query": Rule("url-query", value=True),
    "get": Rule("get", "G"),
    "user": Rule("user", "u", value=True),
    "oauth2-bearer": Rule("bearer", value=True),
    "user-agent": Rule("user-agent", "A", value=True),
    "referer": Rule("referer", "e", value=True),
    "cookie": Rule("cookie", "b", value=True),
    "range": Rule("range", "r", value=True),
    **_rules("note", _NOTED),
    **_rules("refuse", _REFUSED),
}
_SHORT = {rule.short: name for name, rule in OPTION_POLICY.items() if rule.short}


@dataclass
class CurlRequest:
    """The parts of a curl command that matter to Creator Studio (only the method and the notes in its
    ``repr``: the rest may hold a key, and a verbose traceback prints every frame's variables)."""

    method: str = ""
    url: str = field(default="", repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    data: list[str] = field(default_factory=list, repr=False)
    user: str = field(default="", repr=False)
    query: list[str] = field(default_factory=list, repr=False)  # --url-query, and the data after -G
    get: bool = False
    defaults: dict[str, str] = field(default_factory=dict, repr=False)  # headers that -H can override
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CurlImport:
    """What an import gives: a connector (Base URL and auth), an HTTP action, and what was ignored and why."""

    connector: Connector
    action: HttpAction
    notes: tuple[str, ...] = ()


def parse_curl(command: str) -> CurlRequest:
    """Read a curl command; raise :class:`ConnectorError` with one clear sentence when it cannot."""
    with _secrets_hidden(command):
        words, operator = _split(command)
        if not words or not _is_curl(words[0]):
            raise ConnectorError("Paste a command that starts with 'curl', such as the guide's example.")
        request = CurlRequest(notes=_after_command(operator))
        for given in _scan(words):
            _apply(request, given)
        _finish(request)
        return request


def import_curl(command: str, name: str = "") -> CurlImport:
    """A connector and an HTTP action from a curl command, with a note for each ignored option.

    The URL's host is read as requests will connect to it (:func:`~helpers.settings.split_url`); a URL that
    another tool could read with another host (a backslash, a space...) is refused, so the key in
    the command can never go elsewhere than where the learner sees.
    """
    request = parse_curl(command)
    with _secrets_hidden(command):
        parts = _read_url(request.url)
        port = f":{parts.port}" if parts.port is not None else ""
        credentials = _Credentials(f"{parts.scheme}://{parts.host}{port}", list(request.notes))
        connector = Connector(parts.host, credentials.base, credentials.auth(request, parts))
        path = parts.path or "/"
        # The action's headers: all but Authorization (the connector's auth). Its query: the URL's, then
        # --url-query and the data -G moved (parse_qsl skips the empty pieces of an absent one).
        headers = credentials.table((k, v) for k, v in request.headers.items() if k.lower() != "authorization")
        query = credentials.table(parse_qsl("&".join([parts.query or "", *request.query]), keep_blank_values=True))
        body = "&".join(request.data).strip()
        action = HttpAction(name or f"{request.method} {path}", path, request.method, headers, query, body)
        return CurlImport(connector, action, tuple(dict.fromkeys(credentials.notes)))


def curl_secrets(command: str) -> tuple[str, ...]:
    """The secrets a curl command carries, for :func:`~helpers.masking.redact`.

    Credential-named header values (``Authorization``, ``X-API-Key``...), ``--user``, cookies, the
    URL's user info and credential-named query values, and the saved key when the command names it
    (``$PERPLEXITY_API_KEY``). Read option by option without refusing any, so a command that does
    not parse still gives them. A shell variable is no secret: a sentence may name it.
    """
    try:
        words, _ = _split(command)
    except ConnectorError:
        return ()
    found = [secret for given in _scan(words) for secret in _secrets_of(given)]
    kept = [secret for secret in found if not _is_reference(secret)]
    if len(kept) < len(found):  # a variable or a placeholder: the import may put the saved key there
        kept += [found_key.value] if (found_key := find_api_key()) else []
    return ordered_secrets(kept)


# --- reading the shell's words ------------------------------------------------------------------

_UNCLOSED = "The curl command has an unclosed quote: check that every ' and \" is closed."
_PROMPT = re.compile(r"^\s*(?:\$|%|>|#|!|PS(?: [^>\n]*)?>|[A-Za-z]:\\[^>\n]*>)\s*(?=curl)", re.IGNORECASE)
# bash and zsh: quotes, $'...' (Chrome's "Copy as cURL (bash)"), backslashes, comments, operators.
_POSIX = re.compile(
    r"""(?P<skip>\\\r?\n)
      |\\(?P<escaped>.)
      |'(?P<single>[^']*)'
      |\$'(?P<ansi>(?:[^'\\]|\\.)*)'
      |"(?P<double>(?:[^"\\]|\\.)*)"
      |(?P<space>\s+)
      |(?P<comment>(?<!\S)\#[^\n]*)
      |(?P<op>\|\||&&|>>|&>|[|&;<>])
      |(?P<plain>[^\s\\'"|&;<>]+)""",
    re.VERBOSE | re.DOTALL,
)
# PowerShell: a backtick escapes (and joins lines), '' inside '...', `" and "" inside "...".
_POWERSHELL = re.compile(
    r"""(?P<skip>`\r?\n)
      |`(?P<escaped>.)
      |'(?P<single>(?:[^']|'')*)'
      |"(?P<double>(?:[^"`]|`.|"")*)"
      |(?P<space>\s+)
      |(?P<comment>(?<!\S)\#[^\n]*)
      |(?P<op>\|\||&&|>>|[|;>])
      |(?P<plain>[^\s`'"|;>]+)""",
    re.VERBOSE | re.DOTALL,
)
# cmd.exe, first pass: outside "...", ^ escapes the next character (a line end: the line goes on).
_CMD = re.compile(r'(?P<quoted>"[^"]*"?)|\^(?P<escaped>\r?\n|.)|(?P<op>[|&<>])|(?P<plain>[^"^|&<>]+)', re.DOTALL)
# cmd.exe, second pass: curl.exe splits its command line as the Microsoft C runtime does.
_WINDOWS_ARGS = re.compile(
    r"""\"(?P<double>(?:[^"\\]|\\.)*)(?:"|$)
      |(?P<escaped>(?:\\\\)*\\")
      |(?P<halved>(?:\\\\)+)(?=")
      |(?P<space>\s+)
      |(?P<plain>[^\s"\\]+|\\+)""",
    re.VERBOSE | re.DOTALL,
)
_ANSI_C = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v", "e": "\x1b", "E": "\x1b"}
_POWERSHELL_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _split(command: str) -> tuple[list[str], str]:
    """The command's words as its shell gives them to curl, and the operator (``|``, ``&&``...) that ended it."""
    text = _PROMPT.sub("", command.strip(), count=1)
    text = re.sub(r"\s[\\^`]$", "", text)  # a line-continuation character left at the very end
    shell = _shell_of(text)
    if shell == "cmd":
        return _cmd_words(text)
    if shell == "powershell":
        words, operator = _read_words(text, _POWERSHELL, _powershell_piece)
        # Windows PowerShell hands curl.exe \" as " (docs write JSON bodies as '{\"model\": ...}').
        return [word.replace('\\"', '"') for word in words], operator
    return _read_words(text, _POSIX, _posix_piece)


def _shell_of(text: str) -> str:
    """The shell a command was written for, from its first line only: a quoted body below may hold anything.

    cmd: the line ends with ``^``, or a word starts with ``^"`` (Chrome's "Copy as cURL (cmd)");
    PowerShell: the line ends with a backtick, or the command is ``curl.exe``; else bash.
    """
    first = text.split("\n", 1)[0].rstrip("\r")
    if re.search(r"\s\^$|(?:^|\s)\^\"", first):
        return "cmd"
    if first.endswith("`") or re.match(r"curl\.exe\b", first, re.IGNORECASE):
        return "powershell"
    return "posix"


def _read_words(text: str, pattern: re.Pattern[str], piece_text: Callable[[str, str], str]) -> tuple[list[str], str]:
    """Split ``text`` into words with ``pattern``'s pieces, up to the first unquoted operator."""
    words: list[str] = []
    word: str | None = None  # None until a piece starts a word ('' is a word: an empty quoted string)
    position = 0
    while position < len(text):
        piece = pattern.match(text, position)
        if piece is None:
            raise ConnectorError(_UNCLOSED)
        position, kind = piece.end(), piece.lastgroup or ""
        if kind == "op":
            redirected = piece.group() in {">", ">>", "<"} and (word or "").isdigit()  # 2>/dev/null
            return [*words, *([word] if word is not None and not redirected else [])], piece.group()
        if kind in {"space", "comment"} and word is not None:
            words.append(word)
            word = None
        elif kind not in {"space", "comment", "skip"}:
            word = (word or "") + piece_text(kind, piece.group(kind))
    return [*words, *([word] if word is not None else [])], ""


def _posix_piece(kind: str, text: str) -> str:
    """A bash piece's text: "..." keeps a backslash except before $ ` " \\ and a line end."""
    if kind == "double":
        return re.sub(r"\\(\r?\n|[$`\"\\])", lambda m: "" if m[1].isspace() else m[1], text)
    if kind == "ansi":
        return re.sub(r"\\(x[0-9A-Fa-f]{1,2}|u[0-9A-Fa-f]{1,4}|U[0-9A-Fa-f]{1,8}|[0-7]{1,3}|.)", _ansi_c, text)
    return text


def _ansi_c(match: re.Match[str]) -> str:
    """One escape of bash's $'...' (\\n, \\', \\xHH, \\uHHHH...)."""
    code = match[1]
    if code[0] in "xuU" and len(code) > 1:
        return chr(int(code[1:], 16))
    if code[0] in "01234567":
        return chr(int(code, 8))
    return _ANSI_C.get(code, code if code in "\\'\"?" else "\\" + code)


def _powershell_piece(kind: str, text: str) -> str:
    if kind == "single":
        return text.replace("''", "'")
    if kind == "double":
        return re.sub(r'`(.)|""', lambda m: _POWERSHELL_ESCAPES.get(m[1], m[1]) if m[1] else '"', text, flags=re.S)
    return text


def _cmd_words(text: str) -> tuple[list[str], str]:
    """Words of a Windows cmd command: cmd.exe removes the carets, then curl.exe splits the line."""
    kept: list[str] = []
    position, operator = 0, ""
    while (piece := _CMD.match(text, position)) is not None:
        position = piece.end()
        if piece.lastgroup == "op":
            operator = piece.group()
            break
        shown = piece[piece.lastgroup or "plain"]
        kept.append("" if piece.lastgroup == "escaped" and shown in {"\n", "\r\n"} else shown)
    line = "".join(kept)
    if operator in {">", "<"}:
        line = re.sub(r"\s\d$", "", line)  # 2>nul
    return _read_words(line, _WINDOWS_ARGS, _windows_piece)[0], operator


def _windows_piece(kind: str, text: str) -> str:
    """A piece as the Microsoft C runtime reads it: backslashes count only before a quote."""
    if kind == "escaped":
        return "\\" * ((len(text) - 1) // 2) + '"'
    if kind == "halved":
        return "\\" * (len(text) // 2)
    if kind == "double":
        return re.sub(r'(\\+)("|$)', lambda m: "\\" * (len(m[1]) // 2) + m[2], text)
    return text


def _is_curl(word: str) -> bool:
    return re.fullmatch(r"(?:.*[/\\])?curl(?:\.exe)?", word, re.IGNORECASE) is not None


def _after_command(operator: str) -> list[str]:
    """The note for what followed the command, or one sentence when the shell would not run it as written."""
    if operator == "|":
        return ["dropped the pipe (| …) after the command: it only processes what curl prints"]
    if operator in {">", ">>", "&>"}:
        return ["dropped the redirection (> …) after the command: it only saves what curl prints"]
    if operator:
        raise ConnectorError(
            f"The command goes on after an unquoted '{operator}': keep only the curl command, and put quotes "
            "around a URL that holds & or ;."
        )
    return []


# --- reading the options ------------------------------------------------------------------------


@dataclass(frozen=True)
class _CommandOption:
    """One option as the command gives it: its spelling (``-s``, ``--silent``; a bare word is a URL),
    its long name and rule (``None``: not one the import knows), its value, and whether it was
    written ``--name=value``, which curl does not read."""

    spelling: str
    name: str
    rule: Rule | None
    value: str | None = field(default=None, repr=False)
    equals: bool = False


def _scan(words: list[str]) -> Iterator[_CommandOption]:
    """Each option of ``words`` (after ``curl``), read by curl's rules: ``-sSL`` is three options,
    ``-XPOST`` is ``-X POST``, a bare word is a URL, and after ``--`` every word is a URL."""
    rest = iter(words[1:])
    for word in rest:
        if word == "--":
            yield from (_CommandOption(url, "url", OPTION_POLICY["url"], url) for url in rest)
        elif word.startswith("--"):
            yield _long_option(word, rest)
        elif word.startswith("-") and len(word) > 1:
            yield from _short_options(word, rest)
        else:
            yield _CommandOption(word, "url", OPTION_POLICY["url"], word)


def _long_option(word: str, rest: Iterator[str]) -> _CommandOption:
    name, equals, attached = word[2:].partition("=")
    rule = OPTION_POLICY.get(name) or _negated(name)
    if rule is None or (equals and not rule.value):
        return _CommandOption(f"--{name}", name, None)
    if equals:
        return _CommandOption(f"--{name}", name, rule, attached, equals=True)
    return _CommandOption(word, name, rule, next(rest, None) if rule.value else None)


def _negated(name: str) -> Rule | None:
    """``--no-silent`` and the like: curl's ``--no-`` form of an option that only changes how curl runs."""
    rule = OPTION_POLICY.get(name.removeprefix("no-")) if name.startswith("no-") else None
    return rule if rule and rule.effect == "note" and not rule.value else None


def _short_options(word: str, rest: Iterator[str]) -> Iterator[_CommandOption]:
    for index, letter in enumerate(word[1:], start=2):
        name = _SHORT.get(letter, "")
        rule = OPTION_POLICY.get(name)
        if rule is None:
            yield _CommandOption(f"-{letter}", name, None)
            return
        if rule.value:  # the rest of the word is its value, or else the next word
            yield _CommandOption(f"-{letter}", name, rule, word[index:] or next(rest, None))
            return
        yield _CommandOption(f"-{letter}", name, rule)


def _apply(request: CurlRequest, given: _CommandOption) -> None:
    """Apply one option as the policy says: set a request field, note why it is ignored, or refuse it.

    A refusal names the option, never its value: the value may be a key or a password.
    """
    rule, spelling = given.rule, given.spelling
    if rule is None:
        raise ConnectorError(f"The curl option {spelling} is not supported here: remove it and import again.")
    if given.equals:
        raise ConnectorError(
            f"curl reads the value of {spelling} after a space, not after '=': write {spelling} 'value'."
        )
    if rule.value and given.value is None:
        raise ConnectorError(f"The curl option {spelling} needs a value after it.")
    if rule.effect == "refuse":
        raise ConnectorError(f"The curl option {spelling} {rule.why}.")
    if rule.effect == "note":
        also = f" (--{given.name})" if spelling != f"--{given.name}" else ""
        request.notes.append(f"ignored {spelling}{also}: {rule.why}")
    else:
        _SETTERS[rule.effect](request, given.value or "")


def _finish(request: CurlRequest) -> None:
    """What curl decides once every option is read: -G moves the data to the query, -H wins over
    -A/-b/-e/--json, and the method follows the data."""
    if not request.url:
        raise ConnectorError("The curl command has no URL: add one, such as --url https://api.perplexity.ai/v1/agent.")
    if request.get:
        request.query[:0], request.data = request.data, []
    named = {key.lower() for key in request.headers}
    request.headers |= {key: value for key, value in request.defaults.items() if key.lower() not in named}
    request.method = (request.method or ("POST" if request.data else "GET")).upper()


# --- what each mapped option sets ---------------------------------------------------------------


def _from_file(value: str, what: str) -> None:
    """Refuse ``@file`` (and ``@-``, standard input): the import sees the command, not the learner's files."""
    if value.startswith("@"):
        raise ConnectorError(f"The {what} is read from a file (@...) that the import cannot see: paste it itself.")


def _set_url(request: CurlRequest, value: str) -> None:
    """The URL; a second one is refused, and a word that is not a URL (perhaps a key) is not quoted."""
    if request.url and "://" in value:
        raise ConnectorError(f"The curl command has a second URL{_shown_url(value)}: keep only one.")
    if request.url:
        raise ConnectorError(
            "The curl command has a word after the URL that belongs to no option: check the quotes, and that "
            "every line but the last ends with a backslash (\\)."
        )
    request.url = value


def _add_header(request: CurlRequest, value: str) -> None:
    _from_file(value, "header list")
    name, colon, header_value = value.partition(":")
    if not colon and value.endswith(";") and value[:-1].strip():  # curl's "Name;": the header, empty
        name, colon, header_value = value[:-1], ":", ""
    if not colon or not name.strip():
        first, *rest = value.split() or [""]
        raise ConnectorError(f"The header {'starting ' if rest else ''}'{first}' needs the form 'Name: value'.")
    request.headers[name.strip()] = header_value.strip()


def _add_data(request: CurlRequest, value: str) -> None:
    if value.startswith("@"):
        raise ConnectorError("The body is read from a file (@...) that the import cannot see: paste it after --data.")
    request.data.append(value)


def _add_json(request: CurlRequest, value: str) -> None:
    """--json: the body, plus the two headers curl adds with it (unless -H sets them)."""
    _add_data(request, value)
    request.defaults |= {"Content-Type": "application/json", "Accept": "application/json"}


def _urlencoded(value: str) -> str:
    """A --data-urlencode value as curl sends it: ``name=content`` encodes the content, ``@file`` is refused."""
    name, equals, content = value.partition("=")
    if not equals:
        _from_file("@" if "@" in value else "", "value of --data-urlencode")
        return quote(value, safe="")
    return f"{name}={quote(content, safe='')}" if name else quote(content, safe="")


def _add_cookie(request: CurlRequest, value: str) -> None:
    """-b: a cookie string when it holds '=', else (as curl reads it) a cookie file."""
    if "=" not in value:
        raise ConnectorError(
            "The curl option -b names a cookie file the import cannot see: paste the cookie itself, as -b 'name=value'."
        )
    earlier = request.defaults.get("Cookie")
    request.defaults["Cookie"] = f"{earlier}; {value}" if earlier else value


def _default_header(name: str, shape: str = "{}") -> Callable[[CurlRequest, str], None]:
    """A setter for an option that sends one header (-A, -e, -r, --oauth2-bearer) unless -H sends it too."""

    def setter(request: CurlRequest, value: str) -> None:
        if value:
            request.defaults[name] = shape.format(value)

    return setter


_SETTERS: dict[str, Callable[[CurlRequest, str], None]] = {
    "url": _set_url,
    "method": lambda request, value: setattr(request, "method", value),
    "header": _add_header,
    "data": _add_data,
    "raw": lambda request, value: request.data.append(value),  # --data-raw takes @ literally
    "urlencode": lambda request, value: request.data.append(_urlencoded(value)),
    "json": _add_json,
    "url-query": lambda request, value: request.query.append(value[1:] if value[:1] == "+" else _urlencoded(value)),
    "get": lambda request, _: setattr(request, "get", True),
    "user": lambda request, value: setattr(request, "user", value),
    "bearer": _default_header("Authorization", "Bearer {}"),  # as curl sends --oauth2-bearer, unless -H does
    "user-agent": _default_header("User-Agent"),
    "referer": lambda request, value: _default_header("Referer")(request, value.removesuffix(";auto")),
    "cookie": _add_cookie,
    "range": _default_header("Range", "bytes={}"),
}


# --- the URL ------------------------------------------------------------------------------------


def _read_url(url: str) -> Url:
    """``url`` as requests will connect to it, or one sentence that quotes no user info and no query."""
    shown = _shown_url(url)
    if not (url.isascii() and url.isprintable()) or any(ch.isspace() or ch == "\\" for ch in url):
        raise ConnectorError(
            f"The URL{shown} holds a backslash, a space or a character that tools read "
            "differently: write it as https://host/path."
        )
    variable = _URL_VARIABLE.search(url)
    if variable:
        raise ConnectorError(
            f"The URL uses the shell variable {variable.group()}, which the import cannot read: write its value."
        )
    if "://" not in url:  # requests would not read it at all; curl guesses a scheme
        raise ConnectorError(f"The URL{shown} is not complete: write it as https://host/path.")
    try:
        parts = split_url(url)
    except AmbiguousUrlError:
        raise ConnectorError(
            f"The URL{shown} names its host in a way tools read differently: write it as https://host/path."
        ) from None
    except ValueError:
        raise ConnectorError(f"The URL{shown} cannot be read: write it as https://host/path.") from None
    if not parts.scheme or not parts.host:
        raise ConnectorError(f"The URL{shown} is not complete: write it as https://host/path.")
    return parts


def _shown_url(url: str) -> str:
    """`` 'URL'`` for a sentence, up to its query, or "" when it has no scheme, has user info or odd characters."""
    head = re.split(r"[?#]", url, maxsplit=1)[0]
    if "://" not in head or "@" in head or not (head.isascii() and head.isprintable()):
        return ""
    return f" '{head}'"


# --- credentials --------------------------------------------------------------------------------

_KEY_NAMES = {KEY_VARIABLE, LEGACY_KEY_VARIABLE}
_GUIDE_HOST = read_base_url(GUIDE_BASE_URL).host
# $NAME, ${NAME}, $env:NAME and ${env:NAME} (PowerShell), %NAME% (cmd).
_VARIABLE = re.compile(
    r"\$\{(?:(?i:env):)?(?P<braced>\w+)\}|\$(?:(?i:env):)?(?P<bare>[A-Za-z_]\w*)|%(?P<cmd>[A-Za-z_]\w{2,})%"
)
# Where a credential or the URL should be: an environment variable by its usual UPPER_CASE name, or a
# command's output. (OData's $select or /$value, and a password such as Pa$$w0rd, are text.)
_URL_VARIABLE = re.compile(r"\$\{[^}]*\}|\$(?i:env):\w+|\$[A-Z_][A-Z0-9_]*\b|\$\(")
_SHELL_VALUE = re.compile(rf"{_URL_VARIABLE.pattern}|%[A-Za-z_]\w{{2,}}%|`")
_PLACEHOLDER = re.compile(r"<[^<>]+>")  # <token>, <YOUR-TOKEN>: what API references print for the key


def _is_reference(secret: str) -> bool:
    """Whether a value the command holds is a variable or a placeholder (perhaps after ``Bearer``), not a secret."""
    value = unquote_plus(secret).strip()
    words = value.split(" ", 1)
    last = words[-1].strip() if len(words) == 2 and words[0].isalpha() else value
    return bool(_VARIABLE.fullmatch(last) or _PLACEHOLDER.fullmatch(last))


@dataclass
class _Credentials:
    """What the command's credentials become in the connector and the action, for the URL's ``base`` (its
    scheme, host and port); ``notes`` collects what the learner should know about them."""

    base: str
    notes: list[str]

    def table(self, pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
        """A header or query table, each credential-named value (``X-API-Key``, ``api_key``...) by :meth:`value`."""
        return {name: self.value(value) if is_secret_name(name) else value for name, value in pairs}

    def value(self, value: str) -> str:
        """The credential to store for ``value``, which the command wrote as text, a variable or a placeholder.

        ``$PERPLEXITY_API_KEY`` (and ``<token>`` for the Perplexity API) means the configured key, kept as
        the reference :data:`~helpers.settings.CONFIGURED_KEY`; any other variable, or a placeholder for
        another API, is refused: its text is no credential.
        """
        variable = _VARIABLE.fullmatch(value)
        if (variable and (variable["braced"] or variable["bare"] or variable["cmd"]) in _KEY_NAMES) or (
            _PLACEHOLDER.fullmatch(value) and read_base_url(self.base).host == _GUIDE_HOST
        ):
            return self.configured_key(value)
        shell = _SHELL_VALUE.search(value)
        if shell:
            shown = shell.group() if shell.group()[-1] not in "(`" else "$(…)"
            raise ConnectorError(
                f"The command takes a credential from the shell ({shown}), which the import cannot read: paste "
                f"its value, or use ${KEY_VARIABLE} for your Perplexity key."
            )
        if _PLACEHOLDER.fullmatch(value):
            raise ConnectorError(f"The credential {value} is a placeholder: replace it with your key and import again.")
        return value

    def configured_key(self, reference: str) -> str:
        """The reference to the configured key, for ``reference`` as the command wrote it; never the key itself.

        Whether a key is configured does not matter yet: Test resolves the reference (the sandbox's demo
        key in sandbox mode). When ``base`` is outside the configured key's scope, a note says in one
        sentence why that host gets no key.
        """
        kept = f"kept {reference}" + (f" as {CONFIGURED_KEY}" if reference != CONFIGURED_KEY else "")
        if key_may_go_to(self.base, CONFIGURED_KEY):
            self.notes.append(f"{kept}: Test puts in your configured key when it sends")
        else:
            host = read_base_url(self.base).host.strip("[]")
            self.notes.append(
                f"{kept}, but {host} never gets your key from it: your configured key goes only "
                f"to the Perplexity API ({DEFAULT_BASE_URL}) and, in live mode, to {BASE_URL_VARIABLE}"
            )
        return CONFIGURED_KEY

    def auth(self, request: CurlRequest, parts: Url) -> Auth:
        """The connector's auth: -u, else an Authorization header (or --oauth2-bearer's), else the URL's user info.

        As in the earlier import, -u wins over the header, and either over the URL's ``user:password@``.
        """
        authorization = next((v for k, v in request.headers.items() if k.lower() == "authorization"), "")
        if request.user:
            username, colon, password = request.user.partition(":")
            return self.basic(self.value(username), self.value(password), colon)
        if authorization:
            return self.from_authorization(authorization)
        if parts.auth:
            username, colon, password = parts.auth.partition(":")
            return self.basic(unquote(username), self.value(unquote(password)), colon)
        return NoAuth()

    def from_authorization(self, authorization: str) -> HeaderAuth | BasicAuth:
        """An Authorization header as the connector's auth; a Basic one is read back into its user and password."""
        scheme, _, credential = authorization.partition(" ")
        credential = self.value(credential.strip())
        if scheme.lower() == "basic" and credential:
            try:
                username, colon, password = base64.b64decode(credential, validate=True).decode().partition(":")
            except ValueError:  # binascii.Error, or UnicodeDecodeError: not username:password in UTF-8
                raise ConnectorError(
                    "The 'Authorization: Basic' header is not valid base64 of username:password."
                ) from None
            return self.basic(username, password, colon)
        if scheme.lower() == "bearer":
            return HeaderAuth(credential, "Authorization", "Bearer %s")
        if credential:  # another scheme word, such as "Token": keep it in the pattern
            return HeaderAuth(credential, "Authorization", f"{scheme} %s")
        return HeaderAuth(self.value(authorization), "Authorization", "%s")

    def basic(self, username: str, password: str, colon: str) -> HeaderAuth | BasicAuth:
        """Basic Auth; ``key:`` (an empty password, as Stripe's docs write ``-u sk_test_...:``) is sent as curl
        sends it, through Api Key Auth, since Basic Auth here needs a password. The configured key as a user
        name is refused: only a key or a password field keeps the reference until Test."""
        if username == CONFIGURED_KEY:
            raise ConnectorError(
                f"The command sends your key as a Basic Auth user name, which the import cannot keep as a "
                f"reference: send it as -H 'Authorization: Bearer {CONFIGURED_KEY}' instead."
            )
        if colon and username and not password:
            self.notes.append(
                "a Basic credential with an empty password became Api Key Auth 'Authorization: Basic …', "
                "since Basic Auth here needs a password"
            )
            return HeaderAuth(base64.b64encode(f"{username}:".encode()).decode(), "Authorization", "Basic %s")
        return BasicAuth(username, password)


# --- keeping secrets out of sentences -----------------------------------------------------------


def _secrets_of(given: _CommandOption) -> list[str]:
    """The secrets one option carries (a header's credential, a password, a cookie, a URL's user info)."""
    value = given.value or ""
    effect = given.rule.effect if given.rule else ""
    if effect == "header":
        name, colon, header_value = value.partition(":")
        return list(secret_values({name: header_value} if colon else {value.split(" ")[0]: value}))
    if given.name in {"user", "proxy-user"}:
        username, colon, password = value.partition(":")
        return [value, password, *([username] if colon and not password else [])]
    if effect in {"bearer", "cookie"}:
        return [value, *(pair.partition("=")[2] for pair in value.split(";"))]
    if effect in {"data", "raw", "urlencode", "url-query"}:
        return [pair_value for name, pair_value in parse_qsl(value) if is_secret_name(name)]
    if effect == "url":  # its user info and query, as written and decoded (by the masking's own reading)
        return [*url_credentials(value), *map(unquote_plus, url_credentials(value))]
    return []


@contextmanager
def _secrets_hidden(command: str) -> Iterator[None]:
    """Re-raise a refusal with the command's secrets masked: its sentence may quote a word of the command."""
    try:
        yield
    except ConnectorError as error:
        raise ConnectorError(redact(str(error), curl_secrets(command))) from None
