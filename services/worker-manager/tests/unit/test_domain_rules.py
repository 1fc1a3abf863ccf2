"""The rules in domain/: what a worker's record says, what an exit or a lifecycle event means,
when a worker is paused, woken or given up on, and what a worker is started with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from shared.contracts import (
    AgentType,
    LifecycleEventKind,
    WorkerActivity,
    WorkerConfig,
    WorkerHeartbeat,
    WorkerLifecycleEvent,
    WorkerState,
    WorkerType,
)
from worker_manager.domain.environment import (
    WorkerLaunch,
    context_error,
    home_owner,
    worker_env,
    worker_labels,
)
from worker_manager.domain.exits import (
    CLAIMED_ERROR_CHARS,
    VANISHED,
    event_verdict,
    exit_verdict,
)
from worker_manager.domain.record import EndClaim, WorkerRecord
from worker_manager.domain.status import DELETED
from worker_manager.domain.watch import Step, lost_by_engine, on_its_way_out, watch_step
from worker_manager.ports import WorkerRedisUrls

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
IDLE_TIMEOUT_S = 60.0


def record(**changes: object) -> WorkerRecord:
    fields: dict[str, object] = {
        "worker_id": "po-1",
        "worker_type": WorkerType.PO,
        "state": WorkerState.RUNNING,
        "started_at": NOW - timedelta(hours=1),
        "updated_at": NOW - timedelta(minutes=5),
        "handle": "123",
        **changes,
    }
    return WorkerRecord(**fields)  # type: ignore[arg-type]


def event(kind: LifecycleEventKind, **fields: object) -> WorkerLifecycleEvent:
    return WorkerLifecycleEvent.model_validate({"worker_id": "po-1", "event": kind, **fields})


def beat(state: WorkerActivity, task_id: str | None = None) -> WorkerHeartbeat:
    return WorkerHeartbeat(state=state, task_id=task_id, at=NOW.timestamp())


class TestRecord:
    def test_a_record_is_read_from_its_stored_text_and_empty_fields_are_unset(self) -> None:
        stamp = NOW.isoformat()
        read = WorkerRecord.from_fields(
            {
                "worker_id": "developer-1",
                "worker_type": "developer",
                "state": "PAUSED",
                "started_at": stamp,
                "updated_at": stamp,
                "last_active_at": "",
                "handle": "c0ffee",
                "key_id": "",
                "exit_code": "137",
                "deleting": "1",
                "claimed_state": "STOPPED",
                "claimed_exit_code": "",
                "claimed_error": "asked to stop",
                "engine_error_since": "1700000000.5",
            }
        )

        assert read.worker_type is WorkerType.DEVELOPER
        assert read.state is WorkerState.PAUSED
        assert read.handle == "c0ffee"
        assert read.key_id is None
        assert read.exit_code == 137
        assert read.deleting is True
        assert read.claim == EndClaim(WorkerState.STOPPED, None, "asked to stop")
        assert read.engine_error_since == 1700000000.5
        assert read.last_active == NOW, "never active: active since it started"
        assert not read.is_final

    def test_a_claims_fields_read_back_as_the_claim(self) -> None:
        claim = EndClaim(WorkerState.COMPLETED, 0, "")
        stamp = NOW.isoformat()
        stored = {k: "" if v is None else str(v) for k, v in claim.fields().items()}
        base = {"worker_id": "po-1", "worker_type": "po", "state": "RUNNING"}
        read = WorkerRecord.from_fields(
            {**base, "started_at": stamp, "updated_at": stamp, **stored}
        )
        assert read.claim == claim


class TestLifecycleEvents:
    def test_started_runs_a_starting_worker_and_ends_nothing(self) -> None:
        verdict = event_verdict(WorkerState.STARTING, event(LifecycleEventKind.STARTED))
        assert (verdict.state, verdict.ends) == (WorkerState.RUNNING, False)

    def test_a_late_started_never_revives_an_ended_worker(self) -> None:
        verdict = event_verdict(WorkerState.FAILED, event(LifecycleEventKind.STARTED))
        assert (verdict.state, verdict.ends) == (WorkerState.FAILED, False)

    @pytest.mark.parametrize(
        ("kind", "fields", "state", "reason"),
        [
            (
                LifecycleEventKind.COMPLETED,
                {"exit_code": 0},
                WorkerState.COMPLETED,
                "exited with 0",
            ),
            (
                LifecycleEventKind.FAILED,
                {"exit_code": 1, "error": "boom"},
                WorkerState.FAILED,
                "boom",
            ),
            (LifecycleEventKind.STOPPED, {"exit_code": 143}, WorkerState.STOPPED, "terminated"),
        ],
    )
    def test_an_end_is_claimed_with_its_reason_and_fields(
        self, kind: LifecycleEventKind, fields: dict[str, object], state: WorkerState, reason: str
    ) -> None:
        verdict = event_verdict(WorkerState.RUNNING, event(kind, task_id="t-1", **fields))

        assert verdict.ends
        assert verdict.state is state
        assert reason in verdict.reason
        assert verdict.fields["current_task_id"] == "t-1"
        assert verdict.fields["exit_code"] == fields["exit_code"]

    def test_a_claimed_error_is_cut_short(self) -> None:
        stopped = event(LifecycleEventKind.FAILED, exit_code=1, error="x" * 5000)
        claim = event_verdict(WorkerState.RUNNING, stopped).claim(stopped)
        assert claim == EndClaim(WorkerState.FAILED, 1, "x" * CLAIMED_ERROR_CHARS)


class TestExits:
    @pytest.mark.parametrize(
        ("code", "state", "error"),
        [
            (0, WorkerState.COMPLETED, None),
            (137, WorkerState.FAILED, "killed: out of memory or SIGKILL (137)"),
            (2, WorkerState.FAILED, "the worker exited with 2"),
            (
                VANISHED,
                WorkerState.FAILED,
                "the worker vanished (engine unavailable or process lost)",
            ),
        ],
    )
    def test_the_exit_code_decides_how_a_live_worker_ends(
        self, code: int, state: WorkerState, error: str | None
    ) -> None:
        verdict = exit_verdict(record(), code)

        assert verdict.state is state
        assert dict(verdict.fields) == {"exit_code": code, "error": error}
        if error:
            assert verdict.reason == error

    def test_a_deleted_worker_ends_stopped_whatever_it_exited_with(self) -> None:
        claim = EndClaim(WorkerState.COMPLETED, 0, "done")
        verdict = exit_verdict(record(deleting=True, claim=claim), 0)
        assert (verdict.state, verdict.reason) == (WorkerState.STOPPED, DELETED)
        assert dict(verdict.fields) == {"exit_code": 0}

    def test_a_claim_the_exit_code_agrees_with_decides_the_state_and_the_reason(self) -> None:
        claim = EndClaim(WorkerState.STOPPED, 143, "asked to stop")
        verdict = exit_verdict(record(claim=claim), 143)
        assert (verdict.state, verdict.reason) == (WorkerState.STOPPED, "asked to stop")

    def test_a_claim_the_exit_code_contradicts_is_ignored(self) -> None:
        claim = EndClaim(WorkerState.STOPPED, 0, "x")
        verdict = exit_verdict(record(claim=claim), 137)
        assert verdict.state is WorkerState.FAILED
        assert verdict.reason == "killed: out of memory or SIGKILL (137)"

    def test_an_ended_worker_keeps_its_final_state_and_gains_its_exit_code(self) -> None:
        verdict = exit_verdict(record(state=WorkerState.COMPLETED), 137)
        assert verdict.state is WorkerState.COMPLETED
        assert dict(verdict.fields) == {"exit_code": 137}


class TestWatch:
    def test_a_busy_worker_is_marked_active(self) -> None:
        step = watch_step(
            record(last_active_at=NOW - timedelta(days=1)),
            beat(WorkerActivity.BUSY, "t-1"),
            now=NOW,
            idle_timeout_s=IDLE_TIMEOUT_S,
        )
        assert step is Step.MARK_BUSY

    def test_an_idle_worker_past_the_idle_timeout_is_paused_unless_work_waits(self) -> None:
        idle = record(last_active_at=NOW - timedelta(seconds=IDLE_TIMEOUT_S + 1))
        step = watch_step(idle, beat(WorkerActivity.IDLE), now=NOW, idle_timeout_s=IDLE_TIMEOUT_S)
        assert step is Step.PAUSE_UNLESS_WORK

    def test_an_idle_worker_within_the_idle_timeout_is_left_alone(self) -> None:
        idle = record(last_active_at=NOW - timedelta(seconds=IDLE_TIMEOUT_S))
        step = watch_step(idle, beat(WorkerActivity.IDLE), now=NOW, idle_timeout_s=IDLE_TIMEOUT_S)
        assert step is Step.NOTHING

    def test_a_worker_without_a_heartbeat_is_still_starting_and_never_paused(self) -> None:
        idle = record(last_active_at=NOW - timedelta(days=1))
        assert watch_step(idle, None, now=NOW, idle_timeout_s=IDLE_TIMEOUT_S) is Step.NOTHING

    def test_a_paused_worker_is_woken_if_work_waits(self) -> None:
        paused = record(state=WorkerState.PAUSED)
        step = watch_step(paused, None, now=NOW, idle_timeout_s=IDLE_TIMEOUT_S)
        assert step is Step.WAKE_IF_WORK

    @pytest.mark.parametrize("state", [WorkerState.STARTING, WorkerState.FAILED])
    def test_workers_neither_running_nor_paused_are_left_alone(self, state: WorkerState) -> None:
        step = watch_step(
            record(state=state, last_active_at=NOW - timedelta(days=1)),
            beat(WorkerActivity.IDLE),
            now=NOW,
            idle_timeout_s=IDLE_TIMEOUT_S,
        )
        assert step is Step.NOTHING

    def test_a_worker_the_engine_cannot_see_past_its_grace_is_lost(self) -> None:
        now = NOW.timestamp()
        assert not lost_by_engine(record(), now, 120)
        assert not lost_by_engine(record(engine_error_since=now - 120), now, 120)
        assert lost_by_engine(record(engine_error_since=now - 121), now, 120)

    def test_an_ended_process_still_running_is_let_go_for_the_stop_grace(self) -> None:
        ended = record(state=WorkerState.COMPLETED, updated_at=NOW - timedelta(seconds=10))
        assert on_its_way_out(ended, NOW, stop_grace_s=10)
        assert not on_its_way_out(ended, NOW + timedelta(seconds=1), stop_grace_s=10)


class TestEnvironment:
    LAUNCH = WorkerLaunch(
        redis_url="redis://r:6379/0",
        api_url="http://api",
        task_timeout_s=600,
        inherited={"PATH": "/bin", "LANG": "C.UTF-8", "AGENT_HOME": "/opt/agents"},
    )
    REDIS = WorkerRedisUrls(
        wrapper="redis://wrapper:pw@r:6379/0", agent="redis://agent:pw@r:6379/0"
    )

    def config(self, **env: str) -> WorkerConfig:
        return WorkerConfig(
            name="w",
            worker_type=WorkerType.DEVELOPER,
            agent_type=AgentType.SCRIPTED,
            instructions="be brief",
            env_vars=env,
        )

    def test_a_worker_gets_the_inherited_variables_its_own_and_what_the_wrapper_needs(
        self,
    ) -> None:
        env = worker_env(
            self.LAUNCH,
            self.config(AGENT_HOME="/mine", EXTRA="1"),
            {"user_id": "u-1", "session_id": "", "task_id": "t-1"},
            worker_id="developer-1",
            api_key="cgo_secret",
            redis=self.REDIS,
            workspace=Path("/data/developer-1"),
        )

        assert env == {
            "PATH": "/bin",
            "LANG": "C.UTF-8",
            "AGENT_HOME": "/mine",
            "EXTRA": "1",
            "WORKER_ID": "developer-1",
            "WORKER_TYPE": "developer",
            "AGENT_TYPE": "scripted",
            "REDIS_URL": "redis://wrapper:pw@r:6379/0",
            "AGENT_REDIS_URL": "redis://agent:pw@r:6379/0",
            "API_URL": "http://api",
            "API_KEY": "cgo_secret",
            "ALLOWED_COMMANDS": "",
            "INSTRUCTIONS": "be brief",
            "WORKSPACE_DIR": "/data/developer-1",
            "AGENT_TIMEOUT_S": "600",
            "HOME": "/data/developer-1/home",
            "USER_ID": "u-1",
        }

    def test_a_config_cannot_override_what_the_wrapper_needs(self) -> None:
        env = worker_env(
            self.LAUNCH,
            self.config(
                WORKER_ID="someone-else", REDIS_URL="redis://evil", AGENT_REDIS_URL="redis://evil"
            ),
            {},
            worker_id="developer-1",
            api_key="",
            redis=self.REDIS,
            workspace=Path("/w"),
        )
        assert (env["WORKER_ID"], env["REDIS_URL"], env["AGENT_REDIS_URL"]) == (
            "developer-1",
            "redis://wrapper:pw@r:6379/0",
            "redis://agent:pw@r:6379/0",
        )

    def test_the_agents_secrets_join_the_variables_the_wrapper_hands_it(self) -> None:
        env = worker_env(
            self.LAUNCH,
            self.config(AGENT_EXTRA_ENV="DEBUG"),
            {},
            worker_id="developer-1",
            api_key="",
            redis=self.REDIS,
            workspace=Path("/w"),
            secrets={"MODEL_API_KEY": "sk-1", "SEARCH_KEY": "sk-2"},
        )

        assert (env["MODEL_API_KEY"], env["SEARCH_KEY"]) == ("sk-1", "sk-2")
        assert env["AGENT_EXTRA_ENV"] == "DEBUG,MODEL_API_KEY,SEARCH_KEY"
        assert "GIT_TOKEN" not in env

    def test_a_forge_token_is_the_wrappers_and_never_named_for_the_agent(self) -> None:
        env = worker_env(
            self.LAUNCH,
            self.config(),
            {},
            worker_id="developer-1",
            api_key="",
            redis=self.REDIS,
            workspace=Path("/w"),
            secrets={"MODEL_API_KEY": "sk-1"},
            git_token="ghs_token",
        )

        assert env["GIT_TOKEN"] == "ghs_token"
        assert env["AGENT_EXTRA_ENV"] == "MODEL_API_KEY"

    def test_labels_name_the_worker_and_what_it_works_on(self) -> None:
        labels = worker_labels("developer-1", self.config(), {"project_id": "p-1"})
        assert labels == {
            "codegen.worker-id": "developer-1",
            "codegen.worker-type": "developer",
            "codegen.project-id": "p-1",
            "codegen.task-id": "",
        }


class TestAWorkersContext:
    def test_a_po_worker_for_a_user_works_in_that_users_home(self) -> None:
        po = WorkerConfig(name="po", worker_type=WorkerType.PO, agent_type=AgentType.CLAUDE)
        developer = po.model_copy(update={"worker_type": WorkerType.DEVELOPER})
        assert home_owner(po, {"user_id": "u-1"}) == "u-1"
        assert home_owner(po, {"user_id": ""}) is None
        assert home_owner(po, {}) is None
        assert home_owner(developer, {"user_id": "u-1"}) is None

    def test_a_user_and_a_session_must_be_identifiers(self) -> None:
        assert context_error({"user_id": "123456789", "session_id": "9b2f", "x": "a b"}) is None
        assert context_error({"user_id": "", "session_id": ""}) is None
        assert context_error({"user_id": "a/b"}) == (
            "context.user_id must be an identifier (letters, digits, _.:@+=-, not starting "
            "with . or -): 'a/b'"
        )
