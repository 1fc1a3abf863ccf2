"""Each service's environment, as the stack makes it, is exactly what its settings class reads:
every variable parses, and nothing is left to a default the stack should have set."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from api.config import ApiSettings
from codegen_stack.config import StackSettings
from codegen_stack.layout import Layout
from codegen_stack.servers import take_app_ports
from codegen_stack.services import MARKER, SERVICES, Wiring, service_env
from infra_service.config import InfraSettings
from langgraph_service.config import LanggraphSettings
from pydantic_settings import BaseSettings
from scaffolder.config import ScaffolderSettings
from scheduler.config import SchedulerSettings
from shared.contracts import AgentType
from telegram_bot.config import BotSettings
from worker_manager.config import ManagerSettings

SETTINGS: dict[str, type[BaseSettings]] = {
    "api": ApiSettings,
    "scaffolder": ScaffolderSettings,
    "worker-manager": ManagerSettings,
    "infra-service": InfraSettings,
    "langgraph-service": LanggraphSettings,
    "telegram-bot": BotSettings,
    "scheduler": SchedulerSettings,
}
NOT_SETTINGS = {"PATH", "HOME", "LANG", "TZ", MARKER, "SCRIPTED_AGENT_SCRIPT"}


def wiring(script: Path | None = None) -> Wiring:
    return Wiring(
        database_url="postgresql://postgres@127.0.0.1:5/codegen",
        redis_url="redis://127.0.0.1:6/0",
        api_url="http://127.0.0.1:7",
        api_port=7,
        api_key="cg_service_key",
        agent=AgentType.SCRIPTED,
        agent_script=script,
    )


def parsed(name: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> BaseSettings:
    for variable in list(os.environ):
        monkeypatch.delenv(variable)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    return SETTINGS[name]()


@pytest.mark.parametrize("name", SERVICES)
def test_every_variable_the_stack_sets_is_a_setting_of_the_service(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = service_env(name, Layout.at(tmp_path), wiring(tmp_path / "s.json"), StackSettings())
    fields = {field.upper() for field in SETTINGS[name].model_fields}

    unknown = set(env) - fields - NOT_SETTINGS

    assert not unknown, unknown
    parsed(name, env, monkeypatch)  # and every value parses


def test_the_services_share_the_stacks_redis_api_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = Layout.at(tmp_path)
    for name in SERVICES[1:]:
        settings = parsed(name, service_env(name, layout, wiring(), StackSettings()), monkeypatch)
        assert settings.redis_url == "redis://127.0.0.1:6/0"  # type: ignore[attr-defined]
        assert settings.api_url == "http://127.0.0.1:7"  # type: ignore[attr-defined]
        assert settings.api_key.get_secret_value() == "cg_service_key"  # type: ignore[attr-defined]


def test_without_a_bot_token_the_front_door_is_the_local_chat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = service_env("telegram-bot", Layout.at(tmp_path), wiring(), StackSettings())

    assert env["MODE"] == "local"
    assert "BOT_TOKEN" not in env


def test_with_a_bot_token_the_front_door_is_telegram(tmp_path: Path) -> None:
    settings = StackSettings(bot_token="123456:" + "A" * 35, bot_api_url="http://127.0.0.1:9")
    env = service_env("telegram-bot", Layout.at(tmp_path), wiring(), settings)

    assert (env["MODE"], env["BOT_API_URL"]) == ("polling", "http://127.0.0.1:9")


def test_workers_carry_the_stack_marker_and_the_script_but_no_service_secret(
    tmp_path: Path,
) -> None:
    env = service_env(
        "worker-manager", Layout.at(tmp_path), wiring(tmp_path / "s.json"), StackSettings()
    )

    handed = env["WORKER_ENV_PASSTHROUGH"].split(",")
    assert MARKER in handed
    assert "SCRIPTED_AGENT_SCRIPT" in handed
    assert "API_KEY" not in handed
    assert env["SCRIPTED_AGENT_SCRIPT"] == str(tmp_path / "s.json")


@pytest.mark.parametrize(
    ("environ", "agent"),
    [
        ({}, AgentType.SCRIPTED),
        ({"ANTHROPIC_API_KEY": "k"}, AgentType.CLAUDE),
        ({"OPENAI_API_KEY": "k"}, AgentType.CODEX),
        ({"ANTHROPIC_API_KEY": "", "FACTORY_API_KEY": "k"}, AgentType.FACTORY),
    ],
)
def test_the_agent_is_the_first_with_credentials_else_scripted(
    environ: dict[str, str], agent: AgentType
) -> None:
    assert StackSettings().chosen_agent(environ) is agent


def test_an_agent_named_wins_over_credentials() -> None:
    chosen = StackSettings(agent="scripted").chosen_agent({"ANTHROPIC_API_KEY": "k"})

    assert chosen is AgentType.SCRIPTED


def test_two_stacks_on_one_machine_give_their_apps_ports_of_their_own(tmp_path: Path) -> None:
    first_lock, first = take_app_ports(Layout.at(tmp_path / "one"))
    second_lock, second = take_app_ports(Layout.at(tmp_path / "one"))  # even on one data dir
    try:
        assert first[0] <= first[1] < second[0] or second[0] <= second[1] < first[0]
        ours = replace(wiring(), app_ports=first)
        env = service_env("api", Layout.at(tmp_path), ours, StackSettings())
    finally:
        first_lock.close()
        second_lock.close()
    again_lock, again = take_app_ports(Layout.at(tmp_path / "one"))
    again_lock.close()

    assert (env["PORT_RANGE_START"], env["PORT_RANGE_END"]) == tuple(map(str, first))
    assert again == first  # a data directory takes its own block again once it is free


def test_the_scheduler_checks_the_repositories_scaffolder_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = Layout.at(tmp_path)
    scaffolder = parsed(
        "scaffolder", service_env("scaffolder", layout, wiring(), StackSettings()), monkeypatch
    )
    scheduler = parsed(
        "scheduler", service_env("scheduler", layout, wiring(), StackSettings()), monkeypatch
    )

    assert isinstance(scaffolder, ScaffolderSettings)
    assert isinstance(scheduler, SchedulerSettings)
    assert scheduler.local_forge_dir == scaffolder.repositories_dir
    assert scheduler.server_provider == "local"
