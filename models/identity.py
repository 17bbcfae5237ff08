"""Who acts: every action is done by a named user with a role."""

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    PUBLISHER = "publisher"
    MODERATOR = "moderator"
    ADMIN = "admin"


@dataclass(frozen=True)
class Actor:
    """A named user and the role the system knows them by."""

    name: str
    role: Role
    publisher_id: str | None = None
