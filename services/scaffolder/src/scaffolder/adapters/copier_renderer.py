"""The service template rendered with copier, in a thread (copier is synchronous)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import copier

from scaffolder.ports import RenderFailed


class CopierRenderer:
    def __init__(self, template: Path) -> None:
        self._template = template

    async def render(self, destination: Path, answers: dict[str, object]) -> list[str]:
        return await asyncio.to_thread(self._render, destination, answers)

    def _render(self, destination: Path, answers: dict[str, object]) -> list[str]:
        if destination.exists():
            raise RenderFailed(f"{destination} exists already")
        try:
            copier.run_copy(
                str(self._template),
                str(destination),
                data=answers,
                defaults=True,
                unsafe=False,
                quiet=True,
                overwrite=False,
            )
        except Exception as exc:  # copier raises its own errors and whatever a template does
            raise RenderFailed(f"the template could not be rendered: {exc}"[:1000]) from None
        return sorted(
            str(path.relative_to(destination)) for path in destination.rglob("*") if path.is_file()
        )
