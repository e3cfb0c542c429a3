"""Small text helpers for the sentences the package writes: durations, quoted messages, full stops."""

from __future__ import annotations


def duration(seconds: float) -> str:
    """``seconds`` in words: "1 second", "0.3 seconds"."""
    return f"{seconds:g} second" + ("" if seconds == 1 else "s")


def clause(text: str) -> str:
    """``text`` (a server's message) to quote inside a sentence: without the full stops it ended with.

    The sentence around it adds its own stop; the server's would make "truncate_stream.." of it.
    """
    return text.strip().rstrip(".").rstrip()


def ended(text: str) -> str:
    """``text`` ending with exactly one stop: its own "!", "?" or "…", else one full stop."""
    text = clause(text)
    return text if text.endswith(("!", "?", "…")) else text + "."
