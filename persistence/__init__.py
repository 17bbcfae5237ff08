"""The store: SQLModel tables, alembic migrations and the async ``Store`` API.

Import ``persistence.store`` for ``Store`` and ``persistence.errors`` for the
errors; this package itself stays light so importing it costs nothing.
"""
