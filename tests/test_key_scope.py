"""A learner's key goes to Perplexity and nowhere else (issue 18): a key's scope, as a browser scopes a cookie.

The configured key may go to the Perplexity API, and in live mode to the ``PERPLEXITY_BASE_URL``
in force; in sandbox mode every request carries the sandbox's demo key, whatever the sandbox's
address. ``$PERPLEXITY_API_KEY`` in a pasted cURL command stays a reference until Test resolves
it by the same rule. Everything runs over real HTTP on this computer: a "class sandbox" or
"another API" is a server on 127.0.0.x whose made-up host name resolves to it in this process only
(:func:`tests.network_guard.names_resolve_to`). The sandbox logs each request's key as a one-way
fingerprint, so the tests see which key arrived without the key ever being logged.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from urllib3.util import parse_url

import helpers
from helpers.client import PerplexityClient, connect
from helpers.connector import (
    Connector,
    HeaderAuth,
    HttpAction,
    agent_action,
    guide_connector,
    practice_action,
    run_test,
)
from helpers.curl_import import import_curl
from helpers.errors import TransportSecurityError
from helpers.exports import to_curl
from helpers.settings import (
    CONFIGURED_KEY,
    SANDBOX_DEMO_KEY,
    check_transport,
    key_may_go_to,
    read_base_url,
    resolve_settings,
)
from helpers.widgets.connector_form import ConnectorForm
from perplexity_sandbox import Sandbox
from perplexity_sandbox.keys import key_fingerprint
from tests.network_guard import names_resolve_to
from tests.support import FAKE_KEY, OTHER_KEY, EchoServer, TcpEcho
from tests.test_key_destinations import URLS, connect_target

ROOT = Path(__file__).resolve().parent.parent
CLASS_HOST = "class.example"  # a class sandbox on the instructor's computer: 127.0.0.2 here
FOREIGN_HOST = "api.elsewhere.example"  # another company's API: 127.0.0.3 here
DEMO, OWN = key_fingerprint(SANDBOX_DEMO_KEY), key_fingerprint(FAKE_KEY)
NEVER_A_SANDBOX = "your own key is never sent to a sandbox, not even to one on this computer."
OWN_KEY_REFUSED = "Refusing to send your own key to"


@pytest.fixture
def configured(project: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """FAKE_KEY as the learner's configured key (the environment variable), in sandbox mode (the test default)."""
    monkeypatch.setenv("PERPLEXITY_API_KEY", FAKE_KEY)
    return FAKE_KEY


@pytest.fixture
def keys_seen(caplog: pytest.LogCaptureFixture) -> Callable[[], set[str]]:
    """The fingerprints (``key#...``) of the keys that reached any sandbox during the test."""
    caplog.set_level(logging.INFO, logger="perplexity_sandbox")

    def seen() -> set[str]:
        return {word for record in caplog.records for word in record.getMessage().split() if word.startswith("key#")}

    return seen


@pytest.fixture
def class_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A sandbox "on the instructor's computer", set as PERPLEXITY_BASE_URL: ``http://class.example:<port>``."""
    with names_resolve_to({CLASS_HOST: "127.0.0.2"}), Sandbox(host="127.0.0.2") as sandbox:
        url = f"http://{CLASS_HOST}:{parse_url(sandbox.url).port}"
        monkeypatch.setenv("PERPLEXITY_BASE_URL", url)
        yield url


@pytest.fixture
def no_proxies(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A notebook's own ``requests`` and SDK calls read the environment: no proxy, and a HOME without .netrc."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name == "NETRC":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))


def run_cells(notebook: str, *, until: str) -> dict[str, Any]:
    """Run a notebook's code cells in this process, in order, up to and including the first holding ``until``.

    These are the cells as a learner runs them, so the test covers exactly what the notebook teaches.
    """
    cells = json.loads((ROOT / "notebooks" / notebook).read_text(encoding="utf-8"))["cells"]
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for number, cell in enumerate(cells):
        source = "".join(cell["source"])
        if cell["cell_type"] != "code":
            continue
        exec(compile(source, f"{notebook}, cell {number}", "exec"), namespace)  # the notebook's own code
        if until in source:
            return namespace
    raise AssertionError(f"{notebook} has no code cell holding {until!r}")


# --- 1. sandbox mode: the demo key, whatever the sandbox's address --------------------------


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8000",  # a sandbox on this computer's loopback, which all hub users share
        "http://localhost:8000/",
        f"http://{CLASS_HOST}:8000",  # a class sandbox on another computer
        f"https://{CLASS_HOST}",  # a sandbox reached over https
    ],
)
def test_in_sandbox_mode_requests_carry_the_demo_key_wherever_the_sandbox_listens(
    base_url: str, configured: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERPLEXITY_BASE_URL", base_url)
    settings = resolve_settings()
    assert settings.is_sandbox and settings.api_key.reveal() == SANDBOX_DEMO_KEY
    assert settings.describe() == (
        f"Mode: sandbox (PERPLEXITY_MODE=sandbox). Requests go to the sandbox at {read_base_url(base_url).url} "
        f"with the sandbox's demo key: {NEVER_A_SANDBOX}"
    )
    assert FAKE_KEY not in repr(settings)


def test_the_built_in_sandbox_never_receives_the_learners_key(
    configured: str, local_sandbox: Sandbox, keys_seen: Callable[[], set[str]]
) -> None:
    settings = resolve_settings()
    assert settings.describe().endswith(
        f"the built-in sandbox on this computer with the sandbox's demo key: {NEVER_A_SANDBOX}"
    )
    with connect(quiet=True) as client:
        assert client.create_response("hello").text
    assert keys_seen() == {DEMO}


def test_notebook_02s_taught_cells_send_the_demo_key_in_sandbox_mode(
    configured: str, no_proxies: None, monkeypatch: pytest.MonkeyPatch, keys_seen: Callable[[], set[str]]
) -> None:
    """The raw ``requests.post``, the perplexityai SDK, the openai SDK and the guide's 2024 request."""
    with Sandbox() as sandbox:  # on 127.0.0.1: loopback, where any hub user could have taken the port
        monkeypatch.setenv("PERPLEXITY_BASE_URL", sandbox.url)
        namespace = run_cells("02_authenticate.ipynb", until="explain_response(old)")
    assert namespace["api_key"] == SANDBOX_DEMO_KEY  # read through helpers.setup_notebook()'s settings
    assert namespace["response"].status_code == 200 and namespace["old"].status_code == 400
    assert keys_seen() == {DEMO}


def test_notebook_03s_test_reaches_a_class_sandbox_over_http_with_the_demo_key(
    configured: str, class_sandbox: str, keys_seen: Callable[[], set[str]]
) -> None:
    """Notebook 03 as written (``run_test(..., send_to=settings.base_url)`` and the form), on a class sandbox."""
    namespace = run_cells("03_creator_studio_connector.ipynb", until="form.load_action(helpers.agent_action())")
    assert namespace["settings"].base_url == class_sandbox
    assert namespace["result"].successful, namespace["result"].explanation
    assert namespace["form"].test().successful
    assert keys_seen() == {DEMO}


# --- 2. the configured key's scope: the Perplexity API, and the live base URL ------------------

SCOPE = [
    # (PERPLEXITY_MODE, PERPLEXITY_BASE_URL, where the key would go, allowed)
    ("sandbox", None, "https://api.perplexity.ai", True),
    ("sandbox", None, "HTTPS://API.PERPLEXITY.AI:443/", True),
    ("sandbox", None, "http://api.perplexity.ai", False),
    ("sandbox", None, "https://api.perplexity.ai:8443", False),
    ("sandbox", None, "https://api.perplexity.ai.elsewhere.example", False),
    ("sandbox", None, "https://perplexity.ai", False),
    ("sandbox", None, "http://127.0.0.1:8000", False),
    ("sandbox", "http://127.0.0.1:8000", "http://127.0.0.1:8000", False),
    ("sandbox", f"https://{CLASS_HOST}", f"https://{CLASS_HOST}", False),
    ("live", None, "https://api.perplexity.ai", True),
    ("live", None, f"https://{FOREIGN_HOST}", False),
    ("live", "https://gateway.example/pplx", "https://gateway.example/pplx", True),
    ("live", "https://gateway.example/pplx", "https://gateway.example/pplx/v1", True),
    ("live", "https://gateway.example/pplx", "https://gateway.example/pplx-other", False),
    ("live", "https://gateway.example/pplx", "https://gateway.example/other", False),
    ("live", "https://gateway.example/pplx", "https://gateway.example:8443/pplx", False),
    ("live", "https://gateway.example", "https://api.perplexity.ai", True),
    ("live", "http://127.0.0.1:8000", "http://127.0.0.1:8000", True),  # a proxy or sandbox the learner runs
    ("live", "http://127.0.0.1:8000", "http://127.0.0.1:8001", False),
    ("live", f"http://{CLASS_HOST}:8000", f"http://{CLASS_HOST}:8000", False),  # plain http off this computer
    ("auto", None, "https://api.perplexity.ai", True),  # auto with a key is live
    ("auto", "http://127.0.0.1:8000", "http://127.0.0.1:8000", True),
]


@pytest.mark.parametrize(("mode", "base_url", "target", "allowed"), SCOPE)
def test_the_configured_key_goes_only_to_the_perplexity_api_or_the_live_base_url(
    mode: str, base_url: str | None, target: str, allowed: bool, configured: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERPLEXITY_MODE", mode)
    if base_url:
        monkeypatch.setenv("PERPLEXITY_BASE_URL", base_url)
    for key in (FAKE_KEY, CONFIGURED_KEY):  # the key itself, and the reference that stands for it
        assert key_may_go_to(target, key) is allowed
    if not allowed:
        with pytest.raises(TransportSecurityError) as refused:
            check_transport(target, FAKE_KEY)
        sentence = str(refused.value)
        assert sentence.startswith(OWN_KEY_REFUSED) and "https://api.perplexity.ai" in sentence
        assert sentence.endswith(".") and ". " not in sentence and FAKE_KEY not in sentence


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(URLS)
def test_in_sandbox_mode_the_configured_key_may_reach_only_the_perplexity_api(configured: str, url: str) -> None:
    if key_may_go_to(url, FAKE_KEY):
        assert connect_target(url) == ("https", "api.perplexity.ai")


def test_the_client_refuses_the_learners_key_to_the_local_sandbox(
    configured: str, local_sandbox: Sandbox, keys_seen: Callable[[], set[str]]
) -> None:
    with pytest.raises(TransportSecurityError, match=OWN_KEY_REFUSED):
        PerplexityClient(FAKE_KEY, local_sandbox.url)
    with PerplexityClient(SANDBOX_DEMO_KEY, local_sandbox.url) as client:
        client.create_response("hello")
    assert keys_seen() == {DEMO}


def test_the_connectors_test_refuses_the_learners_key_to_a_sandbox(
    configured: str, local_sandbox: Sandbox, keys_seen: Callable[[], set[str]]
) -> None:
    with pytest.raises(TransportSecurityError, match=OWN_KEY_REFUSED):
        run_test(guide_connector(FAKE_KEY), agent_action(), send_to=local_sandbox.url)
    assert run_test(guide_connector(SANDBOX_DEMO_KEY), agent_action(), send_to=local_sandbox.url).successful
    assert keys_seen() == {DEMO}


def test_notebook_03s_exercise_takes_a_made_up_key_never_the_learners_own(
    configured: str, monkeypatch: pytest.MonkeyPatch, local_sandbox: Sandbox
) -> None:
    """Even in live mode: the practice endpoint is a sandbox's, so the learner's own key is refused there."""
    monkeypatch.setenv("PERPLEXITY_MODE", "live")
    own = Connector("Practice", "https://api.example.com", HeaderAuth(FAKE_KEY, "X-API-Key", "%s"))
    with pytest.raises(TransportSecurityError, match=OWN_KEY_REFUSED):
        run_test(own, practice_action(), send_to=local_sandbox.url)
    made_up = Connector("Practice", "https://api.example.com", HeaderAuth("my-practice-key", "X-API-Key", "%s"))
    assert run_test(made_up, practice_action(), send_to=local_sandbox.url).successful


@pytest.mark.parametrize("where", ["body", "header"])
def test_the_configured_key_anywhere_in_a_request_keeps_its_scope(
    where: str, configured: str, off_machine_attempts: list[str]
) -> None:
    """Pasted into a body or a header whose name says nothing: still the learner's key, still scoped."""
    with names_resolve_to({FOREIGN_HOST: "127.0.0.3"}), TcpEcho() as target:
        connector = Connector("Vendor", f"https://{FOREIGN_HOST}:{target.port}")
        body = json.dumps({"note": FAKE_KEY}) if where == "body" else ""
        headers = {"X-Note": f"k={FAKE_KEY}"} if where == "header" else {}
        with pytest.raises(TransportSecurityError, match=OWN_KEY_REFUSED):
            run_test(connector, HttpAction("Leak", "/x", "POST", headers, body=body))
    assert target.received == [] and off_machine_attempts == []


# --- 3. $PERPLEXITY_API_KEY in a pasted cURL command: a reference until Test ------------------

KEY_VARIABLES = '-H "Authorization: Bearer $PERPLEXITY_API_KEY" -H "X-API-Key: $PPLX_API_KEY" '
KEY_VARIABLES += "--url-query 'api_key=${PERPLEXITY_API_KEY}'"


def command_for(base_url: str) -> str:
    return f"curl {base_url}/v1/agent {KEY_VARIABLES} -H 'Content-Type: application/json' -d '{{\"input\": \"hi\"}}'"


def widget_state(form: ConnectorForm) -> str:
    """Everything the form's widgets hold, as Jupyter would save it in the notebook."""
    found, todo = [], [form.widget]
    while todo:
        widget = todo.pop()
        found.append(json.dumps(widget.get_state(), default=str))
        todo += list(getattr(widget, "children", ()))
    return "\n".join(found)


def test_an_imported_key_variable_stays_a_reference_in_fields_widget_state_and_reprs(configured: str) -> None:
    imported = import_curl(command_for("https://api.perplexity.ai"))
    assert imported.connector.auth == HeaderAuth(CONFIGURED_KEY, "Authorization", "Bearer %s")
    assert imported.action.headers["X-API-Key"] == CONFIGURED_KEY and imported.action.query == {
        "api_key": CONFIGURED_KEY
    }
    assert FAKE_KEY not in repr(imported)
    form = ConnectorForm()
    status = form.import_curl(command_for("https://api.perplexity.ai"))
    assert "X-API-Key: $PERPLEXITY_API_KEY" in form.headers.value and "api_key=$PERPLEXITY_API_KEY" in form.query.value
    assert form.api_key.placeholder == "saved: $PERPLEXITY_API_KEY (your configured key) (type to replace)"
    assert FAKE_KEY not in widget_state(form) + repr(form.action()) + repr(form.connector()) + status


def test_a_foreign_host_never_gets_the_configured_key(
    configured: str, monkeypatch: pytest.MonkeyPatch, off_machine_attempts: list[str]
) -> None:
    monkeypatch.setenv("PERPLEXITY_MODE", "live")
    with names_resolve_to({FOREIGN_HOST: "127.0.0.3"}), TcpEcho() as target:
        base_url = f"https://{FOREIGN_HOST}:{target.port}"
        imported = import_curl(command_for(base_url))
        assert (
            f"kept $PERPLEXITY_API_KEY, but {FOREIGN_HOST} never gets your key from it: your configured key goes "
            "only to the Perplexity API (https://api.perplexity.ai) and, in live mode, to PERPLEXITY_BASE_URL"
        ) in imported.notes
        with pytest.raises(TransportSecurityError) as refused:
            run_test(imported.connector, imported.action)
        form = ConnectorForm()
        form.import_curl(command_for(base_url))
        check = form.check()
    assert str(refused.value) == (
        f"{OWN_KEY_REFUSED} {base_url}: it goes only to the Perplexity API (https://api.perplexity.ai) "
        "and, in live mode, to PERPLEXITY_BASE_URL (https, or http on this computer)."
    )
    assert check == f"Not ready: {refused.value}"
    assert target.received == [] and off_machine_attempts == []  # not even a connection was opened


def test_in_sandbox_mode_without_a_key_an_import_works_and_test_sends_the_demo_key(
    project: Path, local_sandbox: Sandbox, keys_seen: Callable[[], set[str]]
) -> None:
    imported = import_curl(command_for("https://api.perplexity.ai"))
    assert run_test(imported.connector, agent_action(), send_to=local_sandbox.url).successful
    foreign = import_curl(command_for(f"https://{FOREIGN_HOST}"))
    assert any(f"{FOREIGN_HOST} never gets your key from it" in note for note in foreign.notes)
    assert keys_seen() == {DEMO}


@pytest.mark.parametrize(("mode", "expected"), [("sandbox", SANDBOX_DEMO_KEY), ("live", FAKE_KEY)])
def test_the_reference_becomes_the_key_this_mode_sends_when_test_sends(
    mode: str, expected: str, configured: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with EchoServer() as echo:
        monkeypatch.setenv("PERPLEXITY_MODE", mode)
        monkeypatch.setenv("PERPLEXITY_BASE_URL", echo.url)  # live: a server on this computer the learner chose
        imported = import_curl(command_for("https://api.perplexity.ai"))
        result = run_test(imported.connector, imported.action, send_to=echo.url)
    ((received,),) = [echo.requests]
    assert received["headers"]["Authorization"] == f"Bearer {expected}"
    assert received["headers"]["X-API-Key"] == expected and received["path"] == f"/v1/agent?api_key={expected}"
    assert expected not in json.dumps(result.body)  # Test shows the echo with the key masked


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("bash") is None, reason="needs curl and bash")
def test_the_exported_curl_command_lets_the_shell_fill_in_the_key(project: Path) -> None:
    imported = import_curl(command_for("https://api.perplexity.ai"))
    with EchoServer() as echo:
        exported = to_curl(imported.connector.with_base_url(echo.url), imported.action)
        assert '"Authorization: Bearer ${PERPLEXITY_API_KEY}"' in exported and FAKE_KEY not in exported
        environment = {"PATH": os.environ["PATH"], "PERPLEXITY_API_KEY": OTHER_KEY}
        subprocess.run(
            ["bash", "-c", exported + " --silent"], env=environment, check=True, timeout=30, capture_output=True
        )
    ((received,),) = [echo.requests]
    assert received["headers"]["Authorization"] == f"Bearer {OTHER_KEY}"
    assert received["headers"]["X-API-Key"] == OTHER_KEY and received["path"] == f"/v1/agent?api_key={OTHER_KEY}"


# --- 4. .netrc never replaces a header the package sends ---------------------------------------

NETRC_PASSWORD = "n3trc-pa55word"


@pytest.fixture
def netrc_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_proxies: None) -> Path:
    """A HOME whose .netrc has a login for each host these tests reach, and a default one for any other."""
    netrc = tmp_path / ".netrc"
    machines = [f"machine {host} login someone password {NETRC_PASSWORD}" for host in ("127.0.0.1", CLASS_HOST)]
    netrc.write_text("\n".join([*machines, f"default login anyone password {NETRC_PASSWORD}", ""]))
    netrc.chmod(0o600)
    return tmp_path


def authorizations(echo: EchoServer) -> list[str | None]:
    return [received["headers"].get("Authorization") for received in echo.requests]


def test_netrc_is_real_here_it_replaces_a_plain_requests_header(netrc_home: Path) -> None:
    with EchoServer() as echo:
        requests.get(echo.url, headers={"Authorization": "Bearer mine"}, timeout=5)
    assert authorizations(echo)[0].startswith("Basic ")  # so the tests below would notice it


def test_netrc_is_never_read_by_the_client_or_the_connectors_test(netrc_home: Path) -> None:
    with EchoServer() as echo, names_resolve_to({CLASS_HOST: "127.0.0.1"}):
        class_url = f"http://{CLASS_HOST}:{echo.server_address[1]}"
        with PerplexityClient(OTHER_KEY, echo.url) as client:
            client.list_models()
        with PerplexityClient(SANDBOX_DEMO_KEY, class_url) as client:
            client.list_models()
        run_test(Connector("Vendor", echo.url, HeaderAuth(OTHER_KEY)), HttpAction("Ping", "/ping", "GET"))
        run_test(Connector("Open", echo.url), HttpAction("Ping", "/ping", "GET"), send_to=class_url)
    assert authorizations(echo) == [f"Bearer {OTHER_KEY}", f"Bearer {SANDBOX_DEMO_KEY}", f"Bearer {OTHER_KEY}", None]


def test_notebook_02_says_that_requests_would_read_netrc() -> None:
    cells = json.loads((ROOT / "notebooks" / "02_authenticate.ipynb").read_text(encoding="utf-8"))["cells"]
    markdown = "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown")
    assert "~/.netrc" in markdown and "auth=" in markdown and "Authorization" in markdown


# --- 5. a refused PERPLEXITY_BASE_URL is shown without its credentials -------------------------

CREDENTIALS = ("learner", "pa55-w0rd-xyz", "qu3ry-t0ken")
REFUSED_URLS = [
    f"https://learner:pa55-w0rd-xyz@{CLASS_HOST}:8000/v1?api_key=qu3ry-t0ken",
    f"http://learner:pa55-w0rd-xyz\\@{CLASS_HOST}:8000/v1",
    f"https://{CLASS_HOST}/v1#api_key=qu3ry-t0ken",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
@pytest.mark.parametrize("mode", ["live", "sandbox"])
def test_a_refused_base_url_is_echoed_with_user_info_password_and_query_masked(
    url: str, mode: str, configured: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERPLEXITY_MODE", mode)
    monkeypatch.setenv("PERPLEXITY_BASE_URL", url)
    with pytest.raises(TransportSecurityError) as refused:
        helpers.setup_notebook(quiet=True)
    sentence = str(refused.value)
    assert sentence.startswith("PERPLEXITY_BASE_URL '") and CLASS_HOST in sentence
    assert not any(secret in sentence for secret in CREDENTIALS)


def test_the_doctor_echoes_a_refused_base_url_masked(project: Path) -> None:
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(project),
        "PERPLEXITY_MODE": "live",
        "PERPLEXITY_API_KEY": FAKE_KEY,
        "PERPLEXITY_ENV_FILE": str(project / ".env"),
        "PERPLEXITY_BASE_URL": REFUSED_URLS[0],
    }
    done = subprocess.run(
        [sys.executable, "-m", "helpers", "doctor", "--skip-call"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1 and "PERPLEXITY_BASE_URL" in output and CLASS_HOST in output
    assert not any(secret in output for secret in (*CREDENTIALS, FAKE_KEY))
