"""The bot's rules without any I/O: cutting long texts, reading commands, a task's status
message, admin alerts, and the lanes that keep a user's messages in order."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from bot_fakes import NOW, incident, user
from hypothesis import given
from hypothesis import strategies as st
from shared.contracts import (
    DeployResult,
    EngineeringResult,
    OutcomeStatus,
    ProgressEvent,
    ProgressType,
    ProvisionerResult,
)
from telegram_bot.domain import alerts, commands, progress
from telegram_bot.domain.chunks import split_text, units
from telegram_bot.domain.commands import Command, UnknownCommand
from telegram_bot.domain.lanes import Job, Lanes
from telegram_bot.domain.progress import TaskKind, TaskView


class TestSplitText:
    def test_a_short_text_is_one_message(self) -> None:
        assert split_text("hello\nworld") == ["hello\nworld"]

    def test_a_long_text_is_cut_at_line_ends(self) -> None:
        lines = [f"line {n:04d} " + "x" * 90 for n in range(200)]

        pieces = split_text("\n".join(lines))

        assert len(pieces) > 1
        assert all(units(piece) <= 4096 for piece in pieces)
        assert [line for piece in pieces for line in piece.split("\n")] == lines

    def test_a_line_longer_than_a_message_is_cut_at_spaces(self) -> None:
        words = [f"word{n}" for n in range(2000)]

        pieces = split_text(" ".join(words), limit=100)

        assert all(units(piece) <= 100 for piece in pieces)
        assert " ".join(pieces).split() == words

    def test_a_word_longer_than_a_message_is_cut_mid_word(self) -> None:
        assert split_text("a" * 250, limit=100) == ["a" * 100, "a" * 100, "a" * 50]

    def test_characters_outside_the_basic_plane_count_twice_and_are_never_halved(self) -> None:
        pieces = split_text("😀" * 100, limit=51)

        assert pieces[0] == "😀" * 25
        assert "".join(pieces) == "😀" * 100

    def test_blank_pieces_are_never_sent(self) -> None:
        assert split_text("\n\n   \n") == []
        assert split_text("a\n\n\n" + "b" * 10, limit=5) == ["a", "bbbbb", "bbbbb"]

    @given(st.text(alphabet=st.characters(codec="utf-8"), max_size=3000))
    def test_every_piece_fits_and_no_visible_character_is_lost(self, text: str) -> None:
        pieces = split_text(text, limit=64)

        assert all(0 < units(piece) <= 64 and piece.strip() for piece in pieces)
        assert "".join("".join(pieces).split()) == "".join(text.split())


class TestCommands:
    @pytest.mark.parametrize(
        ("text", "command"),
        [
            ("/projects", Command.PROJECTS),
            ("/Tasks please", Command.TASKS),
            ("/servers@codegen_bot", Command.SERVERS),
            ("/new", Command.NEW),
            ("  /help ", Command.HELP),
            ("hello /projects", None),
            ("/ projects", None),
            ("", None),
        ],
    )
    def test_a_text_is_read_as_its_command(self, text: str, command: Command | None) -> None:
        assert commands.parse(text) is command

    def test_an_unknown_command_is_named(self) -> None:
        with pytest.raises(UnknownCommand, match="deploy"):
            commands.parse("/deploy now")

    def test_new_waits_its_turn_but_the_other_commands_are_quick(self) -> None:
        assert not commands.is_quick("/new")
        assert not commands.is_quick("make me an app")
        assert commands.is_quick("/projects")
        assert commands.is_quick("/unknown")


class TestProgressView:
    def view(self) -> TaskView:
        return TaskView("t1", TaskKind.ENGINEERING, "todo-api")

    def event(self, step: str, message: str, **fields: object) -> ProgressEvent:
        return ProgressEvent.model_validate(
            {"type": ProgressType.PROGRESS, "task_id": "t1", "current_step": step,
             "message": message} | fields
        )  # fmt: skip

    def test_the_stage_attempt_and_percentage_are_shown(self) -> None:
        view = progress.apply(self.view(), self.event("a2.develop", "Developing", progress_pct=40))

        assert progress.render(view) == "Building todo-api\nDeveloping (attempt 2) - 40%"

    def test_a_failed_attempts_tests_stay_shown_until_a_newer_outcome(self) -> None:
        view = self.view()
        for event in [
            self.event("a1.test", "Testing the commit"),
            self.event("a1.retry", "Attempt 1 failed", error="test_hello failed\nassert 1 == 2"),
            self.event("a2.develop", "Developing"),
        ]:
            view = progress.apply(view, event)

        assert progress.render(view).splitlines() == [
            "Building todo-api",
            "Developing (attempt 2)",
            "Attempt 1 failed: test_hello failed assert 1 == 2",
        ]

    def test_a_deploys_result_ends_the_view_with_its_url(self) -> None:
        view = TaskView("t1", TaskKind.DEPLOY, "todo-api")
        result = DeployResult(
            task_id="t1", status=OutcomeStatus.SUCCESS, deployed_url="http://127.0.0.1:20001"
        )

        view = progress.apply(view, result)

        assert view.ended
        assert progress.render(view) == "Deploying todo-api\nLive at http://127.0.0.1:20001"
        assert progress.live_message(view) == "todo-api is live: http://127.0.0.1:20001"
        assert progress.apply(view, self.event("end", "later")) == view

    def test_a_failed_result_says_why_and_brings_no_url(self) -> None:
        result = EngineeringResult(task_id="t1", status=OutcomeStatus.FAILED, error="no tests")

        view = progress.apply(self.view(), result)

        assert progress.render(view).endswith("Ended (failed): no tests")
        assert progress.live_message(view) is None

    def test_a_sub_step_completing_does_not_end_the_task(self) -> None:
        done = self.event("done", "Repository created", type=ProgressType.COMPLETED)

        assert not progress.apply(self.view(), done).ended

    def test_edits_are_spaced_by_the_interval(self) -> None:
        assert progress.edit_delay(None, 10.0, 3.0) == 0.0
        assert progress.edit_delay(10.0, 11.0, 3.0) == 2.0
        assert progress.edit_delay(10.0, 14.0, 3.0) == 0.0


class TestAlerts:
    def test_admins_are_the_apis_admins_with_a_telegram_id_and_the_configured_ids(self) -> None:
        users = [user(5, is_admin=True), user(6), user(None, is_admin=True), user(7, is_admin=True)]

        assert alerts.admin_chats(users, [9, 5]) == ["5", "7", "9"]

    def test_a_provisioning_failure_says_where_and_why(self) -> None:
        result = ProvisionerResult(
            status=OutcomeStatus.FAILED,
            server_handle="vps-1",
            server_ip="10.0.0.9",
            error="ssh: connection refused",
            errors=["step docker failed"],
        )

        assert alerts.provisioning_text(result).splitlines() == [
            "Setting up server vps-1 (10.0.0.9) ended: failed.",
            "ssh: connection refused",
            "- step docker failed",
        ]

    def test_an_incident_names_its_server(self) -> None:
        text = alerts.incident_text(incident("Disk full", details="/ at 99%"), "vps-1")

        assert text == "Incident (high) on vps-1: Disk full\n/ at 99%"

    def test_only_recent_messages_are_news(self) -> None:
        assert alerts.is_recent(NOW - timedelta(minutes=5), NOW, 3600)
        assert not alerts.is_recent(NOW - timedelta(hours=2), NOW, 3600)


class TestLanes:
    async def test_one_keys_jobs_run_in_order_one_at_a_time_and_other_keys_beside(self) -> None:
        lanes = Lanes()
        log: list[str] = []
        gate, b_done = asyncio.Event(), asyncio.Event()

        def job(name: str, wait: bool = False) -> Job:
            async def run() -> None:
                log.append(f"start {name}")
                if wait:
                    await gate.wait()
                log.append(f"end {name}")
                if name == "b1":
                    b_done.set()

            return run

        lanes.submit("alice", job("a1", wait=True))
        lanes.submit("alice", job("a2"))
        lanes.submit("bob", job("b1"))
        await b_done.wait()

        assert log == ["start a1", "start b1", "end b1"]
        assert lanes.waiting("alice") == 2
        gate.set()
        await lanes.idle()
        assert log[3:] == ["end a1", "start a2", "end a2"]
        assert not lanes.busy

    async def test_a_failing_job_does_not_stop_its_lane(self) -> None:
        lanes = Lanes()
        done: list[int] = []

        async def fail() -> None:
            raise RuntimeError("boom")

        async def succeed() -> None:
            done.append(1)

        lanes.submit("alice", fail)
        lanes.submit("alice", succeed)
        await lanes.idle()

        assert done == [1]

    async def test_fifty_quick_submissions_run_in_their_order(self) -> None:
        lanes = Lanes()
        seen: list[int] = []

        def job(n: int) -> Job:
            async def run() -> None:
                await asyncio.sleep(0)
                seen.append(n)

            return run

        for n in range(50):
            lanes.submit("alice", job(n))
        await lanes.idle()

        assert seen == list(range(50))
