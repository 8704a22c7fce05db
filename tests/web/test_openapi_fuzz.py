"""Issue 9 item 5, for the whole management API at once: Schemathesis generates requests from the OpenAPI
document the app serves (valid and invalid ones) for every operation, sends them with a real user token
(the operator's ``keyturn:admin`` token for /api/oidc-clients, /api/v2/audit and accounts' flags and
subscriptions) and checks every answer: never a 5xx, a
documented status code and content type, and a body that conforms to the documented schema.

Schema-valid strings rarely contain NUL, control characters or lone surrogates, so a share of the cases get
one put into a string of the body, query or path: into generated requests, and into a known-good request
per operation (so that the hostile text reaches the storage, not only the first validation that fails).

Requests go through the in-process app of the `client` fixture (the front `keyturn serve` runs), on SQLite
and PostgreSQL. Hypothesis runs in a worker thread; each request is awaited on the test's event loop.
Bounded and derandomized: at most ~60 cases per operation, well under a minute per database.
"""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any, cast
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from keyturn.services.tokens import OPERATOR_CLIENT_ID, mint_access_token
from tests.conftest import ISSUER

POSITIVE_EXAMPLES = 40
NEGATIVE_EXAMPLES = 15
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
HOSTILE = ["\x00", "\ud800", "\udfff", "\x01", "\x1b", "\n", "\x7f", "\x85"]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"credential_create_limit": 100_000, "allowed_scopes": ("payments:read",)}


async def _world(client: httpx.AsyncClient, ctx: Any, make_user: Any, make_credential: Any) -> dict[str, Any]:
    """Real objects, so that generated requests also reach the success paths, not only 404."""
    user, member = await make_user(), await make_user()
    admin, _ = mint_access_token(ctx, sub=user.id, client_id=OPERATOR_CLIENT_ID, scope="keyturn:admin",
                                 kind="user", now=ctx.clock())
    org = (await client.post("/api/accounts", json={"name": "Fuzz Ltd"}, headers=user.headers)).json()
    r = await client.post(f"/api/accounts/{org['id']}/api-keys", json={"name": "till", "role": "merchant-terminal"},
                          headers=user.headers)
    assert r.status_code == 201, r.text
    cred = await make_credential(user, scope="ALLOW_OTA_CHARGE")
    credential = {"name": "my.app.cu", "domain": "*.shop.example www.my.app.cu", "scope": "ALLOW_OTA_CHARGE"}
    return {
        "user": user.headers, "admin": {"Authorization": f"Bearer {admin}"},
        "path": {"accountId": org["id"], "client_id": cred.client_id, "userId": member.id, "name": "till",
                 "flag": "trusted-user", "subscription": "external-asset-issuer"},
        "good": {  # one valid body per operation that takes one
            "POST /api/v2/credential": {**credential, "refresh": "1d", "redirect": "https://app.example/cb",
                                        "role": "merchant-terminal", "accountId": user.account_id,
                                        "expiration": "2099-01-31T23:59:59Z"},
            "PUT /api/v2/credential/{client_id}": {**credential, "expiration": "2099-01-31T23:59:59+01:00"},
            "PATCH /api/v2/credential/{client_id}": credential,
            "POST /api/accounts": {"name": "Acme Ltd"},
            "PUT /api/accounts/{accountId}": {"name": "Acme Ltd"},
            "POST /api/accounts/{accountId}/members": {"user": member.email, "role": "anon-consumer"},
            "POST /api/accounts/{accountId}/api-keys": {"name": "till two", "role": "merchant-terminal"},
            "POST /api/accounts/{accountId}/api-keys/import": {"name": "till three", "role": "merchant-terminal",
                                                               "key": "f32c5497297084e5354b47c40d5ccacb109ce483"},
            "PUT /api/accounts/{accountId}/api-keys/{name}": {"enabled": True},
            "POST /api/authorize": {"permission": "accounts:read", "accountId": org["id"]},
            "POST /api/v2/credential/grant/allow": {"permission": "accounts:read", "accountId": org["id"]},
            "POST /api/oidc-clients": {
                "name": "Shop", "type": "confidential", "redirect_uris": ["https://rp.example/cb"],
                "post_logout_redirect_uris": ["https://rp.example/bye"], "allowed_origins": ["https://rp.example"],
                "scope": "openid email"},
        },
    }


def _poison(kwargs: dict[str, Any], path: dict[str, str], template: str, bad: str, index: int) -> dict[str, Any]:
    """Put ``bad`` into one string of the JSON body, the query or the path of a request (transport arguments;
    the case itself stays as generated). Lone surrogates only into the body: a URL cannot carry them."""
    kwargs = {**kwargs, "json": copy.deepcopy(kwargs["json"])} if "json" in kwargs else dict(kwargs)
    leaves: list[tuple[Any, Any]] = []

    def collect(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            if isinstance(value, str):
                leaves.append((node, key))
            else:
                collect(value)

    collect(kwargs.get("json"))
    path = dict(path)
    path_from = 1 << 30
    if not "\ud800" <= bad <= "\udfff":
        kwargs["params"] = dict(kwargs.get("params") or {})
        collect(kwargs["params"])
        path_from = len(leaves)
        collect(path)
    if leaves:
        i = index % len(leaves)
        node, key = leaves[i]
        piece = quote(bad, safe="") if i >= path_from else bad  # path parameters are kept URL-encoded
        node[key] = node[key][:1] + piece + node[key][1:]
        if i >= path_from:
            kwargs["url"] = ISSUER + template.format(**path)
    return kwargs


def _fuzz_operation(operation: Any, world: dict[str, Any], send: Any) -> None:
    """Hypothesis over one operation (in a worker thread; ``send`` performs the request)."""
    label = f"{operation.method.upper()} {operation.path}"
    operator_only = (operation.path.startswith(("/api/oidc-clients", "/api/v2/audit/"))
                     or operation.path.endswith(("/flags/{flag}", "/subscriptions/{subscription}")))
    headers = world["admin"] if operator_only else world["user"]
    real = {p.name: world["path"][p.name] for p in operation.path_parameters}
    for mode, examples in ((GenerationMode.POSITIVE, POSITIVE_EXAMPLES), (GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES)):
        strategy = operation.as_strategy(generation_mode=mode)
        if real:  # cases that address objects that exist
            strategy = st.one_of(strategy, operation.as_strategy(generation_mode=mode, path_parameters=real))
        cases = st.tuples(strategy, st.none())
        if mode is GenerationMode.POSITIVE:
            poison = st.tuples(st.sampled_from(HOSTILE), st.integers(0, 100))
            hostile = [st.tuples(strategy, poison)]
            if label in world["good"]:
                good = operation.as_strategy(generation_mode=mode, path_parameters=real, body=world["good"][label])
                hostile += [st.tuples(good, st.none()), st.tuples(good, poison)]
            cases = st.one_of(cases, *hostile)
        checks = CHECKS + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])

        @hsettings(max_examples=examples, deadline=None, derandomize=True, database=None,
                   suppress_health_check=list(HealthCheck))
        @given(drawn=cases)
        def run(drawn: tuple[Any, tuple[str, int] | None]) -> None:
            case, spoil = drawn
            kwargs = case.as_transport_kwargs(base_url=ISSUER, headers=headers)
            if spoil is not None:
                kwargs = _poison(kwargs, case.path_parameters or {}, operation.path, *spoil)
            response = send(kwargs)
            case.validate_response(response, checks=checks, headers=headers)

        try:
            run()
        except Unsatisfiable:
            if mode is GenerationMode.POSITIVE:
                raise  # (negative mode: nothing in this operation can be made invalid)


async def test_every_management_operation_answers_as_documented_and_never_5xx(client, ctx, make_user,
                                                                              make_credential):
    world = await _world(client, ctx, make_user, make_credential)
    document = (await client.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document)
    operations = [cast(Any, result).ok() for result in schema.get_all_operations()]
    labels = {f"{op.method.upper()} {op.path}" for op in operations}
    assert set(world["good"]) <= labels and "GET /api/v2/credential/grant/list" in labels
    loop = asyncio.get_running_loop()

    def send(kwargs: dict[str, Any]) -> httpx.Response:
        method, url = kwargs.pop("method"), kwargs.pop("url")
        request = client.request(method, url, **_httpx_kwargs(kwargs))
        return cast(httpx.Response, asyncio.run_coroutine_threadsafe(request, loop).result(timeout=30))

    for operation in operations:
        await asyncio.to_thread(_fuzz_operation, operation, world, send)


def _httpx_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Schemathesis' transport arguments (requests-style) for httpx."""
    out: dict[str, Any] = {"headers": kwargs.get("headers") or {}}
    if kwargs.get("params"):
        out["params"] = kwargs["params"]
    if kwargs.get("cookies"):
        out["cookies"] = kwargs["cookies"]
    if "json" in kwargs:  # \u escapes (json.dumps' default): lone surrogates travel as an attacker sends them
        out["content"] = json.dumps(kwargs["json"]).encode("ascii")
        out["headers"] = {**out["headers"], "content-type": "application/json"}
    elif kwargs.get("data") is not None:
        out["content" if isinstance(kwargs["data"], bytes | str) else "data"] = kwargs["data"]
    return out
