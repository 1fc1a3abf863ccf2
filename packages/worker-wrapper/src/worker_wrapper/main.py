"""`worker-wrapper`: the entry point of every worker (its process's PID 1 in a container)."""

from __future__ import annotations

from shared import runtime
from worker_wrapper.bootstrap import build
from worker_wrapper.config import WrapperSettings


def main() -> None:
    runtime.main(WrapperSettings, build, name=lambda settings: settings.service_name)
