"""`scheduler`: every job on its own loop, run by `shared.runtime`: SIGTERM lets a run in flight
finish (SHUTDOWN_GRACE_S), then it is cancelled and its job left due for the next replica."""

from scheduler.bootstrap import build
from scheduler.config import SchedulerSettings
from shared import runtime


def main() -> None:
    runtime.main(SchedulerSettings, build, name="scheduler")
