"""Disk-full trial (issue 17): the data directory on a size-limited tmpfs fills up under load.

1. a tmpfs of 24 MB is mounted on the data directory (root only; `mount_allowed()` says why not else);
2. the server starts on it (SQLite), with the relay sink; a filler file takes all but ~1.5 MB;
3. clients send Graph `sendMail` with a 100 KB attachment of its own (to bob and outside) and inbound
   SMTP (~100 KB) until the disk is full for a while; every answer must be 202/250 or a clean refusal:
   Graph `507 quotaLimitReached` with a Graph error body, SMTP `452 4.3.1` — never a 500;
4. the filler is deleted (space returns) and a send must work again;
5. once drained: every message is in all of its places or in none (Sent Items ⇔ bob's Inbox ⇔ the sink;
   an acknowledged one in all), and none is both sent and still a draft.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import smtplib
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.delivery.sink import Sink
from tests.trials.harness import EXTERNAL, ServerProcess, drained, subjects, token

SIZE_MB = 24
ATTACHMENT_KB = 100  # each send's own bytes (no shared blob): the blob writes meet the full disk too


@dataclass
class DiskFullResult:
    acknowledged: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # "507 quotaLimitReached", "452 4.3.1", …
    server_errors: list[str] = field(default_factory=list)  # any 500, or a 5xx without a Graph body
    half_done: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)  # a second copy in Sent Items or bob's Inbox
    lost: list[str] = field(default_factory=list)
    recovered: bool = False
    drained: bool = False
    log_tail: str = ""  # the server's log, for a failure's post-mortem


def mount_allowed() -> str | None:
    """None when this process may mount a tmpfs, else the reason the trial is skipped."""
    if os.geteuid() != 0:
        return "mounting a size-limited tmpfs needs root"
    with tempfile.TemporaryDirectory() as probe:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", probe], capture_output=True)  # fmt: skip
        if done.returncode != 0:
            return f"mount -t tmpfs is not permitted here: {done.stderr.decode().strip()}"
        subprocess.run(["umount", probe], check=True)
    return None


@contextlib.contextmanager
def tmpfs(path: Path, size_mb: int, owner: tuple[int, int] | None = None) -> Iterator[Path]:
    """A tmpfs of `size_mb` on `path` (owned by `owner` (uid, gid), else root), unmounted at the end."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size_mb}m,mode=0700" + (f",uid={owner[0]},gid={owner[1]}" if owner else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path, leave_kb: int) -> Path:
    """A filler file that leaves about `leave_kb` KB free on the file system of `path`."""
    st = os.statvfs(path)
    free = st.f_bavail * st.f_frsize
    filler = path / "filler"
    with open(filler, "wb") as f, contextlib.suppress(OSError):
        f.write(b"\0" * max(0, free - leave_kb * 1024))
    return filler


def _message(subject: str) -> dict[str, object]:
    return {
        "subject": subject,
        "toRecipients": [{"emailAddress": {"address": "bob@fabrikam.test"}}, {"emailAddress": {"address": EXTERNAL}}],
        "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "big.bin", "contentBytes": base64.b64encode(os.urandom(ATTACHMENT_KB * 1024)).decode()}],
    }  # fmt: skip


def _graph_send(
    url: str, auth: dict[str, str], subject: str, result: DiskFullResult, acked: set[str]
) -> None:
    """One send; a 202 is acknowledged, a 5xx other than a clean Graph error (507, 503) is an error."""
    graph_send(url, auth, subject, _message(subject), result, acked)


def graph_send(
    url: str,
    auth: dict[str, str],
    subject: str,
    message: dict[str, object],
    result: DiskFullResult,
    acked: set[str],
) -> None:
    """POST `message` with sendMail and sort the answer: acknowledged, a clean refusal, or a server error."""
    try:
        r = httpx.post(f"{url}/v1.0/users/alice@fabrikam.test/sendMail", json={"message": message}, headers=auth, timeout=60)  # fmt: skip
    except httpx.HTTPError as e:  # mailgraph itself must stay up and answer
        result.server_errors.append(f"no answer: {type(e).__name__} {e}")
        return
    if r.status_code == 202:
        acked.add(subject)
        return
    try:
        code = str(r.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        code = "no Graph error body"
    if r.status_code == 500 or (r.status_code >= 500 and code == "no Graph error body"):
        result.server_errors.append(f"{r.status_code} {r.text[:300]}")
    else:
        result.refused[f"{r.status_code} {code}"] += 1


def _smtp_send(port: int, subject: str, result: DiskFullResult, acked: set[str]) -> None:
    body = "\r\n".join(base64.b64encode(os.urandom(57)).decode() for _ in range(ATTACHMENT_KB * 18))
    data = f"From: sam@example.org\r\nTo: bob@fabrikam.test\r\nSubject: {subject}\r\n\r\n{body}\r\n"
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            smtp.sendmail("sam@example.org", ["bob@fabrikam.test"], data.encode())
        acked.add(subject)
    except smtplib.SMTPRecipientsRefused as e:  # refused at RCPT (e.g. 451 4.3.0: the store is down)
        for code, text in e.recipients.values():
            if code >= 500:
                result.server_errors.append(f"SMTP RCPT {code} {text!r}")
            else:
                result.refused[f"SMTP {code} {text.decode(errors='replace').split(' ')[0]}"] += 1
    except smtplib.SMTPResponseException as e:
        if e.smtp_code >= 500:
            result.server_errors.append(f"SMTP {e.smtp_code} {e.smtp_error!r}")
        else:
            result.refused[f"SMTP {e.smtp_code} {e.smtp_error.decode(errors='replace').split(' ')[0]}"] += 1
    except (smtplib.SMTPException, OSError) as e:
        result.server_errors.append(f"SMTP {type(e).__name__} {e}")


GraphSend = Callable[[str, dict[str, str], str, "DiskFullResult", set[str]], None]


async def until_full(
    graph_send: GraphSend,
    server: ServerProcess,
    auth: dict[str, str],
    prefix: str,
    result: DiskFullResult,
    acked: set[str],
    tried: list[str],
    rounds_full: int,
    bound_s: float,
) -> None:
    """Two Graph sends and one inbound SMTP message at a time until `rounds_full` rounds met a full
    disk (a refusal or a server error), or `bound_s` seconds passed."""
    blocking = asyncio.to_thread
    full_answers, n = 0, 0
    deadline = time.monotonic() + bound_s  # bounded
    while full_answers < rounds_full and time.monotonic() < deadline:
        n += 1
        now = [f"{prefix}-graph-{n}-a", f"{prefix}-graph-{n}-b", f"{prefix}-inbound-{n}"]
        tried += now
        before = sum(result.refused.values()) + len(result.server_errors)
        await asyncio.gather(
            blocking(graph_send, server.url, auth, now[0], result, acked),
            blocking(graph_send, server.url, auth, now[1], result, acked),
            blocking(_smtp_send, server.smtp, now[2], result, acked),
        )
        full_answers += (sum(result.refused.values()) + len(result.server_errors)) > before


async def until_recovered(
    graph_send: GraphSend,
    server: ServerProcess,
    auth: dict[str, str],
    prefix: str,
    result: DiskFullResult,
    acked: set[str],
    tried: list[str],
    attempts: int,
) -> None:
    """One Graph send every half second until one is acknowledged (`result.recovered`), at most
    `attempts`: the running server must recover by itself, without a restart."""
    for attempt in range(attempts):  # bounded
        subject = f"{prefix}-after-{attempt}"
        tried.append(subject)
        await asyncio.to_thread(graph_send, server.url, auth, subject, result, acked)
        if subject in acked:
            result.recovered = True
            return
        await asyncio.sleep(0.5)


def run_disk_full(rounds_full: int = 6) -> DiskFullResult:
    """The trial; needs `mount_allowed()`."""
    return asyncio.run(_disk_full(rounds_full))


async def _disk_full(rounds_full: int) -> DiskFullResult:
    blocking = asyncio.to_thread
    result = DiskFullResult()
    acked: set[str] = set()
    tried: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="mg-diskfull-") as tmp,
        tmpfs(Path(tmp) / "data", SIZE_MB) as data,
    ):
        sink = await blocking(Sink)
        server = ServerProcess(data, None, 1, sink.url)
        try:
            if not await blocking(server.start, 120):
                raise RuntimeError(f"the server did not start: {server.log.read_text()[-2000:]}")
            auth = await blocking(token, server.url)
            filler = await blocking(fill, data, 1536)
            await until_full(_graph_send, server, auth, "full", result, acked, tried, rounds_full, 120)
            filler.unlink()  # space returns
            await until_recovered(_graph_send, server, auth, "full", result, acked, tried, 40)
            await account(server, sink, auth, tried, acked, result)
            return result
        finally:
            await blocking(server.stop)
            await blocking(sink.stop)


async def account(
    server: ServerProcess, sink: Sink, auth: dict[str, str], tried: list[str], acked: set[str], result: DiskFullResult
) -> None:  # fmt: skip
    """Once the queue drained: every message in all of its places (Sent Items, bob's Inbox, the sink;
    inbound: the Inbox) or in none, acknowledged ones in all, none twice, none sent and still a draft."""
    blocking = asyncio.to_thread
    for _ in range(400):  # bounded: 120 s
        if await blocking(drained, server.url):
            result.drained = True
            break
        await asyncio.sleep(0.3)
    await asyncio.sleep(1)
    sent = await blocking(subjects, server.url, auth, "alice@fabrikam.test", "sentitems")
    inbox = await blocking(subjects, server.url, auth, "bob@fabrikam.test", "inbox")
    drafts = await blocking(subjects, server.url, auth, "alice@fabrikam.test", "drafts")
    sink_seen = Counter(str(r.message["Subject"]) for r in sink.received)
    for subject in tried:
        places = {"inbox": inbox[subject]}
        if "-inbound-" not in subject:
            places |= {"sent": sent[subject], "sink": sink_seen[subject]}
        found = [p for p, c in places.items() if c]
        if places["inbox"] > 1 or places.get("sent", 0) > 1:
            result.duplicated.append(f"{subject}: {places}")
        if subject in acked and not found:
            result.lost.append(subject)
        elif (found and len(found) < len(places)) or (drafts[subject] and found):
            result.half_done.append(f"{subject}: {places} drafts={drafts[subject]}")
    result.acknowledged = len(acked)
    result.log_tail = server.log.read_text(errors="replace")[-3000:]
