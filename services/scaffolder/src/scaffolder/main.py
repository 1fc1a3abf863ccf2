"""`scaffolder`: consumes scaffolder:queue (see bootstrap.py); stopped by SIGTERM."""

from __future__ import annotations

from scaffolder.bootstrap import build
from scaffolder.config import ScaffolderSettings
from shared import runtime


def main() -> None:
    runtime.main(ScaffolderSettings, build, name="scaffolder")


if __name__ == "__main__":
    main()
