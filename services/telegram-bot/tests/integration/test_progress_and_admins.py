"""A task's progress shown to its user, and admins told of provisioning and incidents: the bot
as a real process on the fake Telegram, the real API and Redis; the intents, progress events
and results published here as the orchestrator CLI, langgraph and infra-service publish them."""

from __future__ import annotations

import functools
import json

from bot_testing import CONFIGURED_ADMIN, MODULE_LOOP, Stack
from shared.contracts import (
    DeployMessage,
    DeployResult,
    EngineeringMessage,
    OutcomeStatus,
    ProgressEvent,
    ProgressType,
    ProvisionerResult,
    new_id,
)
from shared.streams import RedisStreamPublisher
from shared.streams.registry import (
    DEPLOY_QUEUE,
    ENGINEERING_QUEUE,
    PROVISIONER_RESULTS,
    TASK_PROGRESS,
)
from shared.testing.fake_telegram import SentMessage
from shared.testing.waiting import eventually
from telegram_bot.keys import FOLLOWED_TASK

pytestmark = MODULE_LOOP

URL = "http://127.0.0.1:20042/"


async def test_a_deploys_status_message_is_edited_through_its_events_to_the_url(
    stack: Stack,
) -> None:
    alice, alice_id = await stack.user()
    project = await stack.api.project(alice_id, "shop")
    publish = RedisStreamPublisher(stack.redis).publish
    task_id = new_id()
    progress = TASK_PROGRESS.name(task_id=task_id)
    intent = DeployMessage(task_id=task_id, project_id=project["id"], user_id=alice_id)

    await publish(DEPLOY_QUEUE.pattern, intent)
    await publish(DEPLOY_QUEUE.pattern, intent)  # delivered twice: one status message
    status = await stack.telegram.wait_for_message(alice)
    assert status.text == "Deploying shop\nQueued"

    steps = [("load", "Deploying shop at abc123", 0), ("deploy", "Deploying to local", 20),
             ("smoke", f"Checking {URL}", 80)]  # fmt: skip
    for step, text, pct in steps:
        event = ProgressEvent(type=ProgressType.PROGRESS, task_id=task_id, current_step=step,
                              message=text, progress_pct=pct)  # fmt: skip
        await publish(progress, event)
    await stack.redis.xadd(progress, {"data": json.dumps({"kind": "progress", "junk": True})})
    last = await publish(progress, DeployResult(task_id=task_id, status=OutcomeStatus.SUCCESS,
                                                deployed_url=URL))  # fmt: skip

    def final(message: SentMessage) -> bool:
        return message.message_id == status.message_id and message.text.endswith(URL)

    edited = await stack.telegram.wait_for_message(alice, final)
    live = await stack.telegram.wait_for_message(alice, lambda m: m.text.startswith("shop is"))
    assert edited.text == f"Deploying shop\nLive at {URL}"
    assert live.text == f"shop is live: {URL}"
    assert len(edited.history) <= len(steps) + 1  # never more edits than events, often fewer

    async def recorded_to_the_end() -> bool:
        record = await stack.redis.get(FOLLOWED_TASK.name(task_id=task_id))
        return record is not None and json.loads(record)["after"] == last

    await eventually(recorded_to_the_end)  # a restarted bot would read on from there
    assert len(stack.telegram.sent(alice)) == 2


async def test_an_engineering_tasks_failed_attempt_shows_its_tests_then_its_end(
    stack: Stack,
) -> None:
    alice, alice_id = await stack.user()
    project = await stack.api.project(alice_id, "notes")
    publish = RedisStreamPublisher(stack.redis).publish
    task_id = new_id()
    progress = TASK_PROGRESS.name(task_id=task_id)

    intent = EngineeringMessage(task_id=task_id, project_id=project["id"], user_id=alice_id)
    await publish(ENGINEERING_QUEUE.pattern, intent)
    status = await stack.telegram.wait_for_message(alice)
    for step, text, error in [("a1.retry", "Attempt 1 failed", "test_notes_are_kept failed"),
                              ("a2.develop", "Developing", None)]:  # fmt: skip
        event = ProgressEvent(type=ProgressType.PROGRESS, task_id=task_id, current_step=step,
                              message=text, error=error)  # fmt: skip
        await publish(progress, event)

    edited = await stack.telegram.wait_for_message(
        alice, lambda m: m.message_id == status.message_id and "attempt 2" in m.text
    )
    assert edited.text.splitlines() == [
        "Building notes",
        "Developing (attempt 2)",
        "Attempt 1 failed: test_notes_are_kept failed",
    ]


async def test_hostile_intents_are_dead_lettered_and_followed_tasks_go_on(stack: Stack) -> None:
    await stack.redis.xadd(ENGINEERING_QUEUE.pattern, {"data": "{not json"})
    await stack.redis.xadd(DEPLOY_QUEUE.pattern, {"data": json.dumps({"task_id": "x"})})

    async def dead_lettered() -> bool:
        engineering = await stack.redis.xlen(ENGINEERING_QUEUE.pattern + ":dlq")
        return engineering >= 1 and await stack.redis.xlen(DEPLOY_QUEUE.pattern + ":dlq") >= 1

    await eventually(dead_lettered)
    assert stack.bot.exit_code is None


async def test_admins_hear_of_provisioning_results_and_new_incidents(stack: Stack) -> None:
    admin, _ = await stack.user(admin=True)
    alice, _ = await stack.user()
    result = ProvisionerResult(
        status=OutcomeStatus.FAILED, server_handle="vps-9", error="ssh: connection refused"
    )

    await RedisStreamPublisher(stack.redis).publish(PROVISIONER_RESULTS.pattern, result)
    await stack.api.post(
        "/api/incidents", {"severity": "critical", "title": "Disk full", "details": "/ at 99%"}
    )

    for chat in (admin, CONFIGURED_ADMIN):
        told = await stack.telegram.wait(functools.partial(_both_told, stack, chat))
        assert told == [
            "Incident (critical): Disk full\n/ at 99%",
            "Setting up server vps-9 ended: failed.\nssh: connection refused",
        ]
    assert stack.telegram.sent(alice) == []


def _both_told(stack: Stack, chat: int) -> list[str] | None:
    texts = sorted(m.text for m in stack.telegram.sent(chat))
    return texts if len(texts) >= 2 else None
