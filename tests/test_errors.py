"""The error classes, their learner sentences, and how a notebook shows them (never a traceback)."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell

from helpers import errors
from helpers.notebook import install_friendly_errors
from tests.support import FAKE_KEY

CAUSES = [errors.AuthenticationError, errors.PermissionDeniedError, errors.InvalidModelError,
          errors.InvalidRequestError, errors.RateLimitError, errors.ServiceError, errors.RunFailedError,
          errors.APITimeoutError, errors.NetworkError, errors.ConnectionDroppedError,
          errors.StreamInterruptedError, errors.EndpointRetiredError, errors.UnexpectedResponseError]


def test_every_cause_has_its_own_class_docstring_and_summary() -> None:
    assert all(issubclass(cls, errors.PerplexityError) and cls.__doc__ for cls in CAUSES)
    summaries = [cls.summary for cls in CAUSES]
    assert len(set(summaries)) == len(summaries)


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
        shell.run_cell("from helpers.errors import RateLimitError\n"
                       "raise RateLimitError('Too many requests. Wait 1 second.', detail='HTTP 429')")
        shown = capsys.readouterr().out
    finally:
        shell.set_custom_exc((), None)
        InteractiveShell.clear_instance()
    assert "Too many requests. Wait 1 second." in shown and "(details: HTTP 429)" in shown
    assert "Traceback" not in shown and "raise RateLimitError" not in shown
