"""Disk-full trial on PostgreSQL (issue 17): the database's disk fills up under load.

1. a throw-away PostgreSQL 15 cluster (`initdb` as the `postgres` user, 1 MB WAL segments) whose
   whole data directory, `pg_wal` included, is on a size-limited tmpfs, on its own port on 127.0.0.1;
2. `mailgraph serve` against it (with PostgreSQL the attachment bytes are in the database too; its
   data directory holds only keys), with the relay sink; a filler file leaves the cluster's disk a few MB;
3. Graph `sendMail` (a 48 KB body of its own and a 2 KB attachment; to bob and outside) and inbound SMTP (~100 KB) until the disk has been full for several rounds. Every answer
   must be 202/250, or a clean refusal: `507 quotaLimitReached` / `452 4.3.1` when PostgreSQL says
   its disk is full (SQLSTATE 53100), or `503 serviceNotAvailable` / `451 4.3.0` when PostgreSQL
   itself goes down — it PANICs when it cannot write its WAL, and its crash recovery needs disk space
   too — never a 500;
4. the filler is deleted; if PostgreSQL went down it is started again (crash recovery); mailgraph is
   not restarted: a send must be accepted again by the running server;
5. once drained: every message is in all of its places or none (Sent Items ⇔ bob's Inbox ⇔ the sink),
   every acknowledged one in all of them, none twice, none sent and still a draft.

Needs root (the tmpfs; `initdb` runs as `postgres`); `pg_allowed()` says why not otherwise.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.delivery.sink import Sink
from tests.trials.disk_full import (
    DiskFullResult,
    account,
    fill,
    graph_send,
    mount_allowed,
    tmpfs,
    until_full,
    until_recovered,
)
from tests.trials.harness import EXTERNAL, ServerProcess, _free_port, token

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SIZE_MB = 64  # the cluster after initdb is ~33 MB with a database
LEAVE_KB = 3 * 1024  # what the filler leaves
BODY_KB = 48  # random text: TOAST cannot compress it much


@dataclass
class PgDiskFullResult(DiskFullResult):
    pg_went_down: bool = False  # PostgreSQL stopped (WAL PANIC) and was started again


def pg_allowed() -> str | None:
    """None when the trial can run here, else why it is skipped."""
    reason = mount_allowed()
    if reason:
        return reason
    if not (PG_BIN / "initdb").exists():
        return f"PostgreSQL 15 binaries are not in {PG_BIN}"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no `postgres` user to run initdb as"
    return None


class Cluster:
    """A throw-away PostgreSQL cluster in `root` (a tmpfs), run as `postgres`, on `port` of 127.0.0.1."""

    def __init__(self, root: Path, logs: Path) -> None:
        self.data = root / "data"
        self.logs = logs  # outside the tmpfs: the log must not fail when the disk is full
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/mailgraph"

    def _as_postgres(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True, timeout=timeout
        )

    def create(self) -> None:
        done = self._as_postgres(
            str(PG_BIN / "initdb"), "-D", str(self.data), "--auth=trust", "-U", "postgres",
            "--wal-segsize=1", "-N",
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr[-2000:]}")
        if not self.start():
            raise RuntimeError(f"PostgreSQL did not start: {self.log()}")
        done = subprocess.run(
            [str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "mailgraph"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"createdb failed: {done.stderr}")

    def start(self) -> bool:
        options = (
            f"-p {self.port} -k {self.logs} -c listen_addresses=127.0.0.1 -c shared_buffers=8MB "
            "-c max_wal_size=8MB -c min_wal_size=2MB -c max_connections=40"
        )
        done = self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.logs / "postgres.log"),
            "-w", "-t", "120", "-o", options, "start",
        )  # fmt: skip
        return done.returncode == 0

    def running(self) -> bool:
        return self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status").returncode == 0

    def stop(self) -> None:
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def log(self) -> str:
        path = self.logs / "postgres.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def _message(subject: str) -> dict[str, object]:
    text = base64.b64encode(os.urandom(BODY_KB * 768)).decode()
    return {
        "subject": subject,
        "body": {"contentType": "text", "content": text},
        "toRecipients": [{"emailAddress": {"address": "bob@fabrikam.test"}}, {"emailAddress": {"address": EXTERNAL}}],
        "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.bin", "contentBytes": base64.b64encode(os.urandom(2048)).decode()}],
    }  # fmt: skip


def _graph_send(
    url: str, auth: dict[str, str], subject: str, result: DiskFullResult, acked: set[str]
) -> None:
    graph_send(url, auth, subject, _message(subject), result, acked)


def run_pg_disk_full(rounds_full: int = 6, bound_s: float = 120) -> PgDiskFullResult:
    """The trial; needs `pg_allowed()`."""
    return asyncio.run(_pg_disk_full(rounds_full, bound_s))


async def _pg_disk_full(rounds_full: int, bound_s: float) -> PgDiskFullResult:
    blocking = asyncio.to_thread
    result = PgDiskFullResult()
    acked: set[str] = set()
    tried: list[str] = []
    postgres = pwd.getpwnam("postgres")
    with tempfile.TemporaryDirectory(prefix="mg-pgfull-") as tmp:
        os.chmod(tmp, 0o711)  # postgres may pass through to its own directories, not list this one
        logs = Path(tmp) / "pglog"
        logs.mkdir()
        shutil.chown(logs, postgres.pw_uid, postgres.pw_gid)
        with tmpfs(Path(tmp) / "pg", SIZE_MB, (postgres.pw_uid, postgres.pw_gid)) as root:
            cluster = Cluster(root, logs)
            sink = server = None
            try:
                await blocking(cluster.create)
                sink = await blocking(Sink)
                server = ServerProcess(Path(tmp) / "data", cluster.url, 1, sink.url)
                if not await blocking(server.start, 120):
                    raise RuntimeError(f"the server did not start: {server.log.read_text()[-2000:]}")
                auth = await blocking(token, server.url)
                filler = await blocking(fill, root, LEAVE_KB)
                await until_full(
                    _graph_send, server, auth, "pgfull", result, acked, tried, rounds_full, bound_s
                )
                filler.unlink()  # space returns
                if not await blocking(cluster.running):  # PANIC on a WAL write, or recovery failed
                    result.pg_went_down = True
                    if not await blocking(cluster.start):
                        raise RuntimeError(f"PostgreSQL did not start again: {cluster.log()}")
                await until_recovered(_graph_send, server, auth, "pgfull", result, acked, tried, 60)
                auth = await blocking(token, server.url)
                await account(server, sink, auth, tried, acked, result)
                result.log_tail += "\n--- postgres ---\n" + cluster.log()
                return result
            finally:
                if server is not None:
                    await blocking(server.stop)
                if sink is not None:
                    await blocking(sink.stop)
                with contextlib.suppress(subprocess.SubprocessError):
                    await blocking(cluster.stop)
