"""Roles, permissions and password users (SPEC §6): checked by the data layer, not only the UI.

Roles rise viewer < analyst < admin; each permission names the lowest role that has it.
Password users live in `.streamlit/secrets.toml` (see docs/DECISIONS.md):

    [auth.users.alice]
    password_hash = "$2b$12$..."   # python -m hsl hash-password
    role = "analyst"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

import bcrypt
import pandas as pd

from hsl.errors import PermissionDenied, ValidationError

ROLES = ("viewer", "analyst", "admin")
DEFAULT_ROLE = "viewer"
# Columns that identify or reach a person; viewers see them blank (SPEC §6).
CONTACT_COLUMNS = ("username", "email", "tme_link")
# bcrypt looks at the first 72 bytes only; longer passwords are refused, not cut.
MAX_PASSWORD_BYTES = 72


class Permission(StrEnum):
    """What a signed-in person may do; the value reads well inside a sentence."""

    VIEW_DASHBOARDS = "view dashboards"
    VIEW_CONTACTS = "see contact details"
    EXPORT = "export data"
    CHANGE_STREAM = "change course streams"
    VIEW_AUDIT_LOG = "read the audit log"
    COMPOSE_MESSAGES = "compose messages"
    SEND_MESSAGES = "send messages"


LOWEST_ROLE = {
    Permission.VIEW_DASHBOARDS: "viewer",
    Permission.VIEW_CONTACTS: "analyst",
    Permission.EXPORT: "analyst",
    Permission.CHANGE_STREAM: "admin",
    Permission.VIEW_AUDIT_LOG: "admin",
    Permission.COMPOSE_MESSAGES: "analyst",
    Permission.SEND_MESSAGES: "admin",
}


@dataclass(frozen=True)
class Actor:
    """The signed-in person: the name written to the audit log and their role."""

    name: str
    role: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValidationError(
                f"The role {self.role!r} of {self.name!r} is not one of {', '.join(ROLES)}."
            )


def can(actor: Actor, permission: Permission) -> bool:
    """True when the actor's role is at least the lowest role with `permission`."""
    return ROLES.index(actor.role) >= ROLES.index(LOWEST_ROLE[permission])


def require(actor: Actor, permission: Permission) -> None:
    """Raise PermissionDenied (one sentence) unless the actor may do `permission`."""
    if not can(actor, permission):
        raise PermissionDenied(
            f"Your role ({actor.role}) may not {permission.value}; "
            f"it takes the {LOWEST_ROLE[permission]} role."
        )


def hide_contacts(frame: pd.DataFrame, actor: Actor) -> pd.DataFrame:
    """Return `frame` with contact columns blanked unless the actor may see contact details."""
    if can(actor, Permission.VIEW_CONTACTS):
        return frame
    hidden = frame.copy()
    for column in CONTACT_COLUMNS:
        if column in hidden.columns:
            hidden[column] = None
    return hidden


# ---------------------------------------------------------------- passwords


def _password_bytes(password: str) -> bytes:
    data = password.encode("utf-8")
    if not password or len(data) > MAX_PASSWORD_BYTES:
        raise ValidationError(
            f"A password must have 1 to {MAX_PASSWORD_BYTES} bytes of UTF-8 text."
        )
    return data


def hash_password(password: str, rounds: int = 12) -> str:
    """Return the bcrypt hash (`$2b$...`) of `password` for the secrets file."""
    return bcrypt.hashpw(_password_bytes(password), bcrypt.gensalt(rounds)).decode("ascii")


@cache
def _dummy_hash() -> bytes:
    """A hash to check against when the user is unknown, so both cases take as long."""
    return hash_password("not a real password").encode("ascii")


def _matches(password: str, stored: bytes) -> bool:
    data = (password or "").encode("utf-8")
    if not data or len(data) > MAX_PASSWORD_BYTES:
        bcrypt.checkpw(b"x", _dummy_hash())
        return False
    return bcrypt.checkpw(data, stored)


def password_users(secrets: Mapping) -> Mapping:
    """Return the `[auth.users.NAME]` tables of the secrets (empty when there are none)."""
    section = secrets.get("auth", {})
    found = section.get("users", {}) if isinstance(section, Mapping) else {}
    return found if isinstance(found, Mapping) else {}


def verify_password(secrets: Mapping, username: str, password: str) -> Actor | None:
    """Return the Actor when `password` is right for `username`, else None (same cost)."""
    entry = password_users(secrets).get((username or "").strip())
    stored = entry.get("password_hash") if isinstance(entry, Mapping) else None
    if not isinstance(stored, str):
        _matches(password, _dummy_hash())
        return None
    try:
        right = _matches(password, stored.encode("ascii", "replace"))
    except ValueError:
        raise ValidationError(
            f"The password hash of {username.strip()!r} in the secrets is not a bcrypt hash; "
            "make one with `python -m hsl hash-password`."
        ) from None
    if not right:
        return None
    return Actor(username.strip(), str(entry.get("role", DEFAULT_ROLE)))
