"""Crash trials (issue 17): a real `mailgraph serve` under sustained load, `kill -9` at a random moment,
restart, and an account of every message the server acknowledged.

One trial:
1. a fresh data dir (and on PostgreSQL a throw-away database, tests/pgdb.py) with the test tenant, a
   counting relay sink (tests/delivery/sink.py), the server with HTTP, inbound SMTP, SMTP submission
   and the relay worker (a 2 s lease, so a crashed worker's entries are due again quickly);
2. load from several clients: Graph `sendMail` with an attachment (to bob and to an external address,
   so one local delivery and one relay), `$batch` of two sends, a draft whose attachment comes through
   an upload session and is then sent, anonymous inbound SMTP (to bob) and authenticated SMTP
   submission (to bob and outside); each acknowledgement (202 / 250) is written down; a webhook
   subscription on bob's Inbox notifies a local receiver (tests/webhooks/receiver.py);
3. `kill -9` of the server (with `--processes 2`: one of the two processes, the supervisor restarts it)
   at a random moment of the load, then a restart; a server that does not come back is a restart failure;
4. once the queue has drained: per message, Sent Items / bob's Inbox / the sink are counted.
   lost       acknowledged, and found nowhere;
   duplicated extra copies in bob's Inbox, Sent Items or at the sink (relay duplicates are at-least-once
              by design, bounded by the transactions in flight: `relay_duplicates` separately);
   half-done  any message (acknowledged or not) in some of its places but not all of them, or sent and
              still a draft;
   webhook lost  an item of bob's Inbox for which the receiver never got a `created` notification.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests import pgdb
from tests.delivery.sink import Sink
from tests.webhooks.receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]
TENANT_FILE = ROOT / "tests" / "tenant.toml"
TENANT = "11111111-2222-3333-4444-555555555555"
ADMIN = "trials-admin-token-0123456789abcdef"
EXTERNAL = "ext@example.org"
CONCURRENCY = 4  # the relay worker's transactions in flight: the duplicate bound per crash
ATTACHMENT = base64.b64encode(os.urandom(2048)).decode()
UPLOAD = os.urandom(400 * 1024)  # two chunks of an upload session
SERVER_KEEPALIVE_S = 30  # --http-keepalive (the server's default)
CLIENT_KEEPALIVE_S = 5.0
"""The load's pool expiry (httpx's default, said explicitly): below the server's keep-alive, so the
client always retires an idle connection before the server closes it. Equal values race: a POST sent
on a connection the server is closing gets a reset and no answer (httpx `ReadError`, the soak's 3
errors; docs/reliability.md). The load never re-sends a POST that got no answer: it may have been
handled (the accounting counts it as tried, not acknowledged)."""


@dataclass(frozen=True)
class Scenario:
    name: str
    engine: str  # sqlite | postgres
    processes: int = 1
    fault: str = "kill"
    """kill: kill -9 only; faults: kill -9 while the relay refuses/drops 20 % of DATA and the webhook
    receiver answers 503 for a while; pg-loss: no kill, every PostgreSQL connection is terminated;
    slow-webhook: no kill, the webhook receiver answers after 12 s (beyond the 3 s delivery timeout)
    for a while, then promptly: every notification must arrive after all, and the send rate while it
    was slow is compared with the rate before."""


SCENARIOS = [
    Scenario("one process", "sqlite"),
    Scenario("two processes, kill one", "sqlite", 2),
    Scenario("one process", "postgres"),
    Scenario("two processes, kill one", "postgres", 2),
]
FAULT_SCENARIOS = [
    Scenario("kill -9 + flaky relay + webhook 503", "sqlite", 1, "faults"),
    Scenario("kill -9 + flaky relay + webhook 503", "postgres", 1, "faults"),
    Scenario("connections terminated", "postgres", 1, "pg-loss"),
    Scenario("slow webhook receiver (12 s)", "sqlite", 1, "slow-webhook"),
    Scenario("slow webhook receiver (12 s)", "postgres", 1, "slow-webhook"),
]
SLOW_RECEIVER_S = 12.0  # longer than the 3 s delivery timeout (delivery/webhook_http.py, Graph's rule)


@dataclass
class TrialResult:
    acknowledged: int = 0
    lost: int = 0
    duplicated: int = 0
    relay_duplicates: int = 0
    half_done: int = 0
    restart_failures: int = 0
    webhook_lost: int = 0  # bob's Inbox items never notified to the subscription
    server_errors: int = 0  # 5xx answers during the load (clean errors while a fault lasts)
    slow_rate_ratio: float | None = None  # slow-webhook: acknowledgements/s while slow ÷ before
    notes: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerProcess:
    """`python -m mailgraph serve` with every listener on fixed free ports, started and killed by PID."""

    def __init__(self, data: Path, database: str | None, processes: int, relay: str) -> None:
        self.processes = processes
        self.http, self.smtp, self.submission = _free_port(), _free_port(), _free_port()
        self.url = f"http://127.0.0.1:{self.http}"
        self.args = [
            sys.executable, "-m", "mailgraph", "serve", "--data-dir", str(data), "--tenant", str(TENANT_FILE),
            "--port", str(self.http), "--smtp-port", str(self.smtp), "--submission-port", str(self.submission),
            "--submission-allow-plaintext", "--relay", relay, "--admin-token", ADMIN,
            "--worker-concurrency", str(CONCURRENCY), "--queue-lease", "2", "--queue-poll", "0.2",
            "--retry-schedule", "1", "--log-level", "warning", "--processes", str(processes),
            "--durability", "normal", "--webhook-retry-schedule", "1", "--http-keepalive", str(SERVER_KEEPALIVE_S),
        ]  # fmt: skip
        if database:
            self.args += ["--database", database]
        self.log = data.parent / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> bool:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        return self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        return False

    def children(self) -> list[int]:
        assert self.process is not None
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []

    def kill9(self, rng: random.Random) -> int:
        """SIGKILL the server (or, with a supervisor, one of its processes); returns the PID killed."""
        assert self.process is not None
        kids = self.children() if self.processes > 1 else []
        pid = rng.choice(kids) if kids else self.process.pid
        os.kill(pid, signal.SIGKILL)
        if pid == self.process.pid:
            self.process.wait(10)
        return pid

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


class Load:
    """Clients that send until told to stop and note what the server acknowledged (by subject)."""

    def __init__(self, server: ServerProcess, trial: str) -> None:
        self.server = server
        self.trial = trial
        self.acked: dict[str, str] = {}  # subject -> kind (graph, batch, inbound, submission)
        self.acked_at: list[float] = []  # monotonic time of each acknowledgement (send rates)
        self.tried: set[str] = set()
        self.server_errors = 0
        self.error_bodies: list[str] = []
        self.stopping = False
        self._n = 0

    def _answered(self, r: httpx.Response) -> None:
        if r.status_code >= 500:
            self.server_errors += 1
            self.error_bodies.append(f"{r.status_code} {r.text[:200]}")

    def _subject(self, kind: str) -> str:
        self._n += 1
        subject = f"{self.trial}-{kind}-{self._n}"
        self.tried.add(subject)
        return subject

    @staticmethod
    def _message(subject: str) -> dict[str, Any]:
        return {
            "subject": subject,
            "body": {"contentType": "text", "content": f"body of {subject}"},
            "toRecipients": [{"emailAddress": {"address": "bob@fabrikam.test"}}, {"emailAddress": {"address": EXTERNAL}}],
            "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.bin", "contentBytes": ATTACHMENT}],
        }  # fmt: skip

    async def graph(self, client: httpx.AsyncClient, token: dict[str, str]) -> None:
        while not self.stopping:
            subject = self._subject("graph")
            try:
                r = await client.post("/v1.0/users/alice@fabrikam.test/sendMail", json={"message": self._message(subject)}, headers=token)  # fmt: skip
                self._answered(r)
                if r.status_code == 202:
                    self.acked[subject] = "graph"
                    self.acked_at.append(time.monotonic())
            except httpx.HTTPError:
                await asyncio.sleep(0.05)

    async def batch(self, client: httpx.AsyncClient, token: dict[str, str]) -> None:
        while not self.stopping:
            subjects = [self._subject("batch"), self._subject("batch")]
            requests = [
                {"id": str(i), "method": "POST", "url": "/users/alice@fabrikam.test/sendMail",
                 "headers": {"Content-Type": "application/json"}, "body": {"message": self._message(s)}}
                for i, s in enumerate(subjects)
            ]  # fmt: skip
            try:
                r = await client.post("/v1.0/$batch", json={"requests": requests}, headers=token)
                self._answered(r)
                if r.status_code == 200:
                    for item in r.json()["responses"]:
                        if item["status"] == 202:
                            self.acked[subjects[int(item["id"])]] = "batch"
                            self.acked_at.append(time.monotonic())
            except (httpx.HTTPError, ValueError, KeyError):
                await asyncio.sleep(0.05)

    async def upload(self, client: httpx.AsyncClient, token: dict[str, str]) -> None:
        """Draft, an attachment through an upload session (two chunks), then send."""
        while not self.stopping:
            subject = self._subject("upload")
            message = self._message(subject)
            del message["attachments"]
            base = "/v1.0/users/alice@fabrikam.test/messages"
            try:
                r = await client.post(base, json=message, headers=token)
                if r.status_code != 201:
                    continue
                draft = r.json()["id"]
                item = {"attachmentType": "file", "name": "big.bin", "size": len(UPLOAD)}
                r = await client.post(f"{base}/{draft}/attachments/createUploadSession", json={"AttachmentItem": item}, headers=token)  # fmt: skip
                if r.status_code != 201:
                    continue
                url, half = r.json()["uploadUrl"], len(UPLOAD) // 2
                for start, chunk in ((0, UPLOAD[:half]), (half, UPLOAD[half:])):
                    end = start + len(chunk) - 1
                    r = await client.put(url, content=chunk, headers={"Content-Range": f"bytes {start}-{end}/{len(UPLOAD)}"})  # fmt: skip
                if r.status_code != 201:
                    continue
                r = await client.post(f"{base}/{draft}/send", headers=token)
                if r.status_code == 202:
                    self.acked[subject] = "upload"
                    self.acked_at.append(time.monotonic())
            except (httpx.HTTPError, ValueError, KeyError):
                await asyncio.sleep(0.05)

    def _smtp(self, kind: str) -> None:
        while not self.stopping:
            subject = self._subject(kind)
            submit = kind == "submission"
            sender = "alice@fabrikam.test" if submit else "sam@example.org"
            rcpts = ["bob@fabrikam.test", EXTERNAL] if submit else ["bob@fabrikam.test"]
            data = (
                f"From: {sender}\r\nTo: {', '.join(rcpts)}\r\nSubject: {subject}\r\n"
                f"Message-ID: <{subject}@trials.test>\r\nMIME-Version: 1.0\r\n"
                f"Content-Type: text/plain\r\n\r\nbody of {subject}\r\n"
            ).encode()
            try:
                port = self.server.submission if submit else self.server.smtp
                with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
                    if submit:
                        client.login("alice@fabrikam.test", "alice-Passw0rd")
                    if client.sendmail(sender, rcpts, data) == {}:
                        self.acked[subject] = kind
                        self.acked_at.append(time.monotonic())
            except (smtplib.SMTPException, OSError):
                time.sleep(0.05)

    async def run(self, token: dict[str, str]) -> None:
        limits = httpx.Limits(keepalive_expiry=CLIENT_KEEPALIVE_S)
        async with httpx.AsyncClient(base_url=self.server.url, timeout=30, limits=limits) as client:
            await asyncio.gather(
                self.graph(client, token),
                self.graph(client, token),
                self.batch(client, token),
                self.upload(client, token),
                asyncio.to_thread(self._smtp, "inbound"),
                asyncio.to_thread(self._smtp, "submission"),
            )


def token(url: str) -> dict[str, str]:
    r = httpx.post(
        f"{url}/{TENANT}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": "full-app", "client_secret": "full-secret",
              "scope": "https://graph.microsoft.com/.default"},
        timeout=30,
    )  # fmt: skip
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def subjects(url: str, auth: dict[str, str], user: str, folder: str) -> Counter[str]:
    found: Counter[str] = Counter()
    next_url: str | None = f"{url}/v1.0/users/{user}/mailFolders/{folder}/messages?$select=subject&$top=1000"
    while next_url:
        r = httpx.get(next_url, headers=auth, timeout=60)
        r.raise_for_status()
        body = r.json()
        found.update(m["subject"] for m in body["value"])
        next_url = body.get("@odata.nextLink")
    return found


def drained(url: str) -> bool:
    """No queue entry waits or is being sent."""
    for status in ("queued", "sending", "deferred"):
        r = httpx.get(f"{url}/_mailgraph/queue?status={status}&limit=1", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)  # fmt: skip
        r.raise_for_status()
        if r.json()["value"]:
            return False
    return True


def account(load: Load, seen: Places) -> TrialResult:
    """Count lost, duplicated and half-done messages (see the module docstring)."""
    result = TrialResult(acknowledged=len(load.acked))
    for subject in sorted(load.tried):
        kind = load.acked.get(subject) or subject.split("-")[-2]
        places = {"inbox": seen.inbox[subject]}
        if kind != "inbound":
            places |= {"sent": seen.sent[subject], "sink": seen.sink[subject]}
        found = [n for n in places.values() if n]
        # A draft of an unacknowledged upload is the client's unfinished work, not the server's.
        stuck = seen.drafts[subject] and (subject in load.acked or places.get("sent"))
        if subject in load.acked and not found:
            result.lost += 1
            result.notes.append(f"lost {subject}")
        elif (found and len(found) < len(places)) or stuck:
            result.half_done += 1
            result.notes.append(f"half-done {subject}: {places} drafts={seen.drafts[subject]}")
        result.duplicated += sum(max(0, places[p] - 1) for p in places if p != "sink")
        result.relay_duplicates += max(0, places.get("sink", 0) - 1)
    missing = [i for i in seen.inbox_ids if i not in seen.notified]
    result.webhook_lost = len(missing)
    result.notes += [f"no webhook for inbox item {i}" for i in missing[:5]]
    return result


@dataclass
class Places:
    """Where the trial's messages are after the drain (counts by subject)."""

    sent: Counter[str]
    inbox: Counter[str]
    drafts: Counter[str]
    sink: Counter[str]
    inbox_ids: list[str]
    notified: set[str]


def _subscribe(url: str, auth: dict[str, str], hook: str) -> None:
    expiry = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    body = {"changeType": "created", "notificationUrl": hook, "expirationDateTime": expiry,
            "resource": "/users/bob@fabrikam.test/mailFolders('inbox')/messages"}  # fmt: skip
    r = httpx.post(f"{url}/v1.0/subscriptions", json=body, headers=auth, timeout=30)
    assert r.status_code == 201, r.text


def _inbox_ids(url: str, auth: dict[str, str]) -> list[str]:
    ids: list[str] = []
    next_url: str | None = (
        f"{url}/v1.0/users/bob@fabrikam.test/mailFolders/inbox/messages?$select=id&$top=1000"
    )
    while next_url:
        r = httpx.get(next_url, headers=auth, timeout=60)
        r.raise_for_status()
        ids += [m["id"] for m in r.json()["value"]]
        next_url = r.json().get("@odata.nextLink")
    return ids


def run_trial(scenario: Scenario, rng: random.Random, load_s: float = 3.0, label: str = "T") -> TrialResult:
    """One trial of `scenario` (see the module docstring)."""
    return asyncio.run(_trial(scenario, rng, load_s, label))


async def _trial(scenario: Scenario, rng: random.Random, load_s: float, label: str) -> TrialResult:
    blocking = asyncio.to_thread
    with tempfile.TemporaryDirectory(prefix="mg-trial-") as tmp:
        data = Path(tmp) / "data"
        database = None
        if scenario.engine == "postgres":
            database = pgdb.url_of(await blocking(pgdb.create, None, "mg_trial"))
        sink = await blocking(Sink)
        receiver = Receiver(status=503 if scenario.fault == "faults" else 202)
        sink.handler.flaky = 0.2 if scenario.fault == "faults" else 0.0
        await receiver.start()
        server = ServerProcess(data, database, scenario.processes, sink.url)
        try:
            if not await blocking(server.start, 120):
                kept = _keep_log(server, label)
                return TrialResult(
                    restart_failures=1,
                    notes=[f"first start failed (log: {kept}): {server.log.read_text()[-2000:]}"],
                )
            auth = await blocking(token, server.url)
            await blocking(_subscribe, server.url, auth, f"{receiver.url}/hook")
            load = Load(server, f"{label}{rng.randrange(10**6)}")
            runner = asyncio.create_task(load.run(auth))
            ratio = None
            if scenario.fault == "slow-webhook":
                ratio = await _slow_receiver(load, receiver, load_s)
            else:
                await asyncio.sleep(rng.uniform(0.3, 0.9) * load_s)
            if scenario.fault == "slow-webhook":
                pass
            elif scenario.fault == "pg-loss":
                assert database is not None
                await blocking(pgdb.terminate, database.rsplit("/", 1)[1])
            else:
                await blocking(server.kill9, rng)
            await asyncio.sleep(rng.uniform(0.0, 0.3) * load_s)
            receiver.status = 202  # the receiver is back (faults: it answered 503 until now)
            receiver.delay_s = 0.0
            load.stopping = True
            await runner
            if scenario.fault in ("pg-loss", "slow-webhook"):  # the server lives on: it must recover itself
                back = await blocking(server.wait_ready, 120) and await blocking(_sends_again, server.url)
            elif scenario.processes == 1:
                back = await blocking(server.start, 120)
            else:  # the supervisor restarts the killed process
                back = await blocking(server.wait_ready, 120)
            if not back:
                kept = _keep_log(server, label)
                return TrialResult(
                    len(load.acked),
                    restart_failures=1,
                    notes=[f"log: {kept}", server.log.read_text()[-2000:]],
                )
            for _ in range(400):  # bounded: 120 s
                if await blocking(drained, server.url):
                    break
                await asyncio.sleep(0.3)
            await asyncio.sleep(3)  # a lease (2 s) and a poll: any re-sent duplicate has arrived by now
            auth = await blocking(token, server.url)
            ids = await blocking(_inbox_ids, server.url, auth)
            for _ in range(200):  # bounded: 60 s; webhooks retry on their own schedule after a crash
                if set(ids) <= _notified(receiver):
                    break
                await asyncio.sleep(0.3)
            places = Places(
                sent=await blocking(subjects, server.url, auth, "alice@fabrikam.test", "sentitems"),
                inbox=await blocking(subjects, server.url, auth, "bob@fabrikam.test", "inbox"),
                drafts=await blocking(subjects, server.url, auth, "alice@fabrikam.test", "drafts"),
                sink=Counter(str(r.message["Subject"]) for r in sink.received),
                inbox_ids=ids,
                notified=_notified(receiver),
            )
            result = account(load, places)
            result.server_errors = load.server_errors
            result.slow_rate_ratio = ratio
            result.notes += load.error_bodies[:3]
            return result
        finally:
            await blocking(server.stop)
            await receiver.stop()
            await blocking(sink.stop)
            if database is not None:
                await blocking(pgdb.drop, database.rsplit("/", 1)[1])


async def _slow_receiver(load: Load, receiver: Receiver, load_s: float) -> float:
    """`load_s` of load with a prompt receiver, then `load_s` with one that answers after 12 s (its
    late answers do not count: the server gave up at 3 s and must retry); returns the send rate while it
    was slow ÷ the rate before (≈ 1: the send path does not wait on webhooks)."""
    receiver.drop_when_slow = True
    t0 = time.monotonic()
    await asyncio.sleep(load_s)
    t1 = time.monotonic()
    receiver.delay_s = SLOW_RECEIVER_S
    await asyncio.sleep(load_s)
    t2 = time.monotonic()
    before = sum(t0 <= t < t1 for t in load.acked_at) / (t1 - t0)
    during = sum(t1 <= t < t2 for t in load.acked_at) / (t2 - t1)
    return during / before if before else 0.0


def _sends_again(url: str) -> bool:
    """After a fault: a fresh token and a send are answered normally."""
    try:
        auth = token(url)
        message = {
            "subject": "after the fault",
            "toRecipients": [{"emailAddress": {"address": "carol@fabrikam.test"}}],
        }
        r = httpx.post(f"{url}/v1.0/users/alice@fabrikam.test/sendMail", json={"message": message}, headers=auth, timeout=30)  # fmt: skip
    except httpx.HTTPError:
        return False
    return r.status_code == 202


def _keep_log(server: ServerProcess, label: str) -> Path:
    """Copy the server's log out of the trial's temporary directory (for a failure's post-mortem)."""
    kept = Path(tempfile.gettempdir()) / "mailgraph-trial-failures" / f"{label}-{int(time.time())}.log"
    kept.parent.mkdir(exist_ok=True)
    kept.write_bytes(server.log.read_bytes())
    return kept


def _notified(receiver: Receiver) -> set[str]:
    return {str(i["resourceData"]["id"]) for i in receiver.items() if i.get("changeType") == "created"}
