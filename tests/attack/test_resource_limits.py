"""Resource exhaustion over real sockets on 127.0.0.1 against a `mailgraph serve` process (issue 17).

Slow and idle HTTP clients, huge heads, deep and huge JSON, cut bodies, MIME bombs over HTTP and SMTP,
slow and too many SMTP sessions: each must end in a clear refusal (408/413/431/400; SMTP 4yz/5yz) or
a closed connection, with the server's descriptors back near where they were. The server runs with
short limits (cli/http_limits.py, smtpd/server.py); waits are bounded, and nothing asserts speed.
The figures (RSS and descriptors before and after each scenario) are printed and recorded in
docs/limits.md.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import smtplib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.attack.server import Target, running

HEAD_TIMEOUT_S = 1
BODY_TIMEOUT_S = 2
SMTP_TIMEOUT_S = 2
MAX_SESSIONS = 20
MAX_HEAD = 16 * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    smtp, submission = _free_port(), _free_port()
    with running(
        *("--http-head-timeout", str(HEAD_TIMEOUT_S), "--http-body-timeout", str(BODY_TIMEOUT_S)),
        *("--http-max-head-bytes", str(MAX_HEAD), "--http-keepalive", "1"),
        *("--smtp-port", str(smtp), "--smtp-timeout", str(SMTP_TIMEOUT_S)),
        *("--smtp-max-sessions", str(MAX_SESSIONS), "--smtp-max-size", str(8 * 1024 * 1024)),
        *("--submission-port", str(submission), "--submission-allow-plaintext"),
    ) as t:
        t.ports = {"smtp": smtp, "submission": submission}  # type: ignore[attr-defined]
        yield t


def usage(target: Target) -> tuple[int, int]:
    """The server process's resident memory (KiB) and open descriptors."""
    pid = target.server.process.pid
    rss = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def record(name: str, before: tuple[int, int], after: tuple[int, int], peak_fds: int = 0) -> None:
    print(
        f"\nFIGURE {name}: rss {before[0] // 1024} -> {after[0] // 1024} MiB, "
        f"fds {before[1]} -> {after[1]}" + (f" (peak {peak_fds})" if peak_fds else "")
    )


def settle(target: Target, baseline: int, slack: int = 8, bound_s: float = 20.0) -> int:
    """Wait (bounded) until the server's descriptors are back within `slack` of `baseline`."""
    deadline = time.monotonic() + bound_s
    fds = usage(target)[1]
    while fds > baseline + slack and time.monotonic() < deadline:
        time.sleep(0.2)
        fds = usage(target)[1]
    return fds


def host_port(target: Target) -> tuple[str, int]:
    host, port = target.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def read_until_closed(sock: socket.socket, bound_s: float) -> bytes:
    """What the server sends until it closes the connection (bounded; b'TIMEOUT' if it never does)."""
    sock.settimeout(0.5)
    got = b""
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return got
        if not chunk:
            return got
        got += chunk
    return got + b"TIMEOUT"


def test_slowloris_heads_are_cut_with_408(target: Target) -> None:
    before = usage(target)
    socks = []
    for _ in range(50):
        s = socket.create_connection(host_port(target))
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    peak = usage(target)[1]
    # Trickle one header line per connection every 0.3 s: the head never completes.
    deadline = time.monotonic() + HEAD_TIMEOUT_S * 4
    while time.monotonic() < deadline:
        for s in socks:
            with contextlib.suppress(OSError):
                s.sendall(b"X-Slow: 1\r\n")
        time.sleep(0.3)
    answers = [read_until_closed(s, 10) for s in socks]
    for s in socks:
        s.close()
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers[0][:200]
    after = (usage(target)[0], settle(target, before[1]))
    record("slowloris-50", before, after, peak)
    assert after[1] <= before[1] + 8


def test_idle_connections_are_closed(target: Target) -> None:
    before = usage(target)
    socks = [socket.create_connection(host_port(target)) for _ in range(300)]
    peak = usage(target)[1]
    answers = [read_until_closed(s, 15) for s in socks]
    for s in socks:
        s.close()
    assert all(a == b"" for a in answers)  # an idle connection is closed without a word
    after = (usage(target)[0], settle(target, before[1]))
    record("idle-300", before, after, peak)
    assert after[1] <= before[1] + 8
    # The server still answers.
    assert httpx.get(f"{target.url}/health", timeout=10).status_code == 200


def _one_response(s: socket.socket) -> bytes:
    """One whole response (head, then Content-Length bytes of body), however TCP splits it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = s.recv(4096)
        assert chunk, data
        body += chunk
    return head + b"\r\n\r\n" + body


def test_keep_alive_does_not_extend_a_slow_head(target: Target) -> None:
    with socket.create_connection(host_port(target)) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        assert _one_response(s).startswith(b"HTTP/1.1 200")
        s.sendall(b"GET /health HTTP/1.1\r\n")  # the next request's head, never finished
        assert read_until_closed(s, 10).startswith(b"HTTP/1.1 408")


@pytest.mark.parametrize(
    "head",
    [
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (MAX_HEAD * 4) + b"\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(5000)) + b"\r\n",
        b"GET /" + b"a" * (MAX_HEAD * 2) + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["one huge header", "5000 headers", "huge request line"],
)
def test_huge_heads_get_431(target: Target, head: bytes) -> None:
    before = usage(target)
    with socket.create_connection(host_port(target)) as s:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            s.sendall(head)  # the server may close before all of it is sent
        answer = read_until_closed(s, 10)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    record("huge-head", before, usage(target))


def test_deep_json_is_a_400(target: Target) -> None:
    url = f"{target.url}/v1.0/users/alice@fabrikam.test/messages"
    headers = target.app | {"Content-Type": "application/json"}
    before = usage(target)
    for body in (
        b"[" * 10_000 + b"]" * 10_000,
        b'{"subject":' + b'{"a":' * 10_000 + b"1" + b"}" * 10_001,
        b'{"toRecipients":' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    ):
        r = httpx.post(url, content=body, headers=headers, timeout=30)
        assert r.status_code == 400, r.text[:300]
        assert r.json()["error"]["code"] in ("BadRequest", "RequestBodyRead", "UnableToDeserializePostBody")
    # $batch nests requests inside a body: the same parser, the same answer.
    r = httpx.post(
        f"{target.url}/v1.0/$batch", content=b'{"requests":' + b"[" * 10_000 + b"]" * 10_000 + b"}",
        headers=headers, timeout=30,
    )  # fmt: skip
    assert r.status_code == 400, r.text[:300]
    record("deep-json", before, usage(target))


def test_huge_json_body_is_a_413_before_it_is_read(target: Target) -> None:
    url = f"{target.url}/v1.0/users/alice@fabrikam.test/messages"
    before = usage(target)
    body = b'{"subject":"' + b"a" * (5 * 1024 * 1024) + b'"}'
    r = httpx.post(url, content=body, headers=target.app | {"Content-Type": "application/json"}, timeout=60)
    assert r.status_code == 413 and r.json()["error"]["code"] == "RequestEntityTooLarge"
    # Declared, never sent: refused on Content-Length alone.
    with socket.create_connection(host_port(target)) as s:
        s.sendall(
            b"POST /v1.0/me/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000000000\r\n\r\n{"
        )
        assert read_until_closed(s, 10).startswith(b"HTTP/1.1 413")
    record("huge-json", before, usage(target))


def _count(target: Target) -> int:
    r = httpx.get(
        f"{target.url}/v1.0/users/alice@fabrikam.test/mailFolders/drafts/messages?$count=true&$top=1",
        headers=target.app, timeout=30,
    )  # fmt: skip
    count: int = r.json()["@odata.count"]
    return count


def test_a_stalled_body_is_cut_and_nothing_is_written(target: Target) -> None:
    before = _count(target)
    body = json.dumps({"subject": "cut"}).encode()
    head = (
        f"POST /v1.0/users/alice@fabrikam.test/messages HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {target.app['Authorization']}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body) + 100}\r\n\r\n"
    ).encode()
    with socket.create_connection(host_port(target)) as s:
        s.sendall(head + body)  # 100 bytes short: a valid JSON object, but not the whole body
        answer = read_until_closed(s, BODY_TIMEOUT_S * 6)
    assert not answer.endswith(b"TIMEOUT")
    assert _count(target) == before


def _nested_mime(depth: int) -> bytes:
    head = b"From: mallory@evil.test\r\nTo: alice@fabrikam.test\r\nSubject: bomb\r\nMIME-Version: 1.0\r\n"
    out = head
    for i in range(depth):
        out += f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'.encode()
    out += b"Content-Type: text/plain\r\n\r\nbottom\r\n"
    for i in reversed(range(depth)):
        out += f"--b{i}--\r\n".encode()
    return out


def _wide_mime(parts: int) -> bytes:
    out = b"From: m@evil.test\r\nTo: alice@fabrikam.test\r\nSubject: wide\r\nMIME-Version: 1.0\r\n"
    out += b'Content-Type: multipart/mixed; boundary="w"\r\n\r\n'
    out += b"".join(b"--w\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(parts))
    return out + b"--w--\r\n"


def _big_part(size: int) -> bytes:
    data = base64.encodebytes(os.urandom(size)).replace(b"\n", b"\r\n")
    return (
        b"From: m@evil.test\r\nTo: alice@fabrikam.test\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="z"\r\n\r\n--z\r\nContent-Type: text/plain\r\n\r\nhi\r\n'
        b"--z\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="big.bin"\r\n\r\n' + data + b"--z--\r\n"
    )


def test_mime_bombs_over_http(target: Target) -> None:
    url = f"{target.url}/v1.0/users/alice@fabrikam.test"
    headers = target.app | {"Content-Type": "text/plain"}
    before = usage(target)
    for name, mime in (("deep", _nested_mime(1000)), ("wide", _wide_mime(20_000))):
        for path in ("/messages", "/sendMail"):
            r = httpx.post(url + path, content=base64.b64encode(mime), headers=headers, timeout=60)
            assert r.status_code == 400, (name, path, r.status_code, r.text[:300])
    # A large base64 part (2 MiB decoded) within the 4 MB request limit: accepted, and its $value streams.
    r = httpx.post(
        url + "/messages", content=base64.b64encode(_big_part(2 * 1024 * 1024)), headers=headers, timeout=60
    )
    assert r.status_code == 201, r.text[:300]
    value = httpx.get(f"{url}/messages/{r.json()['id']}/$value", headers=target.app, timeout=60)
    assert value.status_code == 200 and len(value.content) > 2 * 1024 * 1024
    after = usage(target)
    record("mime-bombs-http", before, after)
    assert after[0] - before[0] < 200 * 1024  # KiB: a few copies of 4 MB, not a blow-up


def test_mime_bombs_over_smtp(target: Target) -> None:
    port = target.ports["smtp"]  # type: ignore[attr-defined]
    before = usage(target)
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        for mime in (_nested_mime(1000), _wide_mime(20_000)):
            code, _ = client.ehlo()
            assert code == 250
            with pytest.raises(smtplib.SMTPDataError) as refused:
                client.sendmail("mallory@evil.test", ["alice@fabrikam.test"], mime)
            assert refused.value.smtp_code == 550
        # Over the size limit: 552 (RFC 1870), the excess discarded while it arrives.
        with pytest.raises((smtplib.SMTPDataError, smtplib.SMTPSenderRefused)) as big:
            client.sendmail("mallory@evil.test", ["alice@fabrikam.test"], _big_part(9 * 1024 * 1024))
        assert big.value.smtp_code == 552
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:  # within the limit: accepted
        assert client.sendmail("mallory@evil.test", ["alice@fabrikam.test"], _big_part(3 * 1024 * 1024)) == {}
    after = usage(target)
    record("mime-bombs-smtp", before, after)
    assert after[0] - before[0] < 300 * 1024


def test_slow_and_idle_smtp_clients_are_closed(target: Target) -> None:
    before = usage(target)
    port = target.ports["smtp"]  # type: ignore[attr-defined]
    socks = []
    for i in range(10):
        s = socket.create_connection(("127.0.0.1", port))
        assert s.recv(1024).startswith(b"220")
        if i % 2:
            s.sendall(b"EHLO slow.test")  # a command line that never ends
        socks.append(s)
    answers = [read_until_closed(s, SMTP_TIMEOUT_S * 8) for s in socks]
    for s in socks:
        s.close()
    assert not any(a.endswith(b"TIMEOUT") for a in answers), answers
    after = (usage(target)[0], settle(target, before[1]))
    record("smtp-idle-10", before, after)
    assert after[1] <= before[1] + 8


def test_too_many_smtp_sessions_get_421(target: Target) -> None:
    port = target.ports["smtp"]  # type: ignore[attr-defined]
    before = usage(target)
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(MAX_SESSIONS + 5)]
    greetings = []
    for s in socks:
        s.settimeout(10)
        greetings.append(s.recv(1024))
    peak = usage(target)[1]
    for s in socks:
        s.close()
    assert sum(g.startswith(b"220") for g in greetings) == MAX_SESSIONS
    assert [g for g in greetings if not g.startswith(b"220")] == [
        b"421 4.3.2 Too many connections, try again later\r\n"
    ] * 5
    after = (usage(target)[0], settle(target, before[1]))
    record("smtp-sessions", before, after, peak)
    assert after[1] <= before[1] + 8
