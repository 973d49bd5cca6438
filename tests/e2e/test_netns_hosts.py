"""Two hosts on one PostgreSQL: `mailgraph serve` in two network namespaces (issue 11).

The test makes two namespaces, each joined to the root namespace by a veth pair on its own /30, and
runs one `serve` in each, bound to the namespace's address. PostgreSQL listens on 127.0.0.1 of the
root namespace only, so the test forwards a port on each host-side veth address to it (a small TCP
forwarder in this process: no socat needed, nothing changed in the cluster's configuration); the SMTP
sink is reached from the second host the same way. Then:

- a send accepted by host A is in Bob's Inbox read through host B (one store, no shared files: each
  host has its own data directory);
- a wake-up crosses hosts: host A runs no delivery worker, host B's polls only every 60 s, yet B relays
  A's external recipient within seconds, because A's commit woke it through LISTEN/NOTIFY;
- attachment blobs live in the database (issue 11, `--blobs` auto on PostgreSQL): a file uploaded to a
  draft through an upload session on host A is downloaded byte-identical from host B, and the draft
  sent on A is relayed by B's worker with the file in its MIME; neither data directory holds a blob.

Needs root and `ip netns` (CI runs as root); skipped with the reason otherwise. Marker `netns`.
Namespaces and links are removed in a `finally`, the processes stopped by their PIDs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import pgdb
from tests.conftest import TENANT_FILE
from tests.delivery.sink import Sink, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.netns]
READY = re.compile(r"mailgraph ready: (http://\S+)")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def _netns_usable() -> str | None:
    """None when namespaces can be made here; else why not."""
    if os.geteuid() != 0:
        return "needs root (ip netns add)"
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2)"
    probe = f"mgp{secrets.token_hex(3)}"
    try:
        _ip("netns", "add", probe)
    except (subprocess.CalledProcessError, OSError) as exc:
        return f"ip netns add failed: {getattr(exc, 'stderr', b'') or exc}"
    _ip("netns", "del", probe)
    return None


class Forwarder:
    """TCP forwarding from (host, port) listeners to targets, on an asyncio loop in a thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._servers: list[asyncio.Server] = []

    def add(self, host: str, target: tuple[str, int]) -> int:
        """Listen on `host` (a free port); returns the port."""

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.close()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.open_connection(*target)
            except OSError:
                writer.close()
                return
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

        async def start() -> int:
            server = await asyncio.start_server(accept, host, 0)
            self._servers.append(server)
            return int(server.sockets[0].getsockname()[1])

        return asyncio.run_coroutine_threadsafe(start(), self._loop).result(10)

    def close(self) -> None:
        async def stop() -> None:
            for server in self._servers:
                server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class Host:
    """One network namespace joined to the root namespace by a veth pair (`root_ip` ↔ `ip`)."""

    def __init__(self, name: str, octet: int) -> None:
        self.name, self.link = name, f"{name}h"
        base = f"10.{octet >> 8 & 255}.{octet & 255}"
        self.root_ip, self.ip = f"{base}.1", f"{base}.2"
        _ip("netns", "add", name)
        _ip("link", "add", self.link, "type", "veth", "peer", "name", f"{name}n")
        _ip("link", "set", f"{name}n", "netns", name)
        _ip("addr", "add", f"{self.root_ip}/30", "dev", self.link)
        _ip("link", "set", self.link, "up")
        _ip("-n", name, "addr", "add", f"{self.ip}/30", "dev", f"{name}n")
        _ip("-n", name, "link", "set", f"{name}n", "up")
        _ip("-n", name, "link", "set", "lo", "up")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "del", self.link)  # takes its peer along
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("netns", "del", self.name)


class Served:
    """`mailgraph serve` inside a namespace, bound to its address."""

    def __init__(self, host: Host, data: Path, *args: str) -> None:
        cmd = ["ip", "netns", "exec", host.name, sys.executable, "-m", "mailgraph", "serve",
               "--host", host.ip, "--port", "0", "--data-dir", str(data), "--log-level", "warning", *args]  # fmt: skip
        self.popen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.popen.stdout is not None
        seen: list[str] = []
        deadline = time.monotonic() + 60
        url = None
        while time.monotonic() < deadline and url is None:
            line = self.popen.stdout.readline()
            if not line:
                break
            seen.append(line)
            if found := READY.search(line):
                url = found.group(1)
        if url is None:
            self.stop()
            pytest.fail(f"serve in {host.name} did not start: {''.join(seen)}")
        self.url = url
        self.output = seen
        # Keep reading its output (for the failure message) so a full pipe never blocks it.
        threading.Thread(target=lambda: seen.extend(self.popen.stdout or ()), daemon=True).start()

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)  # `ip netns exec` execs: this PID is the server
        try:
            self.popen.wait(15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)


@pytest.fixture
def hosts() -> Iterator[tuple[Host, Host]]:
    reason = _netns_usable()
    if reason is not None:
        pytest.skip(f"network namespaces unavailable: {reason}")
    if not pgdb.enabled():
        pytest.skip("no PostgreSQL at 127.0.0.1:5432")
    tag = secrets.token_hex(2)
    octet = secrets.randbelow(200) * 256 + secrets.randbelow(64) * 4  # two /30s in 10.x.y.0/24
    made: list[Host] = []
    try:
        made.append(Host(f"mga{tag}", octet))
        made.append(Host(f"mgb{tag}", octet + 1))
        yield made[0], made[1]
    finally:
        for host in made:
            host.remove()


def test_two_hosts_share_one_postgresql(hosts: tuple[Host, Host], tmp_path: Path) -> None:
    host_a, host_b = hosts
    name = pgdb.create(prefix="mg_netns")
    forward = Forwarder()
    sink = Sink()
    servers: list[Served] = []
    try:
        pg_a = forward.add(host_a.root_ip, ("127.0.0.1", 5432))
        pg_b = forward.add(host_b.root_ip, ("127.0.0.1", 5432))
        smtp_b = forward.add(host_b.root_ip, ("127.0.0.1", sink.port))
        slow = ("--queue-poll", "60")
        a = Served(host_a, tmp_path / "a", "--database", f"postgresql://postgres@{host_a.root_ip}:{pg_a}/{name}",
                   "--tenant", str(TENANT_FILE), "--no-worker", *slow)  # fmt: skip
        servers.append(a)
        b = Served(host_b, tmp_path / "b", "--database", f"postgresql://postgres@{host_b.root_ip}:{pg_b}/{name}",
                   "--relay", f"smtp://{host_b.root_ip}:{smtp_b}", *slow)  # fmt: skip
        servers.append(b)
        assert a.url.startswith(f"http://{host_a.ip}:") and b.url.startswith(f"http://{host_b.ip}:")

        with httpx.Client(timeout=30, trust_env=False) as client:
            form = {"grant_type": "client_credentials", "client_id": "full-app", "client_secret": "full-secret",
                    "scope": "https://graph.microsoft.com/.default"}  # fmt: skip
            r = client.post(f"{a.url}/fabrikam.test/oauth2/v2.0/token", data=form)
            assert r.status_code == 200, r.text
            auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
            time.sleep(0.5)  # B's worker made its first claim at start: from now on only a wake-up helps
            started = time.monotonic()
            mail = {"message": {"subject": "across hosts", "body": {"contentType": "Text", "content": "x"},
                    "toRecipients": [{"emailAddress": {"address": "bob@fabrikam.test"}},
                                     {"emailAddress": {"address": "far@example.net"}}]}}  # fmt: skip
            r = client.post(f"{a.url}/v1.0/users/alice@fabrikam.test/sendMail", json=mail, headers=auth)
            assert r.status_code == 202, r.text

            inbox = client.get(
                f"{b.url}/v1.0/users/bob@fabrikam.test/mailFolders/inbox/messages", headers=auth
            )
            assert inbox.status_code == 200, inbox.text  # A's token is good at B: keys are in the store
            assert [m["subject"] for m in inbox.json()["value"]] == ["across hosts"]

            with contextlib.suppress(AssertionError):
                wait_until(lambda: sink.received, timeout=30)
            assert sink.received, "".join(b.output)
            assert time.monotonic() - started < 30  # well before B's 60 s poll: the NOTIFY crossed
            (got,) = sink.received
            assert got.rcpt_tos == ["far@example.net"] and str(got.message["Subject"]) == "across hosts"

            # An attachment uploaded on A, read on B, relayed by B's worker.
            data = os.urandom(3 * 1024 * 1024 + 12345)
            box = "/v1.0/users/alice@fabrikam.test/messages"
            draft = {
                "subject": "with a file",
                "toRecipients": [{"emailAddress": {"address": "far@example.net"}}],
            }
            r = client.post(f"{a.url}{box}", json=draft, headers=auth)
            assert r.status_code == 201, r.text
            message = f"{box}/{r.json()['id']}"
            item = {"attachmentType": "file", "name": "across.bin", "size": len(data)}
            r = client.post(f"{a.url}{message}/attachments/createUploadSession", json={"AttachmentItem": item},
                            headers=auth)  # fmt: skip
            assert r.status_code == 201, r.text
            upload, half = r.json()["uploadUrl"], len(data) // 2
            for at, end in ((0, half), (half, len(data))):
                r = client.put(
                    upload,
                    content=data[at:end],
                    headers={"Content-Range": f"bytes {at}-{end - 1}/{len(data)}"},
                )
                assert r.status_code in (200, 201), r.text
            attachment = r.headers["location"].rsplit("/attachments('", 1)[1].rstrip("')")
            r = client.get(f"{b.url}{message}/attachments/{attachment}/$value", headers=auth)
            assert r.status_code == 200 and r.content == data  # host B reads what host A stored
            r = client.post(f"{a.url}{message}/send", headers=auth)
            assert r.status_code == 202, r.text
            with contextlib.suppress(AssertionError):
                wait_until(lambda: len(sink.received) == 2, timeout=30)
            assert len(sink.received) == 2, "".join(b.output)
            relayed = sink.received[1].message
            files = [part for part in relayed.walk() if part.get_filename() == "across.bin"]
            assert len(files) == 1 and files[0].get_payload(decode=True) == data
            for host_dir in (tmp_path / "a", tmp_path / "b"):
                assert not [p for p in (host_dir / "blobs").rglob("*") if p.is_file()]  # all in the database
    finally:
        for server in servers:
            server.stop()
        sink.stop()
        forward.close()
        pgdb.drop(name)
