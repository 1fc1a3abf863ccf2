"""The API: thin CRUD over PostgreSQL. The only owner of the database; no business logic."""

__version__ = "0.1.0"
