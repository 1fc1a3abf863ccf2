"""The provisioning job and its results against small fakes: each waiting server is asked for
again once its delay passed, with a request id of its own, and forgotten once set up."""

from __future__ import annotations

import pytest
from scheduler.domain.backoff import Backoff
from scheduler.handlers.provisioning import handle_provisioner_result, retry_provisioning
from scheduler.ports import LeaseLost, Summary
from server_fakes import FakeApi, FakeLease, FakePublisher, FakeRetries, server
from shared.contracts import OutcomeStatus, ProvisionerMessage, ProvisionerResult, ServerStatus

BACKOFF = Backoff(first_s=60, max_s=300)
ANSWER_WAIT_MS = 1_800_000


class World:
    def __init__(self) -> None:
        self.api, self.retries, self.publisher = FakeApi(), FakeRetries(), FakePublisher()
        self.lease = FakeLease()

    async def run(self) -> Summary:
        return await retry_provisioning(
            self.lease,
            servers=self.api,
            retries=self.retries,
            publisher=self.publisher,
            backoff=BACKOFF,
            answer_wait_ms=ANSWER_WAIT_MS,
        )

    async def answer(self, request_id: str, handle: str, status: OutcomeStatus) -> None:
        result = ProvisionerResult(request_id=request_id, server_handle=handle, status=status)
        await handle_provisioner_result(result, servers=self.api, retries=self.retries)

    async def fails(self, server_id: str) -> None:
        """infra-service answers the server's latest request: its setup failed."""
        number = await self.retries.requests_made(server_id)
        await self.answer(f"provision.{server_id}.{number}", server_id, OutcomeStatus.FAILED)

    def later(self, seconds: float) -> None:
        self.retries.now += int(seconds * 1000)

    def set_status(self, server_id: str, status: ServerStatus) -> None:
        self.api.known[server_id] = self.api.known[server_id].model_copy(update={"status": status})


@pytest.fixture
def world() -> World:
    return World()


async def test_a_pending_server_is_asked_for_at_once_then_after_growing_delays(
    world: World,
) -> None:
    pending = server("web-1", status=ServerStatus.PENDING_SETUP)
    world.api.add(pending)

    first = await world.run()
    await world.fails(pending.id)
    world.later(59.999)
    await world.run()
    world.later(0.001)
    await world.run()
    await world.fails(pending.id)
    world.later(119.999)
    await world.run()
    world.later(0.001)
    await world.run()

    assert world.publisher.request_ids() == [f"provision.{pending.id}.{n}" for n in (1, 2, 3)]
    [(stream, message), *_] = world.publisher.published
    assert stream == "provisioner:queue"
    assert isinstance(message, ProvisionerMessage)
    assert message.server_handle == pending.id
    assert first == {"waiting": 1, "requested": 1, "forgotten": 0}
    assert world.retries.states[pending.id] == (3, world.retries.now + 240_000)


async def test_servers_that_no_longer_wait_are_forgotten_and_a_later_round_numbers_on(
    world: World,
) -> None:
    pending = server("web-1", status=ServerStatus.PENDING_SETUP)
    world.api.add(pending, server("web-2"))
    await world.run()
    world.set_status(pending.id, ServerStatus.ACTIVE)

    summary = await world.run()
    world.set_status(pending.id, ServerStatus.PENDING_SETUP)
    await world.run()

    assert summary == {"waiting": 0, "requested": 0, "forgotten": 1}
    # Request 1 is remembered by publish_once and infra-service: the new round is request 2,
    # sent at once as a first attempt.
    assert world.publisher.request_ids() == [
        f"provision.{pending.id}.1",
        f"provision.{pending.id}.2",
    ]
    assert world.retries.states[pending.id][0] == 1


async def test_an_unreachable_server_whose_setup_found_it_so_is_asked_for_again(
    world: World,
) -> None:
    never_set_up = server("web-1", status=ServerStatus.PENDING_SETUP)
    gone_quiet = server("web-2", status=ServerStatus.UNREACHABLE)
    world.api.add(never_set_up, gone_quiet)
    await world.run()
    world.set_status(never_set_up.id, ServerStatus.UNREACHABLE)
    await world.fails(never_set_up.id)
    world.later(60)

    await world.run()

    assert world.publisher.request_ids() == [
        f"provision.{never_set_up.id}.1",
        f"provision.{never_set_up.id}.2",
    ]


async def test_a_run_that_died_before_recording_its_request_sends_the_same_id_published_once(
    world: World,
) -> None:
    pending = server("web-1", status=ServerStatus.PENDING_SETUP)
    world.api.add(pending)
    await world.publisher.publish_once(
        "provisioner:queue",
        ProvisionerMessage(request_id=f"provision.{pending.id}.1", server_handle=pending.id),
    )

    await world.run()

    assert world.publisher.request_ids() == [f"provision.{pending.id}.1"]
    assert world.retries.states[pending.id] == (1, world.retries.now + 60_000)


async def test_a_setup_still_in_flight_is_not_asked_for_again_until_its_answer_is_overdue(
    world: World,
) -> None:
    pending = server("web-1", status=ServerStatus.PENDING_SETUP)
    world.api.add(pending)
    await world.run()

    world.later(600)  # its delay passed, but infra-service is still setting it up
    await world.run()
    unanswered = world.publisher.request_ids()
    world.later(ANSWER_WAIT_MS / 1000)  # no answer this long: taken for lost
    await world.run()

    assert unanswered == [f"provision.{pending.id}.1"]
    assert world.publisher.request_ids() == [f"provision.{pending.id}.{n}" for n in (1, 2)]


async def test_an_answered_request_lets_the_next_go_once_its_delay_passed(world: World) -> None:
    pending = server("web-1", status=ServerStatus.PENDING_SETUP)
    world.api.add(pending)
    await world.run()
    world.later(600)
    await world.fails(pending.id)

    await world.run()

    assert world.publisher.request_ids() == [f"provision.{pending.id}.{n}" for n in (1, 2)]


async def test_a_run_that_lost_its_lease_asks_for_nothing(world: World) -> None:
    world.api.add(server("web-1", status=ServerStatus.PENDING_SETUP))
    world.lease.lost = True

    with pytest.raises(LeaseLost):
        await world.run()

    assert world.publisher.published == []
    assert world.retries.states == {}


async def test_a_server_whose_latest_request_set_it_up_is_forgotten(world: World) -> None:
    pending = server("web-1", status=ServerStatus.PENDING_SETUP)
    world.api.add(pending)
    await world.run()
    world.set_status(pending.id, ServerStatus.ACTIVE)

    await world.answer(f"provision.{pending.id}.1", pending.id, OutcomeStatus.SUCCESS)

    assert world.retries.states == {}


async def test_a_failed_setup_keeps_the_backoff_going(world: World) -> None:
    pending = server("web-1", status=ServerStatus.PENDING_SETUP)
    world.api.add(pending)
    await world.run()
    before = dict(world.retries.states)

    await world.answer(f"provision.{pending.id}.1", pending.id, OutcomeStatus.FAILED)

    assert world.retries.states == before


@pytest.mark.parametrize(
    ("request_id", "handle"),
    [
        ("4f2a9c0d8e7b4a1c9d3e5f6a7b8c9d0e", "{id}"),  # someone else's request
        ("provision.{id}.1", "{id}"),  # an older request than the latest
        ("provision.{id}.2", "another-server"),  # a result naming another server
        ("provision.{id}.2", "{id}"),  # a success while the API says it still waits
    ],
)
async def test_stray_or_forged_successes_change_nothing(
    world: World, request_id: str, handle: str
) -> None:
    pending = server("web-1", status=ServerStatus.PENDING_SETUP)
    world.api.add(pending)
    await world.run()
    world.later(60)
    await world.run()
    before = dict(world.retries.states)

    await world.answer(
        request_id.format(id=pending.id), handle.format(id=pending.id), OutcomeStatus.SUCCESS
    )

    assert world.retries.states == before
