"""`.project.yml` (shared.contracts.project_file): what it accepts, what it refuses naming the
field at fault, and the YAML the scaffolder writes reads back unchanged."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shared.contracts import (
    PROJECT_FILE,
    PROJECT_FILE_VERSION,
    ProjectFile,
    ProjectFileError,
    ProjectService,
    parse_project_file,
    render_project_file,
)

EVERY_KEY = """\
version: 1
services:
  web:
    build: npm ci && npm run build
    run: node server.js
    health: /healthz
    test: npm test
    directory: frontend
  worker:
    run: python -m worker
    health: /health
    directory: services/worker
"""
MINIMAL = """\
services:
  web:
    run: exec python3 app.py
    health: /health
"""


def refusal(text: str) -> str:
    with pytest.raises(ProjectFileError) as raised:
        parse_project_file(text)
    return str(raised.value)


def test_a_file_with_every_key_is_read_in_order_and_the_first_service_is_the_entry_point() -> None:
    project = parse_project_file(EVERY_KEY)

    assert project.version == 1
    assert list(project.services) == ["web", "worker"]
    assert project.entry_point == "web"
    assert project.services["web"] == ProjectService(
        run="node server.js",
        health="/healthz",
        build="npm ci && npm run build",
        test="npm test",
        directory="frontend",
    )
    assert project.services["worker"].build is None
    assert project.services["worker"].test is None
    assert project.services["worker"].directory == "services/worker"


def test_the_entry_point_is_the_first_service_whatever_the_names() -> None:
    text = "services:\n  zeta:\n    run: a\n    health: /\n  alpha:\n    run: b\n    health: /\n"
    assert parse_project_file(text).entry_point == "zeta"


def test_the_minimal_file_is_one_service_with_run_and_health() -> None:
    project = parse_project_file(MINIMAL)

    assert project.version == PROJECT_FILE_VERSION == 1
    assert project.entry_point == "web"
    web = project.services["web"]
    assert (web.build, web.test, web.directory) == (None, None, ".")


@pytest.mark.parametrize("text", [EVERY_KEY, MINIMAL])
def test_a_rendered_file_reads_back_equal(text: str) -> None:
    project = parse_project_file(text)
    rendered = render_project_file(project)

    assert parse_project_file(rendered) == project
    assert list(parse_project_file(rendered).services) == list(project.services)
    assert rendered.startswith("version: 1\n")


def test_keys_left_at_their_defaults_are_not_written() -> None:
    rendered = render_project_file(parse_project_file(MINIMAL))
    assert rendered == (
        "version: 1\nservices:\n  web:\n    run: exec python3 app.py\n    health: /health\n"
    )


# Text YAML would read as something else if written plainly: booleans, numbers, nulls, comments,
# mappings, anchors, templates, several lines, leading spaces, Unicode.
TRICKY = [
    "yes",
    "no",
    "null",
    "~",
    "1",
    "0x1f",
    "1e3",
    "# not a comment",
    "a: b",
    "- item",
    "&anchor",
    "*alias",
    "{{ secret }}",
    "'quoted'",
    '"double"',
    "  leading and trailing  ",
    "tab\there",
    "é日本 line",
    "a" * 2000,
]


@pytest.mark.parametrize("command", TRICKY)
def test_commands_yaml_would_misread_still_read_back_equal(command: str) -> None:
    project = ProjectFile(
        services={"web": ProjectService(run=command, health="/", build=command, test=command)}
    )
    assert parse_project_file(render_project_file(project)) == project


commands = st.text(min_size=1, max_size=40).filter(
    lambda s: "\x00" not in s and s.splitlines() == [s]
)
services = st.builds(
    ProjectService,
    run=commands,
    health=st.from_regex(r"\A/[\x21-\x7e]{0,30}\Z"),
    build=st.none() | commands,
    test=st.none() | commands,
    directory=st.sampled_from([".", "app", "services/web", "a/./b", "x-y_z.1"]),
)
names = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?\Z")


@settings(max_examples=100, deadline=None, database=None)
@given(st.dictionaries(names, services, min_size=1, max_size=4))
def test_any_project_file_reads_back_equal_and_in_order(
    declared: dict[str, ProjectService],
) -> None:
    project = ProjectFile(services=declared)
    read = parse_project_file(render_project_file(project))
    assert read == project
    assert list(read.services) == list(project.services)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("services:\n  web:\n    run: x\n    health: /\n    port: 80\n", "services.web.port"),
        ("services:\n  web:\n    run: x\n    health: /\n    Run: y\n", "services.web.Run"),
        ("services:\n  web:\n    run: x\n    health: /\nname: shop\n", "name: Extra inputs"),
    ],
)
def test_an_unknown_key_is_refused_naming_it(text: str, error: str) -> None:
    message = refusal(text)
    assert message.startswith(f"{PROJECT_FILE}: ")
    assert error in message
    assert "Extra inputs are not permitted" in message


@pytest.mark.parametrize("directory", ["..", "../up", "a/../../etc", "a/..", "/srv/app", "/"])
def test_a_directory_outside_the_repository_is_refused(directory: str) -> None:
    message = refusal(f"services:\n  web:\n    run: x\n    health: /\n    directory: {directory}\n")
    assert "services.web.directory: directory must be a relative path inside the repository" in (
        message
    )


@pytest.mark.parametrize("directory", [".", "app", "services/web", "..app", "a..b/c", "./web"])
def test_a_directory_inside_the_repository_is_accepted(directory: str) -> None:
    text = f"services:\n  web:\n    run: x\n    health: /\n    directory: {directory}\n"
    assert parse_project_file(text).services["web"].directory == directory


@pytest.mark.parametrize("health", ["healthz", "http://x/health", "'/with space'", "''"])
def test_a_health_check_that_is_not_a_path_is_refused(health: str) -> None:
    text = f"services:\n  web:\n    run: x\n    health: {health}\n"
    assert "services.web.health" in refusal(text)


def test_a_service_without_run_is_refused_naming_services_name_run() -> None:
    message = refusal("services:\n  web:\n    health: /\n")
    assert message == f"{PROJECT_FILE}: services.web.run: Field required"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("services:\n  web:\n    run: x\n", "services.web.health: Field required"),
        ("services:\n  web:\n    run: ''\n    health: /\n", "services.web.run: String should"),
        ("services:\n  web:\n    run: 42\n    health: /\n", "services.web.run: Input should be"),
        ('services:\n  web:\n    run: "a\\0b"\n    health: /\n', "a command is one line"),
        ('services:\n  web:\n    run: "a\\n[program:x]"\n    health: /\n', "a command is one line"),
        ("services:\n  web:\n    run: x\n    health: /\n    test: ''\n", "services.web.test"),
        ("services:\n  Web:\n    run: x\n    health: /\n", "services.Web"),
        ("services:\n  -web:\n    run: x\n    health: /\n", "services.-web"),
        ("services: {}\n", "services: Dictionary should have at least 1 item"),
        ("version: 1\n", "services: Field required"),
        ("version: 0\nservices:\n  web:\n    run: x\n    health: /\n", "version: Input should"),
        ("version: '1'\nservices:\n  web:\n    run: x\n    health: /\n", "version: Input should"),
    ],
)
def test_a_bad_field_is_refused_naming_it(text: str, error: str) -> None:
    assert error in refusal(text)


def test_every_field_at_fault_is_named() -> None:
    message = refusal("services:\n  web:\n    health: x\n  api:\n    run: y\n")
    assert "services.web.run" in message
    assert "services.web.health" in message
    assert "services.api.health" in message


def test_more_than_twenty_services_are_refused() -> None:
    text = "services:\n" + "".join(f"  s{i}:\n    run: x\n    health: /\n" for i in range(21))
    assert "services: Dictionary should have at most 20 items" in refusal(text)


def test_a_newer_version_is_refused_alone_with_a_clear_message() -> None:
    message = refusal("version: 2\nservices:\n  web:\n    run: x\n    health: /\n    new: key\n")
    assert message == (
        f"{PROJECT_FILE}: version: version 2 is newer than this code reads (at most 1): "
        "update the reader, or write version 1"
    )


def test_the_model_itself_refuses_a_newer_version() -> None:
    with pytest.raises(ValueError, match="version 2 is newer than this code reads"):
        ProjectFile.model_validate({"version": 2, "services": {"web": {"run": "x", "health": "/"}}})


@pytest.mark.parametrize("text", ["services: [", "services:\n  web: {run: x\n", "\tservices: {}"])
def test_text_that_is_not_yaml_is_refused(text: str) -> None:
    assert refusal(text).startswith(f"{PROJECT_FILE} is not valid YAML: ")


@pytest.mark.parametrize("text", ["", "- web", "just text", "42", "null"])
def test_yaml_that_is_not_a_mapping_is_refused(text: str) -> None:
    assert refusal(text) == f"{PROJECT_FILE} must be a mapping with a `services` key"


def test_the_error_is_a_value_error() -> None:
    assert issubclass(ProjectFileError, ValueError)
