"""The worker wrapper: the stream ↔ headless agent bridge, PID 1 of every worker."""
