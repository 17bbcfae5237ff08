"""Alembic migrations of the store schema (see ``persistence.migrate``)."""
