"""`codegen`: the whole system on one machine.

codegen up                 start everything; logs until Ctrl-C, then stop everything
codegen chat               talk to your Product Owner (the stack must be up)
codegen demo "<wish>"      a wish to a live URL, non-interactively (starts its own stack)
codegen status             services, workers, flows waiting, dead letters
codegen logs SERVICE       a program's log, readable (--follow)
codegen down               stop the stack running on the data directory
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from redis.asyncio import Redis
from rich.console import Console

from codegen_stack.chat import LocalChat
from codegen_stack.config import AgentChoice, StackSettings
from codegen_stack.console import LogPrinter, render
from codegen_stack.demo import run as demo_run
from codegen_stack.layout import Layout
from codegen_stack.stack import AlreadyRunning, Running, Stack, running_stack, stop_leftovers
from codegen_stack.status import collect, show
from codegen_stack.supervisor import StartFailed, alive

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console(highlight=False)
T = TypeVar("T")

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="The data directory (CODEGEN_DATA_DIR).")
]
Agent = Annotated[
    AgentChoice | None, typer.Option(help="The PO's and developers' agent (CODEGEN_AGENT).")
]
Script = Annotated[
    Path | None,
    typer.Option("--agent-script", help="The scripted agents' script (roles po, developer)."),
]


def settings_of(data_dir: Path | None, **values: Any) -> StackSettings:
    chosen = {k: v for k, v in values.items() if v is not None}
    if data_dir is not None:
        chosen["data_dir"] = data_dir
    return StackSettings(**chosen)


@app.command()
def up(data_dir: DataDir = None, agent: Agent = None, agent_script: Script = None) -> None:
    """Start Postgres, Redis and every service, supervised; show their logs until Ctrl-C."""
    settings = settings_of(data_dir, agent=agent, agent_script=agent_script)

    async def serve() -> None:
        async with _stack(settings, LogPrinter(console)) as running:
            _describe(running, settings)
            console.print("[bold green]up[/bold green]: Ctrl-C stops everything.")
            await asyncio.Event().wait()

    sys.exit(_run(serve))


@app.command()
def demo(
    wish: Annotated[str, typer.Argument(help="What to build.")] = demo_run.DEFAULT_WISH,
    data_dir: DataDir = None,
    agent: Agent = None,
    agent_script: Script = None,
    keep: Annotated[bool, typer.Option(help="Leave the app and stack up until Ctrl-C.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds the whole cycle may take.")] = 1800,
    verbose: Annotated[bool, typer.Option(help="Show every service's log lines.")] = False,
) -> None:
    """A wish to a live URL: starts a stack, tells the PO the wish, shows the progress, and
    prints the URL with the answer of its health check."""
    settings = settings_of(data_dir, agent=agent, agent_script=agent_script)

    async def go() -> int:
        async with _stack(settings, LogPrinter(console, quiet=not verbose)) as running:
            _describe(running, settings)
            redis = Redis.from_url(running.wiring.redis_url, decode_responses=True)
            try:
                outcome = await demo_run.run(running, redis, wish, console, timeout)
            except demo_run.DemoFailed as exc:
                console.print(f"[bold red]demo failed[/bold red]: {exc}")
                console.print(f"logs: {running.layout.root / 'logs'}")
                return 1
            finally:
                await redis.aclose()
            healthy = 200 <= outcome.health_status < 300
            console.print(f"[bold green]URL[/bold green]: {outcome.url}")
            console.print(
                f"health: GET {outcome.health_url} → {outcome.health_status} "
                f"{outcome.health_body.strip()[:300]}"
            )
            console.print(f"wish to URL in {outcome.seconds:.1f} s")
            if keep:
                console.print("--keep: the app and the stack stay up; Ctrl-C stops everything.")
                await asyncio.Event().wait()
            return 0 if healthy else 1

    sys.exit(_run(go))


@app.command()
def chat(data_dir: DataDir = None) -> None:
    """Talk to your Product Owner in the terminal (the stack must be up: `codegen up`)."""
    layout = Layout.of(settings_of(data_dir).data_dir)
    state = running_stack(layout)
    if state is None:
        console.print(f"No stack runs on {layout.root}: start one with `codegen up`.")
        sys.exit(1)
    if state.get("front_door") != "local":
        console.print("This stack's front door is Telegram: write to your bot there.")
        sys.exit(2)

    async def talk() -> None:
        redis = Redis.from_url(str(state["redis_url"]), decode_responses=True)
        local = LocalChat(redis, int(state["telegram_id"]))
        shown = asyncio.create_task(demo_run.show_chat(local, await local.last_id(), console))
        console.print("Talk to your Product Owner; /new starts afresh, Ctrl-D leaves.")
        try:
            async for line in _lines():
                if line.strip():
                    await local.say(line.strip())
        finally:
            shown.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await shown
            await redis.aclose()

    sys.exit(_run(talk))


@app.command()
def status(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Services, workers, flows waiting and dead letters of the running stack."""
    layout = Layout.of(settings_of(data_dir).data_dir)
    state = running_stack(layout)
    if state is None:
        report: dict[str, Any] = {"running": False, "data_dir": str(layout.root)}
    else:
        report = asyncio.run(collect(state)) | {"data_dir": str(layout.root)}
    if as_json:
        print(json.dumps(report))
    else:
        show(report, console)
    sys.exit(0 if report["running"] else 1)


@app.command()
def logs(
    service: Annotated[str, typer.Argument(help="api, langgraph-service, postgres, ...")],
    data_dir: DataDir = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep showing new lines.")] = False,
    raw: Annotated[bool, typer.Option(help="The lines as written (JSON).")] = False,
) -> None:
    """A program's log, readable."""
    layout = Layout.of(settings_of(data_dir).data_dir)
    path = layout.log(service)
    if not path.exists():
        known = sorted(p.stem for p in (layout.root / "logs").glob("*.log"))
        console.print(f"No log for {service!r}; there are: {', '.join(known) or 'none'}")
        sys.exit(1)
    with path.open(errors="replace") as source:
        while True:
            line = source.readline()
            if line:
                text = line.rstrip("\n")
                shown = None if raw else render(service, text, "cyan")
                console.print(shown if shown is not None else text, soft_wrap=True)
            elif follow:
                time.sleep(0.2)
            else:
                return


@app.command()
def down(data_dir: DataDir = None) -> None:
    """Stop the stack running on the data directory, and anything it left."""
    layout = Layout.of(settings_of(data_dir).data_dir)
    state = running_stack(layout)
    if state is not None:
        os.kill(int(state["pid"]), signal.SIGTERM)
        deadline = time.monotonic() + 180
        while alive(int(state["pid"])) and time.monotonic() < deadline:
            time.sleep(0.2)
    left = stop_leftovers(layout)
    console.print(
        f"stopped{' the stack' if state else ''} on {layout.root}"
        + (f" and {len(left)} process(es) left behind" if left else "")
    )


@contextlib.asynccontextmanager
async def _stack(settings: StackSettings, sink: LogPrinter) -> Any:
    script = settings.agent_script
    if settings.chosen_agent().value == "scripted" and script is None:
        script = demo_run.default_script()
    console.print(f"starting the stack in {Layout.at(settings.data_dir).root} …")
    started = time.monotonic()
    async with Stack(settings, sink, agent_script=script) as running:
        console.print(f"ready in {time.monotonic() - started:.1f} s")
        yield running


def _describe(running: Running, settings: StackSettings) -> None:
    wiring = running.wiring
    if wiring.agent.value == "scripted":
        console.print(
            "[bold yellow]agents: offline scripted[/bold yellow] — no model credentials "
            f"(ANTHROPIC_API_KEY, ...) found, so the PO and the developer follow the script "
            f"{wiring.agent_script}; nothing is generated by a model."
        )
    else:
        console.print(f"agents: {wiring.agent.value}")
    front = "Telegram (your bot)" if settings.bot_token else "local (`codegen chat`)"
    console.print(f"API {wiring.api_url} · front door: {front} · logs: {running.layout.root}/logs")


def _run(main: Callable[[], Coroutine[Any, Any, T]]) -> int:
    """Run until done, Ctrl-C or SIGTERM (both stop the stack in order); the exit code."""

    async def guarded() -> T:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        return await main()

    try:
        result = asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 0
    except AlreadyRunning as exc:
        console.print(f"[bold red]{exc}[/bold red]")
        return 1
    except StartFailed as exc:
        console.print(f"[bold red]the stack did not start[/bold red]: {exc}")
        return 1
    return result if isinstance(result, int) else 0


async def _lines() -> AsyncIterator[str]:
    """Standard input's lines; read by the event loop, so Ctrl-C is not held up by a read."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    except (ValueError, OSError):  # a regular file: reading it never blocks for long
        for line in sys.stdin:
            yield line
        return
    while line := await reader.readline():
        yield line.decode(errors="replace")


def main() -> None:
    app()
