"""Import cURL on commands as people paste them: from API docs, browsers, API clients and shells.

Each row names where its command comes from, and gives the connector and the action the import must
make, and the notes it must give (the start of each note, in order). Keys are built at run time, so
no key-shaped string sits in this file; ``$PERPLEXITY_API_KEY`` and the like become the reference
``$PERPLEXITY_API_KEY`` (never the key the ``saved_key`` fixture configures). Nothing is sent: an
import only reads the command.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from helpers.connector import BasicAuth, Connector, ConnectorError, HeaderAuth, HttpAction, NoAuth
from helpers.curl_import import GUIDE_CURL, OPTION_POLICY, curl_secrets, import_curl
from helpers.masking import find_key_shaped
from helpers.settings import CONFIGURED_KEY
from tests.support import FAKE_KEY

OPENAI_KEY = "sk-proj-" + "o" * 40
ANTHROPIC_KEY = "sk-ant-api03-" + "a" * 40
GITHUB_TOKEN = "ghp_" + "g" * 36
STRIPE_KEY = "sk_test_" + "s" * 24
SLACK_TOKEN = "xoxb-" + "1" * 12 + "-" + "z" * 24
TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "t" * 32
VENDOR_KEY = "vk_" + "v" * 30
SECRETS = (FAKE_KEY, OPENAI_KEY, ANTHROPIC_KEY, GITHUB_TOKEN, STRIPE_KEY, SLACK_TOKEN, TWILIO_TOKEN, VENDOR_KEY)

PPLX = "https://api.perplexity.ai"
BEARER = HeaderAuth(CONFIGURED_KEY, "Authorization", "Bearer %s")  # the reference, never the key
JSON = {"Content-Type": "application/json"}
AGENT_BODY = '{\n  "model": "openai/gpt-5.2",\n  "input": "What is the latest news on AI?"\n}'
HI = '{"model": "perplexity/sonar", "input": "hi"}'
CHAT = '{"model": "sonar", "messages": [{"role": "user", "content": "How many stars are in the Milky Way?"}]}'
STREAM = '{"model": "sonar", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'


def key_note(reference: str) -> str:
    """The note for a key variable: the fields keep the reference ``$PERPLEXITY_API_KEY``, never the key."""
    kept = f"kept {reference}" + (" as $PERPLEXITY_API_KEY" if reference != "$PERPLEXITY_API_KEY" else "")
    return f"{kept}: Test puts in your configured key when it sends"


PRINTS = "it only changes what curl prints or saves"


def stripe_auth() -> HeaderAuth:
    """``-u sk_test_...:`` as curl sends it: Basic with an empty password, so through Api Key Auth."""
    return HeaderAuth(base64.b64encode(f"{STRIPE_KEY}:".encode()).decode(), "Authorization", "Basic %s")


@dataclass(frozen=True)
class Case:
    """A pasted command, and the connector, action (its name aside) and notes the import must give."""

    source: str
    command: str
    connector: Connector
    action: HttpAction
    notes: tuple[str, ...] = ()


def case(source: str, command: str, base_url: str, auth: object, notes: tuple[str, ...] = (), **action) -> Case:
    host = base_url.split("://", 1)[1].split(":")[0]
    return Case(source, command, Connector(host, base_url, auth), HttpAction("", **action), notes)


CASES = [
    case(
        "Perplexity API reference, POST /v1/agent example (the 'Try it' cURL tab, key as <token>)",
        f"curl --request POST \\\n  --url {PPLX}/v1/agent \\\n  --header 'Authorization: Bearer <token>' \\\n"
        f"  --header 'Content-Type: application/json' \\\n  --data '{AGENT_BODY}'",
        PPLX,
        BEARER,
        (key_note("<token>"),),
        path="/v1/agent",
        method="POST",
        headers=JSON,
        body=AGENT_BODY,
    ),
    case(
        "Perplexity docs quickstart, bash tab ($PERPLEXITY_API_KEY)",
        f'curl {PPLX}/v1/agent \\\n  -H "Authorization: Bearer $PERPLEXITY_API_KEY" \\\n'
        f"  -H \"Content-Type: application/json\" \\\n  -d '{HI}'",
        PPLX,
        BEARER,
        (key_note("$PERPLEXITY_API_KEY"),),
        path="/v1/agent",
        method="POST",
        headers=JSON,
        body=HI,
    ),
    case(
        "Perplexity docs, streaming chat completions (-N, ${PERPLEXITY_API_KEY})",
        f"curl -N {PPLX}/chat/completions -H 'Authorization: Bearer ${{PERPLEXITY_API_KEY}}' "
        f"-H 'Content-Type: application/json' -d '{STREAM}'",
        PPLX,
        BEARER,
        ("ignored -N (--no-buffer)", key_note("${PERPLEXITY_API_KEY}")),
        path="/chat/completions",
        method="POST",
        headers=JSON,
        body=STREAM,
    ),
    case(
        "Terminal transcript: '$ ' prompt, -sS, the old $PPLX_API_KEY name, '| jq .'",
        f'$ curl -sS {PPLX}/async/chat/completions -H "Authorization: Bearer $PPLX_API_KEY" | jq .',
        PPLX,
        BEARER,
        ("dropped the pipe", "ignored -s (--silent)", "ignored -S (--show-error)", key_note("$PPLX_API_KEY")),
        path="/async/chat/completions",
        method="GET",
    ),
    case(
        "This course's guide (helpers.GUIDE_CURL, from the original Perplexity API reference)",
        GUIDE_CURL,
        PPLX,
        NoAuth(),
        path="/chat/completions",
        method="POST",
        headers={"accept": "application/json", "content-type": "application/json"},
        body=GUIDE_CURL.split("--data '", 1)[1].rstrip("'").strip(),
    ),
    case(
        'Windows cmd: ^ line ends, %PERPLEXITY_API_KEY%, a JSON body written with \\"',
        f'curl -X POST {PPLX}/v1/agent ^\n  -H "Authorization: Bearer %PERPLEXITY_API_KEY%" ^\n'
        '  -H "Content-Type: application/json" ^\n  -d "{\\"model\\": \\"perplexity/sonar\\", \\"input\\": \\"hi\\"}"',
        PPLX,
        BEARER,
        (key_note("%PERPLEXITY_API_KEY%"),),
        path="/v1/agent",
        method="POST",
        headers=JSON,
        body=HI,
    ),
    case(
        "PowerShell example: curl.exe, backtick line ends, $env:PERPLEXITY_API_KEY, '{\\\"...\\\"}' body",
        f'curl.exe -X POST {PPLX}/v1/agent `\n  -H "Authorization: Bearer $env:PERPLEXITY_API_KEY" `\n'
        '  -H "Content-Type: application/json" `\n'
        '  -d \'{\\"model\\": \\"perplexity/sonar\\", \\"input\\": \\"hi\\"}\'',
        PPLX,
        BEARER,
        (key_note("$env:PERPLEXITY_API_KEY"),),
        path="/v1/agent",
        method="POST",
        headers=JSON,
        body=HI,
    ),
    case(
        "PowerShell transcript: 'PS C:\\...>' prompt, ${env:PERPLEXITY_API_KEY}, a query string",
        f'PS C:\\Users\\ada> curl.exe -s "{PPLX}/async/chat/completions?limit=5" '
        '-H "Authorization: Bearer ${env:PERPLEXITY_API_KEY}"',
        PPLX,
        BEARER,
        ("ignored -s (--silent)", key_note("${env:PERPLEXITY_API_KEY}")),
        path="/async/chat/completions",
        method="GET",
        query={"limit": "5"},
    ),
    case(
        "Jupyter notebook cell: !curl with --json (which adds Content-Type and Accept)",
        f"!curl -s {PPLX}/v1/agent -H \"Authorization: Bearer $PERPLEXITY_API_KEY\" --json '{HI}'",
        PPLX,
        BEARER,
        ("ignored -s (--silent)", key_note("$PERPLEXITY_API_KEY")),
        path="/v1/agent",
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        body=HI,
    ),
    case(
        "Postman code snippet (cURL), key pasted in",
        f"curl --location '{PPLX}/chat/completions' \\\n--header 'Content-Type: application/json' \\\n"
        f"--header 'Authorization: Bearer {FAKE_KEY}' \\\n--data '{CHAT}'",
        PPLX,
        HeaderAuth(FAKE_KEY, "Authorization", "Bearer %s"),
        ("ignored --location: it only matters when the server redirects",),
        path="/chat/completions",
        method="POST",
        headers=JSON,
        body=CHAT,
    ),
    case(
        "GitHub Actions step: --fail, retries, timeouts, -o and -w around a Perplexity call",
        "curl --fail --retry 3 --retry-delay 2 --connect-timeout 5 --max-time 30 -o answer.json "
        f"-w '%{{http_code}}\\n' -H \"Authorization: Bearer $PERPLEXITY_API_KEY\" {PPLX}/v1/agent --json '{HI}'",
        PPLX,
        BEARER,
        (
            "ignored --fail: it only changes curl's exit status",
            "ignored --retry: it only makes curl try again",
            "ignored --retry-delay",
            "ignored --connect-timeout: it only changes how long curl waits; Creator Studio allows 60 s",
            "ignored --max-time",
            f"ignored -o (--output): {PRINTS}",
            "ignored -w (--write-out)",
            key_note("$PERPLEXITY_API_KEY"),
        ),
        path="/v1/agent",
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        body=HI,
    ),
    case(
        "Stack Overflow answer style: combined -sSfLXPOST, attached -H and -d values",
        f"curl -sSfLXPOST -HContent-Type:application/json -d'{HI}' {PPLX}/v1/agent "
        '-H"Authorization: Bearer $PERPLEXITY_API_KEY"',
        PPLX,
        BEARER,
        ("ignored -s", "ignored -S", "ignored -f (--fail)", "ignored -L (--location)", key_note("$PERPLEXITY_API_KEY")),
        path="/v1/agent",
        method="POST",
        headers=JSON,
        body=HI,
    ),
    case(
        "OpenAI docs curl, chat completions, with the key pasted in place of $OPENAI_API_KEY",
        'curl https://api.openai.com/v1/chat/completions \\\n  -H "Content-Type: application/json" \\\n'
        f"  -H \"Authorization: Bearer {OPENAI_KEY}\" \\\n  -d '{CHAT}'",
        "https://api.openai.com",
        HeaderAuth(OPENAI_KEY, "Authorization", "Bearer %s"),
        path="/v1/chat/completions",
        method="POST",
        headers=JSON,
        body=CHAT,
    ),
    case(
        "OpenAI docs curl, list models (GET)",
        f'curl https://api.openai.com/v1/models -H "Authorization: Bearer {OPENAI_KEY}"',
        "https://api.openai.com",
        HeaderAuth(OPENAI_KEY, "Authorization", "Bearer %s"),
        path="/v1/models",
        method="GET",
    ),
    case(
        "Anthropic docs, Messages API, key pasted into x-api-key (a plain header, as before)",
        "curl https://api.anthropic.com/v1/messages \\\n"
        f'     --header "x-api-key: {ANTHROPIC_KEY}" \\\n     --header "anthropic-version: 2023-06-01" \\\n'
        '     --header "content-type: application/json" \\\n'
        '     --data \'{"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": []}\'',
        "https://api.anthropic.com",
        NoAuth(),
        path="/v1/messages",
        method="POST",
        headers={"x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"},
        body='{"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": []}',
    ),
    case(
        "GitHub REST docs, list repository issues (-L, token pasted in place of <YOUR-TOKEN>)",
        'curl -L \\\n  -H "Accept: application/vnd.github+json" \\\n'
        f'  -H "Authorization: Bearer {GITHUB_TOKEN}" \\\n  -H "X-GitHub-Api-Version: 2022-11-28" \\\n'
        "  https://api.github.com/repos/octocat/hello-world/issues",
        "https://api.github.com",
        HeaderAuth(GITHUB_TOKEN, "Authorization", "Bearer %s"),
        ("ignored -L (--location)",),
        path="/repos/octocat/hello-world/issues",
        method="GET",
        headers={"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
    ),
    case(
        "GitHub REST docs, create an issue (-X POST -d)",
        f'curl -L \\\n  -X POST \\\n  -H "Authorization: Bearer {GITHUB_TOKEN}" \\\n'
        "  https://api.github.com/repos/octocat/hello-world/issues \\\n"
        '  -d \'{"title":"Found a bug","labels":["bug"]}\'',
        "https://api.github.com",
        HeaderAuth(GITHUB_TOKEN, "Authorization", "Bearer %s"),
        ("ignored -L (--location)",),
        path="/repos/octocat/hello-world/issues",
        method="POST",
        body='{"title":"Found a bug","labels":["bug"]}',
    ),
    case(
        "Stripe docs, create a customer (-u sk_test_...: with an empty password, -d and --data-urlencode)",
        f'curl https://api.stripe.com/v1/customers \\\n  -u {STRIPE_KEY}: \\\n  -d name="Jenny Rosen" \\\n'
        '  --data-urlencode email="jenny.rosen@example.com"',
        "https://api.stripe.com",
        stripe_auth(),
        ("a Basic credential with an empty password became Api Key Auth",),
        path="/v1/customers",
        method="POST",
        body="name=Jenny Rosen&email=jenny.rosen%40example.com",
    ),
    case(
        "Stripe docs, list customers (-G moves -d into the query)",
        f"curl -G https://api.stripe.com/v1/customers -u {STRIPE_KEY}: -d limit=3",
        "https://api.stripe.com",
        stripe_auth(),
        ("a Basic credential with an empty password",),
        path="/v1/customers",
        method="GET",
        query={"limit": "3"},
    ),
    case(
        "Twilio docs, send an SMS (--data-urlencode into the body, -u SID:token), values pasted in",
        f'curl -X POST "https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}/Messages.json" \\\n'
        '--data-urlencode "Body=Hi there" \\\n--data-urlencode "From=+15557122661" \\\n'
        f'--data-urlencode "To=+15558675310" \\\n-u {TWILIO_SID}:{TWILIO_TOKEN}',
        "https://api.twilio.com",
        BasicAuth(TWILIO_SID, TWILIO_TOKEN),
        path=f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json",
        method="POST",
        body="Body=Hi%20there&From=%2B15557122661&To=%2B15558675310",
    ),
    case(
        "Slack API docs, chat.postMessage (URL last)",
        f"curl -X POST -H 'Authorization: Bearer {SLACK_TOKEN}' -H 'Content-type: application/json' "
        '--data \'{"channel":"C123ABC456","text":"Hello world"}\' https://slack.com/api/chat.postMessage',
        "https://slack.com",
        HeaderAuth(SLACK_TOKEN, "Authorization", "Bearer %s"),
        path="/api/chat.postMessage",
        method="POST",
        headers={"Content-type": "application/json"},
        body='{"channel":"C123ABC456","text":"Hello world"}',
    ),
    case(
        "httpbin (Swagger UI 'Try it out' cURL)",
        'curl -X GET "https://httpbin.org/get" -H "accept: application/json"',
        "https://httpbin.org",
        NoAuth(),
        path="/get",
        method="GET",
        headers={"accept": "application/json"},
    ),
    case(
        "httpbin: -A, -e and -b become User-Agent, Referer and Cookie",
        "curl -sSL -A 'notebook-test/1.0' -e https://example.com/start -b 'session=abc123; theme=dark' "
        "https://httpbin.org/headers",
        "https://httpbin.org",
        NoAuth(),
        ("ignored -s", "ignored -S", "ignored -L"),
        path="/headers",
        method="GET",
        headers={
            "User-Agent": "notebook-test/1.0",
            "Referer": "https://example.com/start",
            "Cookie": "session=abc123; theme=dark",
        },
    ),
    case(
        "httpbin: -G with --data-urlencode and -d into the query",
        "curl -G https://httpbin.org/get --data-urlencode 'q=stars in the milky way' -d limit=5",
        "https://httpbin.org",
        NoAuth(),
        path="/get",
        method="GET",
        query={"q": "stars in the milky way", "limit": "5"},
    ),
    case(
        "MediaWiki Action API docs (Wikipedia), -G with several --data-urlencode",
        "curl -G 'https://en.wikipedia.org/w/api.php' --data-urlencode 'action=query' "
        "--data-urlencode 'titles=Milky Way' -d format=json",
        "https://en.wikipedia.org",
        NoAuth(),
        path="/w/api.php",
        method="GET",
        query={"action": "query", "titles": "Milky Way", "format": "json"},
    ),
    case(
        "everything.curl.dev, HTTP authentication (-u user:password)",
        "curl -u daniel:secret https://httpbin.org/basic-auth/daniel/secret",
        "https://httpbin.org",
        BasicAuth("daniel", "secret"),
        path="/basic-auth/daniel/secret",
        method="GET",
    ),
    case(
        "curl manual, --url-query (curl 7.87): encoded, and '+' for as-is",
        "curl --url-query 'q=dark matter' --url-query '+limit=3' https://httpbin.org/get",
        "https://httpbin.org",
        NoAuth(),
        path="/get",
        method="GET",
        query={"q": "dark matter", "limit": "3"},
    ),
    case(
        "curl manual, --oauth2-bearer",
        f"curl --oauth2-bearer {VENDOR_KEY} https://api.example.com/v1/me",
        "https://api.example.com",
        HeaderAuth(VENDOR_KEY, "Authorization", "Bearer %s"),
        path="/v1/me",
        method="GET",
    ),
    case(
        "curl manual, -r (a byte range)",
        "curl -r 0-99 https://httpbin.org/range/1024",
        "https://httpbin.org",
        NoAuth(),
        path="/range/1024",
        method="GET",
        headers={"Range": "bytes=0-99"},
    ),
    case(
        "Chrome DevTools 'Copy as cURL (bash)': $'...' body, -b cookie, lower-case headers",
        "curl 'https://api.example.com/v1/notes' \\\n  -H 'accept: application/json' \\\n"
        f"  -H 'authorization: Bearer {VENDOR_KEY}' \\\n  -H 'content-type: application/json' \\\n"
        "  -b 'sid=s%3Aabc' \\\n  --data-raw $'{\"text\":\"It\\'s done\\\\n\"}'",
        "https://api.example.com",
        HeaderAuth(VENDOR_KEY, "Authorization", "Bearer %s"),
        path="/v1/notes",
        method="POST",
        headers={"accept": "application/json", "content-type": "application/json", "Cookie": "sid=s%3Aabc"},
        body='{"text":"It\'s done\\n"}',
    ),
    case(
        'Windows cmd copy-as-cURL from Chrome DevTools (^" quoting, ^ line ends, %-escapes)',
        'curl ^"https://api.example.com/v1/search?q=milky^%^20way^" ^\n  -H ^"accept: */*^" ^\n'
        '  -H ^"content-type: application/json^" ^\n'
        '  --data-raw ^"^{^\\^"query^\\^":^\\^"stars ^& planets^\\^"^}^" ^\n  --compressed',
        "https://api.example.com",
        NoAuth(),
        ("ignored --compressed: curl adds Accept-Encoding",),
        path="/v1/search",
        method="POST",
        headers={"accept": "*/*", "content-type": "application/json"},
        query={"q": "milky way"},
        body='{"query":"stars & planets"}',
    ),
    case(
        "Firefox DevTools 'Copy as cURL (POSIX)'",
        "curl 'https://httpbin.org/post' --compressed -X POST "
        "-H 'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0' "
        "-H 'Accept: */*' -H 'Content-Type: application/json' -H 'Connection: keep-alive' --data-raw '{\"a\":1}'",
        "https://httpbin.org",
        NoAuth(),
        ("ignored --compressed",),
        path="/post",
        method="POST",
        headers={
            "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
            "Accept": "*/*",
            "Content-Type": "application/json",
            "Connection": "keep-alive",
        },
        body='{"a":1}',
    ),
    case(
        "Insomnia generated code (cURL), X-API-Key stays a header",
        "curl --request GET \\\n  --url 'https://api.example.com/v1/items?page=2' \\\n"
        f"  --header 'Accept: application/json' \\\n  --header 'X-API-Key: {VENDOR_KEY}'",
        "https://api.example.com",
        NoAuth(),
        path="/v1/items",
        method="GET",
        headers={"Accept": "application/json", "X-API-Key": VENDOR_KEY},
        query={"page": "2"},
    ),
    case(
        "Staging health check: -k, --http1.1 and a port",
        "curl -k --http1.1 https://staging.example.com:8443/health",
        "https://staging.example.com:8443",
        NoAuth(),
        ("ignored -k (--insecure): Creator Studio always checks the server's TLS certificate", "ignored --http1.1"),
        path="/health",
        method="GET",
    ),
    case(
        "Microsoft Graph docs: OData $select/$top in a quoted URL are text, not shell variables",
        f"curl 'https://graph.microsoft.com/v1.0/me/messages?$select=subject&$top=5' "
        f"-H 'Authorization: Bearer {VENDOR_KEY}'",
        "https://graph.microsoft.com",
        HeaderAuth(VENDOR_KEY, "Authorization", "Bearer %s"),
        path="/v1.0/me/messages",
        method="GET",
        query={"$select": "subject", "$top": "5"},
    ),
    case(
        "Windows cmd prompt 'C:\\>' and a redirection to a file",
        "C:\\Users\\ada> curl -s https://httpbin.org/json > data.json",
        "https://httpbin.org",
        NoAuth(),
        ("dropped the redirection", "ignored -s"),
        path="/json",
        method="GET",
    ),
    case(
        "Ollama docs, a local server (plain http is allowed on this computer, as for the sandbox)",
        'curl http://localhost:11434/api/generate -d \'{"model": "llama3", "prompt": "Why is the sky blue?"}\'',
        "http://localhost:11434",
        NoAuth(),
        path="/api/generate",
        method="POST",
        body='{"model": "llama3", "prompt": "Why is the sky blue?"}',
    ),
    case(
        "Shell script: -v, -i, -D and 2>/dev/null",
        "curl -v -i -D headers.txt https://httpbin.org/status/204 2>/dev/null",
        "https://httpbin.org",
        NoAuth(),
        ("dropped the redirection", "ignored -v (--verbose)", "ignored -i (--include)", "ignored -D (--dump-header)"),
        path="/status/204",
        method="GET",
    ),
]


@pytest.fixture
def saved_key(project: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """FAKE_KEY as the configured key (an environment variable), in a throw-away project."""
    monkeypatch.setenv("PERPLEXITY_API_KEY", FAKE_KEY)
    return FAKE_KEY


@pytest.mark.parametrize("row", CASES, ids=[row.source for row in CASES])
def test_a_pasted_command_gives_the_expected_connector_action_and_notes(row: Case, saved_key: str) -> None:
    imported = import_curl(row.command)
    assert imported.connector == row.connector
    assert replace(imported.action, name="") == row.action
    assert len(imported.notes) == len(row.notes), imported.notes
    for note, expected in zip(imported.notes, row.notes, strict=True):
        assert expected in note
    assert all("$" not in secret and "<" not in secret for secret in imported.connector.auth.secrets())


def test_the_table_holds_at_least_thirty_commands_each_with_its_source() -> None:
    assert len(CASES) >= 30 and all(row.source for row in CASES)
    assert not any(find_key_shaped(row.source) for row in CASES)


def test_the_notes_name_the_option_and_why() -> None:
    notes = import_curl("curl -s https://httpbin.org/get").notes
    assert notes == ("ignored -s (--silent): it only changes what curl prints or saves",)


def test_a_json_body_from_the_windows_shells_is_valid_json(saved_key: str) -> None:
    for row in CASES:
        if "Windows" in row.source or "PowerShell" in row.source:
            body = import_curl(row.command).action.body
            assert not body or json.loads(body)


# --- refused commands: one sentence, no secret -------------------------------------------------

REFUSED = [
    (
        "OpenAI docs, upload a file (-F)",
        f'curl https://api.openai.com/v1/files -H "Authorization: Bearer {OPENAI_KEY}" '
        '-F purpose="fine-tune" -F file="@mydata.jsonl"',
        "The curl option -F sends a multipart form (often a file upload), which a Creator Studio HTTP action "
        "cannot send: send the fields as a JSON or form body with -d instead.",
    ),
    (
        "Mailgun docs, send a message (--user and -F)",
        f"curl -s --user 'api:{VENDOR_KEY}' https://api.mailgun.net/v3/sandbox.mailgun.org/messages "
        "-F from='Excited User <me@samples.mailgun.org>' -F to=you@example.com -F subject='Hello'",
        "The curl option -F sends a multipart form",
    ),
    (
        "curl manual, upload with -T",
        f"curl -T report.pdf -u ada:{VENDOR_KEY} https://files.example.com/upload/",
        "The curl option -T uploads a file, which a Creator Studio HTTP action cannot send: paste the content "
        "as the body with -d instead.",
    ),
    (
        "curl manual, options from a config file (-K)",
        f"curl -K ~/.perplexity.curlrc {PPLX}/v1/agent",
        "The curl option -K reads more options from a file the import cannot see: paste those options into "
        "the command instead.",
    ),
    (
        "Perplexity docs pattern with the body in a file (-d @request.json)",
        f"curl {PPLX}/v1/agent -H 'Authorization: Bearer {FAKE_KEY}' -H 'Content-Type: application/json' "
        "-d @request.json",
        "The body is read from a file (@...) that the import cannot see: paste it after --data.",
    ),
    (
        "Elasticsearch docs, bulk API (--data-binary @file)",
        'curl -s -H "Content-Type: application/x-ndjson" -XPOST https://search.example.com/_bulk '
        '--data-binary "@requests"',
        "The body is read from a file (@...)",
    ),
    (
        "OpenAI docs curl as printed ($OPENAI_API_KEY)",
        'curl https://api.openai.com/v1/models -H "Authorization: Bearer $OPENAI_API_KEY"',
        "The command takes a credential from the shell ($OPENAI_API_KEY), which the import cannot read: paste "
        "its value, or use $PERPLEXITY_API_KEY for your Perplexity key.",
    ),
    (
        "Anthropic docs as printed (x-api-key: $ANTHROPIC_API_KEY)",
        "curl https://api.anthropic.com/v1/messages --header \"x-api-key: $ANTHROPIC_API_KEY\" --data '{}'",
        "from the shell ($ANTHROPIC_API_KEY)",
    ),
    (
        'Stripe docs with the key in a variable (-u "$STRIPE_SECRET_KEY:")',
        'curl https://api.stripe.com/v1/customers -u "$STRIPE_SECRET_KEY:"',
        "from the shell ($STRIPE_SECRET_KEY)",
    ),
    (
        "GitHub REST docs as printed (<YOUR-TOKEN>)",
        'curl -L -H "Authorization: Bearer <YOUR-TOKEN>" https://api.github.com/user',
        "The credential <YOUR-TOKEN> is a placeholder: replace it with your key and import again.",
    ),
    (
        "Twilio docs as printed ($TWILIO_ACCOUNT_SID in the URL)",
        'curl -X POST "https://api.twilio.com/2010-04-01/Accounts/$TWILIO_ACCOUNT_SID/Messages.json" '
        '-u "$TWILIO_ACCOUNT_SID:$TWILIO_AUTH_TOKEN"',
        "The URL uses the shell variable $TWILIO_ACCOUNT_SID, which the import cannot read: write its value.",
    ),
    (
        "curl manual, cookies from a file (-b cookies.txt)",
        "curl -b cookies.txt https://example.com/account",
        "The curl option -b names a cookie file the import cannot see: paste the cookie itself, as -b 'name=value'.",
    ),
    (
        "Home Assistant REST API docs, plain http to another computer",
        f'curl -H "Authorization: Bearer {VENDOR_KEY}" -H "Content-Type: application/json" '
        "http://homeassistant.local:8123/api/",
        "must start with https://",
    ),
    (
        "Elasticsearch docs, a URL without a scheme",
        'curl -X GET "localhost:9200/_search?pretty"',
        "is not complete: write it as https://host/path.",
    ),
    (
        "curl manual, headers only (-I)",
        "curl -I https://example.com",
        "The curl option -I asks for the headers only (HEAD), a method Creator Studio does not offer: use -X GET.",
    ),
    (
        "curl manual, digest authentication",
        f"curl --digest -u admin:{VENDOR_KEY} https://device.example.com/api",
        "The curl option --digest asks for an authentication Creator Studio does not offer",
    ),
    (
        "curl manual, a client certificate (mutual TLS)",
        "curl --cert client.pem --key client.key https://mtls.example.com/api",
        "The curl option --cert sends a client certificate, which Creator Studio cannot send",
    ),
    (
        "Shell one-liner: an unquoted & in the URL, with a key",
        f"curl -H 'Authorization: Bearer {FAKE_KEY}' https://api.example.com/search?q=a&limit=5",
        "The command goes on after an unquoted '&': keep only the curl command, and put quotes around a URL "
        "that holds & or ;.",
    ),
    (
        "Shell one-liner: a second command after &&",
        f"curl -u ada:{VENDOR_KEY} https://api.example.com/x && echo done",
        "The command goes on after an unquoted '&&'",
    ),
    (
        "curl manual, a proxy",
        f"curl -x http://proxy.example.com:3128 -u ada:{VENDOR_KEY} https://api.example.com/x",
        "The curl option -x is not supported here: Creator Studio connects to the API directly",
    ),
    (
        "An option curl has but the import does not know (--request-target)",
        "curl --request-target '*' -X OPTIONS https://example.com",
        "The curl option --request-target is not supported here: remove it and import again.",
    ),
]


@pytest.mark.parametrize(("source", "command", "sentence"), REFUSED, ids=[row[0] for row in REFUSED])
def test_a_command_the_action_cannot_express_is_refused_in_one_sentence(
    source: str, command: str, sentence: str, saved_key: str
) -> None:
    with pytest.raises(ConnectorError) as caught:
        import_curl(command)
    message = str(caught.value)
    assert sentence in message
    assert message.endswith(".") and ". " not in message and "\n" not in message
    assert not any(secret in message for secret in SECRETS) and not find_key_shaped(message)


@pytest.mark.parametrize(
    "reference",
    [
        "$PERPLEXITY_API_KEY",
        "${PERPLEXITY_API_KEY}",
        "$PPLX_API_KEY",
        "%PERPLEXITY_API_KEY%",
        "$env:PERPLEXITY_API_KEY",
    ],
)
def test_a_key_variable_without_a_configured_key_is_imported_as_the_reference(
    reference: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In sandbox mode with no key, the reference will be the sandbox's demo key: nothing to refuse."""
    monkeypatch.delenv("PERPLEXITY_API_KEY", raising=False)
    monkeypatch.delenv("PPLX_API_KEY", raising=False)
    imported = import_curl(f"curl {PPLX}/v1/agent -H 'Authorization: Bearer {reference}' -d '{{}}'")
    assert imported.connector.auth == BEARER
    assert imported.notes == (key_note(reference),)


def test_a_key_in_the_key_file_stays_a_reference_too(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERPLEXITY_API_KEY", raising=False)
    (project / ".env").write_text(f"PERPLEXITY_API_KEY={FAKE_KEY}\n")
    imported = import_curl(f"curl {PPLX}/v1/agent -H \"Authorization: Bearer $PERPLEXITY_API_KEY\" -d '{{}}'")
    assert imported.connector.auth == BEARER and FAKE_KEY not in repr(imported)
    assert imported.notes == (key_note("$PERPLEXITY_API_KEY"),)


def test_the_secrets_of_a_command_include_the_key_its_variable_stands_for(saved_key: str) -> None:
    command = f"curl {PPLX}/v1/agent -H \"Authorization: Bearer $PERPLEXITY_API_KEY\" -d '{{}}'"
    assert FAKE_KEY in curl_secrets(command)
    assert not any("$" in secret for secret in curl_secrets(command))


def test_a_placeholder_means_the_saved_key_only_for_the_perplexity_api(saved_key: str) -> None:
    assert import_curl(f"curl {PPLX}/v1/agent -H 'Authorization: Bearer <token>'").connector.auth == BEARER
    with pytest.raises(ConnectorError, match="placeholder"):
        import_curl("curl https://api.example.com/v1 -H 'Authorization: Bearer <token>'")


# --- the option policy --------------------------------------------------------------------------

# The options the issue lists, by what the policy must do with them.
MAPPED = ["request", "header", "data", "data-raw", "data-binary", "json", "user", "get", "data-urlencode"]
MAPPED += ["user-agent", "cookie", "referer", "url"]
NOTED = ["compressed", "location", "insecure", "silent", "show-error", "verbose", "include", "output"]
NOTED += ["remote-name", "write-out", "max-time", "connect-timeout", "retry", "retry-delay", "retry-max-time"]
NOTED += ["retry-connrefused", "retry-all-errors", "http1.1", "http2", "no-buffer", "fail"]
REFUSED_OPTIONS = ["form", "upload-file", "config"]


def test_the_policy_maps_notes_and_refuses_the_options_the_issue_lists() -> None:
    assert all(OPTION_POLICY[name].effect not in {"note", "refuse"} for name in MAPPED)
    assert all(OPTION_POLICY[name].effect == "note" and OPTION_POLICY[name].why for name in NOTED)
    assert all(OPTION_POLICY[name].effect == "refuse" and OPTION_POLICY[name].why for name in REFUSED_OPTIONS)


def test_each_short_letter_belongs_to_one_option_as_in_curl() -> None:
    shorts = [rule.short for rule in OPTION_POLICY.values() if rule.short]
    assert len(shorts) == len(set(shorts))
    expected = {"X": "request", "H": "header", "d": "data", "G": "get", "u": "user", "A": "user-agent"}
    expected |= {"b": "cookie", "e": "referer", "k": "insecure", "L": "location", "N": "no-buffer", "F": "form"}
    expected |= {"T": "upload-file", "K": "config", "o": "output", "m": "max-time", "s": "silent", "S": "show-error"}
    assert all(OPTION_POLICY[name].short == letter for letter, name in expected.items())
