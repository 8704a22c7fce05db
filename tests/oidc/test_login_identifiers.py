"""Login identifiers as people type them (issue 9 item 17): phone numbers in E.164 whatever the
spacing or national form, NFKC-normalised emails, one throttle counter per identifier, and a
lockout page whose wait is the one in `Retry-After`."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyturn.core.errors import ApiError
from keyturn.core.identifiers import login_key, normalise_email, phone_e164
from keyturn.services.oidc.login import lockout
from keyturn.services.users import create_user, find_user
from keyturn.settings import Settings
from tests.oidc.helpers import authorize_params, form_of, make_client, pkce_pair

GB = {"default_phone_region": "GB"}
UK_E164 = "+447700900123"
PASSWORD = "correct horse battery staple"


async def _login_form(client, ctx):
    client.cookies.clear()  # a fresh browser: no session from an earlier sign-in
    rp = await make_client(ctx)
    _, challenge = pkce_pair()
    r = await client.get("/authorize", params=authorize_params(rp["client_id"], challenge))
    page = await client.get(r.headers["location"])
    return form_of(page.text)


async def _try(client, form, username, password=PASSWORD):
    action, fields = form
    return await client.post(action, data={**fields, "username": username, "password": password})


# --- phone numbers -------------------------------------------------------------------------------

@pytest.mark.parametrize("settings_overrides", [GB])
async def test_phone_numbers_typed_as_people_type_them_find_the_e164_account(client, ctx, make_user):
    await make_user(phone_number=UK_E164)
    for typed in ("+44 7700 900123", "07700 900123", "07700-900-123", "(07700) 900123", "+447700900123",
                  "０７７００ ９００１２３"):
        r = await _try(client, await _login_form(client, ctx), typed)
        assert r.status_code == 303, (typed, r.text)


async def test_without_a_default_region_only_numbers_typed_with_plus_are_phone_numbers(client, ctx, make_user):
    await make_user(phone_number="+44 7700 900123")
    assert (await _try(client, await _login_form(client, ctx), "+44 7700 900123")).status_code == 303
    assert (await _try(client, await _login_form(client, ctx), "07700 900123")).status_code == 401


@pytest.mark.parametrize("settings_overrides", [GB])
async def test_a_phone_number_is_stored_in_e164_and_cannot_register_twice_in_another_form(ctx):
    user, _ = await create_user(ctx, email=None, phone_number="07700 900123", password=PASSWORD)
    assert user.phone_number == UK_E164
    with pytest.raises(ApiError) as exc:
        await create_user(ctx, email=None, phone_number="+44 (0)7700 900 123", password=PASSWORD)
    assert exc.value.status_code == 409
    found = await find_user(ctx, "07700 900123")
    assert found is not None and found.id == user.id


async def test_the_seeds_sample_number_keeps_working_as_e164(ctx):
    user, _ = await create_user(ctx, email=None, phone_number="+6421234567890", password=PASSWORD)
    assert user.phone_number == "+6421234567890"
    for typed in ("+6421234567890", "+64 21 234 567 890"):
        found = await find_user(ctx, typed)
        assert found is not None and found.id == user.id
    with pytest.raises(ApiError) as exc:
        await create_user(ctx, email=None, phone_number="07700 900123", password=PASSWORD)
    assert exc.value.status_code == 400 and "KEYTURN_DEFAULT_PHONE_REGION" in exc.value.message


# --- emails --------------------------------------------------------------------------------------

async def test_a_full_width_email_cannot_register_beside_the_ascii_one(ctx, make_user):
    await make_user(email="demo@keyturn.test")
    for look_alike in ("ｄｅｍｏ@keyturn.test", "ＤＥＭＯ＠ＫＥＹＴＵＲＮ.ＴＥＳＴ", " Demo@Keyturn.Test "):
        with pytest.raises(ApiError) as exc:
            await create_user(ctx, email=look_alike, phone_number=None, password=PASSWORD)
        assert exc.value.status_code == 409, look_alike


async def test_a_full_width_email_is_the_same_login(client, ctx, make_user):
    user = await make_user(email="ｄｅｍｏ@keyturn.test")
    stored = await find_user(ctx, user.id)
    assert stored is not None and stored.email == "demo@keyturn.test"
    for typed in ("demo@keyturn.test", "ｄｅｍｏ@keyturn.test", "DEMO@keyturn.test"):
        assert (await _try(client, await _login_form(client, ctx), typed)).status_code == 303, typed


@given(st.text(max_size=40))
def test_email_normal_form_is_a_fixed_point(text):
    once = normalise_email(text)
    assert normalise_email(once) == once
    assert unicodedata.is_normalized("NFKC", once)


# --- throttling and lockout ----------------------------------------------------------------------

@pytest.mark.parametrize("settings_overrides", [GB])
async def test_typing_the_same_number_two_ways_does_not_dodge_the_account_throttle(client, ctx, make_user):
    await make_user(phone_number=UK_E164)
    form = await _login_form(client, ctx)
    spellings = ["+44 7700 900123", "07700 900123", "+447700900123"]
    statuses = [(await _try(client, form, spellings[i % 3], "wrong password!")).status_code
                for i in range(ctx.settings.login_max_failures + 1)]
    assert statuses[-1] == 429
    for typed in spellings:  # even the right password waits, however the number is typed
        assert (await _try(client, form, typed)).status_code == 429, typed
    assert login_key("07700 900123", "GB") == login_key("+44 7700 900123", None) == UK_E164


def _stated_wait(html: str) -> int:
    m = re.search(r"Wait (\d+) (second|seconds|minute|minutes) before", html)
    assert m, html
    return int(m.group(1)) * (60 if m.group(2).startswith("minute") else 1)


@pytest.mark.parametrize("settings_overrides", [{"login_max_failures": 1}])
async def test_the_lockout_page_and_retry_after_state_the_same_wait(client, ctx, make_user, clock):
    user = await make_user()
    form = await _login_form(client, ctx)
    r = await _try(client, form, user.email, "wrong password!")
    assert r.status_code == 429 and r.headers["retry-after"] == "30" and _stated_wait(r.text) == 30
    clock.advance(10)
    r = await _try(client, form, user.email, user.password)
    assert r.status_code == 429 and r.headers["retry-after"] == "20" and _stated_wait(r.text) == 20
    clock.advance(21)
    r = await _try(client, form, user.email, "wrong password!")  # the lock doubles: 60 s
    assert r.headers["retry-after"] == "60" and _stated_wait(r.text) == 60
    clock.advance(61)
    r = await _try(client, form, user.email, "wrong password!")  # 120 s: said in minutes
    assert r.headers["retry-after"] == "120" and _stated_wait(r.text) == 120 and "Wait 2 minutes" in r.text
    clock.advance(29.5)  # 90.5 s left: below two minutes, said in (rounded-up) seconds
    r = await _try(client, form, user.email, user.password)
    assert r.headers["retry-after"] == "91" and _stated_wait(r.text) == 91


@given(st.floats(min_value=0.001, max_value=7200))
def test_lockout_message_and_retry_after_agree_and_never_undershoot(seconds):
    failed = lockout(seconds)
    assert failed.retry_after is not None and failed.retry_after >= seconds
    assert _stated_wait(failed.message) == failed.retry_after


# --- the setting ---------------------------------------------------------------------------------

def test_default_phone_region_setting_is_checked():
    https: dict[str, Any] = {"issuer": "https://auth.example.test"}
    assert Settings(default_phone_region="gb", **https).default_phone_region == "GB"
    assert Settings(default_phone_region="", **https).default_phone_region is None
    with pytest.raises(ValueError, match="ISO 3166"):
        Settings(default_phone_region="XX", **https)


def test_phone_parsing_never_reads_an_email_or_a_short_local_number():
    assert phone_e164("demo@keyturn.test", "GB") is None
    assert phone_e164("12345", "GB") is None
    assert phone_e164("0044 7700 900123", "GB") == UK_E164
    assert phone_e164("1-800-FLOWERS", "US") is None


async def test_a_nul_or_control_character_in_the_login_name_is_a_failed_login_not_a_500(client, ctx, make_user):
    """PostgreSQL refuses NUL in text: such a name never reaches the database (the same 401 page)."""
    from keyturn.services.oidc import login

    user = await make_user()
    for name in (user.email + "\x00", "a\x00b", "+6421234567890\x00"):
        with pytest.raises(login.LoginFailed):
            await login.authenticate(ctx, name, user.password, "127.0.0.1", ctx.clock())


@pytest.mark.parametrize("look_alike", ["de\u200cmo@keyturn.test", "dem\u200bo@keyturn.test", "demo@keyturn\u3002test",
                                        "demo@keyturn.test.", "de mo@keyturn.test", "demo@keyturn..test"])
async def test_an_email_with_invisible_or_look_alike_characters_cannot_register(ctx, look_alike):
    with pytest.raises(ApiError) as exc:
        await create_user(ctx, email=look_alike, phone_number=None, password=PASSWORD)
    assert exc.value.status_code == 400, look_alike


async def test_a_username_is_one_normal_form_that_never_reads_as_an_email_or_phone(ctx, make_user):
    await make_user(preferred_username="demo")
    for taken in ("Demo", "DEMO", "ｄｅｍｏ"):
        with pytest.raises(ApiError) as exc:
            await create_user(ctx, email=None, phone_number="+6421000" + str(len(taken)) + "0000", password=PASSWORD,
                              preferred_username=taken)
        assert exc.value.status_code == 409, taken
    for refused in ("de\u200bmo", "eve@evil.test", "+6421234567890", "-x", "", "a" * 101):
        with pytest.raises(ApiError) as exc:
            await create_user(ctx, email="x" + str(abs(hash(refused))) + "@example.test", phone_number=None,
                              password=PASSWORD, preferred_username=refused)
        assert exc.value.status_code == 400, refused
    found = await find_user(ctx, "DEMO")
    assert found is not None and found.preferred_username == "demo"


async def test_a_member_is_found_by_a_national_number_as_login_finds_them(ctx, make_user):
    """Adding a member reads a phone number the way login does (KEYTURN_DEFAULT_PHONE_REGION)."""
    from keyturn.services import accounts as accounts_service

    owner = await make_user()
    org = await accounts_service.create_account(ctx, None, name="Shop", type="org", owner_id=owner.id)
    member = await make_user(phone_number="+447700900123")
    ctx.settings = ctx.settings.model_copy(update={"default_phone_region": "GB"})
    added = await accounts_service.add_member(ctx, None, org.id, "07700 900123", "merchant-terminal")
    assert added.user_id == member.id
