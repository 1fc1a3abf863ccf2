"""The composition root of the API: settings in, a FastAPI app out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

import api
from api.agent_configs.router import router as agent_configs
from api.api_keys.router import router as api_keys
from api.auth.router import router as auth
from api.config import ApiSettings
from api.db import make_engine, make_sessionmaker
from api.deployments.router import router as deployments
from api.errors import error_responses, install_error_handlers
from api.executions.router import router as executions
from api.health.router import router as health
from api.incidents.router import router as incidents
from api.parameters import refuse_unstorable_parameters
from api.port_allocations.router import router as port_allocations
from api.projects.router import router as projects
from api.servers.router import router as servers
from api.tasks.router import router as tasks
from api.users.router import router as users

ROUTERS = (
    health,
    auth,
    users,
    projects,
    tasks,
    executions,
    servers,
    port_allocations,
    deployments,
    incidents,
    agent_configs,
    api_keys,
)


def create_app(settings: ApiSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(
            settings.database_url, pool_size=settings.db_pool_size, timeout_s=settings.db_timeout_s
        )
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="codegen-orchestrator API",
        version=api.__version__,
        description="Thin CRUD over the system's PostgreSQL. Every route but /health needs "
        "`Authorization: Bearer <api key>`.",
        lifespan=lifespan,
        responses=error_responses(400),
        dependencies=[Depends(refuse_unstorable_parameters)],
    )
    app.state.settings = settings
    app.state.port_range = (settings.port_range_start, settings.port_range_end)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    return app
