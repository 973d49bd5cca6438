"""Lean asyncio HTTP/1.1 load generator for the mailgraph benchmark.

The load generator shares two CPU cores with the server it measures, so every
microsecond it spends is a microsecond the server does not get.  httpx costs
~10x more per request than this module; here each concurrent worker owns one
keep-alive connection made with :func:`asyncio.open_connection`, requests are
pre-rendered bytes, and a response is parsed with a handful of ``bytes.find``
calls (status line, ``Content-Length``, ``Transfer-Encoding: chunked``,
``Connection: close``).

Four workloads (see :data:`WORKLOADS`):

``cycle``
    ``POST /v1.0/users/{user}/messages`` (expects 201 + JSON ``id``), then
    ``POST .../messages/{id}/send`` (expects 202): one create-draft + send cycle.
``inbox``
    ``GET /v1.0/users/{user}/mailFolders/inbox`` (expects 200): the baseline, a
    cheap authenticated read through the full stack.
``list``
    ``GET`` the newest 50 unread messages of alice's Inbox with ``$select`` (:data:`LIST_PATH`,
    expects 200): the read that must stay fast in a big store (bench/load_store.py).
``floor``
    The create-draft request shape sent to a trivial raw ASGI app (expects 202):
    the HTTP-server ceiling.

A phase runs ``concurrency`` workers from ``t_start`` until ``m_end`` (all
``time.monotonic()`` seconds, a system-wide clock on Linux, so several processes
can share one measurement window); operations that *complete* inside
``[m_start, m_end)`` are counted and their latencies kept.  Every loop is
bounded by time and by :data:`MAX_OPS_PER_WORKER`.

Run as a script (``python bench/client.py --worker``) it reads a JSON
:class:`LoadSpec` on stdin and writes a JSON :class:`LoadResult` on stdout; the
benchmark driver (``bench/run.py``) uses that to spread workers over processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

USER = "alice@contoso.com"
RECIPIENT = "bob@contoso.com"
TENANT = "contoso.com"
CLIENT_ID = "mailgraph-demo"
CLIENT_SECRET = "demo-secret"  # the seeded demo tenant's published secret

WORKLOADS = ("cycle", "inbox", "floor", "list")
LIST_PATH = (  # the newest 50 unread of a folder, as a mail client's list view asks for them
    f"/v1.0/users/{USER}/mailFolders/inbox/messages?$top=50&$filter=isRead%20eq%20false"
    "&$select=subject,from,receivedDateTime,isRead,bodyPreview"
)
MAX_OPS_PER_WORKER = 10_000_000
MAX_ERROR_SAMPLES = 5
CONNECT_TIMEOUT_S = 5.0
ERROR_BACKOFF_S = 0.01  # after a connection failure, so a dead server cannot make a worker spin
ALLOWED_HOSTS = ("127.0.0.1", "localhost")


class ProtocolError(Exception):
    """The peer sent something this minimal HTTP/1.1 client cannot parse."""


class Connection:
    """One keep-alive HTTP/1.1 connection; reconnects lazily after a close or an error."""

    def __init__(self, host: str, port: int) -> None:
        if host not in ALLOWED_HOSTS:
            raise ValueError(f"the benchmark only talks to 127.0.0.1, not {host!r}")
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), CONNECT_TIMEOUT_S
        )
        self._reader, self._writer = reader, writer
        return reader, writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one pre-rendered request; return (status, body).

        Raises ``OSError``/``asyncio.IncompleteReadError``/:class:`ProtocolError`
        on transport trouble, after which the connection is dropped (the next
        request reconnects).
        """
        reader, writer = self._reader, self._writer
        if reader is None or writer is None:
            reader, writer = await self._connect()
        try:
            # One request is in flight per connection and its response is read
            # before the next write, so the send buffer never holds more than
            # one request: no drain() needed.
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            lower = head.lower()
            keep = b"\r\nconnection: close" not in lower
            i = lower.find(b"\r\ncontent-length:")
            if i >= 0:
                j = lower.find(b"\r\n", i + 17)
                n = int(lower[i + 17 : j])
                body = await reader.readexactly(n) if n else b""
            elif b"\r\ntransfer-encoding: chunked" in lower:
                body = await _read_chunked(reader)
            elif status in (204, 304) or status < 200:
                body = b""
            else:  # delimited by close
                body = await reader.read()
                keep = False
        except (ValueError, asyncio.LimitOverrunError) as exc:
            self.close()
            raise ProtocolError(f"unparsable response: {exc}") from exc
        except BaseException:
            self.close()
            raise
        if not keep:
            self.close()
        return status, body


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    for _ in range(1_000_000):  # bounded: a response of a million chunks is a bug
        line = await reader.readuntil(b"\r\n")
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
    raise ProtocolError("too many chunks")


def render(method: str, path: str, host: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    """Render one HTTP/1.1 request to bytes."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def token_request(host: str, port: int) -> bytes:
    """The client-credentials token request for the demo app."""
    form = (
        f"grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}"
        "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
    ).encode()
    return render(
        "POST",
        f"/{TENANT}/oauth2/v2.0/token",
        f"{host}:{port}",
        {"Content-Type": "application/x-www-form-urlencoded"},
        form,
    )


async def fetch_token(host: str, port: int, limit_s: float = 10.0) -> str:
    """Get an app-only access token; raises RuntimeError with the response on failure."""
    conn = Connection(host, port)
    try:
        status, body = await asyncio.wait_for(conn.request(token_request(host, port)), limit_s)
    finally:
        conn.close()
    if status != 200:
        raise RuntimeError(f"token request -> {status}: {body[:300]!r}")
    token = json.loads(body).get("access_token")
    if not isinstance(token, str):
        raise RuntimeError(f"token response has no access_token: {body[:300]!r}")
    return token


# --------------------------------------------------------------------------- workloads

Op = Callable[[Connection, int], Awaitable[str | None]]
"""One operation: returns None on success or a short error kind (e.g. ``create:500``)."""


def _note(sample: list[str], kind: str, detail: bytes | str) -> str:
    if len(sample) < MAX_ERROR_SAMPLES:
        text = detail if isinstance(detail, str) else detail[:300].decode("utf-8", "replace")
        sample.append(f"{kind}: {text}")
    return kind


def make_op(workload: str, host: str, port: int, token: str, samples: list[str]) -> Op:
    """Build the operation coroutine for a workload with its requests pre-rendered."""
    hosthdr = f"{host}:{port}".encode()
    auth = f"Bearer {token}".encode()
    messages = f"/v1.0/users/{USER}/messages".encode()
    create_head = (
        b"POST "
        + messages
        + b" HTTP/1.1\r\nHost: "
        + hosthdr
        + b"\r\nAuthorization: "
        + auth
        + b"\r\nContent-Type: application/json\r\nContent-Length: "
    )
    create_body = (
        b'{"subject":"bench %d","body":{"contentType":"Text","content":"hello"},'
        b'"toRecipients":[{"emailAddress":{"address":"' + RECIPIENT.encode() + b'"}}]}'
    )
    send_tail = b"/send HTTP/1.1\r\nHost: " + hosthdr + b"\r\nAuthorization: " + auth
    send_tail += b"\r\nContent-Length: 0\r\n\r\n"
    send_head = b"POST " + messages + b"/"

    def create_request(n: int) -> bytes:
        body = create_body % n
        return create_head + str(len(body)).encode() + b"\r\n\r\n" + body

    if workload == "cycle":

        async def cycle(conn: Connection, n: int) -> str | None:
            status, body = await conn.request(create_request(n))
            if status != 201:
                return _note(samples, f"create:{status}", body)
            try:
                msg_id = json.loads(body)["id"]
            except (ValueError, KeyError, TypeError):
                return _note(samples, "create:no-id", body)
            path = quote(str(msg_id), safe="").encode()
            status, body = await conn.request(send_head + path + send_tail)
            if status != 202:
                return _note(samples, f"send:{status}", body)
            return None

        return cycle

    if workload == "inbox":
        raw = render(
            "GET", f"/v1.0/users/{USER}/mailFolders/inbox", hosthdr.decode(), {"Authorization": auth.decode()}
        )

        async def inbox(conn: Connection, n: int) -> str | None:
            status, body = await conn.request(raw)
            return None if status == 200 else _note(samples, f"inbox:{status}", body)

        return inbox

    if workload == "list":
        raw_list = render("GET", LIST_PATH, hosthdr.decode(), {"Authorization": auth.decode()})

        async def listing(conn: Connection, n: int) -> str | None:
            status, body = await conn.request(raw_list)
            return None if status == 200 else _note(samples, f"list:{status}", body)

        return listing

    if workload == "floor":

        async def floor(conn: Connection, n: int) -> str | None:
            status, body = await conn.request(create_request(n))
            return None if status == 202 else _note(samples, f"floor:{status}", body)

        return floor

    raise ValueError(f"unknown workload {workload!r}; expected one of {WORKLOADS}")


# --------------------------------------------------------------------------- load loop


@dataclass
class LoadSpec:
    """One process's share of a phase.  Times are ``time.monotonic()`` seconds."""

    workload: str
    host: str
    port: int
    token: str
    concurrency: int
    t_start: float
    m_start: float
    m_end: float
    seq_base: int = 0
    grace_s: float = 30.0  # after m_end, how long in-flight requests may take


@dataclass
class LoadResult:
    """What a phase measured; ``ops``/``latencies`` cover the window only, errors the whole phase."""

    ops: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    total_ops: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    window_s: float = 0.0

    def merge(self, other: LoadResult) -> None:
        self.ops += other.ops
        self.latencies += other.latencies
        for k, v in other.errors.items():
            self.errors[k] = self.errors.get(k, 0) + v
        room = MAX_ERROR_SAMPLES - len(self.error_samples)
        self.error_samples += other.error_samples[: max(room, 0)]
        self.total_ops += other.total_ops
        self.cpu_s += other.cpu_s
        self.wall_s = max(self.wall_s, other.wall_s)
        self.window_s = max(self.window_s, other.window_s)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadResult:
        return cls(**data)


async def _worker(op: Op, spec: LoadSpec, index: int, res: LoadResult) -> None:
    conn = Connection(spec.host, spec.port)
    clock = time.monotonic
    m_start, m_end = spec.m_start, spec.m_end
    lat = res.latencies
    errors = res.errors
    n = spec.seq_base + index
    stride = spec.concurrency
    try:
        for _ in range(MAX_OPS_PER_WORKER):
            t0 = clock()
            if t0 >= m_end:
                break
            try:
                err = await op(conn, n)
            except (OSError, asyncio.IncompleteReadError, ProtocolError, TimeoutError) as exc:
                err = _note(res.error_samples, f"conn:{type(exc).__name__}", str(exc))
                await asyncio.sleep(ERROR_BACKOFF_S)
            t1 = clock()
            n += stride
            res.total_ops += 1
            if err is not None:
                errors[err] = errors.get(err, 0) + 1
            elif m_start <= t1 < m_end:
                res.ops += 1
                lat.append(t1 - t0)
    finally:
        conn.close()


async def run_load(spec: LoadSpec) -> LoadResult:
    """Run one process's share of a phase and return what it measured."""
    op_samples: list[str] = []
    res = LoadResult(error_samples=op_samples)
    op = make_op(spec.workload, spec.host, spec.port, spec.token, op_samples)
    delay = spec.t_start - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
    cpu0, wall0 = time.process_time(), time.monotonic()
    tasks = [asyncio.create_task(_worker(op, spec, i, res)) for i in range(spec.concurrency)]
    budget = max(spec.m_end - time.monotonic(), 0.0) + spec.grace_s
    done, pending = await asyncio.wait(tasks, timeout=budget)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=5.0)
        res.errors["timeout"] = res.errors.get("timeout", 0) + len(pending)
        _note(op_samples, "timeout", f"{len(pending)} workers still busy {spec.grace_s}s after the window")
    for task in done:
        exc = task.exception()
        if exc is not None:
            kind = f"crash:{type(exc).__name__}"
            res.errors[kind] = res.errors.get(kind, 0) + 1
            _note(op_samples, kind, repr(exc))
    res.cpu_s = time.process_time() - cpu0
    res.wall_s = time.monotonic() - wall0
    res.window_s = spec.m_end - spec.m_start
    return res


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]) of an ascending list; NaN when empty."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), -(-len(sorted_values) * q // 100)))
    return sorted_values[int(rank) - 1]


def _worker_main() -> int:
    spec = LoadSpec(**json.loads(sys.stdin.read()))
    res = asyncio.run(run_load(spec))
    sys.stdout.write(json.dumps(res.to_json()))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["--worker"]:
        sys.stderr.write("usage: client.py --worker  (LoadSpec JSON on stdin; used by bench/run.py)\n")
        sys.exit(2)
    with contextlib.suppress(BrokenPipeError):
        sys.exit(_worker_main())
