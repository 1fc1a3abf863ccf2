"""The deploy graph: load the project and the commit to ship → allocate its server and port →
infra-service deploys (wait for deploy:results) → smoke-check the live URL → finish.

As in engineering, a waiting node publishes once and then waits; it runs from its start when
resumed, so what precedes the wait is idempotent."""

from __future__ import annotations

from typing import Any, cast

import structlog
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer
from shared.contracts import (
    AnsibleDeployMessage,
    AnsibleDeployResult,
    DeployResult,
    OutcomeStatus,
    ProgressType,
    ProjectStatus,
    TaskStatus,
    TaskType,
)
from shared.streams.registry import ANSIBLE_DEPLOY_QUEUE, DEPLOY_RESULTS

from langgraph_service.domain.ids import request_id
from langgraph_service.domain.waits import Ending, ending_of
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

GRAPH = "deploy"


class DeployState(FlowState, total=False):
    requested_commit: str | None
    repo_url: str
    commit_sha: str
    server: str
    server_ip: str | None
    port: int
    deployed_url: str | None
    health_url: str | None
    unhealthy: bool


def initial_state(message: dict[str, Any]) -> DeployState:
    return cast(
        DeployState, intent_state(message) | {"requested_commit": message.get("commit_sha")}
    )


def build(kit: Toolkit, checkpointer: Checkpointer = None) -> CompiledStateGraph[Any]:
    policy = kit.policy

    async def load(state: DeployState) -> dict[str, Any]:
        try:
            _, project = await kit.open_task(dict(state), TaskType.DEPLOY)
        except TaskClosed as closed:
            return ended(REJECTED, str(closed))
        if not project.repository_url:
            return ended("failed", "the project has no repository yet: nothing to deploy")
        commit = state.get("requested_commit") or project.commit_sha
        if not commit:
            return ended("failed", "the project has no tested commit: run engineering first")
        await kit.progress(
            state, ProgressType.STARTED, "load", f"Deploying {project.name} at {commit[:12]}", pct=0
        )
        return {
            "project_name": project.name,
            "modules": project.modules,
            "repo_url": project.repository_url,
            "commit_sha": commit,
            "rest": resting_status(project).value,
        }

    async def allocate(state: DeployState) -> dict[str, Any]:
        server = await kit.servers.by_name(policy.deploy_server)
        if server is None:
            return ended("failed", f"no server named {policy.deploy_server!r} is registered")
        # The project's own port (its URL's) is kept under the project's name on the server.
        port = await kit.servers.allocate_port(
            server.id, state["project_id"], state["project_name"]
        )
        return {"server": server.name, "server_ip": server.address, "port": port}

    async def deploy(state: DeployState) -> dict[str, Any]:
        request = request_id(state["task_id"], "deploy")
        await kit.move_project(state["project_id"], ProjectStatus.DEPLOYING)
        await kit.progress(
            state, ProgressType.PROGRESS, "deploy",
            f"Deploying to {state['server']} on port {state['port']}", pct=20,
        )  # fmt: skip
        secrets = (
            policy.secrets_ref_pattern.replace("{project}", state["project_name"])
            if policy.secrets_ref_pattern
            else None
        )
        await kit.publish(
            ANSIBLE_DEPLOY_QUEUE.pattern,
            AnsibleDeployMessage(
                request_id=request,
                correlation_id=state["correlation_id"],
                task_id=state["task_id"],
                project_id=state["project_id"],
                project_name=state["project_name"],
                repo_full_name=state["repo_url"],
                commit_sha=state["commit_sha"],
                server=state["server"],
                port=state["port"],
                modules=state.get("modules") or [],
                github_token_ref=policy.github_token_ref,
                secrets_ref=secrets,
            ),
        )
        return {}

    async def await_deploy(state: DeployState) -> dict[str, Any]:
        request = request_id(state["task_id"], "deploy")
        resumed = kit.wait(DEPLOY_RESULTS.pattern, request, policy.deploy_timeout_s)
        ending = ending_of(resumed)
        if ending is Ending.CANCELLED:
            return ended("cancelled", "cancelled while deploying")
        if ending is Ending.TIMEOUT:
            return ended(
                "failed", f"infra-service did not answer within {int(policy.deploy_timeout_s)} s"
            )
        result = AnsibleDeployResult.model_validate(resumed["result"])
        if result.status is not OutcomeStatus.SUCCESS or not result.deployed_url:
            return ended("failed", f"the deploy failed: {result.error or result.status.value}")
        return {
            "deployed_url": result.deployed_url,
            "health_url": result.health_url or result.deployed_url,
            "server_ip": result.server_ip or state.get("server_ip"),
            "port": result.port or state["port"],
        }

    async def smoke(state: DeployState) -> dict[str, Any]:
        url = state.get("health_url") or state.get("deployed_url")
        assert url is not None
        await kit.progress(state, ProgressType.PROGRESS, "smoke", f"Checking {url}", pct=80)
        delay = policy.smoke_first_delay_s
        for attempt in range(1, policy.smoke_attempts + 1):
            if await kit.health.answers(url):
                return {"outcome": "success"}
            if attempt < policy.smoke_attempts:
                await kit.sleep(delay)
                delay = min(delay * 2, 10.0)
        error = f"{url} did not answer after {policy.smoke_attempts} tries"
        return ended("failed", error) | {"unhealthy": True}

    async def finish(state: DeployState) -> dict[str, Any]:
        task_id, outcome = state["task_id"], state.get("outcome") or "failed"
        if outcome == REJECTED:
            log.warning("intent rejected", task_id=task_id, reason=state.get("error"))
            return {}
        error = state.get("error")
        summary = {
            key: state.get(key)
            for key in ("deployed_url", "health_url", "commit_sha", "server", "server_ip", "port")
            if state.get(key) is not None
        }
        if outcome == "success":
            await kit.move_project(state["project_id"], ProjectStatus.ACTIVE)
            await kit.close_task(task_id, TaskStatus.COMPLETED, summary, None)
        else:
            # A deploy that failed leaves the previous release running (infra-service's rule):
            # the project goes back to where it rested; a release that is up but does not
            # answer makes it `failed`.
            if state.get("project_name"):
                rest = ProjectStatus.FAILED if state.get("unhealthy") else state["rest"]
                await kit.move_project(state["project_id"], ProjectStatus(rest))
            status = TaskStatus.CANCELLED if outcome == "cancelled" else TaskStatus.FAILED
            await kit.close_task(task_id, status, summary, error)
        success = outcome == "success"
        await kit.result(
            state,
            DeployResult(
                request_id=request_id(task_id, "result"),
                correlation_id=state["correlation_id"],
                task_id=task_id,
                status=OutcomeStatus.SUCCESS if success else OutcomeStatus.FAILED,
                error=None if success else (error or outcome)[:10_000],
                deployed_url=state.get("deployed_url") if success else None,
                server_ip=state.get("server_ip"),
                port=state.get("port"),
            ),
        )
        kind = ProgressType.COMPLETED if success else ProgressType.FAILED
        text = f"Live at {state.get('deployed_url')}" if success else f"Ended: {outcome}"
        await kit.progress(state, kind, "end", text, pct=100, error=error)
        return {}

    graph: StateGraph[DeployState] = StateGraph(DeployState)
    graph.add_node("load", load)
    graph.add_node("allocate", allocate)
    graph.add_node("deploy", deploy)
    # Asking and waiting are two nodes: a resumed node runs again from its start.
    graph.add_node("await_deploy", await_deploy)
    graph.add_node("smoke", smoke)
    graph.add_node("finish", finish)
    graph.add_edge(START, "load")
    graph.add_conditional_edges("load", unless_ended("allocate"), ["allocate", "finish"])
    graph.add_conditional_edges("allocate", unless_ended("deploy"), ["deploy", "finish"])
    graph.add_edge("deploy", "await_deploy")
    graph.add_conditional_edges("await_deploy", unless_ended("smoke"), ["smoke", "finish"])
    graph.add_edge("smoke", "finish")
    graph.add_edge("finish", END)
    return graph.compile(checkpointer=checkpointer, name=GRAPH)
