from __future__ import annotations

from api.repository import Repository
from api.servers.models import Server


class ServerRepository(Repository[Server]):
    model = Server
    noun = "server"
