"""Roles, permission checks, password hashing and the hash-password command."""

from __future__ import annotations

import io
import tomllib

import bcrypt
import pandas as pd
import pytest

from hsl import cli
from hsl.auth import (
    Actor,
    Permission,
    can,
    hash_password,
    hide_contacts,
    require,
    verify_password,
)
from hsl.errors import PermissionDenied, ValidationError

# Cost 4 keeps the tests fast; verification reads the cost from the stored hash.
ALICE_HASH = hash_password("correct horse", rounds=4)
SECRETS = {
    "auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "users": {
            "alice": {"password_hash": ALICE_HASH, "role": "analyst"},
            "dora": {"password_hash": hash_password("пароль", rounds=4)},  # no role: viewer
            "eve": {"password_hash": hash_password("x", rounds=4), "role": "owner"},
            "mal": {"password_hash": "not-a-bcrypt-hash", "role": "admin"},
        },
    }
}


@pytest.mark.parametrize("role, allowed", [
    ("viewer", {Permission.VIEW_DASHBOARDS}),
    ("analyst", {Permission.VIEW_DASHBOARDS, Permission.VIEW_CONTACTS, Permission.EXPORT,
                 Permission.COMPOSE_MESSAGES}),
    ("admin", set(Permission)),
])
def test_each_role_has_its_permissions_and_those_below(role, allowed):
    actor = Actor("someone", role)
    assert {p for p in Permission if can(actor, p)} == allowed


def test_require_explains_in_one_sentence():
    with pytest.raises(PermissionDenied) as err:
        require(Actor("vic", "viewer"), Permission.EXPORT)
    assert str(err.value) == "Your role (viewer) may not export data; it takes the analyst role."
    require(Actor("ann", "analyst"), Permission.EXPORT)  # no error


def test_an_unknown_role_is_refused():
    with pytest.raises(ValidationError, match="not one of viewer, analyst, admin"):
        Actor("x", "superuser")


def test_hide_contacts_blanks_contact_columns_for_viewers_only():
    frame = pd.DataFrame({"user_id": [1], "username": ["anna"], "first_name": ["Anna"],
                          "email": ["a@example.com"], "tme_link": ["https://t.me/anna"]})
    hidden = hide_contacts(frame, Actor("v", "viewer"))
    assert hidden.iloc[0].tolist() == [1, None, "Anna", None, None]
    assert frame["username"].iloc[0] == "anna"           # the original is untouched
    assert hide_contacts(frame, Actor("a", "analyst")) is frame


def test_password_round_trip():
    assert verify_password(SECRETS, "alice", "correct horse") == Actor("alice", "analyst")
    assert verify_password(SECRETS, " alice ", "correct horse") == Actor("alice", "analyst")
    assert verify_password(SECRETS, "dora", "пароль") == Actor("dora", "viewer")


@pytest.mark.parametrize("username, password", [
    ("alice", "wrong horse"),
    ("alice", "Correct horse"),
    ("alice", ""),
    ("alice", "x" * 100),         # longer than bcrypt's 72 bytes: refused, not truncated
    ("nobody", "correct horse"),
    ("", "correct horse"),
])
def test_wrong_passwords_and_unknown_users_get_none(username, password):
    assert verify_password(SECRETS, username, password) is None


def test_no_password_users_configured():
    assert verify_password({}, "alice", "correct horse") is None
    assert verify_password({"auth": "oops"}, "alice", "correct horse") is None


def test_unknown_users_cost_a_hash_check_too(monkeypatch):
    checked = []
    real = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda pw, h: checked.append(h) or real(pw, h))
    assert verify_password(SECRETS, "nobody", "whatever") is None
    assert len(checked) == 1 and checked[0].startswith(b"$2b$12$")


def test_misconfigured_entries_say_so_after_a_right_password():
    with pytest.raises(ValidationError, match="not one of"):
        verify_password(SECRETS, "eve", "x")
    with pytest.raises(ValidationError, match="not a bcrypt hash"):
        verify_password(SECRETS, "mal", "anything")


def test_hash_password_refuses_empty_and_too_long():
    for bad in ("", "я" * 37):   # 37 Cyrillic letters are 74 bytes
        with pytest.raises(ValidationError, match="1 to 72 bytes"):
            hash_password(bad)


def test_hash_password_command_reads_stdin_and_prints_a_working_entry(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret pass\n"))
    assert cli.main(["hash-password", "--user", "bob", "--role", "admin"]) == 0
    out = capsys.readouterr().out.splitlines()
    hashed = out[0]
    assert bcrypt.checkpw(b"s3cret pass", hashed.encode())
    secrets = tomllib.loads("\n".join(out[1:]))
    assert secrets["auth"]["users"]["bob"] == {"password_hash": hashed, "role": "admin"}
    assert verify_password(secrets, "bob", "s3cret pass") == Actor("bob", "admin")


def test_hash_password_command_with_empty_input_exits_2(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert cli.main(["hash-password"]) == 2
    assert capsys.readouterr().err.strip() == "A password must have 1 to 72 bytes of UTF-8 text."
