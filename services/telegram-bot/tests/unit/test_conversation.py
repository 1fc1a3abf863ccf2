"""The conversation handlers with fakes of their ports: who is let in, the quick commands, the
turns with the PO (a worker made, reused, replaced once when it dies), and the failures a user is
told about."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bot_fakes import (
    Down,
    FakeCatalog,
    FakeChat,
    FakeClock,
    FakeRefusals,
    FakeSessions,
    FakeTurns,
    FakeUsers,
    FakeWorkers,
    output,
    project,
    server,
    task,
    user,
)
from shared.contracts import (
    AgentType,
    POWorkerInput,
    ProjectStatus,
    TaskStatus,
    UserRead,
    WorkerResponse,
    WorkerState,
    WorkerType,
)
from telegram_bot.domain import conversation as texts
from telegram_bot.domain.conversation import Incoming, Session
from telegram_bot.handlers.conversation import (
    PoOptions,
    answer_command,
    answer_non_text,
    relay_left_over,
    talk_to_po,
)

CHAT = "1001"


@dataclass
class Bot:
    """The handlers bound to one set of fakes, as bootstrap binds them to adapters."""

    alice: UserRead = field(default_factory=lambda: user(1001, name="alice"))
    down: Down = field(default_factory=Down)
    clock: FakeClock = field(default_factory=FakeClock)

    def __post_init__(self) -> None:
        self.users = FakeUsers(self.alice, down=self.down)
        self.refusals = FakeRefusals()
        self.catalog = FakeCatalog(down=self.down)
        self.chat = FakeChat()
        self.sessions = FakeSessions(down=self.down)
        self.workers = FakeWorkers(self.clock, down=self.down)
        self.turns = FakeTurns(down=self.down)
        self.options = PoOptions(
            agent=AgentType.SCRIPTED,
            instructions="You are the PO.",
            allowed_commands="PRODUCT_OWNER",
            start_timeout_s=5,
            liveness_check_s=10,
            turn_timeout_s=100,
            clock=self.clock,
        )

    async def say(self, text: str, telegram_id: int = 1001, *, request_id: str = "") -> None:
        incoming = Incoming(chat=str(telegram_id), telegram_id=telegram_id, text=text)
        if request_id:
            incoming = replace(incoming, request_id=request_id)
        if text.startswith("/") and not text.startswith("/new"):
            await answer_command(
                incoming,
                users=self.users,
                refusals=self.refusals,
                catalog=self.catalog,
                chat=self.chat,
            )
            return
        await talk_to_po(
            incoming,
            users=self.users,
            refusals=self.refusals,
            sessions=self.sessions,
            workers=self.workers,
            turns=self.turns,
            chat=self.chat,
            options=self.options,
        )

    async def relay_left_over(self) -> None:
        await relay_left_over(
            self.alice.id,
            sessions=self.sessions,
            workers=self.workers,
            turns=self.turns,
            chat=self.chat,
            options=self.options,
        )

    async def send_sticker(self, telegram_id: int = 1001, *, edited: bool = False) -> None:
        await answer_non_text(
            Incoming(chat=str(telegram_id), telegram_id=telegram_id),
            edited=edited,
            users=self.users,
            refusals=self.refusals,
            chat=self.chat,
        )

    def answers(self, chat: str = CHAT) -> list[str]:
        return self.chat.to(chat)

    def session(self) -> Session:
        session = self.sessions.sessions[self.alice.id]
        assert session is not None
        return session


class TestWhoMayTalk:
    async def test_an_unknown_user_is_refused_once_and_nothing_is_created(self) -> None:
        bot = Bot()

        await bot.say("hello", telegram_id=666)
        await bot.say("hello again", telegram_id=666)
        await bot.say("/projects", telegram_id=666)
        await bot.send_sticker(telegram_id=666)

        assert bot.answers("666") == [texts.REFUSED]
        assert bot.workers.created == []
        assert bot.sessions.sessions == {}

    async def test_a_known_users_sticker_or_edit_is_answered_politely(self) -> None:
        bot = Bot()

        await bot.send_sticker()
        await bot.send_sticker(edited=True)

        assert bot.answers() == [texts.TEXT_ONLY, texts.EDITS_UNSEEN]
        assert bot.workers.created == []


class TestQuickCommands:
    async def test_projects_lists_the_users_own_projects(self) -> None:
        bot = Bot()
        other = user(2002)
        bot.catalog.project_list = [
            project(bot.alice, "todo-api", status=ProjectStatus.ACTIVE, description="Todos"),
            project(other, "not-hers"),
        ]

        await bot.say("/projects")

        [answer] = bot.answers()
        assert "todo-api: active - Todos" in answer
        assert "not-hers" not in answer

    async def test_tasks_names_each_tasks_project_and_status(self) -> None:
        bot = Bot()
        todo = project(bot.alice, "todo-api")
        bot.catalog.project_list = [todo]
        bot.catalog.task_list = [task(todo, status=TaskStatus.FAILED, error="tests fail")]

        await bot.say("/tasks")

        assert "engineering of todo-api: failed (tests fail)" in bot.answers()[0]

    async def test_servers_lists_the_servers(self) -> None:
        bot = Bot()
        bot.catalog.server_list = [server("local", is_local=True)]

        await bot.say("/servers")

        assert "local (this machine): active" in bot.answers()[0]

    async def test_help_start_and_an_unknown_command_list_the_commands(self) -> None:
        bot = Bot()

        await bot.say("/help")
        await bot.say("/start")
        await bot.say("/frobnicate now")

        assert all("/projects" in answer for answer in bot.answers())
        assert bot.answers()[2].startswith("I do not know /frobnicate")
        assert bot.workers.created == []

    async def test_the_api_down_is_try_again_shortly_and_its_return_answers(self) -> None:
        bot = Bot()
        bot.down.on = True
        await bot.say("/projects")
        bot.down.on = False
        await bot.say("/projects")

        assert bot.answers()[0] == texts.TRY_AGAIN_SHORTLY
        assert bot.answers()[1].startswith("You have no projects yet")


class TestTurns:
    async def test_a_first_message_creates_a_po_worker_for_the_user_and_relays_its_answer(
        self,
    ) -> None:
        bot = Bot()

        await bot.say("make me a todo API")

        [create] = bot.workers.created
        assert create.config.worker_type is WorkerType.PO
        assert create.config.agent_type is AgentType.SCRIPTED
        assert create.config.instructions == "You are the PO."
        assert create.config.allowed_commands == "PRODUCT_OWNER"
        assert create.context == {"user_id": bot.alice.id}
        assert bot.answers() == ["echo: make me a todo API"]
        assert bot.session() == Session(
            chat=CHAT, worker_id="po-1", agent_session="session-po-1", creating=None
        )

    async def test_a_second_message_goes_to_the_same_worker_while_it_lives(self) -> None:
        bot = Bot()
        await bot.say("one")
        bot.workers.states["po-1"] = WorkerState.PAUSED

        await bot.say("two")

        assert len(bot.workers.created) == 1
        assert [m.prompt for m in bot.workers.inputs["po-1"]] == ["one", "two"]
        assert bot.answers() == ["echo: one", "echo: two"]

    async def test_a_worker_gone_between_messages_is_replaced_in_the_same_agent_session(
        self,
    ) -> None:
        bot = Bot()
        await bot.say("one")
        bot.workers.states["po-1"] = WorkerState.COMPLETED

        await bot.say("two")

        assert bot.workers.created[1].context == {
            "user_id": bot.alice.id,
            "session_id": "session-po-1",
        }
        assert bot.workers.inputs["po-2"][0].prompt == "two"
        assert bot.session().worker_id == "po-2"

    async def test_interim_answers_are_relayed_before_the_final_one(self) -> None:
        bot = Bot()
        bot.workers.script = [
            [output("Looking at it...", final=False), output("Here is the plan.")],
        ]

        await bot.say("plan it")

        assert bot.answers() == ["Looking at it...", "Here is the plan."]

    async def test_an_empty_final_output_only_ends_the_turn(self) -> None:
        bot = Bot()
        bot.workers.script = [[output("All said.", final=False), output("")]]

        await bot.say("go")
        await bot.say("next")

        assert bot.answers() == ["All said.", "echo: next"]

    async def test_the_latest_agent_session_is_kept_for_a_new_worker(self) -> None:
        bot = Bot()
        bot.workers.script = [[output("hi", session_id="s-2")]]

        await bot.say("hello")

        assert bot.session().agent_session == "s-2"

    async def test_an_earlier_messages_late_answer_is_relayed_too(self) -> None:
        bot = Bot()
        await bot.say("one")
        late = output("the answer to an earlier message")
        bot.workers.outputs["po-1"].append(late.model_copy(update={"request_id": "earlier"}))

        await bot.say("two")

        assert bot.answers() == ["echo: one", "the answer to an earlier message", "echo: two"]


class TestDeaths:
    async def test_a_worker_dying_on_a_message_is_apologised_for_and_a_new_one_answers(
        self,
    ) -> None:
        bot = Bot()
        await bot.say("one")
        bot.workers.script = [[], ["die"]]

        await bot.say("two")

        assert bot.answers() == ["echo: one", texts.WORKER_DIED, "echo: two"]
        [_, replacement] = bot.workers.created
        assert replacement.context["session_id"] == "session-po-1"
        assert bot.workers.inputs["po-2"][0].prompt == "two"
        assert bot.session().worker_id == "po-2"

    async def test_a_worker_that_dies_without_a_word_is_found_dead_by_its_state(self) -> None:
        bot = Bot()
        bot.workers.script = [["die-silently"]]

        await bot.say("one")

        assert bot.answers() == [texts.WORKER_DIED, "echo: one"]

    async def test_a_second_death_on_the_same_message_is_said_plainly(self) -> None:
        bot = Bot()
        bot.workers.script = [["die"], ["die"]]

        await bot.say("one")

        assert bot.answers() == [texts.WORKER_DIED, texts.DIED_TWICE]
        assert len(bot.workers.created) == 2
        assert bot.session().worker_id is None

    async def test_a_worker_that_never_answers_ends_the_wait_at_the_turns_limit(self) -> None:
        bot = Bot()
        bot.workers.script = [["hang"]]

        await bot.say("one")

        assert bot.answers() == [texts.NO_ANSWER]

    async def test_worker_manager_refusing_a_worker_is_told(self) -> None:
        bot = Bot()
        bot.workers.create_answers = [
            WorkerResponse(request_id="r", command="create", success=False, error="capacity")
        ]

        await bot.say("one")

        assert bot.answers() == [texts.NO_WORKER]
        assert bot.session().creating is None

    async def test_redis_or_the_api_down_is_try_again_shortly_then_it_works(self) -> None:
        bot = Bot()
        bot.down.on = True
        await bot.say("one")
        bot.down.on = False
        await bot.say("two")

        assert bot.answers() == [texts.TRY_AGAIN_SHORTLY, "echo: two"]

    async def test_a_create_left_unanswered_is_asked_again_with_the_same_request(self) -> None:
        bot = Bot()
        bot.sessions.sessions[bot.alice.id] = Session(chat=CHAT, creating="req-1")

        await bot.say("one")

        assert bot.workers.created[0].request_id == "req-1"


class TestNewConversation:
    async def test_new_drops_the_session_and_stops_the_worker(self) -> None:
        bot = Bot()
        await bot.say("one")

        await bot.say("/new")
        await bot.say("two")

        assert bot.answers()[1] == texts.NEW_CONVERSATION
        assert bot.workers.deleted == ["po-1"]
        assert bot.workers.created[1].context == {"user_id": bot.alice.id}
        assert bot.session().worker_id == "po-2"


class TestRestarts:
    async def test_a_message_answered_before_a_restart_is_not_answered_again(self) -> None:
        bot = Bot()

        await bot.say("one", request_id="tg-1001-1")
        await bot.say("one", request_id="tg-1001-1")

        assert bot.answers() == ["echo: one"]
        assert bot.workers.prompts() == ["one"]

    async def test_a_message_its_worker_has_is_not_sent_again_and_its_answer_is_awaited(
        self,
    ) -> None:
        bot = Bot()
        await bot.say("zero")
        had = POWorkerInput(request_id="tg-1001-2", user_id=bot.alice.id, prompt="one")
        bot.workers.inputs["po-1"].append(had)  # sent by the run that stopped
        bot.workers.outputs["po-1"].append(bot.workers.answer(had, "the answer to one", "po-1"))

        await bot.say("one", request_id="tg-1001-2")

        assert bot.answers() == ["echo: zero", "the answer to one"]
        assert bot.workers.prompts() == ["zero", "one"]
        assert await bot.turns.answered("tg-1001-2")

    async def test_what_the_po_said_meanwhile_is_relayed_and_a_final_answer_ends_its_message(
        self,
    ) -> None:
        bot = Bot()
        await bot.say("zero")
        had = POWorkerInput(request_id="tg-1001-2", user_id=bot.alice.id, prompt="one")
        bot.workers.inputs["po-1"].append(had)
        bot.workers.outputs["po-1"].extend(
            [
                bot.workers.answer(had, "Looking at it...", "po-1", final=False),
                bot.workers.answer(had, "Here is the plan.", "po-1"),
            ]
        )

        await bot.relay_left_over()
        await bot.say("one", request_id="tg-1001-2")  # still queued when the bot stopped

        assert bot.answers() == ["echo: zero", "Looking at it...", "Here is the plan."]
        assert bot.workers.prompts() == ["zero", "one"]

    async def test_without_a_worker_or_anything_unread_nothing_is_relayed(self) -> None:
        bot = Bot()
        await bot.relay_left_over()
        await bot.say("zero")

        await bot.relay_left_over()

        assert bot.answers() == ["echo: zero"]

    async def test_a_timeout_or_a_second_death_counts_as_answered(self) -> None:
        bot = Bot()
        bot.workers.script = [["hang"], ["die"], ["die"]]

        await bot.say("one", request_id="tg-1001-1")
        await bot.say("two", request_id="tg-1001-2")
        await bot.say("two", request_id="tg-1001-2")

        assert bot.answers() == [texts.NO_ANSWER, texts.WORKER_DIED, texts.DIED_TWICE]
        assert bot.turns.answered_ids >= {"tg-1001-1", "tg-1001-2"}
