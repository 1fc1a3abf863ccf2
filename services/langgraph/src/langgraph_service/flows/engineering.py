"""The engineering graph: load → scaffold if needed → per attempt: create a developer worker,
develop, create a tester worker, test the commit → retry with the failure, or finish.

Every node that waits publishes first (once: `Toolkit.publish`), then calls `Toolkit.wait`; a
node resumed or re-run after a crash runs from its start, so what precedes a wait is idempotent
(publish once, API writes that are the same the second time)."""

from __future__ import annotations

import time
from typing import Any, cast

import structlog
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer
from shared.contracts import (
    Capability,
    CreateWorkerCommand,
    DeleteWorkerCommand,
    DeveloperWorkerInput,
    DeveloperWorkerOutput,
    EngineeringResult,
    OutcomeStatus,
    ProgressType,
    ProjectStatus,
    ScaffolderMessage,
    ScaffolderResult,
    TaskStatus,
    TaskType,
    WorkerConfig,
    WorkerResponse,
    WorkerType,
    WorkMode,
)
from shared.streams.registry import (
    DEVELOPER_INPUT,
    DEVELOPER_OUTPUT,
    SCAFFOLDER_QUEUE,
    SCAFFOLDER_RESULTS,
    WORKER_COMMANDS,
    WORKER_RESPONSES_DEVELOPER,
)

from langgraph_service.domain import attempts
from langgraph_service.domain.attempts import Failure
from langgraph_service.domain.ids import attempt_id, request_id
from langgraph_service.domain.waits import Ending, Resumed, ending_of
from langgraph_service.flows.toolkit import (
    REJECTED,
    FlowState,
    TaskClosed,
    Toolkit,
    ended,
    intent_state,
    resting_status,
    unless_ended,
)

log = structlog.get_logger("langgraph_service")

GRAPH = "engineering"
BRANCH = "main"


class EngineeringState(FlowState, total=False):
    description: str
    spec: str
    repo_url: str | None
    attempt: int
    worker_id: str | None
    execution_id: str | None  # the task execution of the run under way
    workers: list[str]
    commit_sha: str | None
    failure: str | None
    retryable: bool
    stage_ok: bool


def initial_state(message: dict[str, Any]) -> EngineeringState:
    return cast(EngineeringState, intent_state(message) | {"attempt": 1, "workers": []})


def build(kit: Toolkit, checkpointer: Checkpointer = None) -> CompiledStateGraph[Any]:
    policy = kit.policy

    async def load(state: EngineeringState) -> dict[str, Any]:
        try:
            task, project = await kit.open_task(dict(state), TaskType.ENGINEERING)
        except TaskClosed as closed:
            return ended(REJECTED, str(closed))
        if not task.spec.strip():
            return ended("failed", "the task has no spec: nothing to implement")
        await kit.progress(state, ProgressType.STARTED, "load", f"Working on {project.name}", pct=0)
        return {
            "project_name": project.name,
            "modules": project.modules,
            "description": project.description,
            "spec": task.spec,
            "repo_url": project.repository_url,
            # With no repository yet, only a scaffold that succeeds gives the project a rest.
            "rest": (
                resting_status(project) if project.repository_url else ProjectStatus.FAILED
            ).value,
        }

    async def scaffold(state: EngineeringState) -> dict[str, Any]:
        await kit.progress(
            state, ProgressType.PROGRESS, "scaffold", "Creating the repository", pct=5
        )
        await kit.publish(
            SCAFFOLDER_QUEUE.pattern,
            ScaffolderMessage(
                request_id=request_id(state["task_id"], "scaffold"),
                correlation_id=state["correlation_id"],
                project_id=state["project_id"],
                project_name=state["project_name"],
                modules=state["modules"] or ["backend"],
                task_id=state["task_id"],
                description=state.get("description", "")[:2000],
            ),
        )
        return {}

    async def await_scaffold(state: EngineeringState) -> dict[str, Any]:
        request = request_id(state["task_id"], "scaffold")
        resumed = kit.wait(SCAFFOLDER_RESULTS.pattern, request, policy.scaffold_timeout_s)
        ending = ending_of(resumed)
        if ending is Ending.CANCELLED:
            return ended("cancelled", "cancelled while scaffolding")
        if ending is Ending.TIMEOUT:
            return ended(
                "failed",
                attempts.lost("scaffold", "the scaffolder", policy.scaffold_timeout_s).text,
            )
        result = ScaffolderResult.model_validate(resumed["result"])
        if result.status is not OutcomeStatus.SUCCESS or not result.repo_url:
            return ended("failed", f"scaffolding failed: {result.error or result.status.value}")
        return {"repo_url": result.repo_url, "rest": ProjectStatus.SCAFFOLDED.value}

    async def start_developer(state: EngineeringState) -> dict[str, Any]:
        return await _ask_for_worker(state, WorkMode.DEVELOP, policy.developer_agent)

    async def await_developer(state: EngineeringState) -> dict[str, Any]:
        return _worker_started(state, WorkMode.DEVELOP)

    async def develop(state: EngineeringState) -> dict[str, Any]:
        attempt = state["attempt"]
        return await _ask_for_run(
            state, WorkMode.DEVELOP, ProjectStatus.DEVELOPING,
            f"Attempt {attempt} of {policy.max_attempts}: the developer is working", pct=20,
            prompt=_prompt(state), previous_failure=state.get("failure"),
        )  # fmt: skip

    async def await_develop(state: EngineeringState) -> dict[str, Any]:
        output = await _run_result(state, WorkMode.DEVELOP)
        left = _without(state, state["worker_id"])
        if output is None:
            return {"outcome": "cancelled", "error": "cancelled while developing", "workers": left}
        if isinstance(output, Failure):
            return _failed_attempt(output, left)
        if output.status is not OutcomeStatus.SUCCESS or not output.commit_sha:
            return _failed_attempt(attempts.developer_failure(output), left)
        return {"commit_sha": output.commit_sha, "worker_id": None, "stage_ok": True,
                "workers": left}  # fmt: skip

    async def start_tester(state: EngineeringState) -> dict[str, Any]:
        return await _ask_for_worker(state, WorkMode.TEST, policy.tester_agent)

    async def await_tester(state: EngineeringState) -> dict[str, Any]:
        return _worker_started(state, WorkMode.TEST)

    async def test(state: EngineeringState) -> dict[str, Any]:
        commit = state["commit_sha"]
        assert commit is not None
        return await _ask_for_run(
            state, WorkMode.TEST, ProjectStatus.TESTING,
            f"Attempt {state['attempt']}: running the project's tests at {commit[:12]}", pct=60,
            prompt=f"Run the tests of commit {commit}.", commit_sha=commit,
        )  # fmt: skip

    async def await_test(state: EngineeringState) -> dict[str, Any]:
        commit = state["commit_sha"]
        assert commit is not None
        output = await _run_result(state, WorkMode.TEST)
        left = _without(state, state["worker_id"])
        if output is None:
            return {"outcome": "cancelled", "error": "cancelled while testing", "workers": left}
        if isinstance(output, Failure):
            return _failed_attempt(output, left)
        if output.status is not OutcomeStatus.SUCCESS:
            return _failed_attempt(attempts.test_failure(output, commit), left)
        return {"outcome": "success", "worker_id": None, "stage_ok": True, "workers": left}

    async def _ask_for_run(
        state: EngineeringState,
        mode: WorkMode,
        project_status: ProjectStatus,
        text: str,
        *,
        pct: int,
        **fields: Any,
    ) -> dict[str, Any]:
        """One run on the attempt's worker: recorded as a task execution and sent to the worker's
        own input (`_run_result` waits for it)."""
        attempt, worker_id = state["attempt"], state["worker_id"]
        assert worker_id is not None
        request = attempt_id(state["task_id"], attempt, mode.value)
        execution = await kit.executions.start(request, state["task_id"], worker_id)
        await kit.move_project(state["project_id"], project_status)
        await kit.progress(state, ProgressType.PROGRESS, f"a{attempt}.{mode.value}", text, pct=pct)
        await kit.publish(
            DEVELOPER_INPUT.name(worker_id=worker_id),
            DeveloperWorkerInput(
                request_id=request,
                correlation_id=state["correlation_id"],
                task_id=state["task_id"],
                project_id=state["project_id"],
                timeout=_run_timeout(mode),
                repo_url=state["repo_url"],
                branch=BRANCH,
                attempt=attempt,
                mode=mode,
                **fields,
            ),
        )
        return {"execution_id": execution}

    async def _run_result(
        state: EngineeringState, mode: WorkMode
    ) -> DeveloperWorkerOutput | Failure | None:
        """Wait for the run `_ask_for_run` asked for, close its execution row and delete its
        worker. The output; a Failure when none came in time; None when the task was
        cancelled."""
        worker_id = state["worker_id"]
        assert worker_id is not None
        request = attempt_id(state["task_id"], state["attempt"], mode.value)
        within = _run_timeout(mode) + policy.result_margin_s
        resumed = kit.wait(DEVELOPER_OUTPUT.pattern, request, within)
        who = "the developer worker" if mode is WorkMode.DEVELOP else "the tester worker"
        output = await _worker_output(state, request, worker_id, resumed, who, within)
        await _delete_worker(state, worker_id)
        return output

    def _run_timeout(mode: WorkMode) -> int:
        return policy.develop_timeout_s if mode is WorkMode.DEVELOP else policy.test_timeout_s

    async def retry(state: EngineeringState) -> dict[str, Any]:
        failure = state.get("failure") or "the attempt failed"
        if not (state.get("retryable", True) and state["attempt"] < policy.max_attempts):
            return ended("failed", failure)
        await kit.progress(
            state, ProgressType.PROGRESS, f"a{state['attempt']}.retry",
            f"Attempt {state['attempt']} failed; trying again", error=failure,
        )  # fmt: skip
        return {"attempt": state["attempt"] + 1, "commit_sha": None, "worker_id": None,
                "stage_ok": False}  # fmt: skip

    async def finish(state: EngineeringState) -> dict[str, Any]:
        task_id, outcome = state["task_id"], state.get("outcome") or "failed"
        if outcome == REJECTED:
            log.warning("intent rejected", task_id=task_id, reason=state.get("error"))
            return {}
        for worker_id in state.get("workers", []):
            await _delete_worker(state, worker_id)
        duration_ms = int(max(0.0, time.time() - state["started_at"]) * 1000)
        commit = state.get("commit_sha") if outcome == "success" else None
        if outcome == "success":
            await kit.move_project(state["project_id"], ProjectStatus.READY, commit_sha=commit)
            await kit.close_task(task_id, TaskStatus.COMPLETED, _summary(state, commit), None)
        elif state.get("project_name"):
            # A failed or cancelled change leaves the project where it rested before.
            await kit.move_project(state["project_id"], ProjectStatus(state["rest"]))
            ended = TaskStatus.CANCELLED if outcome == "cancelled" else TaskStatus.FAILED
            await kit.close_task(task_id, ended, _summary(state, None), state.get("error"))
        else:
            ended = TaskStatus.CANCELLED if outcome == "cancelled" else TaskStatus.FAILED
            await kit.close_task(task_id, ended, {}, state.get("error"))
        status = OutcomeStatus.SUCCESS if outcome == "success" else OutcomeStatus.FAILED
        await kit.result(
            state,
            EngineeringResult(
                request_id=request_id(task_id, "result"),
                correlation_id=state["correlation_id"],
                task_id=task_id,
                status=status,
                error=None if outcome == "success" else (state.get("error") or outcome)[:10_000],
                duration_ms=duration_ms,
                commit_sha=commit,
                branch=BRANCH if commit else None,
            ),
        )
        kind = ProgressType.COMPLETED if outcome == "success" else ProgressType.FAILED
        text = "Done: the tests pass" if outcome == "success" else f"Ended: {outcome}"
        await kit.progress(state, kind, "end", text, pct=100, error=state.get("error"))
        return {"workers": []}

    async def _ask_for_worker(
        state: EngineeringState, mode: WorkMode, agent: str
    ) -> dict[str, Any]:
        attempt, stage = state["attempt"], mode.value
        await kit.publish(
            WORKER_COMMANDS.pattern,
            CreateWorkerCommand(
                request_id=attempt_id(state["task_id"], attempt, stage, "create"),
                correlation_id=state["correlation_id"],
                config=WorkerConfig(
                    name=f"{stage}-{state['project_name']}-{attempt}",
                    worker_type=WorkerType.DEVELOPER,
                    agent_type=agent,
                    instructions=policy.developer_instructions if stage == "develop" else "",
                    capabilities=[Capability.GIT],
                ),
                context={
                    "user_id": state["user_id"],
                    "project_id": state["project_id"],
                    "task_id": state["task_id"],
                    # Its forge token (GitHub) is limited to this repository.
                    "repository": state["repo_url"] or "",
                },
            ),
        )
        return {}

    def _worker_started(state: EngineeringState, mode: WorkMode) -> dict[str, Any]:
        request = attempt_id(state["task_id"], state["attempt"], mode.value, "create")
        resumed = kit.wait(
            WORKER_RESPONSES_DEVELOPER.pattern, request, policy.worker_start_timeout_s
        )
        ending = ending_of(resumed)
        if ending is Ending.CANCELLED:
            return {
                "outcome": "cancelled",
                "error": f"cancelled while starting the {mode.value} worker",
            }
        if ending is Ending.TIMEOUT:
            return _failed_attempt(
                attempts.lost("start", "worker-manager", policy.worker_start_timeout_s),
                state.get("workers", []),
            )
        response = WorkerResponse.model_validate(resumed["result"])
        if not response.success or not response.worker_id:
            return _failed_attempt(attempts.not_started(response.error), state.get("workers", []))
        workers = [*state.get("workers", []), response.worker_id]
        return {"worker_id": response.worker_id, "workers": workers, "stage_ok": True}

    async def _worker_output(
        state: EngineeringState,
        request: str,
        worker_id: str,
        resumed: Resumed,
        who: str,
        within: float,
    ) -> DeveloperWorkerOutput | Failure | None:
        """The run's output, recorded on its execution row; a Failure when it never came;
        None when the task was cancelled."""
        ending = ending_of(resumed)
        outcome: DeveloperWorkerOutput | Failure | None
        if ending is Ending.CANCELLED:
            outcome, status, result = None, OutcomeStatus.FAILED, {"error": "cancelled"}
        elif ending is Ending.TIMEOUT:
            outcome = attempts.lost("run", who, within)
            status, result = OutcomeStatus.TIMEOUT, {"error": outcome.text}
        else:
            outcome = DeveloperWorkerOutput.model_validate(resumed["result"])
            status, result = outcome.status, _execution_result(outcome)
        output = outcome if isinstance(outcome, DeveloperWorkerOutput) else None
        await kit.executions.finish(
            request,
            execution_id=state.get("execution_id"),
            task_id=state["task_id"],
            worker_id=worker_id,
            status=status,
            duration_ms=output.duration_ms if output else None,
            exit_code=output.exit_code if output else None,
            result=result,
        )
        return outcome

    async def _delete_worker(state: EngineeringState, worker_id: str) -> None:
        await kit.publish(
            WORKER_COMMANDS.pattern,
            DeleteWorkerCommand(
                request_id=request_id(state["task_id"], "delete", worker_id),
                correlation_id=state["correlation_id"],
                worker_id=worker_id,
                reply_to=WorkerType.DEVELOPER,
            ),
        )

    graph: StateGraph[EngineeringState] = StateGraph(EngineeringState)
    # A stage is two nodes: one asks (publishes), the next waits for the answer and judges it.
    # A resumed node runs again from its start, so the waiting one has nothing before its wait.
    for name, node in [
        ("load", load), ("scaffold", scaffold), ("await_scaffold", await_scaffold),
        ("start_developer", start_developer), ("await_developer", await_developer),
        ("develop", develop), ("await_develop", await_develop),
        ("start_tester", start_tester), ("await_tester", await_tester),
        ("test", test), ("await_test", await_test), ("retry", retry), ("finish", finish),
    ]:  # fmt: skip
        graph.add_node(name, node)
    graph.add_edge(START, "load")
    graph.add_conditional_edges("load", _after_load, ["scaffold", "start_developer", "finish"])
    for ask in ("scaffold", "start_developer", "develop", "start_tester", "test"):
        graph.add_edge(ask, f"await_{_AWAITS[ask]}")
    graph.add_conditional_edges(
        "await_scaffold", unless_ended("start_developer"), ["start_developer", "finish"]
    )
    graph.add_conditional_edges(
        "await_developer", _next_or_retry("develop"), ["develop", "retry", "finish"]
    )
    graph.add_conditional_edges(
        "await_develop", _next_or_retry("start_tester"), ["start_tester", "retry", "finish"]
    )
    graph.add_conditional_edges("await_tester", _next_or_retry("test"), ["test", "retry", "finish"])
    graph.add_conditional_edges("await_test", _next_or_retry("finish"), ["retry", "finish"])
    graph.add_conditional_edges(
        "retry", unless_ended("start_developer"), ["start_developer", "finish"]
    )
    graph.add_edge("finish", END)
    return graph.compile(checkpointer=checkpointer, name=GRAPH)


_AWAITS = {
    "scaffold": "scaffold",
    "start_developer": "developer",
    "develop": "develop",
    "start_tester": "tester",
    "test": "test",
}


def _failed_attempt(failure: Failure, workers: list[str]) -> dict[str, Any]:
    return {
        "failure": failure.text,
        "retryable": failure.retryable,
        "worker_id": None,
        "stage_ok": False,
        "workers": workers,
    }


def _without(state: EngineeringState, worker_id: str | None) -> list[str]:
    return [worker for worker in state.get("workers", []) if worker != worker_id]


def _after_load(state: EngineeringState) -> str:
    if state.get("outcome"):
        return "finish"
    return "start_developer" if state.get("repo_url") else "scaffold"


def _next_or_retry(next_node: str) -> Any:
    def route(state: EngineeringState) -> str:
        if state.get("outcome"):
            return "finish"
        return next_node if state.get("stage_ok") else "retry"

    return route


def _prompt(state: EngineeringState) -> str:
    spec = state["spec"]
    description = state.get("description") or ""
    header = f"Project {state['project_name']}: {description}\n\n" if description else ""
    return f"{header}Task:\n{spec}"


def _execution_result(output: DeveloperWorkerOutput) -> dict[str, Any]:
    result: dict[str, Any] = {"commit_sha": output.commit_sha, "error": output.error}
    if output.verdict is not None:
        result["verdict"] = output.verdict.model_dump(mode="json")
    if output.usage is not None:
        result["usage"] = output.usage.model_dump(mode="json", exclude_none=True)
    if output.output_tail:
        result["output_tail"] = output.output_tail[-4000:]
    return {key: value for key, value in result.items() if value is not None}


def _summary(state: EngineeringState, commit: str | None) -> dict[str, Any]:
    summary: dict[str, Any] = {"attempts": state.get("attempt", 1)}
    if commit:
        summary |= {"commit_sha": commit, "branch": BRANCH}
    if state.get("repo_url"):
        summary["repository_url"] = state["repo_url"]
    if state.get("failure") and not commit:
        summary["last_failure"] = state["failure"]
    return summary
