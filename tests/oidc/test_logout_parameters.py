"""/logout reads its query (and, for POST, its form) with the one urlencoded parser (RFC 6749 §3.1)."""

from __future__ import annotations


def _invalid_page(r) -> None:
    assert r.status_code == 400 and "location" not in r.headers
    assert r.headers["content-type"].startswith("text/html")


async def test_a_repeated_parameter_is_the_error_page_and_a_blank_duplicate_is_omitted(client):
    _invalid_page(await client.get("/logout?state=a&state=b"))
    assert (await client.get("/logout?state=a&state=")).status_code == 200  # signed out of nothing: a page


async def test_a_query_with_too_many_fields_or_not_utf8_is_the_error_page(client):
    _invalid_page(await client.get("/logout?" + "&".join(f"p{i}=1" for i in range(21))))
    _invalid_page(await client.get("/logout?state=%ff"))


async def test_a_parameter_in_both_the_query_and_the_form_is_repeated(client):
    r = await client.post("/logout?state=a", data={"state": "b"})
    _invalid_page(r)
