"""Storage contract of storage/oidc.py on SQLite and PostgreSQL: every row comes back as its typed record."""

from __future__ import annotations

from dataclasses import replace

import pytest

from keyturn.core.models import (
    AuthorizationCode,
    AuthorizationRequest,
    Client,
    Consent,
    Interaction,
    LoginSession,
    User,
)
from keyturn.storage import clients as clients_repo
from keyturn.storage import codes as codes_repo
from keyturn.storage import oidc as store
from keyturn.storage import users as users_repo
from keyturn.storage.db import make_engine, migrate
from keyturn.storage.rows import interaction_row, to_interaction, to_record, to_row

AREQ = AuthorizationRequest(client_id="c", redirect_uri="https://app.example.test/cb", scope=("openid", "email"),
                            state="st", nonce=None, code_challenge="x" * 43, code_challenge_method="S256",
                            prompt=("consent",), max_age=60, login_hint=None, redirect_uri_sent=True)


def _interaction(digest: str, *, session_id: str | None = "sess") -> Interaction:
    return Interaction(digest=digest, client_id="c", stage="consent", request=AREQ, browser_digest="b" * 64,
                       csrf="t", session_id=session_id, created_at=1.0, expires_at=601.0, used_at=None)


@pytest.fixture
async def engine(database_url):
    eng = make_engine(database_url, pool_size=2)
    await migrate(eng)
    async with eng.begin() as conn:
        await users_repo.insert(conn, User(
            id="u", email="u@example.test", phone_number=None, given_name=None, family_name=None,
            preferred_username=None, email_verified=True, phone_number_verified=False, password_hash=None,
            disabled=False, created_at=1.0, updated_at=1.0))
        await clients_repo.insert(conn, Client(
            client_id="c", kind="oidc", name="c", owner_id=None, account_id=None, role=None, secret_digest=None,
            prev_secret_digest=None, prev_secret_expires_at=None, is_public=True, public_id=None, domain=None,
            scope="openid", refresh=None, status=0, grant_types=("authorization_code",),
            redirect_uris=("https://app.example.test/cb",), post_logout_redirect_uris=(), allowed_origins=(),
            first_party=False, refresh_enabled=False, id_token_alg=None, revoke_refresh_on_logout=True,
            expiration=None, created_at=1.0, updated_at=1.0))
    yield eng
    await eng.dispose()


async def test_an_authorization_code_is_stored_from_its_record_and_read_back_as_it(engine):
    code = AuthorizationCode(digest="d", client_id="c", user_id="u", redirect_uri="https://app.example.test/cb",
                             redirect_uri_sent=False, scope="openid", nonce="n", code_challenge="x" * 43,
                             code_challenge_method="S256", session_id="sess", auth_time=1.0, created_at=1.0,
                             expires_at=61.0, used_at=None, grant_id=None)
    async with engine.begin() as conn:
        await codes_repo.insert_code(conn, code)
        assert await codes_repo.find_codes(conn, ["d", "unknown"]) == {"d": code}
        assert await codes_repo.consume_codes(conn, {"d": "g"}, 2.0) == {"d"}
        assert await codes_repo.consume_codes(conn, {"d": "g2"}, 3.0) == set()  # used: a replay
        assert await codes_repo.find_codes(conn, ["d"]) == {"d": replace(code, used_at=2.0, grant_id="g")}
        assert await codes_repo.grants_of(conn, ["d"]) == {"d": "g"}


async def test_a_live_session_is_a_record_until_it_ends_expires_or_idles(engine):
    session = LoginSession(digest="s", user_id="u", auth_time=1.0, created_at=1.0, last_seen_at=1.0,
                           expires_at=1000.0, ended_at=None)
    async with engine.begin() as conn:
        await store.create_session(conn, session)
        assert await store.find_live_session(conn, "s", 2.0, idle=100.0) == session
        assert await store.find_live_session(conn, "s", 200.0, idle=100.0) is None  # idle too long
        await store.touch_session(conn, "s", 150.0)
        found = await store.find_live_session(conn, "s", 200.0, idle=100.0)
        assert found == replace(session, last_seen_at=150.0)
        assert await store.find_live_session(conn, "s", 1000.0, idle=10_000.0) is None  # past its lifetime
        assert await store.end_session(conn, "s", 201.0) is True
        assert await store.end_session(conn, "s", 202.0) is False
        assert await store.find_live_session(conn, "s", 203.0, idle=100.0) is None


async def test_an_interaction_round_trips_with_its_request_and_is_used_once(engine):
    interaction = _interaction("i")
    async with engine.begin() as conn:
        await store.create_interaction(conn, interaction)
        await store.create_interaction(conn, _interaction("j", session_id=None))
        assert await store.find_interaction(conn, "i", 2.0) == interaction
        assert (await store.find_interaction(conn, "j", 2.0)) == _interaction("j", session_id=None)
        assert await store.find_interaction(conn, "i", 601.0) is None  # expired
        assert await store.consume_interaction(conn, "i", 3.0) is True
        assert await store.consume_interaction(conn, "i", 4.0) is False
        assert await store.find_interaction(conn, "i", 5.0) is None


async def test_consent_is_a_record_whose_scope_grows_without_repeats(engine):
    async with engine.begin() as conn:
        assert await store.find_consent(conn, "u", "c") is None
        await store.remember_consent(conn, "u", "c", ("openid", "email"), 1.0)
        await store.remember_consent(conn, "u", "c", ("email", "profile"), 2.0)
        consent = await store.find_consent(conn, "u", "c")
    assert consent == Consent(user_id="u", client_id="c", scope="openid email profile", created_at=2.0)
    assert consent.scopes == ("openid", "email", "profile")


def test_rows_map_to_records_and_back():
    session = LoginSession(digest="s", user_id="u", auth_time=1.0, created_at=1.0, last_seen_at=1.0,
                           expires_at=2.0, ended_at=None)
    assert to_record(LoginSession, to_row(session)) == session
    row = interaction_row(_interaction("i"))
    # The JSON column keeps the names interactions have always been stored under.
    assert row["id"] == "i" and set(row["params"]) == {"stage", "request", "browser", "csrf", "session"}
    assert row["params"]["request"] == AREQ.to_json()
    assert to_interaction(row) == _interaction("i")


def test_an_interaction_stored_by_an_older_version_still_maps():
    """Stored before redirect_uri_sent existed (the request's later fields take their default)."""
    request = {k: v for k, v in AREQ.to_json().items() if k != "redirect_uri_sent"}
    row = {"id": "i", "client_id": "c", "created_at": 1.0, "expires_at": 2.0, "used_at": None,
           "params": {"stage": "login", "request": request, "browser": "b", "csrf": "t", "session": None}}
    found = to_interaction(row)
    assert found.request == replace(AREQ, redirect_uri_sent=None) and found.stage == "login"
    assert found.session_id is None and found.browser_digest == "b"
