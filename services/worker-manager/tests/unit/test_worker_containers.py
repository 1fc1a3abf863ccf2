"""What worker containers are made of and given: the packaged Dockerfile, image tags with extra
CA certificates, network modes, and the settings of mounts and workspace storage."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, cast

import pytest
import worker_manager
from pydantic import ValidationError
from shared.contracts import AgentType, Capability
from worker_manager.adapters.docker_backend import (
    DOCKERFILE,
    WorkerImages,
    image_tag,
    network_options,
    read_certificates,
    wheels_release,
    workspace_volume,
    write_context,
)
from worker_manager.config import ManagerSettings
from worker_manager.ports import WorkerMount

CA = b"-----BEGIN CERTIFICATE-----\nMIIB...test...\n-----END CERTIFICATE-----\n"


def test_the_worker_dockerfile_is_package_data() -> None:
    package = Path(worker_manager.__file__).parent
    dockerfile = Path(str(DOCKERFILE))
    assert dockerfile.is_file()
    assert dockerfile.is_relative_to(package)
    assert "COPY certs/ /usr/local/share/ca-certificates/" in DOCKERFILE.read_text()


def test_without_certificates_the_tag_is_the_agent_type_and_sorted_capabilities() -> None:
    # As before certificates were part of it: existing images are reused.
    legacy = hashlib.sha256(b"scripted,curl,git").hexdigest()[:16]
    tag = image_tag("p", AgentType.SCRIPTED, [Capability.GIT, Capability.CURL])
    assert tag == f"p:{legacy}"
    assert image_tag("p", AgentType.SCRIPTED, [Capability.CURL, Capability.GIT], []) == tag


def test_a_certificate_added_or_changed_makes_another_tag() -> None:
    plain = image_tag("p", AgentType.SCRIPTED, [Capability.GIT])
    one = image_tag("p", AgentType.SCRIPTED, [Capability.GIT], [("proxy.crt", CA)])
    changed = image_tag("p", AgentType.SCRIPTED, [Capability.GIT], [("proxy.crt", CA + b"\n")])
    two = image_tag(
        "p", AgentType.SCRIPTED, [Capability.GIT], [("proxy.crt", CA), ("other.crt", CA)]
    )
    assert len({plain, one, changed, two}) == 4
    assert one == image_tag("p", AgentType.SCRIPTED, [Capability.GIT], [("proxy.crt", CA)])
    assert two == image_tag(
        "p", AgentType.SCRIPTED, [Capability.GIT], [("other.crt", CA), ("proxy.crt", CA)]
    )


def test_the_certificates_are_the_directorys_crt_files(tmp_path: Path) -> None:
    (tmp_path / "b.crt").write_bytes(CA)
    (tmp_path / "a.crt").write_bytes(b"a")
    (tmp_path / "notes.txt").write_text("not a certificate")
    (tmp_path / "dir.crt").mkdir()
    assert read_certificates(tmp_path) == [("a.crt", b"a"), ("b.crt", CA)]
    assert read_certificates(None) == []


def test_the_build_context_has_the_dockerfile_and_the_certificates(tmp_path: Path) -> None:
    with_ca, without = tmp_path / "with", tmp_path / "without"
    with_ca.mkdir()
    without.mkdir()
    write_context(with_ca, [("proxy.crt", CA)])
    write_context(without, [])
    assert (with_ca / "Dockerfile").read_bytes() == DOCKERFILE.read_bytes()
    assert (with_ca / "certs" / "proxy.crt").read_bytes() == CA
    assert list((without / "certs").iterdir()) == []


def test_outside_its_source_tree_worker_images_need_prebuilt_wheels(tmp_path: Path) -> None:
    nothing = cast(Any, None)
    with pytest.raises(ValueError, match="set WORKER_WHEELS_DIR"):
        WorkerImages(nothing, nothing, prefix="p", base_image="b", repo_root=tmp_path)
    WorkerImages(
        nothing, nothing, prefix="p", base_image="b", repo_root=tmp_path, wheels_dir=tmp_path
    )


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("host", ("host", None)),
        ("bridge", ("bridge", None)),
        ("none", ("none", None)),
        ("container:abc", ("container:abc", None)),
        ("codegen_default", (None, "codegen_default")),
    ],
)
def test_a_network_mode_is_the_engines_and_anything_else_a_networks_name(
    mode: str, expected: tuple[str | None, str | None]
) -> None:
    assert network_options(mode) == expected


def test_a_workers_volume_is_named_by_a_digest_of_its_id() -> None:
    name = workspace_volume("codegen-worker", "developer-1a2b")
    assert name.startswith("codegen-worker-ws-")
    assert name != workspace_volume("codegen-worker", "developer-1a2c")


def docker(**settings: object) -> ManagerSettings:
    return ManagerSettings.model_validate({"backend": "docker", **settings})


def test_extra_mounts_are_parsed_from_worker_volumes() -> None:
    settings = docker(
        worker_volumes=" codegen-forge:/srv/forge , /opt/scripts:/scripts:ro,vol:/x/../y:rw"
    )
    assert settings.worker_mounts == (
        WorkerMount("codegen-forge", "/srv/forge"),
        WorkerMount("/opt/scripts", "/scripts", read_only=True),
        WorkerMount("vol", "/y"),
    )
    assert docker().worker_mounts == ()


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("forge", "expected source:target"),
        ("a:/b:ro:x", "expected source:target"),
        ("forge:/srv:rx", "the mode must be ro or rw"),
        ("relative/dir:/srv", "the source must be a volume name or an absolute path"),
        (":/srv", "the source must be a volume name or an absolute path"),
        ("forge:srv", "the target must be absolute"),
        ("forge:/workspace", "may not be / nor /workspace"),
        ("forge:/workspace/forge", "may not be / nor /workspace"),
        ("forge://workspace/", "may not be / nor /workspace"),
        ("forge:/", "may not be / nor /workspace"),
    ],
)
def test_a_bad_worker_volumes_entry_is_a_settings_error_naming_it(entry: str, reason: str) -> None:
    with pytest.raises(ValidationError) as error:
        docker(worker_volumes=f"ok:/ok,{entry}")
    message = str(error.value)
    assert f"WORKER_VOLUMES entry {entry!r}" in message
    assert reason in message


def test_a_target_mounted_twice_is_a_settings_error() -> None:
    with pytest.raises(ValidationError, match=r"'two:/srv/': /srv is mounted twice"):
        docker(worker_volumes="one:/srv,two:/srv/")


def test_mounts_and_workspace_volumes_need_the_docker_backend(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="WORKER_VOLUMES needs BACKEND=docker"):
        ManagerSettings(backend="process", worker_volumes="forge:/srv/forge")
    with pytest.raises(ValidationError, match="WORKSPACE_STORAGE=volume needs BACKEND=docker"):
        ManagerSettings(backend="process", workspace_storage="volume")
    assert docker(workspace_storage="volume").workspace_storage == "volume"
    assert ManagerSettings(backend="process").workspace_storage == "directory"


def test_the_ca_certificates_directory_must_exist(tmp_path: Path) -> None:
    assert docker(worker_ca_certs_dir=tmp_path).worker_ca_certs_dir == tmp_path
    with pytest.raises(ValidationError, match="worker_ca_certs_dir"):
        docker(worker_ca_certs_dir=tmp_path / "missing")


def test_new_wheels_of_the_wrapper_make_another_tag(tmp_path: Path) -> None:
    """An upgraded worker-manager must not reuse the worker images of the release before."""
    wheel = tmp_path / "worker_wrapper-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"the first release")
    first = wheels_release(tmp_path)
    assert wheels_release(tmp_path) == first
    wheel.write_bytes(b"the next release")
    upgraded = wheels_release(tmp_path)

    assert upgraded != first
    tags = {
        image_tag("p", AgentType.SCRIPTED, [Capability.GIT], release=release)
        for release in ("", first, upgraded)
    }
    assert len(tags) == 3
