"""services/users.py: a user needs an email or a phone and an acceptable password; their claims are seed 001's."""

from __future__ import annotations

import pytest

from keyturn.core.errors import ApiError
from keyturn.services.users import create_user, find_user, user_claims


async def test_a_user_needs_an_email_or_a_phone_number(ctx):
    with pytest.raises(ApiError) as err:
        await create_user(ctx, email=None, phone_number=None, password="correct horse battery staple")
    assert (err.value.status_code, err.value.code) == (400, "INVALID_REQUEST")
    assert "email or a phone number" in err.value.message


@pytest.mark.parametrize(("password", "why"), [("short", "at least 8"), ("password123", "too common")])
async def test_the_password_policy_is_a_400_naming_the_rule(ctx, password, why):
    with pytest.raises(ApiError) as err:
        await create_user(ctx, email="p@example.test", phone_number=None, password=password)
    assert (err.value.status_code, err.value.code) == (400, "INVALID_REQUEST") and why in err.value.message
    assert await find_user(ctx, "p@example.test") is None  # nothing half-written


async def test_the_claims_are_seed_001s(ctx):
    user, _ = await create_user(ctx, email="Ana@Example.test", phone_number="+6421234567890",
                                password="correct horse battery staple", given_name="Ana", family_name="Pérez",
                                preferred_username="ana", email_verified=True)
    assert user_claims(user) == {
        "sub": user.id, "email": "ana@example.test", "email_verified": True,
        "phone_number": "+6421234567890", "phone_number_verified": False,
        "given_name": "Ana", "family_name": "Pérez", "preferred_username": "ana",
    }
