"""The agent's verdict: a `<result>{json}</result>` block in its final answer."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pydantic import ValidationError
from shared.contracts import AgentVerdict

# The innermost block: text before the verdict may mention "<result>" on its own.
_BLOCK = re.compile(r"<result>((?:(?!<result>).)*?)</result>", re.DOTALL | re.IGNORECASE)

PROTOCOL = """\
## Reporting your result (required)

When you have finished, end your final answer with exactly one block:

<result>{"status": "success", "summary": "<what you did>", "data": {}}</result>

`status` is "success", "failure" or "in_progress".

The JSON must be valid. Use "success" only if the work is complete and committed with git.
Commit your changes yourself (`git add -A && git commit -m "..."`); do not push.
"""

# Deliberately without a complete example block: an agent echoing it must not count as a verdict.
ASK_FOR_VERDICT = (
    "You did not end with the required result block. Reply now with only that block: the JSON "
    "verdict described in your instructions, between result tags."
)


class VerdictError(ValueError):
    """The answer had a <result> block that is not a valid verdict."""


@dataclass(frozen=True)
class ParsedVerdict:
    verdict: AgentVerdict | None
    """None when the answer has no <result> block at all."""


def parse_verdict(text: str) -> ParsedVerdict:
    """The last <result> block of the answer; raises VerdictError when it does not parse."""
    blocks = _BLOCK.findall(text or "")
    if not blocks:
        return ParsedVerdict(None)
    raw = blocks[-1].strip()
    if raw.startswith("```"):
        raw = raw.strip("`").removeprefix("json").strip()
    try:
        return ParsedVerdict(AgentVerdict.model_validate(json.loads(raw)))
    except (ValueError, ValidationError) as exc:
        raise VerdictError(f"could not parse agent verdict: {exc}") from exc


_OPEN = re.compile(r"<result>", re.IGNORECASE)
_CLOSE = re.compile(r"</result>", re.IGNORECASE)


def without_result_blocks(text: str) -> str:
    """The answer with every `<result>…</result>` block (and the space around it) taken out, for
    a person to read. Found by plain searches, in linear time whatever the agent wrote."""
    kept: list[str] = []
    position = 0
    while (opening := _OPEN.search(text, position)) and (
        closing := _CLOSE.search(text, opening.end())
    ):
        kept.append(text[position : opening.start()].rstrip() + "\n")
        position = closing.end()
        while position < len(text) and text[position].isspace():
            position += 1
    kept.append(text[position:])
    return "".join(kept).strip()
