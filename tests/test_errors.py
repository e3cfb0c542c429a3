"""The error classes, their learner sentences, and how a notebook shows them (never a traceback)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from helpers import errors
from helpers.notebook import install_friendly_errors
from tests.support import FAKE_KEY


def error_classes(base: type[errors.TutorialError] = errors.TutorialError) -> list[type[errors.TutorialError]]:
    """Every class :mod:`helpers.errors` defines below ``base``, found by walking the class tree."""
    found = []
    for cls in base.__subclasses__():
        if cls.__module__ == errors.__name__:
            found.append(cls)
        found += error_classes(cls)
    return found


CLASSES = [errors.TutorialError, *error_classes()]


def test_the_class_tree_is_found() -> None:
    assert {errors.PerplexityError, errors.RunFailedError, errors.StreamInterruptedError} <= set(CLASSES)
    assert len(CLASSES) == len(set(CLASSES)) >= 17


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_every_class_has_its_own_docstring(cls: type[errors.TutorialError]) -> None:
    assert "__doc__" in vars(cls) and cls.__doc__


def test_every_class_has_its_own_summary() -> None:
    summaries = [cls.summary for cls in CLASSES]
    assert len(set(summaries)) == len(summaries)


def test_the_errors_module_stays_light() -> None:
    # Everything imports helpers.errors: it must not pull in requests, IPython or widgets.
    imported = set()
    for module in ("errors", "masking", "responses", "trust", "text"):
        tree = ast.parse(Path(errors.__file__).with_name(f"{module}.py").read_text())
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name.split(".")[0] for name in imported} & {"requests", "urllib3", "IPython", "ipywidgets"}
    allowed = {"helpers.masking", "helpers.responses", "helpers.trust", "helpers.text"}
    assert {name for name in imported if name.startswith("helpers")} <= allowed


# --- from an HTTP status to its class -------------------------------------------------------

AGENT, LEGACY = "/v1/agent", "/chat/completions"


@pytest.mark.parametrize(
    ("status", "info", "path", "cls", "sentence"),
    [
        (401, {}, AGENT, errors.AuthenticationError, "The API key was not accepted (HTTP 401)."),
        (403, {}, AGENT, errors.PermissionDeniedError, "not allowed to do this (HTTP 403)"),
        (
            400,
            {"type": "invalid_model", "message": "Model 'old-1' is gone"},
            AGENT,
            errors.InvalidModelError,
            "The model 'old-1' is retired or unknown (HTTP 400, invalid_model): use one of 'perplexity/sonar'",
        ),
        (
            400,
            {"type": "invalid_model"},
            LEGACY,
            errors.InvalidModelError,
            "The model 'that model' is retired or unknown (HTTP 400, invalid_model): on /chat/completions use one of "
            "'sonar', 'sonar-pro', 'sonar-reasoning-pro', 'sonar-deep-research'; better, use the Agent API with "
            "'perplexity/sonar'.",
        ),
        (
            429,
            {},
            AGENT,
            errors.RateLimitError,
            "Too many requests (HTTP 429): you hit the rate limit. Wait a little, then try again.",
        ),
        (404, {}, LEGACY, errors.EndpointRetiredError, "no longer offers /chat/completions"),
        (410, {}, "/v0" + LEGACY, errors.EndpointRetiredError, "Use the Agent API: POST /v1/agent."),
        (404, {}, AGENT, errors.NotFoundError, "The server has no /v1/agent (HTTP 404). Check the base URL."),
        (410, {}, AGENT, errors.UnexpectedResponseError, "Unexpected answer: HTTP 410."),
        (
            422,
            {"message": "too long", "param": "input"},
            AGENT,
            errors.InvalidRequestError,
            "The request was rejected (field 'input'): too long. Fix it and send again.",
        ),
        (413, {}, AGENT, errors.InvalidRequestError, "The request was rejected: invalid request."),
        (503, {}, AGENT, errors.ServiceError, "The service had a problem on its side (HTTP 503)."),
        (418, {}, AGENT, errors.UnexpectedResponseError, "Unexpected answer: HTTP 418."),
    ],
)
def test_each_status_gets_its_class_and_sentence(status: int, info: dict, path: str, cls: type, sentence: str) -> None:
    error = errors.error_from_status(status, info, path, "HTTP detail")
    assert type(error) is cls and sentence in str(error)
    assert error.status == status and error.detail == "HTTP detail"


def test_rate_limit_names_the_wait_it_was_asked_for() -> None:
    error = errors.error_from_status(429, {}, AGENT, "", retry_after=1.0)
    assert "Wait 1 second, then try again." in str(error) and error.retry_after == 1.0
    assert "Wait 2.5 seconds," in str(errors.error_from_status(429, {}, AGENT, "", retry_after=2.5))


def test_invalid_model_keeps_the_name_and_the_alternatives() -> None:
    error = errors.invalid_model_error("x", AGENT, "", ["a/b", "c/d"])
    assert error.model == "x" and error.alternatives == ("a/b", "c/d") and "use one of 'a/b', 'c/d'" in str(error)


def test_invalid_request_keeps_the_field() -> None:
    assert errors.error_from_status(400, {"param": "max_tokens"}, AGENT, "").param == "max_tokens"


def test_narrow_causes_are_still_caught_by_their_family() -> None:
    with pytest.raises(errors.NetworkError):
        raise errors.StreamInterruptedError("cut", partial_text="Half")
    with pytest.raises(errors.ServiceError):
        raise errors.RunFailedError("failed", status=200)


def test_our_errors_keep_sentence_and_detail_but_never_the_key() -> None:
    error = errors.ServiceError(f"Failed for {FAKE_KEY}.", status=500, detail=f"HTTP 500 with {FAKE_KEY}")
    message, detail = errors.describe_failure(error, [FAKE_KEY])
    assert message.startswith("Failed for pplx-...") and detail.startswith("HTTP 500")
    assert FAKE_KEY not in message + detail


def test_any_other_exception_becomes_a_sentence_with_a_redacted_detail() -> None:
    message, detail = errors.describe_failure(KeyError(f"token {FAKE_KEY}"))
    assert "Your edits are kept" in message and "Traceback" not in message + detail
    assert detail.startswith("KeyError") and FAKE_KEY not in detail


def test_a_notebook_shows_our_error_as_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    shell = InteractiveShell.instance()
    try:
        assert install_friendly_errors()
        shell.run_cell(
            "from helpers.errors import RateLimitError\n"
            "raise RateLimitError('Too many requests. Wait 1 second.', detail='HTTP 429')"
        )
        shown = capsys.readouterr().out
    finally:
        shell.set_custom_exc((), None)
        InteractiveShell.clear_instance()
    assert "Too many requests. Wait 1 second." in shown and "(details: HTTP 429;" in shown
    assert "Traceback" not in shown and "raise RateLimitError" not in shown
