"""The Product Owner's instructions (telegram-bot gives them to every PO worker) quote the CLI:
every `orchestrator …` command line in them must parse with the CLI's own argument parser, so
they cannot drift from it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from orchestrator_cli.app import COMMANDS, app
from orchestrator_cli.permissions import expand, is_allowed
from typer.main import get_command

INSTRUCTIONS = (
    Path(__file__).resolve().parents[4]
    / "services/telegram-bot/src/telegram_bot/instructions/product_owner.md"
)
FENCED = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.DOTALL | re.MULTILINE)
INLINE = re.compile(r"`(orchestrator [^`]+)`")  # the bare name is not a command line
# What the PO's job needs, from a wish to a URL.
THE_FLOW = {
    "project.create",
    "engineering.start",
    "engineering.status",
    "deploy.start",
    "deploy.status",
    "respond",
}


class NotACommand(ValueError):
    pass


def parse(line: str) -> str:
    """The command `line` names (`group.command`), its arguments parsed and checked by the CLI's
    parser without running anything; raises when the parser refuses them."""
    words = shlex.split(line)
    if words[:1] != ["orchestrator"]:
        raise NotACommand(f"not an orchestrator command: {line}")
    command: Any = get_command(app)
    path: list[str] = []
    rest = words[1:]
    while hasattr(command, "commands"):  # a group: the next word names its command
        if not rest or rest[0] not in command.commands:
            raise NotACommand(f"no such command after {path}: {line}")
        path.append(rest.pop(0))
        command = command.commands[path[-1]]
    command.make_context(" ".join(["orchestrator", *path]), rest)
    return ".".join(path)


def quoted_commands(text: str) -> list[str]:
    """Every `orchestrator …` line of the fenced blocks, and every inline code span that starts
    with `orchestrator`."""
    lines = [
        line.strip()
        for block in FENCED.findall(text)
        for line in block.splitlines()
        if line.strip().startswith("orchestrator")
    ]
    return lines + INLINE.findall(FENCED.sub("", text))


LINES = quoted_commands(INSTRUCTIONS.read_text())


def test_the_instructions_quote_commands_in_blocks_and_inline() -> None:
    blocks = FENCED.findall(INSTRUCTIONS.read_text())
    assert any("orchestrator project create --name todo-api" in block for block in blocks)
    assert len(LINES) >= 20


@pytest.mark.parametrize("line", LINES)
def test_every_quoted_command_line_parses_with_the_clis_parser(line: str) -> None:
    assert parse(line) in COMMANDS


def test_they_teach_the_whole_way_from_a_wish_to_a_url() -> None:
    assert {parse(line) for line in LINES} >= THE_FLOW


def test_a_product_owner_may_run_every_command_they_quote() -> None:
    patterns = expand("PRODUCT_OWNER")
    assert all(is_allowed(parse(line), patterns) for line in LINES)


@pytest.mark.parametrize(
    "line",
    [
        "orchestrator project create --modules backend",  # no --name
        "orchestrator engineering start --project p1 --specification x",  # no such option
        "orchestrator engineering status",  # no task id
        "orchestrator deploy start --project p1 extra",  # an argument too many
        "orchestrator engineering wait t1 --timeout soon",  # not a number
    ],
)
def test_a_line_the_cli_would_refuse_is_caught(line: str) -> None:
    with pytest.raises(Exception) as caught:
        parse(line)
    assert hasattr(caught.value, "format_message")  # the parser's own error


@pytest.mark.parametrize(
    "line", ["orchestrator project delete p1", "orchestrator deploy", "orchestrate project list"]
)
def test_a_command_the_cli_does_not_have_is_caught(line: str) -> None:
    with pytest.raises(NotACommand):
        parse(line)
