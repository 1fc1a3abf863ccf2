"""Every request gets exactly one result: produced once, kept, published again on a repeat."""

from __future__ import annotations

from typing import cast

import pytest
from infra_fakes import FakeIdempotency, FakeResults
from infra_service.domain.answers import answer_once
from infra_service.ports import InventoryRefused
from shared.contracts import OutcomeStatus, ProvisionerMessage, ProvisionerResult
from shared.testing.fakes import FakePublisher

MESSAGE = ProvisionerMessage(server_handle="web-1")


def result(status: OutcomeStatus, error: str | None = None) -> ProvisionerResult:
    return ProvisionerResult(
        request_id=MESSAGE.request_id,
        correlation_id=MESSAGE.correlation_id,
        server_handle="web-1",
        status=status,
        error=error,
    )


class Queue:
    def __init__(self) -> None:
        self.idempotency = FakeIdempotency()
        self.results = FakeResults()
        self.publisher = FakePublisher()
        self.produced = 0

    async def answer(self, outcome: ProvisionerResult | Exception) -> None:
        async def produce() -> ProvisionerResult:
            self.produced += 1
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        await answer_once(
            "infra-provision",
            MESSAGE.request_id,
            "provisioner:results",
            ProvisionerResult,
            produce,
            refused=lambda error: result(OutcomeStatus.ERROR, error),
            idempotency=self.idempotency,
            results=self.results,
            publisher=self.publisher,
        )

    @property
    def published(self) -> list[ProvisionerResult]:
        published = [m for _, m in self.publisher.published]
        assert all(isinstance(m, ProvisionerResult) for m in published)
        return cast(list[ProvisionerResult], published)


async def test_a_result_is_produced_once_and_a_repeat_publishes_the_same_one_again() -> None:
    queue, succeeded = Queue(), result(OutcomeStatus.SUCCESS)

    await queue.answer(succeeded)
    await queue.answer(result(OutcomeStatus.FAILED, "would differ"))

    assert queue.produced == 1
    assert queue.published == [succeeded, succeeded]
    assert {stream for stream, _ in queue.publisher.published} == {"provisioner:results"}


async def test_what_the_api_refuses_is_the_requests_failed_result_answered_now() -> None:
    queue = Queue()

    await queue.answer(InventoryRefused("the API answered 422 to PATCH /api/servers/x"))

    [answered] = queue.published
    assert answered.status is OutcomeStatus.ERROR
    assert answered.error == "the API answered 422 to PATCH /api/servers/x"


async def test_a_transient_error_leaves_no_result_to_be_tried_again() -> None:
    queue = Queue()

    with pytest.raises(ConnectionError):
        await queue.answer(ConnectionError("the API is down"))

    assert (queue.published, queue.results.kept_json, queue.idempotency.done) == ([], {}, set())
    succeeded = result(OutcomeStatus.SUCCESS)
    await queue.answer(succeeded)
    assert queue.published == [succeeded]


async def test_a_repeat_whose_result_expired_publishes_nothing() -> None:
    queue = Queue()
    await queue.answer(result(OutcomeStatus.SUCCESS))
    queue.results.kept_json.clear()

    await queue.answer(result(OutcomeStatus.SUCCESS))

    assert queue.produced == 1
    assert len(queue.published) == 1
