"""Use cases: plain async functions (and the progress desk) taking ports and values."""
