"""core/reissue.py: a rotation's answer sealed with the presented refresh token (AES-256-GCM, HKDF-SHA256)."""

from __future__ import annotations

from keyturn.core import reissue


def test_only_the_same_token_in_the_same_row_opens_the_box() -> None:
    box = reissue.seal("kt_rt_one", "row-1", b'{"refresh_token": "kt_rt_two"}')
    assert reissue.unseal("kt_rt_one", "row-1", box) == b'{"refresh_token": "kt_rt_two"}'
    assert b"kt_rt_two" not in box
    assert reissue.unseal("kt_rt_other", "row-1", box) is None
    assert reissue.unseal("kt_rt_one", "row-2", box) is None
    assert reissue.unseal("kt_rt_one", "row-1", box[:-1] + bytes([box[-1] ^ 1])) is None


def test_every_seal_has_its_own_nonce_and_a_short_box_does_not_open() -> None:
    assert reissue.seal("t", "d", b"x") != reissue.seal("t", "d", b"x")
    assert reissue.unseal("t", "d", b"\x00" * reissue.NONCE) is None
    assert reissue.unseal("t", "d", b"") is None
