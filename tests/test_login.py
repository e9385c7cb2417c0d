"""Signing in (SPEC §6) through AppTest: password users, OIDC roles, login turned off.

Secrets reach the app the way Streamlit gives them to it (`at.secrets` stands in for
`.streamlit/secrets.toml`); OIDC sign-ins are simulated with `at.user`, as st.user.
"""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from sqlalchemy import delete, select
from streamlit.testing.v1 import AppTest

from hsl import migrate, signin
from hsl.auth import hash_password
from hsl.db import make_engine
from hsl.schema import audit_log, sign_in_attempts
from hsl_ui import auth
from tests.fixtures import utc
from tests.pages_support import (  # noqa: F401 - clean_env and navigation_as_served are autouse
    APP,
    NOW,
    clean_env,
    navigation_as_served,
    shown,
)

WRONG = "Wrong user name or password."
WAIT = "Too many wrong attempts for this user name; try again in {} seconds."
FAST = 4  # bcrypt cost for test hashes: quick, and verify_password takes any cost
PASSWORDS = {"alice": ("correct horse", "admin"), "vera": ("пароль-вера", "viewer"),
             "ann": ("ann's secret", "analyst")}
OIDC = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
        "client_id": "hsl", "client_secret": "s",
        "server_metadata_url": "https://id.example.org/.well-known/openid-configuration"}


@pytest.fixture(scope="module")
def db_url(tmp_path_factory) -> str:
    """A migrated, empty SQLite database: a real database, so login is required."""
    url = f"sqlite:///{tmp_path_factory.mktemp('login') / 'real.sqlite'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(autouse=True)
def no_earlier_tries(db_url) -> None:
    """Each test starts with no wrong passwords counted and an empty audit log."""
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(delete(sign_in_attempts))
        conn.execute(delete(audit_log))
    engine.dispose()


def audited(db_url: str) -> list[tuple[str, str]]:
    """(actor, action) of every audit row, oldest first."""
    engine = make_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(select(audit_log.c.actor, audit_log.c.action)
                            .order_by(audit_log.c.id)).all()
    engine.dispose()
    return [tuple(r) for r in rows]


@pytest.fixture(scope="module")
def password_secrets() -> dict:
    return {"auth": {"users": {
        name: {"password_hash": hash_password(pw, FAST), "role": role}
        for name, (pw, role) in PASSWORDS.items()
    }}}


def app(monkeypatch, db_url: str, secrets: dict, user: dict | None = None) -> AppTest:
    """app.py on the real database with `secrets` (and `user` as st.user), run once."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets.update(copy.deepcopy(secrets))  # tests may edit theirs
    if user is not None:
        at.user = user
    return at.run()


def sign_in(at: AppTest, name: str, password: str) -> AppTest:
    next(t for t in at.text_input if t.label == "User name").input(name)
    next(t for t in at.text_input if t.label == "Password").input(password)
    return next(b for b in at.button if b.label == "Sign in").click().run()


def on_sign_in_screen(at: AppTest) -> bool:
    return [t.value for t in at.title] == ["HSL Analytics"] and len(at.date_input) == 0


def errors(at: AppTest) -> list[str]:
    return [shown(e.value) for e in at.error]


def signed_in_as(at: AppTest) -> str | None:
    found = [shown(c.value) for c in at.caption if c.value.startswith(":material/person: ")]
    return found[0].removeprefix(":material/person: ") if found else None


# ---------------------------------------------------------------- passwords


def test_a_real_database_asks_for_a_password_first(monkeypatch, db_url, password_secrets):
    at = app(monkeypatch, db_url, password_secrets)
    assert not at.exception
    assert on_sign_in_screen(at)
    assert [t.label for t in at.text_input] == ["User name", "Password"]
    assert errors(at) == [] and len(at.metric) == 0


@pytest.mark.parametrize(("name", "password"), [("alice", "wrong"), ("mallory", "correct horse"),
                                                ("alice", ""), ("", "")])
def test_a_wrong_password_is_one_sentence(monkeypatch, db_url, password_secrets, name,
                                          password):
    at = sign_in(app(monkeypatch, db_url, password_secrets), name, password)
    assert not at.exception
    assert errors(at) == [WRONG]
    assert on_sign_in_screen(at) and signed_in_as(at) is None


def test_the_right_password_opens_the_app_until_signing_out(monkeypatch, db_url,
                                                            password_secrets):
    at = sign_in(app(monkeypatch, db_url, password_secrets), " alice ", "correct horse")
    assert not at.exception
    assert errors(at) == []
    assert [m.label for m in at.metric][:1] == ["Known users"]  # the Overview
    assert signed_in_as(at) == "alice · admin"
    at.run()  # the session remembers the user
    assert signed_in_as(at) == "alice · admin"
    next(b for b in at.button if b.label == "Sign out").click().run()
    assert on_sign_in_screen(at) and signed_in_as(at) is None


def test_roles_come_from_the_secrets_and_gate_the_pages(monkeypatch, db_url, password_secrets):
    at = sign_in(app(monkeypatch, db_url, password_secrets), "vera", "пароль-вера")
    assert signed_in_as(at) == "vera · viewer"
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/audit_log.py")
    at = sign_in(app(monkeypatch, db_url, password_secrets), "ann", "ann's secret")
    assert signed_in_as(at) == "ann · analyst"
    at.switch_page("pages/audience.py").run()
    assert not at.exception and [s.value for s in at.subheader] == ["0 people match"]


def test_a_changed_role_applies_and_a_removed_user_is_signed_out(monkeypatch, db_url,
                                                                 password_secrets):
    at = sign_in(app(monkeypatch, db_url, password_secrets), "alice", "correct horse")
    at.secrets["auth"]["users"]["alice"]["role"] = "viewer"
    at.run()
    assert signed_in_as(at) == "alice · viewer"
    del at.secrets["auth"]["users"]["alice"]
    at.run()
    assert on_sign_in_screen(at) and signed_in_as(at) is None


def test_repeated_failures_make_the_next_try_wait_in_every_browser(monkeypatch, db_url,
                                                                   password_secrets):
    clock = [utc("2026-12-01 10:00")]
    monkeypatch.setattr(auth, "utc_now", lambda: clock[0])
    at = app(monkeypatch, db_url, password_secrets)
    for _ in range(signin.FREE_FAILURES):
        assert errors(sign_in(at, "alice", "guess")) == [WRONG]
    clock[0] += timedelta(seconds=10)
    at = sign_in(at, "alice", "correct horse")  # not even checked while waiting
    assert errors(at) == [WAIT.format(20)]
    assert on_sign_in_screen(at)
    other = app(monkeypatch, db_url, password_secrets)  # another browser: waits just as long
    assert errors(sign_in(other, " alice", "correct horse")) == [WAIT.format(20)]
    assert errors(sign_in(other, "vera", "пароль-вера")) == []  # other names are not held up
    clock[0] += timedelta(seconds=20)
    at = sign_in(at, "alice", "correct horse")
    assert errors(at) == [] and signed_in_as(at) == "alice · admin"
    assert audited(db_url) == [("alice", "sign_in_failed")] * 5 + [
        ("alice", "sign_in_throttled")] * 2 + [("vera", "sign_in"), ("alice", "sign_in")]


def test_an_unknown_name_waits_with_the_same_sentence(monkeypatch, db_url, password_secrets):
    monkeypatch.setattr(auth, "utc_now", lambda: utc("2026-12-01 10:00"))
    at = app(monkeypatch, db_url, password_secrets)
    for _ in range(signin.FREE_FAILURES):
        assert errors(sign_in(at, "mallory", "guess")) == [WRONG]
    assert errors(sign_in(at, "mallory", "guess")) == [WAIT.format(30)]


def test_sign_ins_read_plainly_in_the_audit_log(monkeypatch, db_url, password_secrets):
    monkeypatch.setattr(auth, "utc_now", lambda: NOW)  # inside the sidebar's default dates
    at = app(monkeypatch, db_url, password_secrets)
    at = sign_in(sign_in(at, "alice", "guess"), "alice", "correct horse")
    at.switch_page("pages/audit_log.py").run()
    assert not at.exception
    logged = at.table[0].value
    assert logged["User ID"].tolist() == ["", ""]  # about no bot user: an empty cell
    rows = logged.drop(columns=["When", "User ID"]).map(shown).values.tolist()
    assert rows == [
        ["alice", "Sign in", "User name #alice", "Wrong passwords: 1 → 0",
         "Signed in with the right password."],
        ["alice", "Sign in failed", "User name #alice", "Wrong passwords: 0 → 1",
         "Wrong user name or password."],
    ]


def test_a_database_before_init_db_asks_for_it_at_sign_in(monkeypatch, tmp_path,
                                                         password_secrets):
    url = f"sqlite:///{tmp_path / 'baseline.sqlite'}"
    engine = make_engine(url)
    migrate.upgrade(engine, "0001")  # the bot's tables and audit_log, no sign_in_attempts
    engine.dispose()
    at = sign_in(app(monkeypatch, url, password_secrets), "alice", "correct horse")
    assert not at.exception
    assert errors(at) == [signin.TABLES_MISSING] and on_sign_in_screen(at)


def test_a_database_that_is_down_at_sign_in_is_one_sentence(monkeypatch, password_secrets):
    at = app(monkeypatch, "postgresql://nobody@127.0.0.1:1/x", password_secrets)
    assert on_sign_in_screen(at)  # the form needs no database until it is sent
    at = sign_in(at, "alice", "correct horse")
    assert not at.exception
    assert errors(at) == ["The database cannot be reached right now."]


def test_a_link_opens_its_page_after_signing_in(monkeypatch, db_url, password_secrets):
    monkeypatch.setenv("DATABASE_URL", db_url)
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets.update(copy.deepcopy(password_secrets))
    at.context = {"url": "http://localhost:8501/users"}  # what the browser's address says
    at.query_params["q"] = "anna"
    at.switch_page("pages/users.py").run()  # the page the link asks for
    assert not at.exception and on_sign_in_screen(at)
    at = sign_in(at, "alice", "guess")  # a wrong try keeps the link too
    assert errors(at) == [WRONG]
    at = sign_in(at, "alice", "correct horse")
    assert not at.exception
    assert [t.value for t in at.title] == ["Users"]
    assert next(t for t in at.text_input if t.label == "Search").value == "anna"


def test_a_broken_secrets_entry_names_the_problem(monkeypatch, db_url):
    secrets = {"auth": {"users": {
        "bob": {"password_hash": "not a hash"},
        "carol": {"password_hash": hash_password("pw", FAST), "role": "boss"},
    }}}
    at = sign_in(app(monkeypatch, db_url, secrets), "bob", "pw")
    assert errors(at) == ["The password hash of 'bob' in the secrets is not a bcrypt hash; "
                          "make one with `python -m hsl hash-password`."]
    at = sign_in(app(monkeypatch, db_url, secrets), "carol", "pw")
    assert errors(at) == ["The role 'boss' of 'carol' is not one of viewer, analyst, admin."]
    assert not at.exception


# ---------------------------------------------------------------- OIDC (st.login)


def test_oidc_offers_its_sign_in_button_instead_of_passwords(monkeypatch, db_url,
                                                             password_secrets):
    secrets = {"auth": {**OIDC, **password_secrets["auth"]}}
    at = app(monkeypatch, db_url, secrets, user={"is_logged_in": False})
    assert on_sign_in_screen(at)
    assert len(at.text_input) == 0  # OIDC wins over password users
    at = next(b for b in at.button if b.label == "Sign in").click().run()
    assert not at.exception
    # AppTest cannot follow the redirect to the identity provider; st.login's complaint
    # about it (here: the provider is only in at.secrets, not in a secrets file) must
    # still be one sentence on screen, never a traceback.
    shown = errors(at)
    assert len(shown) == 1 and "Traceback" not in shown[0] and shown[0].strip().endswith(".")


@pytest.mark.parametrize(("email", "shown"), [
    ("Boss@School.org", "Boss@School.org · admin"),  # [auth.roles] matched without case
    ("someone@example.org", "someone@example.org · viewer"),  # everyone else: viewer
])
def test_oidc_users_get_their_role_by_email(monkeypatch, db_url, email, shown):
    secrets = {"auth": {**OIDC, "roles": {"boss@school.org": "admin"}}}
    at = app(monkeypatch, db_url, secrets,
             user={"is_logged_in": True, "email": email, "name": "Someone"})
    assert not at.exception
    assert signed_in_as(at) == shown
    next(b for b in at.button if b.label == "Sign out").click().run()  # st.logout()
    assert on_sign_in_screen(at) and signed_in_as(at) is None


def test_named_oidc_providers_get_one_button_each(monkeypatch, db_url):
    secrets = {"auth": {"redirect_uri": OIDC["redirect_uri"], "cookie_secret": "x" * 32,
                        "google": {k: OIDC[k] for k in ("client_id", "client_secret",
                                                        "server_metadata_url")}}}
    at = app(monkeypatch, db_url, secrets, user={"is_logged_in": False})
    assert [b.label for b in at.button] == ["Sign in with Google"]


# ---------------------------------------------------------------- no login configured / off


def test_login_turned_off_gives_a_viewer_unless_a_role_is_set(monkeypatch, db_url):
    monkeypatch.setenv("HSL_AUTH_DISABLED", "1")
    at = app(monkeypatch, db_url, {})
    assert signed_in_as(at) == "Anonymous (login turned off) · viewer"
    assert "Sign out" not in [b.label for b in at.button]
    monkeypatch.setenv("HSL_AUTH_DISABLED_ROLE", "analyst")
    assert signed_in_as(app(monkeypatch, db_url, {})) == (
        "Anonymous (login turned off) · analyst")
    monkeypatch.setenv("HSL_AUTH_DISABLED_ROLE", "root")
    at = app(monkeypatch, db_url, {})
    assert not at.exception
    assert errors(at) == [
        "The role 'root' of 'Anonymous (login turned off)' is not one of viewer, analyst, admin."]


def test_no_users_and_no_oidc_means_no_app(monkeypatch, db_url):
    at = app(monkeypatch, db_url, {"auth": {"users": {}}})
    assert errors(at) == [auth.LOGIN_NOT_CONFIGURED]
    assert len(at.text_input) == 0 and len(at.metric) == 0
