"""`langgraph-service`: the engineering and deploy flows (see bootstrap.py); stopped by SIGTERM."""

from __future__ import annotations

from langgraph_service.bootstrap import build
from langgraph_service.config import LanggraphSettings
from shared import runtime


def main() -> None:
    runtime.main(LanggraphSettings, build, name="langgraph-service")


if __name__ == "__main__":
    main()
