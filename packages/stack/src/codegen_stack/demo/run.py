"""`codegen demo`: the whole cycle without a person typing. The wish goes to the PO through the
local chat, as typed; what the PO and the progress say is shown as it comes; the demo ends when
the deploy the wish led to ends, with its URL and the answer of the app's health check.

The demo watches the API for the tasks the wish made (the person's tasks that were not there
before); it never reads what the chat says to decide anything."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from codegen_stack.chat import LocalChat
from codegen_stack.stack import Running

DEFAULT_WISH = "A small todo-list API: add a todo, list them, mark one done."
DEFAULT_SCRIPT = "todo_api.json"
ENDED = {"completed", "failed", "cancelled"}
POLL_S = 1.0


class DemoFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Outcome:
    url: str
    health_url: str
    health_status: int
    health_body: str
    seconds: float


def default_script() -> Path:
    return Path(str(resources.files("codegen_stack.demo").joinpath(DEFAULT_SCRIPT)))


async def run(stack: Running, redis: Any, wish: str, console: Console, within_s: float) -> Outcome:
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {stack.wiring.api_key}"}
    async with httpx.AsyncClient(base_url=stack.wiring.api_url, headers=headers, timeout=10) as api:
        before = {t["id"] for t in await _tasks(api, stack.local_user_id)}
        chat = LocalChat(redis, stack.telegram_id)
        after = await chat.last_id()
        shown = asyncio.create_task(show_chat(chat, after, console))
        try:
            console.print(f"[bold]you:[/bold] {wish}", highlight=False)
            await chat.say(wish)
            deploy = await _deployed(api, stack.local_user_id, before, within_s)
        finally:
            shown.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await shown
        result = deploy.get("result") or {}
        url = str(result.get("deployed_url", ""))
        health_url = str(result.get("health_url") or url)
        async with httpx.AsyncClient(timeout=10) as client:
            health = await client.get(health_url)
    return Outcome(url, health_url, health.status_code, health.text, time.monotonic() - started)


async def show_chat(chat: LocalChat, after: str, console: Console) -> None:
    """The bot's messages as they come; an edited message is shown again when its text moved."""
    texts: dict[int, str] = {}
    async for output in chat.replies(after):
        if texts.get(output.message_id) == output.text:
            continue
        mark = "po" if output.op.value == "send" else "  ↻"
        texts[output.message_id] = output.text
        console.print(f"[bold cyan]{mark}:[/bold cyan] {output.text}", highlight=False)


async def _deployed(
    api: httpx.AsyncClient, owner_id: str, before: set[str], within_s: float
) -> dict[str, Any]:
    """The first deploy task the wish made, once it ended well; DemoFailed if any task the wish
    made ends otherwise, or nothing is deployed in time."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        new = [t for t in await _tasks(api, owner_id) if t["id"] not in before]
        for task in new:
            if task["status"] in ("failed", "cancelled"):
                raise DemoFailed(f"the {task['type']} task {task['id']} {task['status']}: "
                                 f"{task.get('error')}")  # fmt: skip
        for task in new:
            if task["type"] == "deploy" and task["status"] == "completed":
                return task
        await asyncio.sleep(POLL_S)
    raise DemoFailed(f"nothing was deployed within {within_s:.0f} s")


async def _tasks(api: httpx.AsyncClient, owner_id: str) -> list[dict[str, Any]]:
    response = await api.get("/api/tasks", params={"owner_id": owner_id, "limit": 100})
    response.raise_for_status()
    return list(response.json())
