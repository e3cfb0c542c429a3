"""``python -m helpers check-live`` (issue 22): the day the live API drifts from the sandbox, one line per change.

Nothing here reaches a remote host. "The live API" is a server on this computer that the configured key may go
to (plain http to loopback, in live mode): a second sandbox, which must show no difference (exit 0), or a
deliberately drifted one, a proxy in front of a sandbox that drops ``usage.cost``, renames a stream event type,
omits a model, changes the error code and adds a field, which must give exactly those lines (exit 1). No key,
a host that does not answer, a refused key and an address the key may not go to give one sentence (exit 2).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from helpers.live_check import AGENT_REQUEST, compare_shapes, run_check_live
from helpers.masking import find_key_shaped, mask_key
from helpers.settings import SANDBOX_DEMO_KEY
from perplexity_sandbox import Sandbox
from tests.live_support import DROPPED_MODEL, STRAY_KEY, DriftedServer
from tests.network_guard import names_resolve_to
from tests.support import FAKE_KEY, CannedServer, EchoServer, unused_url

ROOT = Path(__file__).resolve().parent.parent
RETIRED = "/chat/completions (the guide's retired model)"
# What the drifted server must produce, each difference in one line, in the order the probes are sent.
DRIFT_LINES = [
    f"model {DROPPED_MODEL} not listed live",
    "/v1/agent: usage.cost missing live",
    "stream: event response.output_text.delta not sent live",
    f"{RETIRED}: HTTP 422 live, 400 in the sandbox",
    f"{RETIRED}: error.type invalid_request live, invalid_model in the sandbox",
    f"{RETIRED}: error.code 422 live, 400 in the sandbox",
]


@pytest.fixture
def configured_key(project: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The maintainer's key, from the environment (the tests run in sandbox mode: check-live is live by itself)."""
    monkeypatch.setenv("PERPLEXITY_API_KEY", FAKE_KEY)
    return FAKE_KEY


@pytest.fixture(scope="module")
def reference() -> Iterator[Sandbox]:
    """The sandbox check-live compares with (the command line starts one of its own), never the "live" one."""
    with Sandbox() as server:
        yield server


@pytest.fixture
def drifted(module_sandbox: Sandbox) -> DriftedServer:
    with DriftedServer(module_sandbox.url) as server:
        yield server


def lines(text: str) -> list[str]:
    return text.splitlines()


# --- exit 0: the same answers --------------------------------------------------------------


def test_a_second_sandbox_as_the_live_api_shows_no_difference(
    reference: Sandbox, configured_key: str, module_sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_check_live(reference.url, base_url=module_sandbox.url) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert lines(out)[0].startswith(f"Comparing the live API at {module_sandbox.url} (key pplx-...t3st from the ")
    # The cost is the sum of the live answers' usage.cost: the plain answer's, and the streamed one's.
    demo = {"Authorization": f"Bearer {SANDBOX_DEMO_KEY}"}
    answer = requests.post(module_sandbox.url_for("/v1/agent"), json=AGENT_REQUEST, headers=demo, timeout=10).json()
    cost = 2 * answer["usage"]["cost"]["total_cost"]
    assert lines(out)[1] == f"Cost of the live requests: ${cost:.5f} (usage.cost of 2 answers)."
    assert lines(out)[2:] == ["No difference that matters: the sandbox still answers as the live API does."]
    assert configured_key not in out


# --- exit 1: a drifted API, through the real command line -----------------------------------


def test_the_command_prints_each_difference_of_a_drifted_api_in_one_line_and_exits_1(
    configured_key: str, drifted: DriftedServer
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "helpers", "check-live", "--base-url", drifted.url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr == ""
    out = lines(done.stdout)
    assert out[1 : 1 + len(DRIFT_LINES)] == DRIFT_LINES
    # What only the drifted API sends is reported under its legend, and does not count as a difference.
    legend = out.index(next(line for line in out if line.startswith("Sent only live (reported, not failed")))
    assert legend == 1 + len(DRIFT_LINES)
    assert out[legend + 1 : legend + 4] == [
        "  /v1/agent: usage.search_context_size",
        "  /v1/agent: echo",
        "  stream: event response.text.delta",
    ]
    # Only the streamed answer still reports its cost.
    assert re.fullmatch(
        r"Cost of the live requests: \$0\.\d{5} \(usage\.cost of 1 answer; 1 answer reported no cost\)\.",
        out[legend + 4],
    )
    assert out[-1].startswith("6 differences: the sandbox no longer answers as the live API does.")
    assert configured_key not in done.stdout and STRAY_KEY not in done.stdout


def test_an_endpoint_that_is_gone_live_is_named_in_two_lines(
    reference: Sandbox, configured_key: str, module_sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    with DriftedServer(module_sandbox.url, legacy_removed=True) as live:
        assert run_check_live(reference.url, base_url=live.url) == 1
    retired = [line for line in lines(capsys.readouterr().out) if line.startswith(RETIRED)]
    assert retired == [
        f"{RETIRED}: HTTP 404 live, 400 in the sandbox",
        f"{RETIRED}: the answer is not JSON live (text/html)",
    ]


# --- --record DIR: what live answered, and no key ------------------------------------------


def test_the_record_keeps_what_live_answered_without_any_key(
    reference: Sandbox, project: Path, drifted: DriftedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A key of another format (one Perplexity may issue some day) is not key-shaped: only passing the
    # configured key itself to redact() removes it.
    odd_key = "team-" + "t3st" * 10
    assert not find_key_shaped(odd_key)
    monkeypatch.setenv("PERPLEXITY_API_KEY", odd_key)
    folder = tmp_path / "live-answers"
    assert run_check_live(reference.url, base_url=drifted.url, record=folder) == 1
    files = sorted(folder.iterdir())
    assert [path.name for path in files] == ["1-models.json", "2-agent.json", "3-stream.json", "4-retired-model.json"]
    for path in files:
        text = path.read_text()
        assert odd_key not in text and STRAY_KEY not in text and find_key_shaped(text) == [], path.name
        exchange = json.loads(text)
        assert not {"authorization", "cookie", "set-cookie"} & {h.lower() for h in exchange["request"]["headers"]}
        # The echo is still there, masked: what live answered, minus the keys.
        assert exchange["response"]["headers"]["X-Echo"] == f"Bearer {mask_key(odd_key)} {mask_key(STRAY_KEY)}"
    agent = json.loads((folder / "2-agent.json").read_text())
    assert agent["request"]["url"] == drifted.url + "/v1/agent" and agent["response"]["status"] == 200
    assert "cost" not in agent["response"]["body"]["usage"]  # what live answered, not the sandbox's
    assert agent["response"]["body"]["echo"] == f"Bearer {mask_key(odd_key)} {mask_key(STRAY_KEY)}"
    stream = json.loads((folder / "3-stream.json").read_text())
    assert "event: response.text.delta" in stream["response"]["body"]


# --- exit 2: one sentence ------------------------------------------------------------------


def test_without_a_key_it_says_so_in_one_sentence_and_exits_2(
    reference: Sandbox, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_check_live(reference.url) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "No API key is configured, and check-live compares the live API with the sandbox: save a key with "
        "notebook 01 or set PERPLEXITY_API_KEY, then run it again.\n"
    )


def test_a_host_that_does_not_answer_is_one_sentence_and_exit_2(
    reference: Sandbox, configured_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = unused_url()
    assert run_check_live(reference.url, base_url=url) == 2
    _, err = capsys.readouterr()
    assert len(lines(err)) == 1 and err.startswith(f"Could not reach {url.removeprefix('http://')} (")
    assert err.endswith("or the address in --base-url or PERPLEXITY_BASE_URL, then run check-live again.\n")


def test_a_refused_key_is_one_sentence_and_exit_2(
    reference: Sandbox, configured_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    envelope = {"error": {"message": "Invalid API key", "type": "invalid_api_key", "code": 401}}
    with CannedServer(json.dumps(envelope).encode(), "application/json", status=401) as live:
        assert run_check_live(reference.url, base_url=live.url) == 2
    _, err = capsys.readouterr()
    assert err == (
        "The live API refused the key (HTTP 401 on /v1/models): check it in the API portal (console.perplexity.ai) "
        "and its credits, then run check-live again.\n"
    )


def test_base_url_is_held_to_the_key_rule_of_perplexity_base_url(
    reference: Sandbox, configured_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Plain http to another computer (a name that resolves to a recorder here): the key may not go there."""
    with names_resolve_to({"api.elsewhere.example": "127.0.0.1"}), EchoServer() as recorder:
        assert run_check_live(reference.url, base_url=f"http://api.elsewhere.example:{recorder.server_address[1]}") == 2
    _, err = capsys.readouterr()
    assert err.startswith("Refusing to send your own key to http://api.elsewhere.example:")
    assert len(lines(err)) == 1 and FAKE_KEY not in err
    assert recorder.requests == []


def test_a_sandbox_named_by_perplexity_base_url_in_sandbox_mode_never_gets_the_key(
    reference: Sandbox, configured_key: str, monkeypatch: pytest.MonkeyPatch, off_machine_attempts: list[str]
) -> None:
    """Sandbox mode (the tests' default) with PERPLEXITY_BASE_URL: a sandbox, which check-live's live mode must
    not turn into a place the key goes. The check goes to the API instead (which this test's guard refuses)."""
    with EchoServer() as class_sandbox:
        monkeypatch.setenv("PERPLEXITY_BASE_URL", class_sandbox.url)
        assert run_check_live(reference.url) == 2
    assert class_sandbox.requests == []
    assert off_machine_attempts == ["lookup api.perplexity.ai"]


def test_an_unwritable_record_folder_stops_it_before_anything_is_sent(
    reference: Sandbox, configured_key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with CannedServer(b"{}", "application/json") as live:
        assert run_check_live(reference.url, base_url=live.url, record=blocker / "answers") == 2
    _, err = capsys.readouterr()
    assert err.startswith(f"--record {blocker / 'answers'}: that folder cannot be written (")


# --- the shape comparison ------------------------------------------------------------------


def test_a_field_of_another_type_is_a_difference_and_null_says_nothing_about_a_type() -> None:
    sandbox = {"usage": {"cost": {"total_cost": 0.5}, "input_tokens": 3}, "error": None, "created_at": 1}
    live = {"usage": {"cost": "0.5 USD", "input_tokens": 3.0}, "error": {"message": "x"}, "created_at": 1.5}
    findings = compare_shapes("/v1/agent", sandbox, live)
    assert findings.differences == ["/v1/agent: usage.cost is string live, object in the sandbox"]
    assert findings.live_only == ["/v1/agent: error.message"]


def test_a_missing_field_is_reported_once_not_once_per_field_inside_it() -> None:
    sandbox = {"output": [{"type": "message", "content": [{"text": "a", "annotations": []}]}]}
    live = {"output": [{"type": "message"}]}
    assert compare_shapes("/v1/agent", sandbox, live).differences == ["/v1/agent: output[].content missing live"]
