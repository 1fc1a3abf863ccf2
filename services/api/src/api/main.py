"""`api`: serve the API with uvicorn."""

from __future__ import annotations

import uvicorn
from shared.logging import configure_logging

from api.app import create_app
from api.config import ApiSettings


def main() -> None:
    settings = ApiSettings()
    configure_logging("api", json=settings.log_json, level=settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
