"""worker-manager as installed from its wheel (as in its container image), not from the source
tree: what the docker backend reads from its package is in the wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[4]
DOCKERFILE = "worker_manager/docker/worker-base.Dockerfile"
# Run in the installed package: the Dockerfile is found, and worker images need prebuilt wheels.
PROBE = """
import sys
from pathlib import Path
import worker_manager
from worker_manager.adapters.docker_backend import DOCKERFILE, WorkerImages
site = Path(sys.argv[1])
assert Path(worker_manager.__file__).is_relative_to(site), worker_manager.__file__
assert Path(str(DOCKERFILE)).is_relative_to(site) and DOCKERFILE.is_file(), DOCKERFILE
assert "FROM ${BASE_IMAGE}" in DOCKERFILE.read_text()
try:
    WorkerImages(None, None, prefix="p", base_image="b")
except ValueError as exc:
    print(exc)
"""


def test_the_installed_wheel_carries_the_worker_dockerfile(tmp_path: Path) -> None:
    uv = os.environ.get("UV", "uv")
    subprocess.run(
        [uv, "build", "--wheel", "--package", "worker-manager", "--out-dir", str(tmp_path)],
        cwd=REPOSITORY,
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("worker_manager-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        assert DOCKERFILE in archive.namelist()
        archive.extractall(site)  # what installing a pure-Python wheel amounts to

    # Its dependencies from this environment; worker_manager from the wheel, which comes first.
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(site)],
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=False,
    )

    assert probe.returncode == 0, probe.stderr
    assert "set WORKER_WHEELS_DIR" in probe.stdout
