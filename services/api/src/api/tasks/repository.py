from __future__ import annotations

from api.repository import Repository
from api.tasks.models import Task


class TaskRepository(Repository[Task]):
    model = Task
    noun = "task"
