"""`orchestrator`: the agents' only interface to the system; prints one JSON object per call."""
