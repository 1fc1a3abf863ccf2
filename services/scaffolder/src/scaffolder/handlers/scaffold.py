"""scaffolder:queue → a project's repository: created, rendered, committed once, pushed; the
project updated through the API; the result on scaffolder:results, the steps on the task's
progress stream. A redelivered request is answered again without redoing anything."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import structlog
from shared.contracts import (
    PROJECT_FILE,
    ProgressType,
    ProjectFileError,
    ProjectRead,
    ProjectStatus,
    ScaffolderMessage,
    ScaffolderResult,
    parse_project_file,
)

from scaffolder.domain.commits import Occupied, check_existing, commit_message
from scaffolder.domain.outcomes import Scaffold, failed, final_progress, progress, succeeded
from scaffolder.domain.request import BadRequest, copier_answers
from scaffolder.ports import (
    Author,
    Forge,
    ForgeRefused,
    ForgeUnavailable,
    Git,
    GitFailed,
    Projects,
    ProjectsRefused,
    Publisher,
    Renderer,
    RenderFailed,
    Repository,
    Results,
    Scratch,
)

log = structlog.get_logger("scaffolder")
T = TypeVar("T")

RESULTS_STREAM = "scaffolder:results"
BRANCH = "main"
# Statuses from which a project may (again) be scaffolded; a scaffolded one is left as it is.
_SCAFFOLDABLE = {ProjectStatus.DRAFT, ProjectStatus.FAILED, ProjectStatus.SCAFFOLDING}


@dataclass(frozen=True)
class Retries:
    attempts: int = 5
    first_delay_s: float = 1.0
    max_delay_s: float = 30.0


@dataclass(frozen=True)
class Tools:
    """What a scaffold is made with."""

    forge: Forge
    renderer: Renderer
    git: Git
    scratch: Scratch
    author: Author


class _Failed(Exception):
    """Ends the scaffold with a failed result (and the project failed when `project_failed`)."""

    def __init__(self, error: str, *, project_failed: bool = True) -> None:
        super().__init__(error)
        self.project_failed = project_failed


async def handle_scaffold(
    message: ScaffolderMessage,
    *,
    projects: Projects,
    tools: Tools,
    publisher: Publisher,
    results: Results,
    retries: Retries,
    progress_stream: Callable[[str], str],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    async def say(kind: ProgressType, text: str, step: str, pct: int) -> None:
        event = progress(message, kind, text, step=step, pct=pct)
        if event is not None and message.task_id is not None:
            await publisher.publish(progress_stream(message.task_id), event)

    earlier = await results.get(message.request_id)
    if earlier is not None:
        log.info("a redelivered request is answered again", status=earlier.status.value)
        await _answer(message, earlier, publisher, progress_stream)
        return
    await say(ProgressType.STARTED, "scaffolding the repository", "start", 0)
    try:
        result = succeeded(message, await _scaffold(message, projects, tools, retries, say, sleep))
    except _Failed as failure:
        log.warning("scaffolding failed", error=str(failure))
        if failure.project_failed:
            await _mark_failed(projects, message.project_id)
        result = failed(message, str(failure))
    await results.put(result)
    await _answer(message, result, publisher, progress_stream)


async def _answer(
    message: ScaffolderMessage,
    result: ScaffolderResult,
    publisher: Publisher,
    progress_stream: Callable[[str], str],
) -> None:
    event = final_progress(message, result)
    if event is not None and message.task_id is not None:
        await publisher.publish(progress_stream(message.task_id), event)
    await publisher.publish(RESULTS_STREAM, result)


async def _scaffold(
    message: ScaffolderMessage,
    projects: Projects,
    tools: Tools,
    retries: Retries,
    say: Callable[[ProgressType, str, str, int], Awaitable[None]],
    sleep: Callable[[float], Awaitable[None]],
) -> Scaffold:
    try:
        answers = copier_answers(message.project_name, message.description, message.modules)
    except BadRequest as exc:
        raise _Failed(str(exc)) from None
    try:
        project = await projects.get(message.project_id)
    except ProjectsRefused as exc:
        error = f"the API refused to look the project up: {exc}"
        raise _Failed(error, project_failed=False) from None
    if project is None:
        raise _Failed(f"no project {message.project_id}", project_failed=False)
    if project.name != message.project_name:
        raise _Failed(
            f"the project is named {project.name!r}, not {message.project_name!r}",
            project_failed=False,
        )
    if project.status not in _SCAFFOLDABLE and project.status is not ProjectStatus.SCAFFOLDED:
        raise _Failed(
            f"the project is {project.status.value}; it is not scaffolded again",
            project_failed=False,
        )
    if project.status is ProjectStatus.SCAFFOLDED:
        try:
            return await _make(message, answers, projects, tools, retries, say, sleep, project)
        except _Failed as failure:
            # A scaffolded project keeps its status: what failed now was only asked again.
            raise _Failed(str(failure), project_failed=False) from None
    await _set_status(projects, message.project_id, ProjectStatus.SCAFFOLDING)
    return await _make(message, answers, projects, tools, retries, say, sleep, project)


async def _make(
    message: ScaffolderMessage,
    answers: dict[str, object],
    projects: Projects,
    tools: Tools,
    retries: Retries,
    say: Callable[[ProgressType, str, str, int], Awaitable[None]],
    sleep: Callable[[float], Awaitable[None]],
    project: ProjectRead,
) -> Scaffold:

    await say(ProgressType.PROGRESS, "creating the repository", "repository", 20)
    repository = await _with_retries(
        lambda: tools.forge.ensure_repository(
            message.project_name, description=message.description[:300]
        ),
        retries,
        sleep,
        what="the forge",
    )
    env = await _with_retries(tools.forge.git_environment, retries, sleep, what="the forge")
    async with tools.scratch.directory() as scratch:
        work_tree = scratch / "repository"
        scaffold = await _fill(message, answers, repository, env, work_tree, tools, say)
    await say(ProgressType.PROGRESS, "recording the repository", "record", 90)
    try:
        await projects.update(
            message.project_id,
            repository_url=repository.clone_url,
            status=None if project.status is ProjectStatus.SCAFFOLDED else ProjectStatus.SCAFFOLDED,
        )
    except ProjectsRefused as exc:
        raise _Failed(f"the repository was pushed but the API refused it: {exc}") from None
    return scaffold


async def _fill(
    message: ScaffolderMessage,
    answers: dict[str, object],
    repository: Repository,
    env: dict[str, str],
    work_tree: Path,
    tools: Tools,
    say: Callable[[ProgressType, str, str, int], Awaitable[None]],
) -> Scaffold:
    git = tools.git
    try:
        await git.clone(repository.clone_url, work_tree, env)
        if check_existing(
            await git.head_message(work_tree, BRANCH), message.project_id, repository.clone_url
        ):
            log.info("the repository already holds this project's scaffold")
            return await _already_there(work_tree, repository, git)
        await say(ProgressType.PROGRESS, "rendering the service template", "render", 40)
        files = await tools.renderer.render(work_tree / ".render", answers)
        await _move_into(work_tree / ".render", work_tree)
        _check_project_file(work_tree)
        await say(ProgressType.PROGRESS, "committing and pushing", "push", 70)
        text = commit_message(message.project_name, message.project_id, message.request_id)
        sha = await git.commit_all(work_tree, BRANCH, text, tools.author)
        try:
            await git.push(work_tree, repository.clone_url, BRANCH, env)
        except GitFailed:
            # Someone pushed first: a copy of this request is the only one allowed to have.
            remote = await git.fetch_head_message(work_tree, repository.clone_url, BRANCH, env)
            if not check_existing(remote, message.project_id, repository.clone_url):
                raise
            return await _already_there(work_tree, repository, git, fetched=True)
        return Scaffold(repository.clone_url, sha, len(files))
    except (Occupied, RenderFailed) as exc:
        raise _Failed(str(exc)) from None
    except GitFailed as exc:
        raise _Failed(f"git failed: {exc}") from None


async def _already_there(
    work_tree: Path, repository: Repository, git: Git, *, fetched: bool = False
) -> Scaffold:
    ref = "FETCH_HEAD" if fetched else BRANCH
    return Scaffold(
        repository.clone_url,
        await git.head_sha(work_tree, ref),
        await git.count_files(work_tree, ref),
    )


async def _move_into(rendered: Path, work_tree: Path) -> None:
    """The rendered files into the clone (the clone's `.git` stays)."""

    def move() -> None:
        for entry in rendered.iterdir():
            entry.rename(work_tree / entry.name)
        rendered.rmdir()

    await asyncio.to_thread(move)


def _check_project_file(work_tree: Path) -> None:
    path = work_tree / PROJECT_FILE
    try:
        parse_project_file(path.read_text() if path.exists() else "")
    except ProjectFileError as exc:
        raise RenderFailed(f"the rendered project's {PROJECT_FILE} is not valid: {exc}") from None


async def _with_retries(
    call: Callable[[], Awaitable[T]],
    retries: Retries,
    sleep: Callable[[float], Awaitable[None]],
    *,
    what: str,
) -> T:
    delay = retries.first_delay_s
    for attempt in range(1, retries.attempts + 1):
        try:
            return await call()
        except ForgeRefused as exc:
            raise _Failed(f"{what} refused: {exc}") from None
        except ForgeUnavailable as exc:
            if attempt == retries.attempts:
                raise _Failed(
                    f"{what} is unavailable after {retries.attempts} attempts: {exc}"
                ) from None
            log.warning("the forge is unavailable; trying again", attempt=attempt, error=str(exc))
            await sleep(delay)
            delay = min(delay * 2, retries.max_delay_s)
    raise AssertionError("unreachable")


async def _set_status(projects: Projects, project_id: str, status: ProjectStatus) -> None:
    try:
        await projects.update(project_id, status=status)
    except ProjectsRefused as exc:
        raise _Failed(f"the API refused the project's status {status.value}: {exc}") from None


async def _mark_failed(projects: Projects, project_id: str) -> None:
    try:
        await projects.update(project_id, status=ProjectStatus.FAILED)
    except ProjectsRefused as exc:
        log.warning("could not mark the project failed", error=str(exc))
