"""The handlers and the endings they share, with small fakes of the ports: what a lifecycle event,
an exit, a death, the watch and the commands do to a worker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from shared.contracts import (
    AgentType,
    CreateWorkerCommand,
    DeleteWorkerCommand,
    LifecycleEventKind,
    StatusWorkerCommand,
    WorkerActivity,
    WorkerConfig,
    WorkerHeartbeat,
    WorkerLifecycleEvent,
    WorkerResponse,
    WorkerState,
    WorkerStatus,
    WorkerType,
)
from shared.permissions import RedisRight
from shared.secrets import SecretUnavailable
from shared.testing import fakes
from worker_manager.domain.endings import end_worker, revoke_key
from worker_manager.domain.environment import WorkerLaunch
from worker_manager.domain.record import WorkerRecord
from worker_manager.domain.status import DELETED, FINAL
from worker_manager.handlers.commands import handle_command
from worker_manager.handlers.deaths import handle_death
from worker_manager.handlers.lifecycle import handle_lifecycle
from worker_manager.handlers.watch import (
    remove_ended,
    remove_orphan_workspaces,
    revoke_orphans,
    watch_workers,
)
from worker_manager.ports import Created, UserHome, WorkerRedisUrls, WorkerSpec

IDLE_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0


def _stamp(at: datetime | None = None) -> str:
    return (at or datetime.now(UTC)).isoformat()


class FakeStore:
    """The status store's rules: a final state is never left, and an unknown worker stays so."""

    def __init__(self) -> None:
        self.fields: dict[str, dict[str, str]] = {}
        self.live_ids: set[str] = set()
        self.ended_ids: set[str] = set()

    async def create(self, worker_id: str, worker_type: WorkerType, **fields: str) -> None:
        stamp = _stamp()
        self.fields[worker_id] = {
            "worker_id": worker_id,
            "worker_type": worker_type.value,
            "state": WorkerState.STARTING.value,
            "started_at": stamp,
            "updated_at": stamp,
            "last_active_at": stamp,
            **fields,
        }
        self.live_ids.add(worker_id)

    async def record(self, worker_id: str) -> WorkerRecord | None:
        fields = self.fields.get(worker_id)
        return WorkerRecord.from_fields(fields) if fields else None

    async def status(self, worker_id: str) -> WorkerStatus | None:
        fields = self.fields.get(worker_id)
        if not fields:
            return None
        return WorkerStatus.model_validate({k: v for k, v in fields.items() if v != ""})

    async def update(
        self, worker_id: str, state: WorkerState | None = None, /, **fields: Any
    ) -> bool:
        current = self.fields.get(worker_id)
        if current is None:
            return False
        if (
            state is not None
            and WorkerState(current["state"]) in FINAL
            and current["state"] != state
        ):
            return False
        current.update({k: "" if v is None else str(v) for k, v in fields.items()})
        current["updated_at"] = _stamp()
        if state is not None:
            current["state"] = state.value
            if state in FINAL:
                self.live_ids.discard(worker_id)
                self.ended_ids.add(worker_id)
        return True

    async def live(self) -> list[str]:
        return sorted(self.live_ids)

    async def ended(self) -> list[str]:
        return sorted(self.ended_ids)

    async def removed(self, worker_id: str) -> None:
        self.ended_ids.discard(worker_id)

    def state(self, worker_id: str) -> WorkerState:
        return WorkerState(self.fields[worker_id]["state"])

    async def add(self, worker_id: str, state: WorkerState, **fields: str) -> None:
        worker_type = WorkerType.PO if worker_id.startswith("po-") else WorkerType.DEVELOPER
        await self.create(worker_id, worker_type, handle=f"h-{worker_id}", **fields)
        self.fields[worker_id]["state"] = state.value


class FakeBackend:
    def __init__(self) -> None:
        self.exits: dict[str, int | None] = {}  # handle → exit code (None: running)
        self.calls: list[tuple[str, str]] = []
        self.specs: list[WorkerSpec] = []
        self.unreachable = False

    async def start(self, spec: WorkerSpec) -> str:
        self.specs.append(spec)
        handle = f"h-{spec.worker_id}"
        self.exits[handle] = None
        self.calls.append(("start", handle))
        return handle

    async def stop(self, handle: str, grace_s: float) -> int | None:
        self.calls.append(("stop", handle))
        self.exits[handle] = 143
        return 143

    async def pause(self, handle: str) -> None:
        self.calls.append(("pause", handle))

    async def resume(self, handle: str) -> None:
        self.calls.append(("resume", handle))

    async def exit_code(self, handle: str) -> int | None:
        if self.unreachable:
            raise ConnectionError("the engine is away")
        return self.exits.get(handle)

    async def remove(self, handle: str, worker_id: str) -> None:
        self.calls.append(("remove", handle))


class FakeKeys:
    def __init__(self, *, broken: bool = False) -> None:
        self.revoked: list[str] = []
        self.scopes: dict[str, tuple[str, ...]] = {}
        self.broken = broken

    async def create(
        self, user_id: str, worker_id: str, ttl_s: int, scopes: tuple[str, ...]
    ) -> tuple[str, str]:
        self.scopes[worker_id] = scopes
        return f"key-{worker_id}", "cgo_secret"

    async def revoke(self, key_id: str) -> None:
        if self.broken:
            raise ConnectionError("the API is away")
        self.revoked.append(key_id)


class FakeAccess:
    def __init__(self) -> None:
        self.granted: dict[str, tuple[RedisRight, ...]] = {}
        self.revoked: list[str] = []

    async def grant(
        self, worker_id: str, worker_type: WorkerType, agent_rights: tuple[RedisRight, ...]
    ) -> WorkerRedisUrls:
        self.granted[worker_id] = agent_rights
        return WorkerRedisUrls(
            wrapper=f"redis://{worker_id}.wrapper:pw@r", agent=f"redis://{worker_id}.agent:pw@r"
        )

    async def revoke(self, worker_id: str) -> None:
        self.granted.pop(worker_id, None)
        self.revoked.append(worker_id)

    async def holders(self) -> set[str]:
        return set(self.granted)


class FakeSecrets:
    def __init__(self, values: dict[str, str] | None = None) -> None:
        self.values = values or {}

    def resolve(self, ref: str) -> str:
        if ref not in self.values:
            raise SecretUnavailable(f"secret {ref!r} is not set")
        return self.values[ref]


class FakeForgeTokens:
    """Mints `ghs-<worker id>` for a repository under `https://forge/`, nothing elsewhere."""

    def __init__(self) -> None:
        self.minted: dict[str, str] = {}
        self.revoked: list[str] = []
        self.broken = False

    async def mint(self, worker_id: str, repository: str) -> str | None:
        if self.broken:
            raise ConnectionError("the forge is away")
        if not repository.startswith("https://forge/"):
            return None
        self.minted[worker_id] = repository
        return f"ghs-{worker_id}"

    async def revoke(self, worker_id: str) -> None:
        if worker_id in self.minted:
            self.revoked.append(worker_id)


class FakeUnfinished:
    def __init__(self, journal: list[str]) -> None:
        self.reports: list[tuple[str, str, int | None]] = []
        self.journal = journal

    async def report(
        self, worker_id: str, worker_type: WorkerType, reason: str, exit_code: int | None
    ) -> list[str]:
        self.reports.append((worker_id, reason, exit_code))
        self.journal.append(f"report {worker_id}")
        return []


class FakeHeartbeats:
    def __init__(self) -> None:
        self.beats: dict[str, WorkerHeartbeat] = {}

    async def heartbeat(self, worker_id: str) -> WorkerHeartbeat | None:
        return self.beats.get(worker_id)


class FakeInputs:
    def __init__(self, journal: list[str]) -> None:
        self.waiting: set[str] = set()
        self.journal = journal

    async def has_work(self, worker_id: str, worker_type: WorkerType) -> bool:
        return worker_id in self.waiting

    async def remove(self, worker_id: str, worker_type: WorkerType) -> None:
        self.journal.append(f"remove input {worker_id} ({worker_type.value})")


class FakeWorkspaces:
    def __init__(self) -> None:
        self.removed: list[str] = []
        self.kept_apart: set[str] = set()  # workers whose workspaces are volumes
        self.unreachable = False

    def path(self, worker_id: str) -> Path:
        return Path("/workspaces") / worker_id

    def home_of(self, user_id: str) -> Path:
        return Path("/workspaces/po") / user_id

    async def remove(self, worker_id: str) -> None:
        self.removed.append(worker_id)
        self.kept_apart.discard(worker_id)

    async def kept(self) -> set[str]:
        if self.unreachable:
            raise ConnectionError("the engine is out of reach")
        return set(self.kept_apart)


class FakeCreations:
    def __init__(self) -> None:
        self.done: dict[str, Created] = {}

    async def once(self, request_id: str, start: Callable[[], Awaitable[Created]]) -> Created:
        if request_id not in self.done:
            self.done[request_id] = await start()
        return self.done[request_id]


class FakePublisher(fakes.FakePublisher):
    def answer(self) -> tuple[str, WorkerResponse]:
        stream, message = self.published[-1]
        assert isinstance(message, WorkerResponse)
        return stream, message


class World:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.backend = FakeBackend()
        self.keys = FakeKeys()
        self.access = FakeAccess()
        self.secrets = FakeSecrets({"env:MODEL_KEY": "sk-model-s3cr3t"})
        self.forge = FakeForgeTokens()
        self.journal: list[str] = []  # what reports and removals of input streams did, in order
        self.unfinished = FakeUnfinished(self.journal)
        self.heartbeats = FakeHeartbeats()
        self.inputs = FakeInputs(self.journal)
        self.workspaces = FakeWorkspaces()
        self.creations = FakeCreations()
        self.publisher = FakePublisher()

    async def live_worker(self, worker_id: str, **fields: str) -> str:
        await self.store.add(worker_id, WorkerState.RUNNING, key_id=f"key-{worker_id}", **fields)
        self.backend.exits[f"h-{worker_id}"] = None
        return f"h-{worker_id}"

    async def event(self, worker_id: str, kind: LifecycleEventKind, **fields: object) -> None:
        event = WorkerLifecycleEvent.model_validate(
            {"worker_id": worker_id, "event": kind, **fields}
        )
        await handle_lifecycle(
            event,
            store=self.store,
            backend=self.backend,
            unfinished=self.unfinished,
            keys=self.keys,
        )

    async def remove_ended(self) -> None:
        await remove_ended(
            store=self.store,
            backend=self.backend,
            workspaces=self.workspaces,
            inputs=self.inputs,
            access=self.access,
            forge=self.forge,
            stop_grace_s=STOP_GRACE_S,
        )

    async def watch(self) -> None:
        await watch_workers(
            store=self.store,
            backend=self.backend,
            unfinished=self.unfinished,
            keys=self.keys,
            heartbeats=self.heartbeats,
            inputs=self.inputs,
            idle_timeout_s=IDLE_TIMEOUT_S,
            engine_grace_s=120,
        )

    async def command(
        self, command: CreateWorkerCommand | DeleteWorkerCommand | StatusWorkerCommand
    ) -> tuple[str, WorkerResponse]:
        await handle_command(
            command,
            store=self.store,
            backend=self.backend,
            keys=self.keys,
            access=self.access,
            secrets=self.secrets,
            forge=self.forge,
            creations=self.creations,
            unfinished=self.unfinished,
            workspaces=self.workspaces,
            publisher=self.publisher,
            launch=WorkerLaunch(redis_url="redis://r", api_url="http://api", task_timeout_s=60),
            max_workers=2,
            worker_key_ttl_s=3600,
            stop_grace_s=STOP_GRACE_S,
        )
        return self.publisher.answer()


@pytest.fixture
def world() -> World:
    return World()


class TestLifecycleEvents:
    async def test_an_end_the_backend_does_not_see_is_kept_as_a_claim_and_changes_nothing(
        self, world: World
    ) -> None:
        await world.live_worker("po-1")

        await world.event("po-1", LifecycleEventKind.STOPPED, exit_code=0, error="forged")

        assert world.store.state("po-1") is WorkerState.RUNNING
        assert world.unfinished.reports == []
        assert world.keys.revoked == []
        assert world.store.fields["po-1"]["claimed_state"] == "STOPPED"

    async def test_a_claim_the_exit_code_agrees_with_ends_the_worker_as_claimed(
        self, world: World
    ) -> None:
        handle = await world.live_worker("po-1")
        await world.event("po-1", LifecycleEventKind.STOPPED, exit_code=143, error="asked to stop")

        world.backend.exits[handle] = 143
        await world.watch()

        assert world.store.state("po-1") is WorkerState.STOPPED
        assert world.unfinished.reports == [("po-1", "asked to stop", 143)]
        assert world.keys.revoked == ["key-po-1"]

    async def test_an_end_after_the_process_exited_is_reported_revoked_then_written(
        self, world: World
    ) -> None:
        handle = await world.live_worker("developer-1")
        world.backend.exits[handle] = 1

        await world.event("developer-1", LifecycleEventKind.FAILED, exit_code=1, error="boom")

        assert world.store.state("developer-1") is WorkerState.FAILED
        assert world.unfinished.reports == [("developer-1", "boom", 1)]
        assert world.keys.revoked == ["key-developer-1"]
        assert world.store.fields["developer-1"]["key_id"] == ""

    async def test_an_event_for_an_unknown_worker_changes_nothing(self, world: World) -> None:
        await world.event("po-unknown", LifecycleEventKind.STARTED)
        assert world.store.fields == {}


class TestWatch:
    async def test_an_exited_worker_is_ended_by_its_exit_code(self, world: World) -> None:
        handle = await world.live_worker("developer-1")
        world.backend.exits[handle] = 137

        await world.watch()

        assert world.store.state("developer-1") is WorkerState.FAILED
        assert world.store.fields["developer-1"]["exit_code"] == "137"
        [(_, reason, code)] = world.unfinished.reports
        assert (reason, code) == ("killed: out of memory or SIGKILL (137)", 137)

    async def test_an_idle_worker_is_paused_and_woken_when_work_waits(self, world: World) -> None:
        long_ago = _stamp(datetime.now(UTC) - timedelta(seconds=IDLE_TIMEOUT_S * 2))
        handle = await world.live_worker("po-1", last_active_at=long_ago)
        world.heartbeats.beats["po-1"] = WorkerHeartbeat(state=WorkerActivity.IDLE, at=0)

        await world.watch()
        assert world.store.state("po-1") is WorkerState.PAUSED
        assert ("pause", handle) in world.backend.calls

        await world.watch()
        assert world.store.state("po-1") is WorkerState.PAUSED, "nothing waits: stays paused"

        world.inputs.waiting.add("po-1")
        await world.watch()
        assert world.store.state("po-1") is WorkerState.RUNNING
        assert ("resume", handle) in world.backend.calls

    async def test_an_idle_worker_with_work_waiting_is_not_paused(self, world: World) -> None:
        long_ago = _stamp(datetime.now(UTC) - timedelta(seconds=IDLE_TIMEOUT_S * 2))
        await world.live_worker("po-1", last_active_at=long_ago)
        world.heartbeats.beats["po-1"] = WorkerHeartbeat(state=WorkerActivity.IDLE, at=0)
        world.inputs.waiting.add("po-1")

        await world.watch()

        assert world.store.state("po-1") is WorkerState.RUNNING
        assert world.store.fields["po-1"]["last_active_at"] != long_ago

    async def test_a_busy_worker_records_its_task(self, world: World) -> None:
        await world.live_worker("developer-1")
        world.heartbeats.beats["developer-1"] = WorkerHeartbeat(
            state=WorkerActivity.BUSY, task_id="t-7", request_id="r-7", at=0
        )

        await world.watch()

        fields = world.store.fields["developer-1"]
        assert (fields["current_task_id"], fields["current_request_id"]) == ("t-7", "r-7")

    async def test_a_worker_the_engine_cannot_see_is_first_marked_then_given_up(
        self, world: World
    ) -> None:
        await world.live_worker("developer-1")
        world.backend.unreachable = True

        await world.watch()
        assert world.store.state("developer-1") is WorkerState.RUNNING
        assert world.store.fields["developer-1"]["engine_error_since"]

        world.store.fields["developer-1"]["engine_error_since"] = "1"  # long ago
        await world.watch()
        assert world.store.state("developer-1") is WorkerState.FAILED
        [(_, reason, code)] = world.unfinished.reports
        assert code == -1
        assert "vanished" in reason


class TestEndings:
    async def test_a_worker_being_deleted_ends_stopped_whoever_sees_it_end(
        self, world: World
    ) -> None:
        await world.live_worker("po-1", deleting="1")
        record = await world.store.record("po-1")
        assert record is not None

        await end_worker(
            "po-1", record, 0, store=world.store, unfinished=world.unfinished, keys=world.keys
        )

        assert world.store.state("po-1") is WorkerState.STOPPED
        assert world.unfinished.reports == [("po-1", DELETED, 0)]

    async def test_a_key_the_api_will_not_revoke_stays_recorded(self, world: World) -> None:
        await world.live_worker("po-1")

        await revoke_key("po-1", store=world.store, keys=FakeKeys(broken=True))

        assert world.store.fields["po-1"]["key_id"] == "key-po-1"

    async def test_remains_wait_for_a_process_on_its_way_out_then_are_removed(
        self, world: World
    ) -> None:
        handle = await world.live_worker("po-1")
        await world.store.update("po-1", WorkerState.COMPLETED)

        await world.remove_ended()
        assert world.workspaces.removed == []
        assert world.journal == []
        assert await world.store.ended() == ["po-1"]

        long_ago = datetime.now(UTC) - timedelta(seconds=STOP_GRACE_S + 1)
        world.store.fields["po-1"]["updated_at"] = _stamp(long_ago)
        await world.remove_ended()
        assert world.backend.calls[-2:] == [("stop", handle), ("remove", handle)]
        assert world.workspaces.removed == ["po-1"]
        assert world.journal == ["remove input po-1 (po)"]  # the adapter keeps a PO's stream
        assert await world.store.ended() == []

    async def test_a_death_ends_the_worker_and_removes_what_it_left(self, world: World) -> None:
        handle = await world.live_worker("developer-1")
        world.backend.exits[handle] = 137

        await handle_death(
            "developer-1",
            137,
            store=world.store,
            backend=world.backend,
            unfinished=world.unfinished,
            keys=world.keys,
            workspaces=world.workspaces,
            inputs=world.inputs,
            access=world.access,
            forge=world.forge,
            stop_grace_s=STOP_GRACE_S,
        )

        assert world.store.state("developer-1") is WorkerState.FAILED
        assert ("remove", handle) in world.backend.calls
        assert world.workspaces.removed == ["developer-1"]
        assert world.access.revoked == ["developer-1"]
        # Its input stream goes only after what it held was reported.
        assert world.journal == ["report developer-1", "remove input developer-1 (developer)"]
        assert await world.store.ended() == []

    async def test_a_deleted_developer_workers_input_goes_after_the_report_with_its_remains(
        self, world: World
    ) -> None:
        await world.live_worker("developer-1")

        await world.command(DeleteWorkerCommand(worker_id="developer-1"))
        assert world.journal == ["report developer-1"]  # the stream stays until the remains go

        await world.remove_ended()
        assert world.journal == ["report developer-1", "remove input developer-1 (developer)"]

    async def test_the_input_of_a_worker_without_a_final_state_is_kept_until_it_has_one(
        self, world: World
    ) -> None:
        handle = await world.live_worker("developer-1")
        world.backend.exits[handle] = 1
        world.store.ended_ids.add("developer-1")  # listed as ended, its end not handled yet

        await world.remove_ended()
        assert world.workspaces.removed == ["developer-1"]
        assert world.journal == []

        await world.watch()  # its end: reported, then the final state
        await world.remove_ended()
        assert world.journal == ["report developer-1", "remove input developer-1 (developer)"]


def create(
    request_id: str = "r-1",
    worker_type: WorkerType = WorkerType.PO,
    secrets: dict[str, str] | None = None,
    **context: str,
) -> CreateWorkerCommand:
    return CreateWorkerCommand(
        request_id=request_id,
        config=WorkerConfig(
            name="w",
            worker_type=worker_type,
            agent_type=AgentType.SCRIPTED,
            secrets=secrets or {},
        ),
        context=context,
    )


class TestCommands:
    async def test_a_create_starts_a_worker_with_a_key_and_answers_on_its_types_stream(
        self, world: World
    ) -> None:
        stream, answer = await world.command(create(user_id="u-1"))

        assert stream == "worker:responses:po"
        assert answer.success, answer.error
        assert answer.worker_id is not None
        record = await world.store.record(answer.worker_id)
        assert record is not None
        assert (record.handle, record.key_id) == (
            f"h-{answer.worker_id}",
            f"key-{answer.worker_id}",
        )

    async def test_a_workers_key_and_redis_user_carry_only_what_its_commands_need(
        self, world: World
    ) -> None:
        command = CreateWorkerCommand(
            request_id="r-1",
            config=WorkerConfig(
                name="w",
                worker_type=WorkerType.DEVELOPER,
                agent_type=AgentType.SCRIPTED,
                allowed_commands="DEVELOPER",
            ),
            context={"user_id": "u-1"},
        )
        _, answer = await world.command(command)

        worker_id = answer.worker_id
        assert worker_id is not None
        assert world.keys.scopes[worker_id] == ("projects:read", "tasks:read")
        assert world.access.granted[worker_id] == (
            RedisRight(("xadd",), (f"worker:po:{worker_id}:output",)),
        )
        env = world.backend.specs[-1].env
        assert env["REDIS_URL"] == f"redis://{worker_id}.wrapper:pw@r"
        assert env["AGENT_REDIS_URL"] == f"redis://{worker_id}.agent:pw@r"

    async def test_a_worker_allowed_nothing_gets_a_key_with_no_scopes(self, world: World) -> None:
        _, answer = await world.command(create(user_id="u-1"))
        assert answer.worker_id is not None
        assert world.keys.scopes[answer.worker_id] == ()
        assert world.access.granted[answer.worker_id] == ()

    async def test_the_redis_users_of_a_worker_nobody_records_are_deleted(
        self, world: World
    ) -> None:
        await world.live_worker("po-live")
        await world.access.grant("po-live", WorkerType.PO, ())
        await world.access.grant("po-lost", WorkerType.PO, ())

        suspects: set[str] = set()
        await revoke_orphans(store=world.store, access=world.access, suspects=suspects)
        assert world.access.revoked == []  # a create may be about to record it

        await revoke_orphans(store=world.store, access=world.access, suspects=suspects)
        assert world.access.revoked == ["po-lost"]

    async def test_users_recorded_by_the_next_pass_are_kept(self, world: World) -> None:
        suspects: set[str] = set()
        await world.access.grant("po-new", WorkerType.PO, ())
        await revoke_orphans(store=world.store, access=world.access, suspects=suspects)

        await world.live_worker("po-new")
        await revoke_orphans(store=world.store, access=world.access, suspects=suspects)

        assert world.access.revoked == []
        assert suspects == set()

    async def test_workspace_volumes_no_live_or_ended_worker_explains_are_removed(
        self, world: World
    ) -> None:
        await world.live_worker("developer-live")
        ended = await world.live_worker("developer-ended")
        await world.store.update("developer-ended", WorkerState.FAILED)  # remains not removed yet
        world.backend.exits[ended] = 1
        world.workspaces.kept_apart = {"developer-live", "developer-ended", "developer-gone"}

        await remove_orphan_workspaces(store=world.store, workspaces=world.workspaces)

        assert world.workspaces.removed == ["developer-gone"]
        await world.remove_ended()  # the ended worker's goes with its remains
        assert world.workspaces.kept_apart == {"developer-live"}

    async def test_an_engine_out_of_reach_fails_no_pass_over_workspace_volumes(
        self, world: World
    ) -> None:
        world.workspaces.unreachable = True
        await remove_orphan_workspaces(store=world.store, workspaces=world.workspaces)
        assert world.workspaces.removed == []

    async def test_a_redelivered_create_gets_the_same_worker(self, world: World) -> None:
        _, first = await world.command(create("r-1"))
        _, again = await world.command(create("r-1"))
        assert first.worker_id == again.worker_id
        assert len(await world.store.live()) == 1

    async def test_a_create_beyond_capacity_is_refused(self, world: World) -> None:
        await world.command(create("r-1"))
        await world.command(create("r-2"))
        _, third = await world.command(create("r-3"))
        assert third.success is False
        assert third.error == "capacity reached: 2 of 2 workers are live"

    async def test_a_delete_stops_reports_revokes_and_ends_stopped(self, world: World) -> None:
        handle = await world.live_worker("developer-1")

        stream, answer = await world.command(DeleteWorkerCommand(worker_id="developer-1"))

        assert stream == "worker:responses:developer"
        assert answer.status is not None
        assert answer.status.state == WorkerState.STOPPED
        assert ("stop", handle) in world.backend.calls
        assert world.unfinished.reports == [("developer-1", DELETED, 143)]
        assert world.keys.revoked == ["key-developer-1"]

    @pytest.mark.parametrize(
        ("command", "stream"),
        [
            (StatusWorkerCommand(worker_id="po-000000000000"), "worker:responses:po"),
            (DeleteWorkerCommand(worker_id="developer-0"), "worker:responses:developer"),
            (
                StatusWorkerCommand(worker_id="po-0", reply_to=WorkerType.DEVELOPER),
                "worker:responses:developer",
            ),
        ],
    )
    async def test_a_command_about_an_unknown_worker_is_answered_where_it_is_awaited(
        self, world: World, command: DeleteWorkerCommand | StatusWorkerCommand, stream: str
    ) -> None:
        answered_on, answer = await world.command(command)
        assert (answered_on, answer.success, answer.error) == (stream, False, "no such worker")


class TestAPoWorkersHome:
    """A user's PO workers share one workspace, kept across them, so a replaced worker's agent
    finds the conversation it continues."""

    async def test_a_po_worker_for_a_user_works_in_the_users_home(self, world: World) -> None:
        _, answer = await world.command(create(user_id="u-1", session_id="s-1"))

        assert answer.success, answer.error
        [spec] = world.backend.specs
        assert spec.home == UserHome("u-1", Path("/workspaces/po/u-1"))
        assert spec.workspace == Path(f"/workspaces/{answer.worker_id}")  # its own: its log
        assert spec.env["WORKSPACE_DIR"] == "/workspaces/po/u-1"
        assert spec.env["HOME"] == "/workspaces/po/u-1/home"
        assert (spec.env["USER_ID"], spec.env["SESSION_ID"]) == ("u-1", "s-1")

    async def test_the_next_po_worker_of_the_user_gets_the_same_home(self, world: World) -> None:
        await world.command(create("r-1", user_id="u-1"))
        await world.command(create("r-2", user_id="u-1"))
        first, second = world.backend.specs
        assert first.worker_id != second.worker_id
        assert first.home == second.home

    async def test_a_developer_worker_or_a_po_worker_for_nobody_has_no_home(
        self, world: World
    ) -> None:
        await world.command(create("r-1", WorkerType.DEVELOPER, user_id="u-1", task_id="t-1"))
        await world.command(create("r-2"))
        developer, nobodys = world.backend.specs
        assert (developer.home, nobodys.home) == (None, None)
        assert developer.env["WORKSPACE_DIR"] == f"/workspaces/{developer.worker_id}"

    async def test_the_home_is_kept_when_the_worker_ends(self, world: World) -> None:
        _, answer = await world.command(create(user_id="u-1"))
        assert answer.worker_id is not None
        world.backend.exits[f"h-{answer.worker_id}"] = 0
        await world.watch()
        await world.remove_ended()
        assert world.workspaces.removed == [answer.worker_id]  # its own directory only

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("user_id", "../../etc"),
            ("user_id", "u/1"),
            ("user_id", ".."),
            ("user_id", " u-1"),
            ("session_id", "--fork-session"),
            ("session_id", "s 1"),
        ],
    )
    async def test_a_create_whose_user_or_session_is_not_an_identifier_is_refused(
        self, world: World, field: str, value: str
    ) -> None:
        context = {"user_id": "u-1", field: value}

        _, answer = await world.command(
            CreateWorkerCommand(
                config=WorkerConfig(
                    name="w", worker_type=WorkerType.PO, agent_type=AgentType.SCRIPTED
                ),
                context=context,
            )
        )

        assert answer.success is False
        assert answer.error is not None
        assert answer.error.startswith(f"context.{field} must be an identifier")
        assert world.backend.specs == []
        assert await world.store.live() == []


class TestAWorkersSecrets:
    """The agent's secrets travel as references and become values in its worker only."""

    async def test_a_secret_is_resolved_into_the_workers_environment_for_its_agent(
        self, world: World
    ) -> None:
        _, answer = await world.command(create(secrets={"MODEL_API_KEY": "env:MODEL_KEY"}))

        assert answer.success, answer.error
        [spec] = world.backend.specs
        assert spec.env["MODEL_API_KEY"] == "sk-model-s3cr3t"
        assert spec.env["AGENT_EXTRA_ENV"] == "MODEL_API_KEY"

    async def test_a_secret_that_names_nothing_refuses_the_create_naming_it_and_its_reference(
        self, world: World
    ) -> None:
        _, answer = await world.command(
            create(user_id="u-1", secrets={"MODEL_API_KEY": "env:MISSING"})
        )

        assert answer.success is False
        assert (
            answer.error
            == "secrets.MODEL_API_KEY cannot be resolved: secret 'env:MISSING' is not set"
        )
        assert world.backend.specs == []
        assert world.keys.scopes == {}, "nothing was made for it"
        assert world.access.granted == {}

    @pytest.mark.parametrize("name", ["REDIS_URL", "API_KEY", "GIT_TOKEN", "WORKER_ID", "GIT_SSH"])
    async def test_a_secret_may_not_replace_what_the_wrapper_reads(
        self, world: World, name: str
    ) -> None:
        _, answer = await world.command(create(secrets={name: "env:MODEL_KEY"}))

        assert answer.success is False
        assert answer.error is not None
        assert answer.error.startswith(f"secrets.{name}: {name} is the wrapper's own variable")
        assert "sk-model-s3cr3t" not in answer.error
        assert world.backend.specs == []


class TestForgeTokens:
    """A developer worker pushes with a token for its one repository, revoked with its remains."""

    async def test_a_developer_worker_naming_its_repository_gets_a_token_for_its_wrapper(
        self, world: World
    ) -> None:
        _, answer = await world.command(
            create(worker_type=WorkerType.DEVELOPER, repository="https://forge/acme/shop.git")
        )

        assert answer.success, answer.error
        [spec] = world.backend.specs
        assert spec.env["GIT_TOKEN"] == f"ghs-{answer.worker_id}"
        assert "GIT_TOKEN" not in spec.env.get("AGENT_EXTRA_ENV", "")
        assert world.forge.minted == {spec.worker_id: "https://forge/acme/shop.git"}

    async def test_a_worker_of_the_local_forge_or_a_po_worker_gets_no_token(
        self, world: World
    ) -> None:
        await world.command(create("r-1", WorkerType.DEVELOPER, repository="/srv/repos/shop"))
        await world.command(create("r-2", repository="https://forge/acme/shop.git"))

        assert [spec.env.get("GIT_TOKEN") for spec in world.backend.specs] == [None, None]
        assert world.forge.minted == {}

    async def test_the_token_is_revoked_when_the_workers_remains_are_removed(
        self, world: World
    ) -> None:
        _, answer = await world.command(
            create(worker_type=WorkerType.DEVELOPER, repository="https://forge/acme/shop.git")
        )
        assert answer.worker_id is not None
        world.backend.exits[f"h-{answer.worker_id}"] = 0

        await world.watch()
        assert world.forge.revoked == [], "not while its remains are there"
        await world.remove_ended()

        assert world.forge.revoked == [answer.worker_id]

    async def test_a_forge_that_gives_no_token_refuses_the_create_and_undoes_it(
        self, world: World
    ) -> None:
        world.forge.broken = True

        _, answer = await world.command(
            create(
                worker_type=WorkerType.DEVELOPER,
                repository="https://forge/acme/shop.git",
                user_id="u-1",
            )
        )

        assert answer.success is False
        assert answer.error == "could not get a forge token for the worker: the forge is away"
        assert world.backend.specs == []
        assert world.keys.scopes == {}, "nothing was made for it"
        assert world.access.granted == {}

    async def test_a_repository_that_is_no_clone_url_refuses_the_create(self, world: World) -> None:
        _, answer = await world.command(
            create(worker_type=WorkerType.DEVELOPER, repository="--upload-pack=evil")
        )

        assert answer.success is False
        assert answer.error is not None
        assert answer.error.startswith("context.repository must be a repository's clone URL")
