"""``GET /api/v2/audit/events`` and ``/export``: the operator's and auditors' view of the audit trail,
filtered by time, kind, actor, subject and client, paged by an opaque cursor, exported as JSON lines."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from keyturn.core.audit import Position, decode_cursor, encode_cursor
from keyturn.services import audit as audit_service
from keyturn.services.context import Services
from keyturn.services.tokens import OPERATOR_CLIENT_ID, mint_access_token
from keyturn.storage import audit as audit_repo
from tests.conftest import CredentialFixture, UserFixture

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z: clear of the events the fixtures write now
EVENTS = "/api/v2/audit/events"
EXPORT = "/api/v2/audit/export"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def auditor(ctx: Services, make_user: Callable[..., Awaitable[UserFixture]]) -> dict[str, str]:
    user = await make_user()
    token, _ = mint_access_token(ctx, sub=user.id, client_id=OPERATOR_CLIENT_ID, scope="keyturn:audit",
                                 kind="user", now=ctx.clock())
    return bearer(token)


@pytest.fixture
async def trail(ctx: Services) -> list[audit_repo.Event]:
    """Ten events at known times (two share one instant), by three actors, for two subjects."""
    events = [
        audit_repo.Event("login.failed", T0 + 1, subject="usr_a", ip="198.51.100.1", detail={"failures": 1}),
        audit_repo.Event("login.failed", T0 + 2, subject="usr_a", ip="198.51.100.1", detail={"failures": 2}),
        audit_repo.Event("login.succeeded", T0 + 3, subject="usr_a", ip="198.51.100.1"),
        audit_repo.Event("token.issued", T0 + 4, client_id="cli_1", subject="usr_a"),
        audit_repo.Event("credential.created", T0 + 5, actor="users/usr_b", client_id="cli_2"),
        audit_repo.Event("credential.revoked", T0 + 5, actor="users/usr_b", client_id="cli_2"),
        audit_repo.Event("refresh_token.reuse_detected", T0 + 6, client_id="cli_1", subject="usr_a",
                         detail={"grant_id": "g1", "generation": 2}),
        audit_repo.Event("account.created", T0 + 7, actor="operator", subject="acc_1"),
        audit_repo.Event("login_failed_lookalike", T0 + 8, subject="usr_b"),  # `login.*` must not select it
        audit_repo.Event("user.created", T0 + 9, actor="operator", subject="usr_b"),
    ]
    async with ctx.engine.begin() as conn:
        await audit_repo.record_many(conn, events)
    return events


async def kinds_of(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[str]:
    r = await client.get(EVENTS, params={"since": iso(T0), **params}, headers=headers)
    assert r.status_code == 200, r.text
    return [e["kind"] for e in r.json()["data"]]


async def test_only_the_operator_and_auditors_read_the_trail(
        client: httpx.AsyncClient, ctx: Services, make_user: Callable[..., Awaitable[UserFixture]],
        make_credential: Callable[..., Awaitable[CredentialFixture]], auditor: dict[str, str]) -> None:
    user = await make_user()
    cred = await make_credential(owner=user)
    cc = (await client.post("/token", data={"grant_type": "client_credentials"}, auth=cred.basic)).json()
    other_client, _ = mint_access_token(ctx, sub=user.id, client_id=cred.client_id, scope="keyturn:audit",
                                        kind="user", now=ctx.clock())
    operator_no_scope, _ = mint_access_token(ctx, sub=user.id, client_id=OPERATOR_CLIENT_ID, scope="",
                                             kind="user", now=ctx.clock())
    admin, _ = mint_access_token(ctx, sub=user.id, client_id=OPERATOR_CLIENT_ID, scope="keyturn:admin",
                                 kind="user", now=ctx.clock())
    for path in (EVENTS, EXPORT):
        missing = await client.get(path)
        assert missing.status_code == 401 and missing.json()["status"] == "ERROR"
        for refused in (user.headers, bearer(cc["access_token"]), bearer(other_client), bearer(operator_no_scope)):
            r = await client.get(path, headers=refused)
            assert r.status_code == 403, (path, r.text)
            assert r.json() == {"status": "ERROR", "error": "PERMISSION_DENIED",
                                "message": "missing permission keyturn:audit"}
        for allowed in (auditor, bearer(admin)):
            assert (await client.get(path, headers=allowed)).status_code == 200


async def test_filters_select_by_time_kind_actor_subject_and_client(
        client: httpx.AsyncClient, auditor: dict[str, str], trail: list[audit_repo.Event]) -> None:
    everything = await kinds_of(client, auditor)
    assert everything == [e.event for e in trail]
    assert await kinds_of(client, auditor, kind="login.failed") == ["login.failed", "login.failed"]
    assert await kinds_of(client, auditor, kind="login.*") == ["login.failed", "login.failed", "login.succeeded"]
    assert await kinds_of(client, auditor, kind=["token.issued", "user.created"]) == ["token.issued", "user.created"]
    assert await kinds_of(client, auditor, actor="users/usr_b") == ["credential.created", "credential.revoked"]
    assert await kinds_of(client, auditor, subject="usr_b") == ["login_failed_lookalike", "user.created"]
    assert await kinds_of(client, auditor, client_id="cli_1") == ["token.issued", "refresh_token.reuse_detected"]
    assert await kinds_of(client, auditor, since=iso(T0 + 5), until=iso(T0 + 7)) == [
        "credential.created", "credential.revoked", "refresh_token.reuse_detected"]  # since ≤ at < until
    assert await kinds_of(client, auditor, since=iso(T0 + 100)) == []
    assert await kinds_of(client, auditor, kind="nothing.like.this") == []
    assert await kinds_of(client, auditor, subject="usr_a", kind="login.*", until=iso(T0 + 3)) == [
        "login.failed", "login.failed"]


async def test_an_event_has_the_documented_shape(
        client: httpx.AsyncClient, auditor: dict[str, str], trail: list[audit_repo.Event]) -> None:
    r = await client.get(EVENTS, params={"since": iso(T0), "kind": "refresh_token.reuse_detected"}, headers=auditor)
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["status"] == "OK" and body["next_cursor"] is None
    (event,) = body["data"]
    assert list(event) == ["id", "at", "kind", "actor", "subject", "client_id", "ip", "detail"]
    assert isinstance(event["id"], int)
    assert event | {"id": 0} == {"id": 0, "at": "2027-01-15T08:00:06.000Z", "kind": "refresh_token.reuse_detected",
                                 "actor": None, "subject": "usr_a", "client_id": "cli_1", "ip": None,
                                 "detail": {"grant_id": "g1", "generation": 2}}


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_pages_follow_the_cursor_without_gaps_or_repeats(
        client: httpx.AsyncClient, ctx: Services, auditor: dict[str, str], trail: list[audit_repo.Event],
        order: str) -> None:
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"since": iso(T0), "until": iso(T0 + 10), "limit": 3, "order": order}
    pages = 0
    while True:
        r = await client.get(EVENTS, params=params, headers=auditor)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += body["data"]
        pages += 1
        if pages == 1:  # an event written meanwhile, at an instant already paged past, shifts nothing
            async with ctx.engine.begin() as conn:
                await audit_repo.record(conn, "late.event", at=T0 + (9.5 if order == "desc" else 0.5))
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert pages == 4
    kinds = [e["kind"] for e in seen]
    expected = [e.event for e in trail]
    assert kinds == (expected if order == "asc" else expected[::-1])
    ids = [e["id"] for e in seen]
    assert len(set(ids)) == len(ids)
    # the two events of one instant are ordered by id (the order they were written in)
    tie = [e["id"] for e in seen if e["kind"] in ("credential.created", "credential.revoked")]
    assert tie == (sorted(tie) if order == "asc" else sorted(tie, reverse=True))


async def test_exactly_a_full_last_page_still_ends(
        client: httpx.AsyncClient, auditor: dict[str, str], trail: list[audit_repo.Event]) -> None:
    r = await client.get(EVENTS, params={"since": iso(T0), "until": iso(T0 + 10), "limit": 5}, headers=auditor)
    second = await client.get(EVENTS, params={"since": iso(T0), "until": iso(T0 + 10), "limit": 5,
                                              "cursor": r.json()["next_cursor"]}, headers=auditor)
    assert len(second.json()["data"]) == 5 and second.json()["next_cursor"] is None


@pytest.mark.parametrize(("params", "error"), [
    ({"limit": 501}, "INVALID_REQUEST"),
    ({"limit": 0}, "INVALID_REQUEST"),
    ({"limit": "many"}, "INVALID_REQUEST"),
    ({"since": "2027-01-15T08:00:00"}, "INVALID_REQUEST"),  # a time without its zone is ambiguous
    ({"since": "yesterday"}, "INVALID_REQUEST"),
    ({"until": "984373338"}, "INVALID_REQUEST"),  # epoch seconds: not the documented date-time format
    ({"since": "-1.5"}, "INVALID_REQUEST"),
    ({"since": "2027-01-15T09:00:00Z", "until": "2027-01-15T08:00:00Z"}, "INVALID_REQUEST"),
    ({"order": "sideways"}, "INVALID_REQUEST"),
    ({"kind": ""}, "INVALID_REQUEST"),
    ({"kind": [f"k{i}" for i in range(21)]}, "INVALID_REQUEST"),
    ({"actor": "x" * 201}, "INVALID_REQUEST"),
    ({"subject": ""}, "INVALID_REQUEST"),
    ({"cursor": "not-a-cursor"}, "INVALID_CURSOR"),
    ({"cursor": encode_cursor(Position(T0, 1, "desc"))}, "INVALID_CURSOR"),  # from a newest-first listing
    ({"cursor": "MTphc2M6bmFuOjE"}, "INVALID_CURSOR"),  # "1:asc:nan:1"
    ({"cursor": "x" * 201}, "INVALID_REQUEST"),
])
async def test_bad_filters_are_400_in_the_management_shape(
        client: httpx.AsyncClient, auditor: dict[str, str], params: dict[str, Any], error: str) -> None:
    r = await client.get(EVENTS, params=params, headers=auditor)
    assert r.status_code == 400, r.text
    assert r.json()["status"] == "ERROR" and r.json()["error"] == error


def test_a_cursor_round_trips_exactly() -> None:
    for position in (Position(T0 + 0.1, 7), Position(1.0000000001, 2**40, "desc")):
        assert decode_cursor(encode_cursor(position)) == position


async def test_export_streams_every_selected_event_as_json_lines(
        client: httpx.AsyncClient, ctx: Services, auditor: dict[str, str], trail: list[audit_repo.Event],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_service, "EXPORT_PAGE", 3)  # several reads for ten events
    listed = (await client.get(EVENTS, params={"since": iso(T0), "until": iso(T0 + 10)}, headers=auditor)).json()
    r = await client.get(EXPORT, params={"since": iso(T0), "until": iso(T0 + 10)}, headers=auditor)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/x-ndjson"
    assert r.headers["cache-control"] == "no-store"
    assert r.text.endswith("\n")
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert lines == listed["data"] and len(lines) == 10
    newest_first = await client.get(EXPORT, params={"since": iso(T0), "until": iso(T0 + 10), "order": "desc"},
                                    headers=auditor)
    assert [json.loads(line) for line in newest_first.text.splitlines()] == lines[::-1]
    empty = await client.get(EXPORT, params={"since": iso(T0 + 100)}, headers=auditor)
    assert empty.status_code == 200 and empty.text == ""
    # every export is on the record: who, with which filters
    exports = (await client.get(EVENTS, params={"kind": "audit.exported", "order": "desc", "limit": 1},
                                headers=auditor)).json()["data"]
    assert exports[0]["actor"].startswith("user:")
    assert exports[0]["detail"] == {"filters": {"since": T0 + 100}}


async def test_export_refuses_bad_filters_before_it_starts(
        client: httpx.AsyncClient, auditor: dict[str, str]) -> None:
    r = await client.get(EXPORT, params={"until": "2027-01-15T08:00:00Z", "since": "2027-01-16T08:00:00Z"},
                         headers=auditor)
    assert r.status_code == 400 and r.json()["error"] == "INVALID_REQUEST"


async def test_the_openapi_document_describes_the_audit_api(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    listing = doc["paths"]["/api/v2/audit/events"]["get"]
    params = {p["name"]: p for p in listing["parameters"]}
    assert set(params) >= {"since", "until", "kind", "actor", "subject", "client_id", "cursor", "limit", "order"}
    assert params["limit"]["schema"]["maximum"] == 500
    ok = listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ok.endswith("/AuditEventsEnvelope")
    envelope = doc["components"]["schemas"]["AuditEventsEnvelope"]
    assert {"status", "data", "next_cursor"} <= set(envelope["properties"])
    export = doc["paths"]["/api/v2/audit/export"]["get"]["responses"]["200"]["content"]
    assert export["application/x-ndjson"]["schema"]["$ref"].endswith("/AuditEventOut")


async def test_the_use_case_bounds_the_page_itself(ctx: Services) -> None:
    from keyturn.core.audit import AuditFilter
    from keyturn.core.errors import ApiError
    for limit in (0, 501):
        with pytest.raises(ApiError):
            await audit_service.list_events(ctx, AuditFilter(), limit=limit)
