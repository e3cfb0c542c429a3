"""Names that explain themselves: renamed classes keep their old names for older notebooks, text helpers have a home."""

from __future__ import annotations

import warnings

from helpers import connector, errors, text


def test_the_connectors_bearer_auth_has_a_name_of_its_own_and_the_old_one_still_works() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = connector.BearerAuth
    assert old is connector.BearerTokenAuth and caught[0].category is DeprecationWarning
    assert "BearerTokenAuth" in str(caught[0].message)


def test_the_text_helpers_live_in_helpers_text() -> None:
    assert text.duration(1) == "1 second" and text.duration(0.3) == "0.3 seconds"
    assert text.ended("Wait..") == "Wait." and text.ended("Why?") == "Why?" and text.clause(" x. ") == "x"
    assert errors.duration is text.duration  # errors' sentences use the same ones
