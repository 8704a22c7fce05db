"""A real nginx (Debian ``nginx-light``) terminating TLS with client certificates in front of a live
``keyturn serve``: the configurations docs/fapi2.md shows, with test ports, paths and a temp prefix.

``verify``: nginx's ``ssl_verify_client`` — ``optional`` (it verifies every certificate against the CA and
forwards only those) or ``optional_no_ca`` (it forwards any, with its result in ``VERIFY_HEADER``, for
``self_signed_tls_client_auth``; Keyturn needs ``KEYTURN_MTLS_VERIFY_HEADER`` then).
"""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.access.test_live_gateway import _nginx_binary, _wait_port
from tests.certs import Issued

CERT_HEADER, VERIFY_HEADER = "X-SSL-Client-Cert", "X-SSL-Client-Verify"


def nginx_conf(prefix: Path, port: int, keyturn_url: str, *, verify: str = "optional") -> str:
    """docs/fapi2.md's configuration (``verify``: ``optional`` or ``optional_no_ca``)."""
    verify_line = f"\n      proxy_set_header {VERIFY_HEADER} $ssl_client_verify;" if verify == "optional_no_ca" else ""
    return f"""
daemon off;
master_process off;
worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi; uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {prefix}/server.pem;
    ssl_certificate_key {prefix}/server.key;
    ssl_client_certificate {prefix}/ca.pem;
    ssl_verify_client {verify};
    ssl_verify_depth 2;
    location / {{
      proxy_pass {keyturn_url};
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header {CERT_HEADER} $ssl_client_escaped_cert;{verify_line}
    }}
  }}
}}
"""


@contextmanager
def nginx_front(work: Path, port: int, keyturn_url: str, ca: Issued, server_cert: Issued, *,
                verify: str = "optional") -> Iterator[str]:
    """nginx on ``127.0.0.1:port`` (its prefix under ``work``) proxying to ``keyturn_url``; yields its https URL.
    CI=true: fails loudly when nginx is missing; elsewhere skips with a message."""
    binary = _nginx_binary()
    prefix = work / "nginx"
    prefix.mkdir()
    server_cert.write(prefix, "server")
    (prefix / "ca.pem").write_bytes(ca.pem)
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_conf(prefix, port, keyturn_url, verify=verify))
    proc = subprocess.Popen([binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_port(port, proc)
        yield f"https://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def tls_client(pki: dict[str, Any], name: str | None) -> httpx.Client:
    """httpx trusting the test CA (nginx's server certificate), presenting the client certificate ``name``
    (``pki[name + "-files"]``; None: none)."""
    context = ssl.create_default_context(cafile=pki["ca_pem"])
    if name:
        context.load_cert_chain(*pki[name + "-files"])
    return httpx.Client(verify=context, timeout=10)
