"""The rules in domain/: a task's prompt and judgement, a PO's reply, the worker's last words."""

from __future__ import annotations

import pytest
from shared.contracts import (
    AgentUsage,
    DeveloperWorkerInput,
    DeveloperWorkerOutput,
    LifecycleEventKind,
    OutcomeStatus,
    POWorkerInput,
)
from worker_wrapper.domain import chat, task
from worker_wrapper.domain.ending import LastWords, WhyStopped, last_words
from worker_wrapper.domain.task import Outcome
from worker_wrapper.domain.turns import AgentTurn, Stopped, TurnResult, TurnStatus
from worker_wrapper.domain.verdict import PROTOCOL

VERDICT = '<result>{"status": "success", "summary": "did it", "data": {}}</result>'
TASK = DeveloperWorkerInput(
    task_id="t-1", project_id="p-1", prompt="add a file", repo_url="/srv/repo.git", timeout=60
)


def turn_result(text: str, *, is_error: bool = False, session_id: str | None = "s-1") -> TurnResult:
    return TurnResult(TurnStatus.OK, AgentTurn(text, session_id, is_error=is_error), 0)


def test_a_first_attempt_asks_for_the_work_and_the_verdict() -> None:
    prompt = task.build_prompt(TASK)
    assert prompt.startswith("add a file\n")
    assert "attempt" not in prompt
    assert prompt.endswith("End with the <result> block described in your instructions.")


def test_a_retry_says_which_attempt_it_is_and_what_failed_before() -> None:
    retry = TASK.model_copy(update={"attempt": 3, "previous_failure": "tests fail"})
    prompt = task.build_prompt(retry)
    assert "This is attempt 3." in prompt
    assert "The previous attempt failed:\ntests fail\nFix that." in prompt


def test_usage_adds_up_over_turns_and_a_turn_without_usage_changes_nothing() -> None:
    first = AgentUsage(input_tokens=10, output_tokens=5, cost_usd=0.01)
    second = AgentUsage(input_tokens=3, cache_read_tokens=7)
    total = task.add_usage(first, second)
    assert total == AgentUsage(input_tokens=13, output_tokens=5, cache_read_tokens=7, cost_usd=0.01)
    assert task.add_usage(None, first) == first
    assert task.add_usage(first, None) == first
    assert task.add_usage(None, None) is None


def test_a_success_verdict_is_a_success_to_check_against_git() -> None:
    outcome = task.judge(TASK, turn_result(f"done\n{VERDICT}"))
    assert outcome is not None
    assert outcome.status is OutcomeStatus.SUCCESS
    assert outcome.verdict is not None
    assert outcome.verdict.summary == "did it"
    assert outcome.exit_code == 0


def test_a_failure_verdict_fails_the_task_with_the_agents_summary() -> None:
    text = '<result>{"status": "failure", "summary": "tests fail"}</result>'
    outcome = task.judge(TASK, turn_result(text))
    assert outcome is not None
    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.error == "the agent reports failure: tests fail"


def test_no_verdict_means_ask_again_unless_the_agent_said_it_failed() -> None:
    assert task.judge(TASK, turn_result("I am done")) is None
    outcome = task.judge(TASK, turn_result("rate limited", is_error=True))
    assert outcome is not None
    assert outcome.status is OutcomeStatus.ERROR
    assert outcome.error == "the agent failed: rate limited"


def test_still_no_verdict_when_asked_again_is_a_failure() -> None:
    outcome = task.judge_follow_up(TASK, turn_result("still nothing"))
    assert (outcome.status, outcome.error) == (OutcomeStatus.FAILED, task.NO_VERDICT)


def test_a_verdict_that_does_not_parse_fails_the_task() -> None:
    outcome = task.judge(TASK, turn_result("<result>{status: success}</result>"))
    assert outcome is not None
    assert outcome.status is OutcomeStatus.FAILED
    assert str(outcome.error).startswith("could not parse")


def test_a_timeout_a_crash_and_a_stop_are_told_apart() -> None:
    timed_out = task.judge(TASK, TurnResult(TurnStatus.TIMEOUT, None, -15))
    assert timed_out == Outcome(
        OutcomeStatus.TIMEOUT, "the agent timed out after 60s", exit_code=-15
    )
    crashed = task.judge(TASK, TurnResult(TurnStatus.CRASHED, None, 3, "boom\n"))
    assert crashed == Outcome(OutcomeStatus.ERROR, "agent exited with 3: boom", exit_code=3)
    with pytest.raises(Stopped):
        task.judge(TASK, TurnResult(TurnStatus.STOPPED, None, -15))


def test_the_verdict_follow_up_is_short_unless_the_task_is() -> None:
    assert task.follow_up_timeout_s(TASK) == 60
    assert task.follow_up_timeout_s(TASK.model_copy(update={"timeout": 3600})) == 300


def test_a_claimed_success_needs_a_new_commit_that_was_pushed() -> None:
    claimed = Outcome(OutcomeStatus.SUCCESS, exit_code=0)
    no_commit = task.delivered(claimed, base="a1", head="a1", push_error=None)
    assert (no_commit.status, no_commit.error, no_commit.commit_sha) == (
        OutcomeStatus.FAILED,
        task.NO_COMMIT,
        None,
    )
    unpushed = task.delivered(claimed, base="a1", head="b2", push_error="rejected")
    assert (unpushed.status, unpushed.error, unpushed.commit_sha) == (
        OutcomeStatus.ERROR,
        "could not push b2: rejected",
        "b2",
    )
    pushed = task.delivered(claimed, base="a1", head="b2", push_error=None)
    assert (pushed.status, pushed.error, pushed.commit_sha) == (OutcomeStatus.SUCCESS, None, "b2")


def test_only_a_success_completes_the_worker_with_exit_code_0() -> None:
    def output(status: OutcomeStatus) -> DeveloperWorkerOutput:
        return DeveloperWorkerOutput(task_id="t-1", status=status, commit_sha="b2")

    success = task.task_end(output(OutcomeStatus.SUCCESS))
    assert (success.exit_code, success.event) == (0, LifecycleEventKind.COMPLETED)
    assert success.result == {"status": "success", "commit_sha": "b2"}
    for status in (OutcomeStatus.FAILED, OutcomeStatus.ERROR, OutcomeStatus.TIMEOUT):
        end = task.task_end(output(status))
        assert (end.exit_code, end.event) == (1, LifecycleEventKind.FAILED)


def test_the_instructions_follow_the_projects_own_file_and_end_with_the_protocol() -> None:
    assert task.instructions("", None) == PROTOCOL
    assert task.instructions("  Be careful.\n", None) == f"Be careful.\n\n{PROTOCOL}"
    assert task.instructions("Be careful.", "# Project") == (
        f"# Project\n\nBe careful.\n\n{PROTOCOL}"
    )


def test_a_stopped_task_says_so_and_keeps_the_ids() -> None:
    output = task.stopped_output(TASK, "dev-1")
    assert (output.request_id, output.task_id, output.worker_id) == (
        TASK.request_id,
        "t-1",
        "dev-1",
    )
    assert output.status is OutcomeStatus.FAILED
    assert output.error == task.STOPPED_ERROR


MESSAGE = POWorkerInput(user_id="u-1", prompt="hello")


def test_a_po_reply_is_the_answer_without_its_verdict_and_continues_the_session() -> None:
    reply = chat.reply(turn_result(f"Hi there!\n{VERDICT}", session_id="s-9"))
    assert reply == chat.Reply("Hi there!", "s-9")
    assert chat.reply(turn_result("Hi", session_id=None)).session_id is None


def test_a_po_turn_that_failed_gets_the_user_an_apology() -> None:
    assert chat.reply(TurnResult(TurnStatus.TIMEOUT, None, -15)).text == chat.TOO_LONG
    assert chat.reply(TurnResult(TurnStatus.CRASHED, None, 3)).text == chat.WENT_WRONG
    with pytest.raises(Stopped):
        chat.reply(TurnResult(TurnStatus.STOPPED, None, -15))


def test_a_po_answer_is_final_for_the_user_who_asked_and_names_the_session() -> None:
    answer = chat.answer(MESSAGE, "Hi", "s-3")
    assert (answer.request_id, answer.user_id, answer.text, answer.is_final) == (
        MESSAGE.request_id,
        "u-1",
        "Hi",
        True,
    )
    assert (answer.session_id, answer.worker_died) == ("s-3", False)
    assert chat.answer(MESSAGE, "Hi", None).session_id is None
    env = chat.turn_env({"EXTRA": "1"}, MESSAGE)
    assert env == {
        "EXTRA": "1",
        "REQUEST_ID": MESSAGE.request_id,
        "CORRELATION_ID": MESSAGE.correlation_id,
        "USER_ID": "u-1",
    }


def test_a_stopped_worker_says_stopped_a_broken_one_failed_a_finished_one_nothing() -> None:
    assert last_words(WhyStopped.ASKED, exit_code=143, failures={}) == LastWords(
        LifecycleEventKind.STOPPED, 143
    )
    broke = last_words(
        WhyStopped.BROKE, exit_code=1, failures={"heartbeat": "OSError('disk full')"}
    )
    assert broke == LastWords(LifecycleEventKind.FAILED, 1, "heartbeat: OSError('disk full')")
    assert last_words(WhyStopped.DONE, exit_code=0, failures={}) is None


class TestTheFinalAnswer:
    def test_is_the_agents_answer_when_it_sent_nothing_during_the_turn(self) -> None:
        assert chat.final_text("Your project is queued.", []) == "Your project is queued."

    def test_says_nothing_the_agent_already_sent_with_respond(self) -> None:
        sent = ["Creating the project now.", "Engineering has started:\n  task 42."]
        assert chat.final_text("Creating the project now.", sent) == ""
        assert chat.final_text("  Engineering has started: task 42.\n", sent) == ""

    def test_says_nothing_when_it_repeats_everything_sent_in_order(self) -> None:
        sent = ["Creating the project.", "Engineering has started."]
        assert chat.final_text("Creating the project.\nEngineering has started.", sent) == ""

    def test_keeps_an_answer_that_says_more_than_what_was_sent(self) -> None:
        sent = ["Creating the project."]
        answer = "Creating the project. It is queued as task 42."
        assert chat.final_text(answer, sent) == answer

    def test_is_empty_when_the_agent_answered_nothing_after_a_respond(self) -> None:
        assert chat.final_text("  \n", ["On it."]) == ""

    def test_is_never_silence_when_nothing_was_sent(self) -> None:
        assert chat.final_text("", []) == chat.NO_ANSWER
        assert chat.final_text(" \n ", []) == chat.NO_ANSWER
