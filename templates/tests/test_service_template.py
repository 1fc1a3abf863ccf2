"""templates/service-template: rendered as the scaffolder renders it, then checked.

The fast tests look at what is rendered (files, `.project.yml`, the answers file, the Makefile,
lint) and at what copier refuses. The slow ones really run, for each module set, every service's
declared `test` command on a fresh render, then its `build` and its `run`, and wait for its health
path to answer: pip installs the rendered project's dependencies from PyPI, as a machine with only
python3 would.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml
from shared.contracts import PROJECT_FILE_VERSION, parse_project_file
from shared.testing.servers import free_port
from shared.testing.waiting import until

TEMPLATE = Path(__file__).resolve().parents[1] / "service-template"
TEMPLATE_VERSION = str(
    yaml.safe_load((TEMPLATE / "copier.yml").read_text())["template_version"]["default"]
)
MODULE_SETS = [["backend"], ["telegram"], ["backend", "telegram"]]
SERVICE_KEYS = {"directory", "build", "run", "health", "test"}
PROJECT = "demo-shop"
DESCRIPTION = 'Sells widgets: it\'s <great> & "cheap".'
ROOT_FILES = {".copier-answers.yml", ".gitignore", ".project.yml", "Makefile", "README.md"}
# The slow tests' child commands get a clean environment: python3's own directory and the
# system's on PATH, HOME in the test's directory, and pip's usual cache (a run after the first
# downloads nothing) — nothing else of this process's environment.
PYTHON_BIN = Path(sys.base_prefix) / "bin"
PIP_CACHE = os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip")
COMMAND_TIMEOUT_S = 400
HEALTH_TIMEOUT_S = 60
STOP_TIMEOUT_S = 20
BOT_TOKEN = "123456:fake-token"
SLOW = "pip installs the rendered project's dependencies"


def render(dst: Path, modules: list[str], **answers: object) -> Path:
    """Render the template exactly as the scaffolder does."""
    copier.run_copy(
        str(TEMPLATE),
        dst,
        data={
            "project_name": PROJECT,
            "project_description": DESCRIPTION,
            "modules": modules,
            **answers,
        },
        defaults=True,
        unsafe=False,
        quiet=True,
    )
    return dst


def project_file(project: Path) -> dict[str, Any]:
    document = yaml.safe_load((project / ".project.yml").read_text())
    assert isinstance(document, dict)
    return document


def answers_file(project: Path) -> dict[str, Any]:
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert isinstance(answers, dict)
    return answers


def module_set_id(modules: list[str]) -> str:
    return "+".join(modules)


# --- what is rendered ---------------------------------------------------------------------------


@pytest.mark.parametrize("modules", MODULE_SETS, ids=module_set_id)
def test_a_module_set_renders_its_modules_and_nothing_else(
    tmp_path: Path, modules: list[str]
) -> None:
    project = render(tmp_path / "project", modules)

    assert {path.name for path in project.iterdir()} == ROOT_FILES | set(modules)
    for module in modules:
        assert (project / module / "pyproject.toml").is_file()
        assert list((project / module / "tests").glob("test_*.py"))


@pytest.mark.parametrize("modules", MODULE_SETS, ids=module_set_id)
def test_the_project_file_declares_each_rendered_service(
    tmp_path: Path, modules: list[str]
) -> None:
    project = render(tmp_path / "project", modules)

    document = project_file(project)

    assert set(document) == {"version", "services"}
    assert document["version"] == PROJECT_FILE_VERSION == 1
    services = document["services"]
    assert list(services) == modules  # backend, when rendered, is the entry point
    for name, service in services.items():
        assert set(service) == SERVICE_KEYS, name
        assert service["directory"] == name
        assert service["health"] == "/health"
        assert '"$PORT"' in service["run"] or name == "telegram"  # the bot reads PORT itself
        assert service["run"].startswith("exec ")
        for command in (service["build"], service["test"]):
            assert command.startswith(
                "test -x .venv/bin/pip || python3 -m venv .venv && .venv/bin/pip install --quiet"
            )
    # The shared contract infra-service deploys from and the tester reads.
    parsed = parse_project_file((project / ".project.yml").read_text())
    assert parsed.entry_point == modules[0]
    assert {name: s.model_dump() for name, s in parsed.services.items()} == services


def test_the_templates_readme_shows_its_version_and_what_it_renders(tmp_path: Path) -> None:
    readme = (TEMPLATE / "README.md").read_text()
    project = render(tmp_path / "project", ["backend", "telegram"])

    assert f"Template version: **{TEMPLATE_VERSION}**" in readme
    example = readme.split("For both modules:\n\n```yaml\n", 1)[1].split("```", 1)[0]
    assert yaml.safe_load(example) == project_file(project)


def test_modules_in_any_order_render_in_the_templates_order(tmp_path: Path) -> None:
    project = render(tmp_path / "project", ["telegram", "backend", "telegram"])

    assert list(project_file(project)["services"]) == ["backend", "telegram"]
    assert answers_file(project)["modules"] == ["backend", "telegram"]


@pytest.mark.parametrize("modules", MODULE_SETS, ids=module_set_id)
def test_the_answers_file_records_the_template_version_and_the_answers(
    tmp_path: Path, modules: list[str]
) -> None:
    project = render(tmp_path / "project", modules, python_version="3.12")

    assert answers_file(project) == {
        "_src_path": str(TEMPLATE),
        "project_name": PROJECT,
        "project_description": DESCRIPTION,
        "modules": modules,
        "python_version": "3.12",
        "template_version": TEMPLATE_VERSION,
    }
    readme = (project / "README.md").read_text()
    assert readme.startswith(f"# {PROJECT}\n\n{DESCRIPTION}\n")
    assert f"service template, version {TEMPLATE_VERSION}," in readme
    for module in modules:
        pyproject = (project / module / "pyproject.toml").read_text()
        assert f'name = "{PROJECT}-{module}"' in pyproject
        assert 'requires-python = ">=3.12"' in pyproject


def test_the_makefile_runs_every_modules_declared_test_command(tmp_path: Path) -> None:
    project = render(tmp_path / "project", ["backend", "telegram"])
    services = project_file(project)["services"]

    # Not the make that may be running this suite: none of its flags or directory notes.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    dry_run = subprocess.run(
        ["make", "--no-print-directory", "-n", "test"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()

    assert dry_run == [f"cd {name} && ( {service['test']} )" for name, service in services.items()]


@pytest.mark.parametrize("modules", MODULE_SETS, ids=module_set_id)
def test_the_rendered_python_is_lint_clean(tmp_path: Path, modules: list[str]) -> None:
    project = render(tmp_path / "project", modules)

    for module in modules:
        for source in (project / module).rglob("*.py"):
            compile(source.read_text(), str(source), "exec")
        ruff = [sys.executable, "-m", "ruff"]
        options = ["--isolated", "--line-length", "100", "--target-version", "py311"]
        rules = "E,F,W,I,B,UP,RUF,ASYNC,SIM,PT,C4,RET"
        for args in (["check", *options, "--select", rules, "."], ["format", "--check", *options]):
            result = subprocess.run(
                [*ruff, *args], cwd=project / module, capture_output=True, text=True
            )
            assert result.returncode == 0, result.stdout + result.stderr


# --- what copier refuses ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"project_name": "Demo_Shop"}, "project_name must be a DNS label"),
        ({"project_name": "-demo"}, "project_name must be a DNS label"),
        ({"project_name": "demo-"}, "project_name must be a DNS label"),
        ({"project_name": "demo\n"}, "project_name must be a DNS label"),
        ({"project_name": "a" * 64}, "project_name must be a DNS label"),
        ({"project_name": ""}, "project_name must be a DNS label"),
        ({"modules": []}, "modules must name at least one of: backend, telegram"),
        ({"modules": ["frontend"]}, "Invalid choice for 'modules': 'frontend' is not in"),
        ({"modules": ["backend", "worker"]}, "Invalid choice for 'modules': 'worker' is not in"),
        ({"python_version": "3.10"}, "python_version must be 3.11 or later"),
    ],
    ids=lambda value: repr(value)[:40] if isinstance(value, dict) else "",
)
def test_a_bad_answer_is_refused_with_a_clear_message(
    tmp_path: Path, answers: dict[str, object], message: str
) -> None:
    data: dict[str, object] = {"project_name": PROJECT, "modules": ["backend"], **answers}

    with pytest.raises(ValueError, match=re.escape(message)):
        copier.run_copy(str(TEMPLATE), tmp_path / "project", data=data, defaults=True, quiet=True)

    assert not (tmp_path / "project").exists()


def test_the_longest_project_name_is_accepted(tmp_path: Path) -> None:
    name = "a" + "-" * 61 + "9"

    project = render(tmp_path / "project", ["backend"], project_name=name)

    assert answers_file(project)["project_name"] == name


# --- copier update ------------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_copier_update_takes_a_project_to_a_new_template_version(tmp_path: Path) -> None:
    # `copier update` needs the template in a git repository of its own, tagged per version.
    template = tmp_path / "template"
    shutil.copytree(TEMPLATE, template, ignore=shutil.ignore_patterns("__pycache__"))
    git(template, "init", "-q", "-b", "main")
    git(template, "add", "-A")
    git(template, "commit", "-qm", "version 1")
    git(template, "tag", f"v{TEMPLATE_VERSION}")
    project = tmp_path / "project"
    copier.run_copy(
        str(template),
        project,
        data={"project_name": PROJECT, "modules": ["backend"]},
        defaults=True,
        unsafe=False,
        quiet=True,
        vcs_ref=f"v{TEMPLATE_VERSION}",
    )
    assert answers_file(project)["_commit"] == f"v{TEMPLATE_VERSION}"
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "rendered")
    items = project / "backend" / "app" / "items.py"
    items.write_text(items.read_text().replace("An example resource", "Our catalogue"))
    git(project, "commit", "-qam", "our change")
    # The next template version: one more line in the project's .gitignore.
    next_version = str(int(TEMPLATE_VERSION) + 1)
    copier_yml = template / "copier.yml"
    copier_yml.write_text(
        copier_yml.read_text().replace(
            f'default: "{TEMPLATE_VERSION}"', f'default: "{next_version}"', 1
        )
    )
    with (template / "template" / ".gitignore").open("a") as gitignore:
        gitignore.write("*.log\n")
    git(template, "commit", "-qam", "next version")
    git(template, "tag", f"v{next_version}")

    copier.run_update(project, defaults=True, overwrite=True, unsafe=False, quiet=True)

    answers = answers_file(project)
    assert answers["template_version"] == next_version
    assert answers["_commit"] == f"v{next_version}"
    assert "*.log" in (project / ".gitignore").read_text().splitlines()
    assert "Our catalogue" in items.read_text()  # the project's own change is kept
    assert f"version {next_version}," in (project / "README.md").read_text()

    # A module can be added later the same way.
    git(project, "add", "-A")
    git(project, "commit", "-qm", f"template {next_version}")
    copier.run_update(
        project,
        data={"modules": ["backend", "telegram"]},
        defaults=True,
        overwrite=True,
        unsafe=False,
        quiet=True,
    )

    assert list(project_file(project)["services"]) == ["backend", "telegram"]
    assert (project / "telegram" / "bot" / "main.py").is_file()
    assert answers_file(project)["modules"] == ["backend", "telegram"]


# --- the declared commands, really run (slow) ---------------------------------------------------


def clean_environment(home: Path) -> dict[str, str]:
    assert (PYTHON_BIN / "python3").exists(), f"no python3 in {PYTHON_BIN}"
    home.mkdir(exist_ok=True)
    return {
        "PATH": os.pathsep.join([str(PYTHON_BIN), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PIP_CACHE_DIR": PIP_CACHE,
    }


def tail(log: Path, lines: int = 60) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def run_command(command: str, cwd: Path, env: dict[str, str], log: Path) -> None:
    """Run one declared command as the factory does (`sh -c`); fail with its output's tail."""
    with log.open("wb") as output:
        result = subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=COMMAND_TIMEOUT_S,
        )
    if result.returncode != 0:
        pytest.fail(f"`{command}` in {cwd} exited {result.returncode}:\n{tail(log)}")


@contextmanager
def running(
    command: str, cwd: Path, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A declared `run` command as a process group of its own, stopped with SIGTERM at the end."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    def healthy() -> bool:
        if process.poll() is not None:
            pytest.fail(f"the service exited {process.returncode} before answering:\n{tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                body: object = json.load(response)
                return response.status == 200 and body == {"status": "ok"}
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    try:
        until(healthy, within=HEALTH_TIMEOUT_S, interval=0.2)
    except AssertionError:
        pytest.fail(f"{url} did not answer 200 within {HEALTH_TIMEOUT_S} s:\n{tail(log)}")


def request(method: str, url: str, body: object | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=5) as response:  # noqa: S310 - loopback
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


class FakeBotApi:
    """The Bot API methods the bot calls at start, on loopback: getMe, then long-polled updates."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.stopping = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                match = re.fullmatch(r"/bot([^/]+)/(\w+)", self.path)
                if match is None:
                    self.send_error(404)
                    return
                token, method = match.groups()
                api.calls.append((token, method))
                result: object = True
                if method == "getMe":
                    result = {"id": 1, "is_bot": True, "first_name": "Fake", "username": "fake_bot"}
                elif method == "getUpdates":
                    api.stopping.wait(1)  # hold the long poll a moment, as the real API does
                    result = []
                payload = json.dumps({"ok": True, "result": result}).encode()
                with contextlib.suppress(ConnectionError):  # the bot went away mid-poll: it stops
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @contextmanager
    def serving(self) -> Iterator[FakeBotApi]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.stopping.set()
            self.server.shutdown()
            self.server.server_close()
            thread.join()


@pytest.mark.slow(SLOW)
@pytest.mark.timeout(600)
# Only the set of every module: a service's directory and commands are the same whichever
# others are rendered beside it (the fast tests above check each set renders exactly that).
@pytest.mark.parametrize("modules", [MODULE_SETS[-1]], ids=module_set_id)
def test_every_service_passes_its_tests_builds_and_answers_health(
    tmp_path: Path, modules: list[str]
) -> None:
    project = render(tmp_path / "project", modules)
    services = project_file(project)["services"]
    env = clean_environment(tmp_path / "home")
    logs = tmp_path / "logs"
    logs.mkdir()

    def test_then_build(name: str) -> None:
        service = services[name]
        run_command(service["test"], project / service["directory"], env, logs / f"{name}.test")
        run_command(service["build"], project / service["directory"], env, logs / f"{name}.build")

    # One service's installs at a time per core: the services of a set side by side.
    with ThreadPoolExecutor(max_workers=2) as pool:
        for done in [pool.submit(test_then_build, name) for name in services]:
            done.result()

    processes: dict[str, subprocess.Popen[bytes]] = {}
    with ExitStack() as stack:
        bot_api = stack.enter_context(FakeBotApi().serving())
        for name, service in services.items():
            port = free_port()
            service_env = {**env, "PORT": str(port), "HOST": "127.0.0.1"}
            if name == "telegram":
                service_env |= {"TELEGRAM_BOT_TOKEN": BOT_TOKEN, "TELEGRAM_API_URL": bot_api.url}
            log = logs / f"{name}.run"
            processes[name] = process = stack.enter_context(
                running(service["run"], project / service["directory"], service_env, log)
            )
            base = f"http://127.0.0.1:{port}"
            wait_until_healthy(base + service["health"], process, log)
            if name == "backend":
                assert request("POST", f"{base}/items", {"name": "widget", "price": 2}) == (
                    201,
                    {"id": 1, "name": "widget", "description": None, "price": 2},
                )
                assert request("GET", f"{base}/items/2")[0] == 404
            if name == "telegram":
                until(lambda: (BOT_TOKEN, "getUpdates") in bot_api.calls, within=30)
                assert bot_api.calls[0] == (BOT_TOKEN, "getMe")

    # Stopped by SIGTERM within the grace period, not killed: 0, or the signal re-raised after a
    # clean shutdown (uvicorn does that).
    for name, process in processes.items():
        log = logs / f"{name}.run"
        assert process.returncode in {0, -signal.SIGTERM}, f"{name} did not stop:\n{tail(log)}"
