"""The commands: each checks its permission, builds its ports, calls a handler."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import typer

from orchestrator_cli import handlers
from orchestrator_cli.api_client import HttpApi
from orchestrator_cli.config import CliConfig
from orchestrator_cli.errors import InvalidArguments, PermissionDenied
from orchestrator_cli.output import Outcome, success
from orchestrator_cli.permissions import grant
from orchestrator_cli.queue import RedisQueue


@dataclass(frozen=True)
class Ports:
    config: CliConfig
    api: HttpApi
    queue: RedisQueue


def allow(command: str) -> Ports:
    """Check the permission first, then build what the command needs (nothing connects yet)."""
    config = CliConfig.from_env()
    granted = grant(config.allowed_commands, config.api_key)
    if not granted.allows(command):
        raise PermissionDenied(
            f"{command} is not allowed{granted.why_not(command)}",
            {"command": command, "allowed": list(granted.patterns)},
        )
    api = HttpApi(config.api_url, config.api_key, config.http_timeout_s)
    return Ports(config=config, api=api, queue=RedisQueue(config.redis_url))


def _typer(help_text: str) -> typer.Typer:
    return typer.Typer(
        help=help_text,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        suggest_commands=True,
    )


app = _typer("The agents' interface to codegen-orchestrator. Prints one JSON object.")
project = _typer("Projects.")
engineering = _typer("Engineering tasks: implement a spec.")
deploy = _typer("Deploy tasks: put a project online.")
infra = _typer("Servers and incidents.")
diagnose = _typer("Check the API, Redis and the projects' consistency.")
for name, group in [
    ("project", project),
    ("engineering", engineering),
    ("deploy", deploy),
    ("infra", infra),
    ("diagnose", diagnose),
]:
    app.add_typer(group, name=name)

ProjectId = Annotated[str, typer.Option("--project", help="The project's id.")]


def _modules(values: list[str]) -> list[str]:
    modules = [m.strip() for value in values for m in value.split(",") if m.strip()]
    if not modules:
        raise InvalidArguments("--modules needs at least one module", {"field": "modules"})
    return modules


@project.command("create")
def project_create(
    name: Annotated[str, typer.Option(help="Lower-case name (repository and host name).")],
    modules: Annotated[list[str], typer.Option(help="Template modules, comma-separated.")],
    description: Annotated[str, typer.Option(help="What the project is.")] = "",
) -> Outcome:
    """Create a project (in draft) for this worker's user."""
    ports = allow("project.create")
    created = handlers.create_project(
        name, _modules(modules), description, api=ports.api, config=ports.config
    )
    return success(created, f"project {created['name']} created")


@project.command("list")
def project_list() -> Outcome:
    """List the projects this key may see."""
    projects = allow("project.list").api.get("/api/projects", limit=500)
    return success(projects, f"{len(projects)} projects")


@project.command("get")
def project_get(project_id: Annotated[str, typer.Argument(help="The project's id.")]) -> Outcome:
    """Read one project."""
    return success(allow("project.get").api.get(f"/api/projects/{project_id}"))


@project.command("tasks")
def project_tasks(project_id: Annotated[str, typer.Argument(help="The project's id.")]) -> Outcome:
    """List a project's tasks."""
    tasks = allow("project.tasks").api.get("/api/tasks", project_id=project_id, limit=500)
    return success(tasks, f"{len(tasks)} tasks")


TaskIdOption = Annotated[str, typer.Option("--task-id", help="The task's id.")]


def _start(kind: str, project_id: str, spec: str, commit_sha: str | None = None) -> Outcome:
    ports = allow(f"{kind}.start")
    started = handlers.start_task(
        kind,
        project_id,
        spec,
        api=ports.api,
        queue=ports.queue,
        config=ports.config,
        commit_sha=commit_sha,
    )
    return success(started, f"{kind} task {started['task']['id']} queued")


def _cancel(kind: str, task_id: str) -> Outcome:
    task = handlers.cancel_task(kind, task_id, api=allow(f"{kind}.cancel").api)
    return success(task, f"{kind} task {task['id']} is {task['status']}")


@engineering.command("start")
def engineering_start(
    project: ProjectId,
    spec: Annotated[str, typer.Option(help="What to implement.")],
) -> Outcome:
    """Create an engineering task and queue it."""
    return _start("engineering", project, spec)


@engineering.command("status")
def engineering_status(task_id: Annotated[str, typer.Argument(help="The task's id.")]) -> Outcome:
    """Read an engineering task."""
    task = allow("engineering.status").api.get(f"/api/tasks/{task_id}")
    return success(task, f"task is {task['status']}")


@engineering.command("wait")
def engineering_wait(
    task_id: Annotated[str, typer.Argument(help="The task's id.")],
    timeout: Annotated[float, typer.Option(min=0, help="Seconds to wait.")] = 600,
) -> Outcome:
    """Wait until an engineering task ends; prints the final task."""
    ports = allow("engineering.wait")
    task = handlers.wait_for_task(task_id, timeout, api=ports.api)
    return success(task, f"task {task['status']}")


@engineering.command("cancel")
def engineering_cancel(task_id: TaskIdOption) -> Outcome:
    """Cancel an engineering task through the API; an already finished one is a Conflict."""
    return _cancel("engineering", task_id)


@deploy.command("start")
def deploy_start(
    project: ProjectId,
    commit_sha: Annotated[
        str | None,
        typer.Option("--commit-sha", help="The commit to ship; default: the last tested one."),
    ] = None,
) -> Outcome:
    """Create a deploy task for the project's last tested commit (or the one named) and queue it."""
    return _start("deploy", project, "", commit_sha)


@deploy.command("status")
def deploy_status(task_id: Annotated[str, typer.Argument(help="The task's id.")]) -> Outcome:
    """Read a deploy task."""
    task = allow("deploy.status").api.get(f"/api/tasks/{task_id}")
    return success(task, f"task is {task['status']}")


@deploy.command("cancel")
def deploy_cancel(task_id: TaskIdOption) -> Outcome:
    """Cancel a deploy task through the API; an already finished one is a Conflict."""
    return _cancel("deploy", task_id)


@infra.command("servers")
def infra_servers() -> Outcome:
    """List servers."""
    servers = allow("infra.servers").api.get("/api/servers", limit=500)
    return success(servers, f"{len(servers)} servers")


@infra.command("incidents")
def infra_incidents(
    status: Annotated[str | None, typer.Option(help="open, acknowledged or resolved.")] = None,
) -> Outcome:
    """List incidents."""
    incidents = allow("infra.incidents").api.get("/api/incidents", status=status, limit=500)
    return success(incidents, f"{len(incidents)} incidents")


@app.command("respond")
def respond(
    message: Annotated[str, typer.Option(help="What the user should read now.")],
) -> Outcome:
    """Send the user an interim message during this turn; your final answer ends the turn."""
    ports = allow("respond")
    if not message.strip():
        raise InvalidArguments("--message must not be empty", {"field": "message"})
    return success(handlers.respond(message, queue=ports.queue, config=ports.config), "sent")


@diagnose.command("api")
def diagnose_api() -> Outcome:
    """Is the API up, and does it accept this key?"""
    ports = allow("diagnose.api")
    return success(handlers.diagnose_api(api=ports.api, config=ports.config), "API reachable")


@diagnose.command("redis")
def diagnose_redis() -> Outcome:
    """Is Redis up; how long are the intent queues?"""
    ports = allow("diagnose.redis")
    return success(handlers.diagnose_redis(queue=ports.queue, config=ports.config), "Redis up")


@diagnose.command("projects")
def diagnose_projects() -> Outcome:
    """Projects whose status and tasks disagree."""
    report: dict[str, Any] = handlers.diagnose_projects(api=allow("diagnose.projects").api)
    return success(report, f"{len(report['problems'])} projects need attention")


COMMANDS = (
    "project.create",
    "project.list",
    "project.get",
    "project.tasks",
    "engineering.start",
    "engineering.status",
    "engineering.wait",
    "engineering.cancel",
    "deploy.start",
    "deploy.status",
    "deploy.cancel",
    "infra.servers",
    "infra.incidents",
    "respond",
    "diagnose.api",
    "diagnose.redis",
    "diagnose.projects",
)
