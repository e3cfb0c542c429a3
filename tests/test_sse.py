"""The SSE parser against the specification's corner cases, and the folding of stream events into an answer."""

from __future__ import annotations

import pytest

from helpers.sse import collect_answer, iter_lines, iter_sse

CHECK = "\u2705".encode()  # ✅, three bytes: E2 9C 85


def test_lines_end_with_crlf_lf_or_cr_even_when_a_chunk_boundary_splits_crlf() -> None:
    assert list(iter_lines([b"a\r", b"\nb\rc\n", b"\r\n", b"d"])) == ["a", "b", "c", ""]


def test_a_cr_then_an_lf_alone_in_the_next_chunk_is_one_line_end() -> None:
    assert list(iter_lines([b"a\r", b"\n", b"\n"])) == ["a", ""]
    assert list(iter_lines([b"a\r", b"", b"\n", b"b\n"])) == ["a", "b"]
    assert list(iter_lines([b"a\r", b"b", b"\n"])) == ["a", "b"]


def test_characters_split_across_chunks_are_decoded_whole() -> None:
    text = "caf\u00e9 \u4e2d\u6587 ".encode() + CHECK
    chunks = [text[i : i + 1] for i in range(len(text))] + [b"\n"]
    assert list(iter_lines(chunks)) == ["caf\u00e9 \u4e2d\u6587 \u2705"]


def test_only_a_leading_byte_order_mark_is_dropped() -> None:
    assert list(iter_lines([b"\xef\xbb", b"\xbfa\n\xef\xbb\xbfb\n"])) == ["a", "\ufeffb"]


def test_invalid_utf8_becomes_the_replacement_character() -> None:
    assert list(iter_lines([b"a\xffb\n"])) == ["a\ufffdb"]


def test_an_unfinished_last_line_is_discarded() -> None:
    assert list(iter_lines([b"a\nb"])) == ["a"]


def test_comments_ids_and_retry_change_nothing() -> None:
    stream = b': keep-alive\nid: 7\nretry: 100\nevent: ping\ndata: {"n": 1}\n\n'
    assert list(iter_sse([stream])) == [{"n": 1, "type": "ping"}]


def test_several_data_lines_make_one_event() -> None:
    stream = b'data: {"text":\ndata:"two lines"}\n\n'
    assert list(iter_sse([stream])) == [{"text": "two lines"}]


def test_the_events_own_type_wins_over_the_event_name() -> None:
    stream = b'event: a\ndata: {"type": "b"}\n\nevent: c\ndata: {}\n\n'
    assert [event["type"] for event in iter_sse([stream])] == ["b", "c"]


def test_a_blank_line_without_data_forgets_the_event_name() -> None:
    stream = b"event: stale\n\ndata: {}\n\n"
    assert list(iter_sse([stream])) == [{}]


def test_end_markers_and_empty_data_are_skipped() -> None:
    stream = b"data: [DONE]\n\ndata:\n\ndata: {}\n\n"
    assert list(iter_sse([stream])) == [{}]


def test_an_event_cut_off_by_the_end_of_the_stream_is_not_yielded() -> None:
    assert list(iter_sse([b'data: {"a": 1}\n\ndata: {"b": 2}\n'])) == [{"a": 1}]


@pytest.mark.parametrize("data", [b"not json", b"[1, 2]"])
def test_data_that_is_not_a_json_object_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        list(iter_sse([b"data: " + data + b"\n\n"]))


def test_a_whole_stream_in_crlf_split_into_single_bytes() -> None:
    stream = b'\xef\xbb\xbfevent: response.output_text.delta\r\ndata: {"delta": "' + CHECK + b'"}\r\n\r\n'
    events = list(iter_sse(stream[i : i + 1] for i in range(len(stream))))
    assert events == [{"type": "response.output_text.delta", "delta": "\u2705"}]


def test_collector_reads_incomplete_as_a_finished_answer() -> None:
    events = (
        {"type": "response.output_text.delta", "delta": "A"},
        {"type": "mystery"},
        {"type": "response.incomplete", "response": {"status": "incomplete"}},
    )
    deltas: list[str] = []
    assert collect_answer(events, deltas.append).status == "incomplete" and deltas == ["A"]
