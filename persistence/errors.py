"""Errors raised by the store, each with a one-line message fit to show a user."""


class StoreError(Exception):
    """Base class of every store error."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or used right now (retrying may help)."""


class StoreConfigError(StoreError, ValueError):
    """The database URL or settings are wrong; retrying will not help."""


class SchemaOutOfDate(StoreUnavailable):
    """The database schema is not at the version this code expects."""


class InvalidInput(StoreError, ValueError):
    """A value given to the store is unusable (naive datetime, empty name...)."""


class NotFoundError(StoreError, LookupError):
    """A record the operation depends on does not exist."""


class DuplicateError(StoreError):
    """The record already exists."""


class ConflictError(StoreError):
    """The operation contradicts what the store already holds."""
