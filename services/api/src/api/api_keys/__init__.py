"""The api-keys resource: creating, listing and revoking keys (the rows are `auth`'s ApiKey)."""
