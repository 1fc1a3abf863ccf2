"""The scaffold handler with real git, real copier and a local forge; the API, the result store
and the publisher are small fakes."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from scaffolder.adapters.copier_renderer import CopierRenderer
from scaffolder.adapters.git_cli import GitCli
from scaffolder.adapters.local_forge import LocalForge
from scaffolder.domain.commits import commit_message
from scaffolder.handlers.scaffold import Retries, Tools, handle_scaffold
from scaffolder.ports import Author, ForgeUnavailable, ProjectsRefused, Repository
from shared.contracts import (
    OutcomeStatus,
    ProgressEvent,
    ProjectRead,
    ProjectStatus,
    ScaffolderMessage,
    ScaffolderResult,
)
from shared.testing.fakes import FakePublisher
from shared.testing.git import git, work_tree

TEMPLATE = {
    "copier.yml": """\
        _subdirectory: template
        project_name:
          type: str
        project_description:
          type: str
          default: ""
        modules:
          type: str
          multiselect: true
          choices: [backend, telegram]
        """,
    "template/README.md.jinja": "# {{ project_name }}\n\n{{ project_description }}\n",
    "template/{{ _copier_conf.answers_file }}.jinja": "{{ _copier_answers|to_nice_yaml }}",
    "template/{% if 'backend' in modules %}backend{% endif %}/app.py": "print('hi')\n",
    "template/.project.yml.jinja": """\
        version: 1
        services:
        {%- for module in modules %}
          {{ module }}:
            directory: {{ module }}
            run: exec python3 app.py
            health: /health
        {%- endfor %}
        """,
}


def write_template(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


class FakeProjects:
    def __init__(self, *projects: ProjectRead) -> None:
        self.projects = {project.id: project for project in projects}
        self.updates: list[dict[str, object]] = []

    async def get(self, project_id: str) -> ProjectRead | None:
        return self.projects.get(project_id)

    async def update(
        self,
        project_id: str,
        *,
        status: ProjectStatus | None = None,
        repository_url: str | None = None,
    ) -> None:
        project = self.projects[project_id]
        if status is not None and status not in _allowed(project.status):
            raise ProjectsRefused(f"{project.status} → {status}")
        self.updates.append({"status": status, "repository_url": repository_url})
        self.projects[project_id] = project.model_copy(
            update={
                "status": status or project.status,
                "repository_url": repository_url or project.repository_url,
            }
        )


def _allowed(status: ProjectStatus) -> frozenset[ProjectStatus]:
    from shared.contracts import PROJECT_TRANSITIONS

    return PROJECT_TRANSITIONS[status]


class FakeResults:
    def __init__(self) -> None:
        self.stored: dict[str, ScaffolderResult] = {}

    async def get(self, request_id: str) -> ScaffolderResult | None:
        return self.stored.get(request_id)

    async def put(self, result: ScaffolderResult) -> None:
        self.stored[result.request_id] = result


class Scratch:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: list[Path] = []

    @asynccontextmanager
    async def directory(self) -> AsyncIterator[Path]:
        path = self.root / f"s{len(self.made)}"
        path.mkdir(parents=True)
        self.made.append(path)
        try:
            yield path
        finally:
            import shutil

            shutil.rmtree(path)


class DownForge:
    """A forge that is down for the first `times` calls."""

    def __init__(self, inner: LocalForge, times: int) -> None:
        self.inner, self.times = inner, times

    async def ensure_repository(self, name: str, *, description: str) -> Repository:
        if self.times > 0:
            self.times -= 1
            raise ForgeUnavailable("503 from the forge")
        return await self.inner.ensure_repository(name, description=description)

    async def git_environment(self) -> dict[str, str]:
        return {}


def project(status: ProjectStatus = ProjectStatus.DRAFT, name: str = "todo") -> ProjectRead:
    now = datetime.now(UTC)
    return ProjectRead(
        id="p-1",
        name=name,
        description="",
        status=status,
        modules=["backend"],
        repository_url=None,
        owner_id="u-1",
        created_at=now,
        updated_at=now,
    )


class World:
    def __init__(self, tmp: Path, projects: FakeProjects, template: Path | None = None) -> None:
        self.tmp, self.projects = tmp, projects
        self.forge = LocalForge(tmp / "forge")
        self.publisher, self.results = FakePublisher(), FakeResults()
        self.scratch = Scratch(tmp / "scratch")
        self.template = template or write_template(tmp / "template", TEMPLATE)
        self.slept: list[float] = []

    async def scaffold(self, message: ScaffolderMessage, forge: object | None = None) -> None:
        async def sleep(seconds: float) -> None:
            self.slept.append(seconds)

        await handle_scaffold(
            message,
            projects=self.projects,
            tools=Tools(
                forge=forge or self.forge,  # type: ignore[arg-type]
                renderer=CopierRenderer(self.template),
                git=GitCli(timeout_s=60),
                scratch=self.scratch,
                author=Author("bot", "bot@example.com"),
            ),
            publisher=self.publisher,
            results=self.results,
            retries=Retries(attempts=3, first_delay_s=1, max_delay_s=4),
            progress_stream=lambda task_id: f"task_progress:{task_id}",
            sleep=sleep,
        )

    def result(self) -> ScaffolderResult:
        [result] = list(self.publisher.on("scaffolder:results"))
        assert isinstance(result, ScaffolderResult)
        return result

    def progress(self) -> list[ProgressEvent]:
        return [m for m in self.publisher.on("task_progress:t-1") if isinstance(m, ProgressEvent)]

    def bare(self, name: str = "todo") -> Path:
        return self.tmp / "forge" / f"{name}.git"


def request(**fields: object) -> ScaffolderMessage:
    values: dict[str, object] = {
        "project_id": "p-1",
        "project_name": "todo",
        "modules": ["backend"],
        "task_id": "t-1",
        "description": "A list",
    }
    return ScaffolderMessage.model_validate({**values, **fields})


async def test_a_project_is_rendered_committed_once_and_pushed(tmp_path: Path) -> None:
    world = World(tmp_path, FakeProjects(project()))
    await world.scaffold(request())

    result = world.result()
    assert result.status is OutcomeStatus.SUCCESS, result.error
    assert result.repo_url == str(world.bare())
    assert (
        git(world.bare(), "log", "--format=%s", "main") == "Scaffold todo from the service template"
    )
    assert result.commit_sha == git(world.bare(), "rev-parse", "main")
    files = git(world.bare(), "ls-tree", "-r", "--name-only", "main").splitlines()
    assert sorted(files) == [".copier-answers.yml", ".project.yml", "README.md", "backend/app.py"]
    assert result.files_generated == len(files)
    assert world.projects.projects["p-1"].status is ProjectStatus.SCAFFOLDED
    assert world.projects.projects["p-1"].repository_url == str(world.bare())
    assert next(event.type.value for event in world.progress()) == "started"
    assert world.progress()[-1].type.value == "completed"
    assert not any(path.exists() for path in world.scratch.made)


async def test_a_redelivered_request_is_answered_again_without_a_second_commit(
    tmp_path: Path,
) -> None:
    world = World(tmp_path, FakeProjects(project()))
    message = request()
    await world.scaffold(message)
    world.results.stored.clear()  # as if the result was never stored: the forge must tell
    await world.scaffold(message)

    results = world.publisher.on("scaffolder:results")
    assert [r.status for r in results] == [OutcomeStatus.SUCCESS] * 2  # type: ignore[attr-defined]
    assert git(world.bare(), "rev-list", "--count", "main") == "1"


async def test_a_stored_result_is_published_again_and_nothing_is_redone(tmp_path: Path) -> None:
    world = World(tmp_path, FakeProjects(project()))
    message = request()
    await world.scaffold(message)
    made = len(world.scratch.made)
    await world.scaffold(message)

    assert len(world.scratch.made) == made
    assert len(world.publisher.on("scaffolder:results")) == 2


async def test_a_repository_holding_something_else_is_a_failure_and_left_alone(
    tmp_path: Path,
) -> None:
    world = World(tmp_path, FakeProjects(project()))
    seed = work_tree(tmp_path / "other", {"main.c": "int main;\n"})
    git(
        seed,
        "push",
        "--quiet",
        str((await world.forge.ensure_repository("todo", description="")).clone_url),
        "main",
    )
    before = git(world.bare(), "rev-parse", "main")

    await world.scaffold(request())

    assert world.result().status is OutcomeStatus.FAILED
    assert "holds something else" in (world.result().error or "")
    assert git(world.bare(), "rev-parse", "main") == before
    assert world.projects.projects["p-1"].status is ProjectStatus.FAILED
    assert world.progress()[-1].type.value == "failed"


async def test_a_push_that_loses_to_a_copy_of_itself_is_still_a_success(tmp_path: Path) -> None:
    world = World(tmp_path, FakeProjects(project()))
    message = request()
    # The copy's commit lands first, with the same trailers.
    seed = work_tree(tmp_path / "copy", {"README.md": "# todo\n"})
    git(
        seed,
        "commit",
        "--quiet",
        "--amend",
        "-m",
        commit_message("todo", "p-1", message.request_id),
    )
    clone_url = (await world.forge.ensure_repository("todo", description="")).clone_url

    class RacingGit(GitCli):
        async def push(self, work_tree: Path, url: str, branch: str, env: dict[str, str]) -> None:
            git(seed, "push", "--quiet", clone_url, "main")
            await super().push(work_tree, url, branch, env)

    await handle_scaffold(
        message,
        projects=world.projects,
        tools=Tools(
            forge=world.forge,
            renderer=CopierRenderer(world.template),
            git=RacingGit(timeout_s=60),
            scratch=world.scratch,
            author=Author("bot", "bot@example.com"),
        ),
        publisher=world.publisher,
        results=world.results,
        retries=Retries(),
        progress_stream=lambda task_id: f"task_progress:{task_id}",
    )

    assert world.result().status is OutcomeStatus.SUCCESS
    assert world.result().commit_sha == git(world.bare(), "rev-parse", "main")
    assert git(world.bare(), "rev-list", "--count", "main") == "1"


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"modules": ["backend", "frontend"]}, "unknown module"),
        ({"project_id": "p-404"}, "no project p-404"),
        ({"project_name": "other"}, "is named 'todo'"),
    ],
)
async def test_bad_requests_fail_with_the_reason_and_create_nothing(
    tmp_path: Path, fields: dict[str, object], error: str
) -> None:
    world = World(tmp_path, FakeProjects(project()))
    await world.scaffold(request(**fields))

    assert world.result().status is OutcomeStatus.FAILED
    assert error in (world.result().error or "")
    assert not (tmp_path / "forge").exists() or not any((tmp_path / "forge").iterdir())
    assert world.progress()[-1].type.value == "failed"


async def test_a_template_that_fails_to_render_fails_the_project_and_pushes_nothing(
    tmp_path: Path,
) -> None:
    broken = write_template(
        tmp_path / "broken", {**TEMPLATE, "template/bad.txt.jinja": "{{ x.y.z }}\n"}
    )
    world = World(tmp_path, FakeProjects(project()), template=broken)
    await world.scaffold(request())

    assert world.result().status is OutcomeStatus.FAILED
    assert "could not be rendered" in (world.result().error or "")
    assert git(world.bare(), "rev-list", "--all") == ""
    assert world.projects.projects["p-1"].status is ProjectStatus.FAILED


async def test_a_rendered_project_without_a_valid_project_file_is_not_pushed(
    tmp_path: Path,
) -> None:
    files = {**TEMPLATE, "template/.project.yml.jinja": "services: {}\n"}
    world = World(tmp_path, FakeProjects(project()), template=write_template(tmp_path / "t", files))
    await world.scaffold(request())

    assert world.result().status is OutcomeStatus.FAILED
    assert ".project.yml is not valid" in (world.result().error or "")
    assert git(world.bare(), "rev-list", "--all") == ""


async def test_a_forge_that_is_down_is_tried_again_with_backoff_then_given_up(
    tmp_path: Path,
) -> None:
    world = World(tmp_path, FakeProjects(project()))
    await world.scaffold(request(), forge=DownForge(world.forge, times=2))
    assert world.result().status is OutcomeStatus.SUCCESS
    assert world.slept == [1, 2]

    other = World(tmp_path / "down", FakeProjects(project()))
    await other.scaffold(request(), forge=DownForge(other.forge, times=99))
    assert other.result().status is OutcomeStatus.FAILED
    assert "unavailable after 3 attempts" in (other.result().error or "")
    assert other.slept == [1, 2]
    assert other.projects.projects["p-1"].status is ProjectStatus.FAILED


async def test_a_scaffolded_project_asked_again_stays_scaffolded_whatever_happens(
    tmp_path: Path,
) -> None:
    world = World(tmp_path, FakeProjects(project(ProjectStatus.SCAFFOLDED)))
    await world.scaffold(request(), forge=DownForge(world.forge, times=99))

    assert world.result().status is OutcomeStatus.FAILED
    assert world.projects.projects["p-1"].status is ProjectStatus.SCAFFOLDED
