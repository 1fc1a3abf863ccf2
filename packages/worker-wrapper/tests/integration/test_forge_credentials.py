"""A developer worker pushes to a GitHub with a token for its one repository, handed to git by a
credential helper: never in a command line, a URL, the agent's environment or the log."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from redis.asyncio import Redis
from shared.contracts import DeveloperWorkerInput
from shared.streams.wire import encode
from shared.testing.fake_github import FakeGitHub
from shared.testing.git import branch_head
from shared.testing.secrets_scan import CommandLineScanner
from wrapper_testing import Wrapper, scripted_agent_script, wait_for, wrapper_env

INPUT = "worker:developer:dev-1:input"
OUTPUT = "worker:developer:output"


async def test_a_push_to_github_goes_through_the_credential_helper_and_the_token_stays_hidden(
    start_wrapper: Callable[[dict[str, str]], Wrapper],
    redis_url: str,
    redis_client: Redis,
    tmp_path: Path,
) -> None:
    with FakeGitHub(tmp_path / "github", owner="acme") as github:
        github.create_repository("shop", files={"README.md": "# shop\n"})
        token = github.installation_token(repositories=("shop",), permissions={"contents": "write"})
        script = scripted_agent_script(
            tmp_path,
            {"write": {"path": "app.py", "content": "print('hi')\n"}},
            {"run": "git add app.py && git commit -qm 'add app' && env > ../agent-env"},
        )
        task = DeveloperWorkerInput(
            task_id="t-1",
            project_id="p-1",
            prompt="add a file",
            repo_url=github.clone_url("acme/shop"),
            branch="feature/t-1",
            timeout=30,
        )
        await redis_client.xadd(INPUT, encode(task))  # type: ignore[arg-type]

        with CommandLineScanner(token) as scanner:
            await scanner.prove_it_sees()
            wrapper = start_wrapper(
                wrapper_env(
                    redis_url,
                    tmp_path / "ws",
                    AGENT_TYPE="scripted",
                    SCRIPTED_AGENT_SCRIPT=str(script),
                    GIT_TOKEN=token,
                    # Named for the agent by mistake (or malice): still the wrapper's alone.
                    AGENT_EXTRA_ENV="GIT_TOKEN",
                )
            )
            [raw] = await wait_for(redis_client, OUTPUT, 1, wrapper=wrapper)
            code = await wrapper.exited()
            await scanner.prove_it_sees()

        assert code == 0, raw["error"]
        assert raw["commit_sha"] == branch_head(github.repositories["acme/shop"], "feature/t-1")
        assert scanner.found == []
        agent_env = (tmp_path / "ws" / "agent-env").read_text()
        assert "PATH=" in agent_env, "the agent's own environment"
        assert token not in agent_env
        pushes = [
            r for r in github.requests if r.git and r.status == 200 and "receive-pack" in r.target
        ]
        assert pushes
        assert all((r.header("Authorization") or "").startswith("Basic ") for r in pushes)
        assert not [r for r in github.requests if token in r.request_line]
        assert token not in (tmp_path / "wrapper-0.log").read_text()
