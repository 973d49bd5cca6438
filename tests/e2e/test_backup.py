"""`mailgraph backup` under load and `mailgraph restore` (issue 17), and start-up on a corrupt or foreign
data directory: a clear error, nothing changed."""

from __future__ import annotations

import base64
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ON_POSTGRES
from tests.delivery.sink import Sink
from tests.trials.harness import EXTERNAL, ServerProcess, subjects, token

pytestmark = [
    pytest.mark.e2e,
    # `mailgraph backup`/`restore` copy the SQLite engine's data dir; a PostgreSQL deployment backs up
    # its database with pg_dump (docs/reliability.md, "Backup and restore"): this runs in the SQLite half.
    pytest.mark.skipif(ON_POSTGRES, reason="backup/restore are the SQLite engine's"),
]
ATTACHED = os.urandom(3000)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MAILGRAPH_DATABASE"}  # SQLite, whatever the run
    return subprocess.run([sys.executable, "-m", "mailgraph", *args], capture_output=True, text=True, timeout=300, env=env)  # fmt: skip


def _send_until(server: ServerProcess, auth: dict[str, str], stop: threading.Event, acked: list[tuple[float, str]]) -> None:  # fmt: skip
    attachment = {"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.bin",
                  "contentBytes": base64.b64encode(ATTACHED).decode()}  # fmt: skip
    with httpx.Client(base_url=server.url, headers=auth, timeout=30) as client:
        n = 0
        while not stop.is_set():
            n += 1
            subject = f"backup-{n}"
            message = {"subject": subject, "attachments": [attachment],
                       "toRecipients": [{"emailAddress": {"address": "bob@fabrikam.test"}}, {"emailAddress": {"address": EXTERNAL}}]}  # fmt: skip
            r = client.post("/v1.0/users/alice@fabrikam.test/sendMail", json={"message": message})
            if r.status_code == 202:
                acked.append((time.monotonic(), subject))


def test_backup_under_load_restores_every_message_acknowledged_before_it() -> None:
    sink = Sink()
    with tempfile.TemporaryDirectory(prefix="mg-backup-") as tmp:
        root = Path(tmp)
        server = ServerProcess(root / "data", None, 1, sink.url)
        stop, acked = threading.Event(), []
        try:
            assert server.start(120), server.log.read_text()
            auth = token(server.url)
            sender = threading.Thread(target=_send_until, args=(server, auth, stop, acked))
            sender.start()
            while len(acked) < 20:
                time.sleep(0.05)
            began = time.monotonic()
            done = _cli("backup", str(root / "backup"), "--data-dir", str(root / "data"))
            more = len(acked)
            time.sleep(0.3)
            stop.set()
            sender.join(60)
            assert done.returncode == 0, done.stderr
            assert len(acked) > more or more > 20  # the load ran while the backup did
        finally:
            stop.set()
            server.stop()
        before = {s for at, s in acked if at < began}
        assert len(before) >= 20
        # The backup is private and complete; restore refuses a non-empty target.
        assert (root / "backup" / "mailgraph.db").stat().st_mode & 0o777 == 0o600
        (root / "busy").mkdir()
        (root / "busy" / "keep.txt").write_text("mine")
        refused = _cli("restore", str(root / "backup"), "--data-dir", str(root / "busy"))
        assert refused.returncode == 1 and "not empty" in refused.stderr
        assert (root / "busy" / "keep.txt").read_text() == "mine" and len(
            list((root / "busy").iterdir())
        ) == 1
        again = _cli("backup", str(root / "backup"), "--data-dir", str(root / "data"))
        assert again.returncode == 1 and "not empty" in again.stderr
        restored = _cli("restore", str(root / "backup"), "--data-dir", str(root / "restored"))
        assert restored.returncode == 0, restored.stderr
        assert (root / "restored").stat().st_mode & 0o777 == 0o700
        server = ServerProcess(root / "restored", None, 1, sink.url)
        try:
            assert server.start(120), server.log.read_text()
            auth = token(server.url)
            sent = subjects(server.url, auth, "alice@fabrikam.test", "sentitems")
            inbox = subjects(server.url, auth, "bob@fabrikam.test", "inbox")
            assert before <= set(sent) and before <= set(inbox)
            r = httpx.get(f"{server.url}/v1.0/users/bob@fabrikam.test/messages?$filter=subject eq 'backup-1'&$expand=attachments", headers=auth, timeout=30)  # fmt: skip
            [item] = r.json()["value"]
            assert base64.b64decode(item["attachments"][0]["contentBytes"]) == ATTACHED  # the blob came along
        finally:
            server.stop()
            sink.stop()


def test_restore_refuses_what_is_not_a_backup(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    r = _cli("restore", str(tmp_path / "src"), "--data-dir", str(tmp_path / "new"))
    assert r.returncode == 1 and "not a mailgraph backup" in r.stderr
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("kind", ["corrupt", "foreign"])
def test_start_on_a_corrupt_or_foreign_database_fails_clearly_and_changes_nothing(tmp_path: Path, kind: str) -> None:  # fmt: skip
    data = tmp_path / "data"
    data.mkdir()
    db = data / "mailgraph.db"
    if kind == "corrupt":
        db.write_bytes(b"SQLite format 3\x00" + os.urandom(4000))
    else:
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        con.execute("INSERT INTO invoices (total) VALUES (12.5)")
        con.commit()
        con.close()
    before = db.read_bytes()
    r = _cli("serve", "--data-dir", str(data), "--port", "0")
    assert r.returncode == 2
    assert r.stderr.startswith("mailgraph: cannot start:") and "Traceback" not in r.stderr
    assert ("not a usable SQLite database" if kind == "corrupt" else "belongs to another program") in r.stderr
    assert db.read_bytes() == before
