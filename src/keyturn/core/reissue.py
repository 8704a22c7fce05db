"""Sealing a refresh rotation's answer for the grace window (docs/client-authentication.md).

With ``KEYTURN_REFRESH_REUSE_GRACE`` on, a repeat of a just-rotated refresh token gets the identical answer
again, successor refresh token included. Refresh tokens are stored only as digests, so the answer is kept
sealed in the consumed token's row: AES-256-GCM under a key derived (HKDF-SHA256) from the *presented*
refresh token itself. Only a holder of that token can open it; the database holds its digest, never the
token, so neither a database reader nor the server after the request can. The row's digest is the
associated data, so a box moved to another row does not open. The purge erases boxes once the longest
window has passed.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

INFO = b"keyturn refresh-token reissue v1"
NONCE = 12


def _key(token: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(
        token.encode("utf-8", "surrogatepass"))


def seal(token: str, token_digest: str, payload: bytes) -> bytes:
    """``payload`` sealed with a key derived from ``token`` (a fresh random nonce, then the ciphertext)."""
    nonce = os.urandom(NONCE)
    return nonce + AESGCM(_key(token)).encrypt(nonce, payload, token_digest.encode())


def unseal(token: str, token_digest: str, box: bytes) -> bytes | None:
    """The payload :func:`seal` sealed with this token for this digest, or None (another token, another row,
    a damaged box)."""
    if len(box) <= NONCE:
        return None
    try:
        return AESGCM(_key(token)).decrypt(box[:NONCE], box[NONCE:], token_digest.encode())
    except InvalidTag:
        return None
