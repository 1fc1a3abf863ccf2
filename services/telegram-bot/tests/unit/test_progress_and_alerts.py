"""Following a task from its intent to its URL, and telling admins, with fakes of the ports."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bot_fakes import (
    NOW,
    Down,
    FakeBoard,
    FakeBook,
    FakeCatalog,
    FakeChat,
    FakeTold,
    FakeUsers,
    incident,
    project,
    server,
    user,
)
from shared.contracts import (
    DeployMessage,
    DeployResult,
    EngineeringMessage,
    IncidentStatus,
    OutcomeStatus,
    ProgressEvent,
    ProgressType,
    ProvisionerResult,
)
from telegram_bot.handlers.alerts import notify_incidents, notify_provisioning
from telegram_bot.handlers.progress import follow_task, show_progress
from telegram_bot.ports import Unavailable

WINDOW_S = 3600


class Harness:
    def __init__(self) -> None:
        self.alice = user(1001, name="alice")
        self.admin = user(42, is_admin=True)
        self.down = Down()
        self.users = FakeUsers(self.alice, self.admin, down=self.down)
        self.catalog = FakeCatalog(down=self.down)
        self.todo = project(self.alice, "todo-api")
        self.catalog.project_list = [self.todo]
        self.chat = FakeChat()
        self.board = FakeBoard(self.chat)
        self.book = FakeBook()
        self.told = FakeTold()

    async def follow(self, intent: EngineeringMessage | DeployMessage) -> None:
        await follow_task(
            intent,
            users=self.users,
            catalog=self.catalog,
            chat=self.chat,
            book=self.book,
            window_s=WINDOW_S,
            now=lambda: NOW,
        )

    def deploy(self, **fields: object) -> DeployMessage:
        return DeployMessage.model_validate(
            {"task_id": "t1", "project_id": self.todo.id, "user_id": self.alice.id,
             "timestamp": NOW} | fields
        )  # fmt: skip


class TestFollowing:
    async def test_an_intent_opens_one_status_message_for_its_user(self) -> None:
        h = Harness()

        await h.follow(h.deploy())
        await h.follow(h.deploy())

        assert h.chat.to("1001") == ["Deploying todo-api\nQueued"]
        [followed] = await h.book.followed()
        assert (followed.chat, followed.message_id, followed.after) == ("1001", "1", "0-0")

    async def test_an_old_intent_or_one_of_a_user_without_telegram_is_not_followed(
        self,
    ) -> None:
        h = Harness()
        nobody = user(None)
        h.users.users[nobody.id] = nobody

        await h.follow(h.deploy(timestamp=NOW - timedelta(hours=2)))
        await h.follow(h.deploy(task_id="t2", user_id=nobody.id))

        assert h.chat.messages == []
        assert await h.book.followed() == []

    async def test_the_api_down_leaves_the_intent_to_be_read_again(self) -> None:
        h = Harness()
        h.down.on = True

        with pytest.raises(Unavailable):
            await h.follow(h.deploy())

        assert not await h.book.knows("t1")


class TestShowingProgress:
    async def test_events_edit_the_status_message_and_the_result_brings_the_url(self) -> None:
        h = Harness()
        await h.follow(h.deploy())
        [task] = await h.book.followed()
        step = ProgressEvent(type=ProgressType.PROGRESS, task_id="t1", message="Deploying",
                             current_step="deploy", progress_pct=20)  # fmt: skip
        done = DeployResult(task_id="t1", status=OutcomeStatus.SUCCESS, deployed_url="http://x/")

        moved = await show_progress(task, [("1-0", step)], chat=h.chat, board=h.board, book=h.book)
        assert moved is not None
        ended = await show_progress(
            moved, [("2-0", None), ("3-0", done)], chat=h.chat, board=h.board, book=h.book
        )

        assert ended is None
        assert h.chat.by_id("1").edits == [
            "Deploying todo-api\nDeploying - 20%",
            "Deploying todo-api\nLive at http://x/",
        ]
        assert h.chat.to("1001")[1] == "todo-api is live: http://x/"
        assert await h.book.followed() == []
        assert await h.book.knows("t1")

    async def test_the_last_entry_shown_is_remembered_even_when_invalid(self) -> None:
        h = Harness()
        await h.follow(h.deploy())
        [task] = await h.book.followed()

        await show_progress(task, [("5-0", None)], chat=h.chat, board=h.board, book=h.book)

        assert (await h.book.followed())[0].after == "5-0"


class TestAdmins:
    async def notify(self, h: Harness, result: ProvisionerResult) -> None:
        await notify_provisioning(
            result, users=h.users, chat=h.chat, told=h.told, admin_ids=[77],
            window_s=WINDOW_S, now=lambda: NOW,
        )  # fmt: skip

    async def test_a_provisioning_result_reaches_every_admin_once(self) -> None:
        h = Harness()
        result = ProvisionerResult(
            status=OutcomeStatus.SUCCESS, server_handle="vps-1", timestamp=NOW
        )

        await self.notify(h, result)
        await self.notify(h, result)

        assert h.chat.to("42") == ["Server vps-1 is set up."]
        assert h.chat.to("77") == ["Server vps-1 is set up."]
        assert h.chat.to("1001") == []

    async def test_an_admin_who_blocked_the_bot_does_not_keep_the_others_from_hearing(
        self,
    ) -> None:
        h = Harness()
        h.chat.refusing.add("42")

        await self.notify(
            h, ProvisionerResult(status=OutcomeStatus.FAILED, server_handle="v", timestamp=NOW)
        )

        assert h.chat.to("77") == ["Setting up server v ended: failed."]

    async def test_each_new_open_incident_is_told_once(self) -> None:
        h = Harness()
        vps = server("vps-1")
        h.catalog.server_list = [vps]
        h.catalog.incident_list = [
            incident("Disk full", server_id=vps.id),
            incident("Old news", status=IncidentStatus.RESOLVED),
        ]

        first = await notify_incidents(
            catalog=h.catalog, users=h.users, chat=h.chat, told=h.told, admin_ids=[]
        )
        h.catalog.incident_list.append(incident("Server unreachable"))
        second = await notify_incidents(
            catalog=h.catalog, users=h.users, chat=h.chat, told=h.told, admin_ids=[]
        )

        assert (first, second) == (1, 1)
        assert h.chat.to("42") == [
            "Incident (high) on vps-1: Disk full",
            "Incident (high): Server unreachable",
        ]
