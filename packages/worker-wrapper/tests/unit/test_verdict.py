"""Reading the agent's verdict from its final answer."""

from __future__ import annotations

import pytest
from shared.contracts import VerdictStatus
from worker_wrapper.domain.verdict import (
    ASK_FOR_VERDICT,
    PROTOCOL,
    VerdictError,
    parse_verdict,
    without_result_blocks,
)


def test_a_clean_block_is_read() -> None:
    parsed = parse_verdict(
        '<result>{"status": "success", "summary": "ok", "data": {"n": 1}}</result>'
    )
    assert parsed.verdict is not None
    assert parsed.verdict.status is VerdictStatus.SUCCESS
    assert parsed.verdict.data == {"n": 1}


def test_whitespace_text_and_code_fences_around_the_block_are_tolerated() -> None:
    text = (
        "All done!\n\n<result>\n```json\n"
        '{"status": "failure", "summary": "tests fail"}\n```\n</result>\nBye'
    )
    parsed = parse_verdict(text)
    assert parsed.verdict is not None
    assert parsed.verdict.status is VerdictStatus.FAILURE


def test_the_last_block_wins_and_a_mention_of_the_tag_does_not_confuse_it() -> None:
    text = (
        "I will end with the <result> block as asked.\n"
        '<result>{"status": "in_progress", "summary": "first"}</result>\n'
        '<result>{"status": "success", "summary": "final"}</result>'
    )
    parsed = parse_verdict(text)
    assert parsed.verdict is not None
    assert parsed.verdict.summary == "final"


@pytest.mark.parametrize(
    "broken",
    [
        "<result>{status: success}</result>",
        "<result></result>",
        '<result>{"status": "maybe", "summary": "x"}</result>',
        "<result>[1, 2]</result>",
    ],
)
def test_a_broken_block_is_an_error_saying_the_verdict_could_not_be_parsed(broken: str) -> None:
    with pytest.raises(VerdictError, match=r"^could not parse agent verdict"):
        parse_verdict(broken)


@pytest.mark.parametrize("missing", ["", "Done, committed.", "<result> was not given"])
def test_no_block_at_all_is_no_verdict(missing: str) -> None:
    assert parse_verdict(missing).verdict is None


def test_the_protocol_states_the_block_and_the_follow_up_contains_no_block() -> None:
    assert parse_verdict(PROTOCOL).verdict is not None
    assert parse_verdict(ASK_FOR_VERDICT).verdict is None


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        ('Done.\n\n<result>{"status": "success"}</result>\n', "Done."),
        ("Before <RESULT>x</Result>  after", "Before\nafter"),
        ("a <result>1</result> b <result>2</result> c", "a\nb\nc"),
        ("unclosed <result> stays", "unclosed <result> stays"),
    ],
)
def test_a_person_sees_the_answer_without_its_result_blocks(answer: str, shown: str) -> None:
    assert without_result_blocks(answer) == shown


# An agent's answer is untrusted and may be huge; the pytest timeout is the bound, not a speed.
@pytest.mark.timeout(60)
@pytest.mark.parametrize("unit", ["<result>", " ", "<result> ", "</result>", "x"])
def test_a_megabyte_answer_of_any_shape_is_read_in_linear_time(unit: str) -> None:
    answer = unit * (1_000_000 // len(unit))
    assert parse_verdict(answer).verdict is None
    assert len(without_result_blocks(answer)) <= len(answer)
