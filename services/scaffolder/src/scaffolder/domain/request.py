"""What a scaffolding request asks for, checked before anything is created."""

from __future__ import annotations

import re

# The template's modules, in the order their services appear in `.project.yml` (the first one
# present is the project's entry point).
MODULES = ("backend", "telegram")
# A repository name every forge accepts and a DNS label: the project's name is both.
_REPOSITORY_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class BadRequest(ValueError):
    """The request cannot be scaffolded as asked; asking again will not help."""


def repository_name(project_name: str) -> str:
    if not _REPOSITORY_NAME.match(project_name):
        raise BadRequest(
            f"{project_name[:80]!r} is not a valid repository name: lower-case letters, digits "
            "and inner dashes, at most 63 characters"
        )
    return project_name


def template_modules(modules: list[str]) -> list[str]:
    """The modules to render, in the template's order; unknown or repeated ones are refused."""
    unknown = sorted(set(modules) - set(MODULES))
    if unknown:
        raise BadRequest(f"unknown module(s) {unknown}; the template has {list(MODULES)}")
    if len(set(modules)) != len(modules):
        raise BadRequest(f"a module is asked for twice: {modules}")
    if not modules:
        raise BadRequest("no module asked for")
    return [module for module in MODULES if module in modules]


def copier_answers(project_name: str, description: str, modules: list[str]) -> dict[str, object]:
    """The answers the template is rendered with."""
    return {
        "project_name": repository_name(project_name),
        "project_description": description,
        "modules": template_modules(modules),
    }
