"""The access log: one line per request, no query string, nothing that can break a line, batched writes."""

from __future__ import annotations

import asyncio
import io
import json
import re
from typing import cast

import httpx

from keyturn.web.server.accesslog import AccessLog, LineBuffer, note_client

LINE = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z 127\.0\.0\.1:50002 "(\S+) (\S+) HTTP/1\.1" (\d{3}) '
                  r"\d+\.\dms( client=\S+)?$")


async def app(scope, receive, send):
    if scope["path"] == "/who":
        note_client(scope, "merchant-42")
    status = 404 if scope["path"] == "/missing" else 200
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def boom(scope, receive, send):
    raise RuntimeError("nope")


async def lines_for(paths: list[str], target=app) -> list[str]:
    out = io.BytesIO()
    buffer = LineBuffer(out, flush_seconds=0.05)
    transport = httpx.ASGITransport(app=AccessLog(target, buffer), client=("127.0.0.1", 50002),
                                    raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        for p in paths:
            await c.get(p)
        assert out.getvalue() == b"", "lines are batched, not written per request"
        await asyncio.sleep(0.15)
    return out.getvalue().decode().splitlines()


async def test_one_line_per_request_with_status_and_the_client_that_authenticated():
    got = await lines_for(["/a", "/missing", "/who"])
    assert len(got) == 3
    parsed = [cast(re.Match[str], LINE.match(line)) for line in got]
    assert all(parsed), got
    assert [(m[1], m[2], m[3]) for m in parsed] == [("GET", "/a", "200"), ("GET", "/missing", "404"),
                                                   ("GET", "/who", "200")]
    assert parsed[2][4] == " client=merchant-42" and parsed[0][4] is None


async def test_the_query_string_is_never_logged_and_encoded_paths_stay_encoded():
    got = await lines_for(["/authorize?login_hint=alice%40example.com&state=s3cr3t", "/a%0Ab%0D%0Ac"])
    assert len(got) == 2, got  # a %0A in the path cannot start a forged line
    assert "login_hint" not in got[0] and "s3cr3t" not in got[0] and " /authorize " in got[0]
    assert " /a%0Ab%0D%0Ac " in got[1]


def test_control_characters_in_a_raw_path_are_escaped():
    log = AccessLog(app, LineBuffer(io.BytesIO()))
    line = log.line({"method": "GET", "raw_path": b"/x\n\x1b[31m\xff", "client": ("10.0.0.1", 1)}, 200, 0.001)
    assert line.count("\n") == 1 and line.endswith("\n")
    assert "\x1b" not in line and "\\n" in line and "\\xff" in line


async def test_a_request_that_fails_is_still_logged():
    got = await lines_for(["/x"], target=boom)
    assert len(got) == 1 and '"GET /x HTTP/1.1" 500 ' in got[0]


def test_a_full_buffer_is_written_at_once_and_flush_without_a_loop_is_immediate():
    out = io.BytesIO()
    buffer = LineBuffer(out)
    buffer.write("x" * 70000 + "\n")
    assert len(out.getvalue()) == 70001
    buffer.write("outside any event loop\n")  # e.g. a thread: no timer to wait for
    assert out.getvalue().endswith(b"outside any event loop\n")


class Writes(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def write(self, data) -> int:
        self.sizes.append(len(data))
        return super().write(data)


def test_each_write_is_whole_lines_of_at_most_4_kib():
    out = Writes()
    buffer = LineBuffer(out)
    lines = [f"line {i} " + "x" * 90 + "\n" for i in range(300)]
    for line in lines[:-1]:
        buffer._lines.append(line)  # as write() would, without the timer
    buffer.write(lines[-1])  # outside a loop: flushes everything now
    assert out.getvalue().decode() == "".join(lines)
    assert len(out.sizes) > 1 and all(size <= 4096 for size in out.sizes)
    offset = 0
    for size in out.sizes:  # every write ends at a line boundary
        offset += size
        assert out.getvalue()[offset - 1:offset] == b"\n"


def test_behind_a_trusted_proxy_the_line_names_the_forwarded_client():
    log = AccessLog(app, LineBuffer(io.BytesIO()), trusted_proxies=("10.0.0.0/8",))
    xff = [(b"x-forwarded-for", b"6.6.6.6, 203.0.113.7")]
    line = log.line({"method": "GET", "path": "/a", "client": ("10.0.0.5", 4711), "headers": xff}, 200, 0.001)
    assert ' 10.0.0.5:4711 "GET /a HTTP/1.1" 200 ' in line and line.rstrip().endswith("ms ip=203.0.113.7")
    # an untrusted peer: its header is not read, and the line is as it always was
    line = log.line({"method": "GET", "path": "/a", "client": ("198.51.100.1", 1), "headers": xff}, 200, 0.001)
    assert "ip=" not in line and "203.0.113.7" not in line and "6.6.6.6" not in line
    json_log = AccessLog(app, LineBuffer(io.BytesIO()), json_lines=True, trusted_proxies=("10.0.0.0/8",))
    record = json.loads(json_log.line({"method": "GET", "path": "/a", "client": ("10.0.0.5", 4711), "headers": xff},
                                      200, 0.001))
    assert (record["peer"], record["client_ip"]) == ("10.0.0.5:4711", "203.0.113.7")
    record = json.loads(json_log.line({"method": "GET", "path": "/a"}, 200, 0.001))
    assert (record["peer"], record["client_ip"]) == ("-", None)
