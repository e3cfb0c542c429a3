"""The "Your turn" exercises at the end of each notebook, and the one function that checks them.

:func:`check_exercise` answers with one sentence: a hint that points at what to look at, or a
well done. It never gives the solution (instructors find those in ``teaching/solutions/``). An unanswered
exercise (the state the notebooks are recorded in) gets the sentence that says how to start.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from helpers import events
from helpers.client import GUIDE_SYSTEM
from helpers.errors import InvalidKeyError
from helpers.keys import validate_api_key
from helpers.masking import Secret
from helpers.responses import CURRENT_MODEL

# Exercise 01.1: one of these is a usable key; the others are the slips learners make most.
KEY_CANDIDATES = {
    "A": "Bearer pplx-" + "3f9a" * 12,
    "B": "pplx-" + "7c2e" * 12,
    "C": "sk-" + "51b0" * 12,
    "D": "pplx-" + "9d4a" * 5 + " " + "9d4a" * 6,
}
WELL_DONE = "\u2705 Well done: "


def check_exercise(exercise: str, **answer: Any) -> str:
    """One sentence about ``answer`` to ``exercise`` ("01.1", "02.1", "03.1"): a hint, or well done."""
    checker = _CHECKERS.get(exercise)
    if checker is None:
        return f"There is no exercise '{exercise}': the exercises are {', '.join(_CHECKERS)}."
    sentence = checker(**answer)
    if sentence.startswith(WELL_DONE):
        events.emit(events.STEP, step=f"exercise:{exercise}")  # a class sandbox's page shows it (helpers.progress)
    return sentence


# --- 01.1: tell a valid key from the common mistakes ------------------------------------------


def _check_usable_key(letter: str | None = None) -> str:
    if letter is None:
        return 'Not answered yet: set `usable` to the letter of the one key that can work, such as "A".'
    letter = str(letter).strip().upper()
    if letter not in KEY_CANDIDATES:
        return f"'{letter}' is not one of the candidates: answer with one of {', '.join(KEY_CANDIDATES)}."
    candidate = KEY_CANDIDATES[letter]
    try:
        _, note = validate_api_key(Secret(candidate))  # a Secret: no traceback frame shows it
    except InvalidKeyError as error:
        return f"Not this one: {error} Look at the other three again."
    if note:
        return f"Almost: this one works only after cleaning ({note}). Which one needs no cleaning at all?"
    return WELL_DONE + "that is the only one you could paste as it is."


# --- 02.1: another model or instructions, and the cost from usage -------------------------------


def _check_own_request(response: Any = None, cost: Any = None) -> str:
    if response is None:
        return "Not answered yet: send your own request with `requests.post(...)` and keep its answer in `my_response`."
    if not hasattr(response, "request") or not hasattr(response, "json"):
        return "`my_response` should be what `requests.post(...)` returns, not its text or its JSON."
    if response.status_code != 200:
        status = response.status_code
        return f"Your request was not accepted (HTTP {status}): `helpers.explain_response(my_response)` says why."
    if _is_the_guides_request(response):
        return "Your request is the one from the notebook: change the model (or use a preset) or the instructions."
    return _check_cost(response, cost)


def _is_the_guides_request(response: Any) -> bool:
    """The notebook's request as it is: today's model (a preset replaces the model), the guide's instructions."""
    try:
        body = json.loads(response.request.body or b"{}")
    except ValueError:  # not JSON: not the notebook's request
        return False
    same_model = isinstance(body, dict) and "preset" not in body and body.get("model") == CURRENT_MODEL
    return same_model and body.get("instructions") == GUIDE_SYSTEM


def _check_cost(response: Any, cost: Any) -> str:
    reported = _reported_cost(response)
    if reported is None:
        return "Your request's answer reports no cost: send it to `url` (`/v1/agent`), as the notebook does."
    if cost is None:
        return "Your request worked. Now set `my_cost` to its total cost, which the answer's `usage` reports."
    if not isinstance(cost, int | float) or isinstance(cost, bool) or abs(cost - reported) > 1e-12:
        return "That is not the total cost: look inside `usage`, then inside `cost`, for the field named total."
    return WELL_DONE + f"your request cost ${reported:.5f}, as the server reported it."


def _reported_cost(response: Any) -> float | None:
    """``usage.cost.total_cost`` of the answer, or None when the answer has no such number."""
    try:
        reported = response.json()["usage"]["cost"]["total_cost"]
    except (ValueError, KeyError, TypeError):
        return None
    return reported if isinstance(reported, int | float) and not isinstance(reported, bool) else None


# --- 03.1: a connector for another API's auth, tested -------------------------------------------


def _check_other_auth(connector: Any = None, result: Any = None) -> str:
    from helpers.connector import BasicAuth, Execution, HeaderAuth  # the connector module is loaded only when needed

    if connector is None:
        return "Not answered yet: build `my_connector` with another auth (an X-API-Key header, or Basic Auth)."
    auth = getattr(connector, "auth", None)
    plain_bearer = isinstance(auth, HeaderAuth) and auth.header_key.lower() == "authorization"
    if not isinstance(auth, HeaderAuth | BasicAuth) or plain_bearer:
        return "Use another auth than the guide's: Header Auth with the header X-API-Key, or Basic Auth."
    if result is None:
        return "Your connector is ready. Now Test it with `helpers.run_test(...)` and keep the result in `my_result`."
    if not isinstance(result, Execution):
        return "`my_result` should be what `helpers.run_test(...)` returns, not its body or its text."
    if result.connector != connector:  # run_test records the connector it sent through
        return "That Test result comes from another connector: Test `my_connector` itself, then check again."
    if not result.successful:
        return f"The Test did not succeed: {result.explanation or 'look at its explanation'}"
    return WELL_DONE + "your connector sends its key the way that API expects, and the Test succeeded."


_CHECKERS: dict[str, Callable[..., str]] = {
    "01.1": _check_usable_key,
    "02.1": _check_own_request,
    "03.1": _check_other_auth,
}
