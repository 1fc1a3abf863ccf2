from __future__ import annotations

from api.incidents.models import Incident
from api.repository import Repository


class IncidentRepository(Repository[Incident]):
    model = Incident
    noun = "incident"
