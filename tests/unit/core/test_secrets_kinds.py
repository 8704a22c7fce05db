"""core/secrets.py: a secret says what it is; only a real API key passes the offline check; logs see a digest."""

from __future__ import annotations

import os
import subprocess
import sys

from keyturn.core.secrets import (
    PREFIX_API_KEY_LIVE,
    PREFIX_API_KEY_TEST,
    looks_like_api_key,
    new_api_key,
    new_refresh_token,
    redact,
)


def test_the_checksum_tells_a_real_key_from_noise():
    key = new_api_key()
    assert key.startswith(PREFIX_API_KEY_LIVE) and looks_like_api_key(key)
    assert new_api_key(test=True).startswith(PREFIX_API_KEY_TEST)
    body = key[len(PREFIX_API_KEY_LIVE):]
    flipped = body[:-1] + ("A" if body[-1] != "A" else "B")
    for bad in (PREFIX_API_KEY_LIVE + flipped, key[:-1], key + "0", key[:-1] + "-", PREFIX_API_KEY_LIVE,
                "kt_prod_" + body, body):
        assert not looks_like_api_key(bad), bad


def test_redaction_keeps_the_kind_and_never_the_secret():
    refresh = new_refresh_token()
    assert redact(refresh).startswith("ktrt_…#") and refresh[5:] not in redact(refresh)
    unknown = "some-opaque-value-from-a-client"
    assert redact(unknown).startswith("…#") and unknown not in redact(unknown)
    assert redact(unknown) == redact(unknown) != redact(unknown + "x")  # stable: lines about one value correlate


def test_a_forked_child_never_hands_out_its_parents_identifiers():
    """The identifier pool is refilled after fork: parent and child draw different bytes (run in a fresh,
    single-threaded interpreter, where fork is safe)."""
    script = (
        "import os\n"
        "from keyturn.core.secrets import new_token_id\n"
        "new_token_id()\n"
        "r, w = os.pipe()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os.write(w, new_token_id().encode()); os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "print(os.read(r, 64).decode(), new_token_id())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONWARNINGS": "error"}).stdout.split()
    assert len(out) == 2 and len(out[0]) == 22 and out[0] != out[1]
