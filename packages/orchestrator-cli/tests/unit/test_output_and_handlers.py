"""Output shapes for every error kind, and the handlers' rules with fake ports."""

from __future__ import annotations

import json
from typing import Any

import pytest
from orchestrator_cli import errors
from orchestrator_cli.config import CliConfig
from orchestrator_cli.handlers import (
    cancel_task,
    project_problem,
    respond,
    start_task,
    wait_for_task,
)
from orchestrator_cli.output import failure, success
from pydantic import BaseModel
from shared.contracts import POWorkerOutput

ERROR_KINDS = [
    errors.InvalidArguments,
    errors.PermissionDenied,
    errors.NotFound,
    errors.Conflict,
    errors.ApiError,
    errors.ApiUnavailable,
    errors.RedisUnavailable,
    errors.PublishFailed,
    errors.Timeout,
    errors.ConfigurationError,
    errors.InternalError,
]


def test_a_success_is_one_json_object_with_data_and_message() -> None:
    outcome = success({"id": "p1"}, "created")
    assert json.loads(outcome.render()) == {
        "success": True,
        "data": {"id": "p1"},
        "message": "created",
    }
    assert outcome.exit_code == 0


@pytest.mark.parametrize("kind", ERROR_KINDS, ids=lambda k: k.kind)
def test_every_error_kind_prints_its_name_message_details_and_a_nonzero_code(
    kind: type[errors.CliError],
) -> None:
    outcome = failure(kind("it broke", {"field": "x"}))
    assert json.loads(outcome.render()) == {
        "success": False,
        "error": kind.kind,
        "message": "it broke",
        "details": {"field": "x"},
    }
    assert outcome.exit_code != 0


def test_error_kinds_have_distinct_exit_codes() -> None:
    codes = [k.exit_code for k in ERROR_KINDS]
    assert len(set(codes)) == len(codes)


CONFIG = CliConfig.from_env({"USER_ID": "u1", "API_KEY": "k"})


class FakeApi:
    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}
        self.statuses: list[str] = []
        self.patches: list[tuple[str, dict[str, Any]]] = []

    def get(self, path: str, **params: Any) -> Any:
        if path.startswith("/api/projects/"):
            return {"id": path.rsplit("/", 1)[1], "owner_id": "u1"}
        task = self.tasks[path.rsplit("/", 1)[1]]
        if self.statuses:
            task["status"] = self.statuses.pop(0)
        return task

    def post(self, path: str, body: dict[str, Any]) -> Any:
        task = {"id": f"t{len(self.tasks) + 1}", "status": "queued", **body}
        self.tasks[task["id"]] = task
        return task

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        self.patches.append((path, body))
        task = self.tasks[path.rsplit("/", 1)[1]]
        task.update(body)
        return task


class FakeQueue:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.published: list[tuple[str, BaseModel]] = []

    def publish(self, stream: str, message: BaseModel) -> str:
        if self.fail:
            raise errors.RedisUnavailable("Redis is unreachable: refused")
        self.published.append((stream, message))
        return "1-0"

    def ping(self, streams: list[str]) -> dict[str, Any]:
        return {}


class TestRespond:
    """An interim message of the PO's turn: never the turn's final answer, which the wrapper
    publishes with the input's request id."""

    TURN = CliConfig.from_env(
        {"USER_ID": "u1", "WORKER_ID": "po-1", "REQUEST_ID": "req-7", "CORRELATION_ID": "c-7"}
    )

    def sent(self, text: str, config: CliConfig = TURN) -> POWorkerOutput:
        queue = FakeQueue()
        respond(text, queue=queue, config=config)
        [(stream, message)] = queue.published
        assert stream == "worker:po:po-1:output"
        assert isinstance(message, POWorkerOutput)
        return message

    def test_is_an_interim_message_for_the_user_in_the_turns_trace(self) -> None:
        message = self.sent("Creating your project now.")
        assert (message.text, message.user_id, message.correlation_id) == (
            "Creating your project now.",
            "u1",
            "c-7",
        )
        assert message.is_final is False
        assert message.session_id is None

    def test_has_a_request_id_of_its_own_derived_from_the_turns(self) -> None:
        first, second = self.sent("Creating it."), self.sent("Engineering started.")
        assert first.request_id.startswith("req-7:respond:")
        assert second.request_id.startswith("req-7:respond:")
        assert first.request_id != second.request_id

    def test_the_same_words_twice_in_a_turn_are_the_same_request(self) -> None:
        assert self.sent("On it.").request_id == self.sent("  On   it.\n").request_id

    def test_a_long_request_id_still_gives_a_valid_one(self) -> None:
        long = CliConfig.from_env({"USER_ID": "u1", "WORKER_ID": "po-1", "REQUEST_ID": "r" * 128})
        message = self.sent("On it.", long)
        assert len(message.request_id) <= 128
        assert message.request_id.startswith("r" * 90)

    def test_outside_a_turn_it_gets_a_fresh_request_id(self) -> None:
        config = CliConfig.from_env({"USER_ID": "u1", "WORKER_ID": "po-1"})
        assert ":respond:" not in self.sent("Hello.", config).request_id


class TestStartTask:
    def test_the_task_is_created_then_its_message_queued(self) -> None:
        api, queue = FakeApi(), FakeQueue()
        started = start_task("engineering", "p1", "spec", api=api, queue=queue, config=CONFIG)
        [(stream, message)] = queue.published
        assert stream == "engineering:queue"
        assert message.model_dump(
            include={"task_id", "project_id", "user_id", "callback_stream", "request_id"}
        ) == {
            "task_id": "t1",
            "project_id": "p1",
            "user_id": "u1",
            "callback_stream": "task_progress:t1",
            "request_id": "t1",
        }
        assert started["entry_id"] == "1-0"

    def test_a_deploy_names_the_commit_it_was_asked_to_ship(self) -> None:
        api, queue = FakeApi(), FakeQueue()
        start_task("deploy", "p1", "", api=api, queue=queue, config=CONFIG, commit_sha="0a1b2c3d")
        [(stream, message)] = queue.published
        assert stream == "deploy:queue"
        assert message.model_dump()["commit_sha"] == "0a1b2c3d"

    def test_a_deploy_without_a_commit_leaves_the_choice_to_the_flow(self) -> None:
        api, queue = FakeApi(), FakeQueue()
        start_task("deploy", "p1", "", api=api, queue=queue, config=CONFIG)
        [(_, message)] = queue.published
        assert message.model_dump()["commit_sha"] is None

    @pytest.mark.parametrize("sha", ["HEAD", "main", "ABCDEF12", "abc", "a" * 65, "", "-x"])
    def test_a_bad_commit_is_refused_before_any_task_exists(self, sha: str) -> None:
        api, queue = FakeApi(), FakeQueue()
        with pytest.raises(errors.InvalidArguments) as caught:
            start_task("deploy", "p1", "", api=api, queue=queue, config=CONFIG, commit_sha=sha)
        assert caught.value.details["field"] == "commit_sha"
        assert "--commit-sha" in caught.value.message
        assert api.tasks == {}
        assert queue.published == []

    def test_a_task_that_cannot_be_queued_is_cancelled_with_the_reason(self) -> None:
        api = FakeApi()
        with pytest.raises(errors.PublishFailed) as caught:
            start_task("deploy", "p1", "", api=api, queue=FakeQueue(fail=True), config=CONFIG)
        assert api.tasks["t1"]["status"] == "cancelled"
        assert api.tasks["t1"]["error"] == "could not queue: Redis is unreachable: refused"
        assert caught.value.details == {
            "task_id": "t1",
            "cause": "RedisUnavailable",
            "task_status": "cancelled",
        }


class TestCancelTask:
    def test_the_task_is_marked_cancelled_and_nothing_is_published(self) -> None:
        api = FakeApi()
        task_id = "0" * 32
        api.tasks[task_id] = {"id": task_id, "type": "engineering", "status": "running"}
        cancelled = cancel_task("engineering", task_id, api=api)
        assert cancelled["status"] == "cancelled"
        assert api.patches == [(f"/api/tasks/{task_id}", {"status": "cancelled"})]

    def test_a_task_of_the_other_kind_is_refused_and_left_alone(self) -> None:
        api = FakeApi()
        task_id = "0" * 32
        api.tasks[task_id] = {"id": task_id, "type": "engineering", "status": "running"}
        with pytest.raises(errors.InvalidArguments) as caught:
            cancel_task("deploy", task_id, api=api)
        assert caught.value.details == {"field": "task_id", "type": "engineering"}
        assert api.patches == []

    @pytest.mark.parametrize("task_id", ["", "x", "../projects/" + "0" * 32, "A" * 32])
    def test_a_malformed_task_id_is_refused_before_the_api_is_asked(self, task_id: str) -> None:
        api = FakeApi()
        with pytest.raises(errors.InvalidArguments) as caught:
            cancel_task("engineering", task_id, api=api)
        assert caught.value.details["field"] == "task_id"
        assert api.patches == []


class TestWaitForTask:
    def test_it_polls_with_growing_delays_until_the_task_ends(self) -> None:
        api = FakeApi()
        api.post("/api/tasks", {})
        api.statuses = ["queued", "running", "running", "running", "completed"]
        now = [0.0]
        sleeps: list[float] = []

        def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            now[0] += seconds

        task = wait_for_task("t1", 60, api=api, clock=lambda: now[0], sleep=sleep)
        assert task["status"] == "completed"
        assert sleeps == [0.5, 1.0, 2.0, 4.0]

    def test_it_gives_up_at_the_timeout_with_the_last_state(self) -> None:
        api = FakeApi()
        api.post("/api/tasks", {})
        now = [0.0]

        def sleep(seconds: float) -> None:
            now[0] += seconds

        with pytest.raises(errors.Timeout) as caught:
            wait_for_task("t1", 3, api=api, clock=lambda: now[0], sleep=sleep)
        assert caught.value.details["task"]["status"] == "queued"
        assert now[0] == 3


@pytest.mark.parametrize(
    ("status", "tasks", "flagged"),
    [
        ("developing", [], True),
        ("developing", [{"type": "engineering", "status": "running"}], False),
        ("developing", [{"type": "deploy", "status": "running"}], True),
        ("deploying", [{"type": "deploy", "status": "queued"}], False),
        ("deploying", [{"type": "deploy", "status": "failed"}], True),
        ("archived", [{"type": "engineering", "status": "queued"}], True),
        ("active", [{"type": "deploy", "status": "completed"}], False),
        ("ready", [], False),
        ("ready", [{"type": "engineering", "status": "completed"}], False),
        ("testing", [], True),
        ("draft", [], False),
    ],
)
def test_projects_whose_status_and_tasks_disagree_are_flagged(
    status: str, tasks: list[dict[str, Any]], flagged: bool
) -> None:
    assert (project_problem(status, tasks) is not None) is flagged
