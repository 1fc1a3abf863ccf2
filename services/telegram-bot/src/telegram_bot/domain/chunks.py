"""Long texts cut into messages a chat accepts.

Telegram refuses a message over 4096 characters; it counts UTF-16 code units in some places and
code points in others, so a piece is measured in UTF-16 units (never more than code points). A
text is cut at line ends where it can be, at a space inside a line too long for one message,
and mid-word only when a single word is longer than a message. Nothing is lost but the blank
lines and spaces at the cuts, and a piece is never empty or blank (Telegram refuses those too).
"""

from __future__ import annotations

MESSAGE_LIMIT = 4096


def units(text: str) -> int:
    """The text's length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """The text as messages of at most `limit` UTF-16 units each, in order."""
    if limit < 2:
        raise ValueError("a message holds at least two units (one character of any kind)")
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        joined = f"{current}\n{line}" if current else line
        if units(joined) <= limit:
            current = joined
            continue
        if current.strip():
            pieces.append(current)
        *whole, current = _cut_line(line, limit)
        pieces.extend(part for part in whole if part.strip())
    if current.strip():
        pieces.append(current)
    return [piece.strip("\n") for piece in pieces]


def _cut_line(line: str, limit: int) -> list[str]:
    """A line as parts of at most `limit` units: at spaces, or mid-word for a word too long."""
    parts: list[str] = []
    while units(line) > limit:
        head = _prefix(line, limit)
        space = head.rfind(" ")
        if space > 0:
            parts.append(head[:space])
            line = line[space + 1 :]
        else:
            parts.append(head)
            line = line[len(head) :]
    parts.append(line)
    return parts


def _prefix(text: str, limit: int) -> str:
    """The longest start of `text` within `limit` units (a character is never halved)."""
    count = 0
    for index, char in enumerate(text):
        count += 2 if ord(char) > 0xFFFF else 1
        if count > limit:
            return text[:index]
    return text
