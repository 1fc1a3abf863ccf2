"""scheduler: the periodic work that keeps the system healthy (stream housekeeping, server health,
provisioning retries, server and repository sync, stale work), each job run once per interval
across replicas under a Redis lease with a fencing token."""
