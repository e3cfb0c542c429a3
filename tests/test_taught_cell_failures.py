"""Failures in the taught cells: requests, urllib3, httpx and both SDKs, as a learner's own cells call them.

Each failure is staged for real on loopback: a port where nothing listens (refused), a name the
network guard cannot resolve (offline), a server that never answers (timeout), a certificate no
trusted authority signed, a proxy that is not there. The sentence says what happened, which host,
and what to do; in a notebook it replaces the traceback, and the cell counts as run.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import nbformat
import openai
import perplexity
import pytest
import requests
import urllib3
from IPython.core.interactiveshell import InteractiveShell
from nbclient import NotebookClient

from helpers import errors, notebook, setup_notebook
from helpers import settings as settings_module
from helpers.errors import chain_summary, describe_network_failure
from helpers.masking import mask_key
from helpers.notebook import failure_output
from helpers.recording import CLEARED_ENV
from tests.support import FAKE_KEY, SilentServer, unused_url
from tests.tls_server import HttpsServer, TestAuthority

ROOT = Path(__file__).resolve().parent.parent
OFFLINE = "set PERPLEXITY_MODE=sandbox to continue offline"
QUICK = 0.5  # seconds: every timeout staged here


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    with SilentServer() as server:
        yield server


@pytest.fixture
def untrusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpsServer]:
    """An HTTPS server whose certificate no authority the client trusts has signed."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    with HttpsServer(TestAuthority(tmp_path)) as server:
        yield server


def raised_by(call: Callable[[], object]) -> BaseException:
    try:
        call()
    except Exception as error:
        return error
    raise AssertionError("the call did not fail")


def one_sentence(text: str) -> bool:
    return "\n" not in text and text.endswith(".") and not re.search(r"[.!?] [A-Z]", text)


def host_of(url: str) -> str:
    return url.split("://", 1)[1]


def perplexity_client(url: str, **options: object) -> perplexity.Perplexity:
    return perplexity.Perplexity(api_key=FAKE_KEY, base_url=url, max_retries=0, **options)


def openai_client(url: str, **options: object) -> openai.OpenAI:
    return openai.OpenAI(api_key=FAKE_KEY, base_url=url + "/v1", max_retries=0, **options)


# --- each library, each failure: the sentence names what happened, where, and what to do ------------

REFUSED = "(the connection was refused: nothing answers at that address)"


@pytest.mark.parametrize(
    "send",
    [
        lambda url: requests.post(url + "/v1/agent", json={}, timeout=5),
        lambda url: urllib3.PoolManager().request("GET", url + "/v1/models", retries=False),
        lambda url: httpx.post(url + "/v1/agent", json={}),
        lambda url: perplexity_client(url).responses.create(model="perplexity/sonar", input="Hi"),
        lambda url: openai_client(url).responses.create(model="perplexity/sonar", input="Hi"),
    ],
    ids=["requests", "urllib3", "httpx", "perplexity", "openai"],
)
def test_connection_refused(send: Callable[[str], object]) -> None:
    url = unused_url()
    sentence = describe_network_failure(raised_by(lambda: send(url)))
    assert sentence is not None and sentence.startswith(f"Could not reach {host_of(url)} {REFUSED}: ")
    assert OFFLINE in sentence and one_sentence(sentence), sentence


@pytest.mark.parametrize(
    "send",
    [
        lambda: requests.post("https://api.perplexity.ai/v1/agent", json={}, timeout=5),
        lambda: httpx.post("https://api.perplexity.ai/v1/agent", json={}),
        lambda: perplexity_client("https://api.perplexity.ai").responses.create(model="perplexity/sonar", input="Hi"),
        lambda: openai_client("https://api.perplexity.ai").responses.create(model="perplexity/sonar", input="Hi"),
    ],
    ids=["requests", "httpx", "perplexity", "openai"],
)
def test_name_not_resolved(send: Callable[[], object], off_machine_attempts: list[str]) -> None:
    sentence = describe_network_failure(raised_by(send))
    assert sentence is not None
    assert sentence.startswith("Could not reach api.perplexity.ai (its name could not be resolved): check your network")
    assert OFFLINE in sentence and one_sentence(sentence), sentence
    assert off_machine_attempts and set(off_machine_attempts) == {"lookup api.perplexity.ai"}  # refused by the guard


@pytest.mark.parametrize(
    "send",
    [
        lambda url: requests.post(url + "/v1/agent", json={}, timeout=QUICK),
        lambda url: httpx.post(url + "/v1/agent", json={}, timeout=QUICK),
        lambda url: perplexity_client(url, timeout=QUICK).responses.create(model="perplexity/sonar", input="Hi"),
        lambda url: openai_client(url, timeout=QUICK).responses.create(model="perplexity/sonar", input="Hi"),
    ],
    ids=["requests", "httpx", "perplexity", "openai"],
)
def test_timeout(send: Callable[[str], object], silent: SilentServer) -> None:
    sentence = describe_network_failure(raised_by(lambda: send(silent.url)))
    assert sentence is not None and sentence.startswith(f"Could not reach 127.0.0.1:{silent.port} (it did not answer")
    assert OFFLINE in sentence and one_sentence(sentence), sentence


@pytest.mark.parametrize(
    "send",
    [
        lambda url: requests.get(url + "/v1/models", timeout=5),
        lambda url: httpx.get(url + "/v1/models"),
        lambda url: perplexity_client(url).responses.create(model="perplexity/sonar", input="Hi"),
        lambda url: openai_client(url).responses.create(model="perplexity/sonar", input="Hi"),
    ],
    ids=["requests", "httpx", "perplexity", "openai"],
)
def test_certificate_not_verified(send: Callable[[str], object], untrusted: HttpsServer) -> None:
    sentence = describe_network_failure(raised_by(lambda: send(untrusted.url)))
    assert sentence is not None
    assert sentence.startswith(f"The certificate of {host_of(untrusted.url)} could not be verified")
    assert "REQUESTS_CA_BUNDLE" in sentence and one_sentence(sentence), sentence


@pytest.mark.parametrize(
    "send",
    [
        lambda: requests.get("https://api.perplexity.ai/v1/models", timeout=5),
        lambda: httpx.get("https://api.perplexity.ai/v1/models"),
        lambda: perplexity_client("https://api.perplexity.ai").responses.create(model="perplexity/sonar", input="Hi"),
    ],
    ids=["requests", "httpx", "perplexity"],
)
def test_proxy_refused(send: Callable[[], object], monkeypatch: pytest.MonkeyPatch) -> None:
    """The proxy the environment names is not there: the sentence names the variable that chose it."""
    proxy = unused_url()
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    sentence = describe_network_failure(raised_by(send))
    assert sentence is not None and "api.perplexity.ai" in sentence and "HTTPS_PROXY" in sentence, sentence
    assert OFFLINE in sentence and one_sentence(sentence), sentence


def test_the_class_sandbox_is_said_to_be_down() -> None:
    url = unused_url()
    error = raised_by(lambda: requests.post(url + "/v1/agent", json={}, timeout=5))
    sentence = describe_network_failure(error, sandbox_url=url)
    assert sentence == (
        f"The class sandbox at {url} does not answer {REFUSED[:-1]}): ask your instructor whether it is running, "
        "or unset PERPLEXITY_BASE_URL to use the sandbox built into this notebook."
    )


def test_no_key_in_the_sentence_or_the_details() -> None:
    url = unused_url()
    sent = lambda: requests.get(f"{url}/v1/models?api_key={FAKE_KEY}", headers={"Authorization": f"Bearer {FAKE_KEY}"})  # noqa: E731
    error = raised_by(sent)
    assert FAKE_KEY in str(error)  # requests' own message quotes the URL, key and all
    shown = describe_network_failure(error) + chain_summary(error) + str(failure_output("x", error))
    assert FAKE_KEY not in shown and mask_key(FAKE_KEY) in shown


@pytest.mark.parametrize(
    "error",
    [
        ValueError("not a network failure"),
        errors.NetworkError("Our own errors have their own sentence."),
        RuntimeError("wrapped"),
    ],
)
def test_other_exceptions_are_not_described(error: BaseException) -> None:
    error.__context__ = ConnectionRefusedError(111, "Connection refused")  # a network cause deep inside is not enough
    assert describe_network_failure(error) is None


def test_a_url_httpx_cannot_send_is_no_network_failure() -> None:
    assert describe_network_failure(raised_by(lambda: httpx.get("ftp://127.0.0.1/"))) is None


# --- in a notebook: the sentence instead of the traceback, and the cell counts as run ---------------


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    """An IPython shell after notebook setup; the handler's memory and the shell are reset afterwards."""
    monkeypatch.setattr(settings_module, "local_sandbox_url", None)
    monkeypatch.setattr(notebook, "_unset_names", set())
    instance = InteractiveShell.instance()
    try:
        setup_notebook(quiet=True)
        yield instance
    finally:
        instance.set_custom_exc((), None)
        InteractiveShell.clear_instance()


def run(shell: InteractiveShell, capsys: pytest.CaptureFixture[str], source: str) -> tuple[bool, str]:
    result = shell.run_cell(source)
    return result.success, capsys.readouterr().out


def test_in_a_notebook_the_failure_is_one_sentence_and_the_cell_counts_as_run(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    url = unused_url()
    shell.user_ns["url"], shell.user_ns["key"] = url, FAKE_KEY
    ran, shown = run(
        shell, capsys, "import requests\nresponse = requests.post(url, headers={'Authorization': 'Bearer ' + key})"
    )
    assert ran, "Run All would stop here"
    assert shown.startswith(f"\u26a0\ufe0f Could not reach {host_of(url)} {REFUSED}")
    assert "Traceback" not in shown and "---------" not in shown and FAKE_KEY not in shown
    assert "run %tb for the full traceback" in shown
    assert isinstance(sys.last_value, requests.ConnectionError)  # what %tb shows

    ran, shown = run(shell, capsys, "%tb")
    assert "ConnectionRefusedError" in shown and "Traceback" in shown


def test_code_that_catches_the_exception_gets_it_unchanged(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.user_ns["url"] = unused_url()
    ran, shown = run(
        shell,
        capsys,
        "import requests\ntry:\n    requests.get(url)\nexcept requests.ConnectionError as e:\n    caught = e",
    )
    assert ran and shown == ""
    assert type(shell.user_ns["caught"]) is requests.ConnectionError


def test_an_sdk_imported_and_failing_in_the_same_cell_is_one_sentence(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.user_ns["url"] = unused_url()
    cell = "from openai import OpenAI\nOpenAI(api_key='x', base_url=url, max_retries=0).models.list()"
    ran, shown = run(shell, capsys, cell)
    assert ran and shown.startswith(f"\u26a0\ufe0f Could not reach {host_of(shell.user_ns['url'])} {REFUSED}")


def test_names_a_failed_cell_never_set_are_explained_and_others_are_not(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.user_ns["url"] = unused_url()
    run(shell, capsys, "import requests\nresponse = requests.post(url)")
    ran, shown = run(shell, capsys, "answer = response.json()")
    assert ran and "`response` was never set, because an earlier cell could not reach its server" in shown
    ran, shown = run(shell, capsys, "answer['usage']['cost']")  # one more step down the line
    assert ran and "`answer` was never set" in shown

    ran, shown = run(shell, capsys, "print(a_typo)")  # not the failure's doing: IPython's own traceback
    assert not ran and "NameError" in shown and "Traceback" in shown
    ran, shown = run(shell, capsys, "1 / 0")
    assert not ran and "ZeroDivisionError" in shown


def test_the_notebook_output_keeps_the_details_one_click_away() -> None:
    error = raised_by(lambda: requests.get(unused_url(), timeout=5))
    sentence = describe_network_failure(error)
    output = failure_output(sentence, error)
    assert output["text/plain"].splitlines()[0] == f"\u26a0\ufe0f {sentence}"
    html = output["text/html"]
    assert "<details><summary>details</summary>" in html and "ConnectionRefusedError" in html and "%tb" in html


# --- a real kernel: notebook 02 offline with a key runs to the end -----------------------------------


@pytest.mark.slow  # runs whole notebooks in kernels: make test, not test-quick
def test_notebook_02_offline_with_a_key_runs_to_the_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Live mode with a saved key and an API that does not answer: every cell runs, none shows a traceback."""
    url = unused_url()
    for name in CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text(f"PERPLEXITY_API_KEY={FAKE_KEY}\n")
    monkeypatch.setenv("PERPLEXITY_ENV_FILE", str(env_file))
    monkeypatch.setenv("PERPLEXITY_MODE", "auto")
    monkeypatch.setenv("PERPLEXITY_BASE_URL", url)
    book = nbformat.read(ROOT / "notebooks" / "02_authenticate.ipynb", as_version=4)
    NotebookClient(book, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    outputs = [(cell.source, output) for cell in book.cells if cell.cell_type == "code" for output in cell.outputs]
    shown = nbformat.writes(book)
    assert [output for _, output in outputs if output.output_type == "error"] == []
    assert "Traceback" not in shown and FAKE_KEY not in shown
    request_cell = next(output for source, output in outputs if "requests.post(url" in source)
    assert f"Could not reach {host_of(url)} {REFUSED}" in request_cell.data["text/plain"]
    playground = [output for source, output in outputs if "helpers.playground(" in source]
    assert [output.output_type for output in playground] == ["execute_result"]
    assert "application/vnd.jupyter.widget-view+json" in playground[0].data  # the widget, not an error
