"""Upload and download throughput of one large attachment, and the server's memory (issue 11).

Starts `mailgraph serve` per store under test, uploads SIZE MiB through an upload session in 4 MiB
chunks (msgraph-core sends 5 MiB; our upload body limit is 8 MiB), downloads it through `$value`, and
reports MB/s each way, the server's CPU seconds per phase (/proc/PID/stat) and its peak RSS growth over
a warmed-up baseline (sampled every 10 ms). Stores: `dir-sqlite` (SQLite, blobs in the data dir, the
SQLite default), `dir-pg` (PostgreSQL, `--blobs dir`), `db-pg` (PostgreSQL, `--blobs db`, the default
there). Rounds alternate the stores (paired A/B in one sitting: the machine is shared and noisy).

    PYTHONPATH=src .venv/bin/python bench/blob_throughput.py --size 40 --rounds 3

`--cycles N`: instead, N create+send cycles with a 10 KB attachment (POSTed with the draft) on
PostgreSQL, `--blobs dir` against `db`: server CPU and wall time per cycle.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import asyncpg  # noqa: F401 - PostgreSQL must be installed for the pg stores
import httpx

ROOT = Path(__file__).resolve().parent.parent
TENANT = ROOT / "tests" / "tenant.toml"
PG = os.environ.get("MAILGRAPH_TEST_PG") or "postgresql://postgres@127.0.0.1:5432"
READY = re.compile(r"mailgraph ready: (http://\S+)")
MIB = 1024 * 1024
CHUNK = 4 * MIB


def _status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Peak(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, _status(pid, "VmRSS"), threading.Event()
        self.start()

    def run(self) -> None:
        while not self.done.wait(0.01):
            self.peak = max(self.peak, _status(self.pid, "VmRSS"))


def _psql(sql: str) -> None:
    subprocess.run(["psql", PG + "/postgres", "-qc", sql], check=True, capture_output=True)


def serve(data: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "mailgraph", "serve", "--port", "0", "--data-dir", str(data),
           "--log-level", "warning", "--tenant", str(TENANT), *args]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if found := READY.search(line):
            threading.Thread(target=lambda: proc.stdout and proc.stdout.read(), daemon=True).start()
            return proc, found.group(1)
        if not line:
            break
    proc.kill()
    raise SystemExit("serve did not start")


def upload(client: httpx.Client, url: str, auth: dict[str, str], data: bytes) -> str:
    box = f"{url}/v1.0/users/alice@fabrikam.test/messages"
    message = f"{box}/{client.post(box, json={'subject': 'large'}, headers=auth).json()['id']}"
    item = {"attachmentType": "file", "name": "large.bin", "size": len(data)}
    r = client.post(f"{message}/attachments/createUploadSession", json={"AttachmentItem": item}, headers=auth)
    session = r.json()["uploadUrl"]
    for at in range(0, len(data), CHUNK):
        piece = data[at : at + CHUNK]
        r = client.put(
            session, content=piece, headers={"Content-Range": f"bytes {at}-{at + len(piece) - 1}/{len(data)}"}
        )
        assert r.status_code in (200, 201), r.text
    attachment = r.headers["location"].rsplit("/attachments('", 1)[1].rstrip("')")
    return f"{message}/attachments/{attachment}/$value"


def download(client: httpx.Client, url: str, auth: dict[str, str]) -> str:
    digest = hashlib.sha256()
    with client.stream("GET", url, headers=auth) as r:
        for block in r.iter_bytes():
            digest.update(block)
    return digest.hexdigest()


def one(store: str, size: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        db = None
        args: list[str] = []
        if store.endswith("pg"):
            db = f"mg_blobbench_{secrets.token_hex(4)}"
            _psql(f"CREATE DATABASE {db}")
            args = ["--database", f"{PG}/{db}", "--blobs", store.split("-")[0]]
        proc, url = serve(Path(tmp) / "data", *args)
        try:
            with httpx.Client(timeout=300, trust_env=False) as client:
                form = {"grant_type": "client_credentials", "client_id": "full-app", "client_secret": "full-secret",
                        "scope": "https://graph.microsoft.com/.default"}  # fmt: skip
                auth = {
                    "Authorization": "Bearer "
                    + client.post(f"{url}/fabrikam.test/oauth2/v2.0/token", data=form).json()["access_token"]
                }
                warm = os.urandom(CHUNK + 1)
                download(client, upload(client, url, auth, warm), auth)
                data = os.urandom(size * MIB)
                base, peak = _status(proc.pid, "VmRSS"), Peak(proc.pid)
                cpu0, t0 = _cpu(proc.pid), time.perf_counter()
                value = upload(client, url, auth, data)
                cpu1, t1 = _cpu(proc.pid), time.perf_counter()
                assert download(client, value, auth) == hashlib.sha256(data).hexdigest()
                cpu2, t2 = _cpu(proc.pid), time.perf_counter()
                peak.done.set()
                peak.join()
            return {"up_MBps": size * MIB / 1e6 / (t1 - t0), "down_MBps": size * MIB / 1e6 / (t2 - t1),
                    "up_cpu_s": cpu1 - cpu0, "down_cpu_s": cpu2 - cpu1, "rss_growth_MiB": (peak.peak - base) / MIB,
                    "rss_base_MiB": base / MIB}  # fmt: skip
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            if db:
                _psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def cycles(store: str, count: int) -> dict[str, float]:
    """`count` create+send cycles, each draft with one 10 KB file attachment (POSTed inline, as most
    clients attach small files): the server's CPU and the wall time per cycle."""
    with tempfile.TemporaryDirectory() as tmp:
        db = f"mg_blobbench_{secrets.token_hex(4)}"
        _psql(f"CREATE DATABASE {db}")
        args = ["--database", f"{PG}/{db}", "--blobs", store.split("-")[0], "--durability", "normal"]
        proc, url = serve(Path(tmp) / "data", *args)
        try:
            with httpx.Client(timeout=60, trust_env=False) as client:
                form = {"grant_type": "client_credentials", "client_id": "full-app", "client_secret": "full-secret",
                        "scope": "https://graph.microsoft.com/.default"}  # fmt: skip
                token = client.post(f"{url}/fabrikam.test/oauth2/v2.0/token", data=form).json()[
                    "access_token"
                ]
                auth = {"Authorization": f"Bearer {token}"}
                box = f"{url}/v1.0/users/alice@fabrikam.test/messages"

                def cycle() -> None:
                    content = base64.b64encode(os.urandom(10_000)).decode()  # new bytes: a new blob each time
                    draft = {"subject": "c", "toRecipients": [{"emailAddress": {"address": "bob@fabrikam.test"}}],
                             "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.bin",
                                              "contentBytes": content}]}  # fmt: skip
                    r = client.post(box, json=draft, headers=auth)
                    assert r.status_code == 201, r.text
                    r = client.post(f"{box}/{r.json()['id']}/send", headers=auth)
                    assert r.status_code == 202, r.text

                for _ in range(20):
                    cycle()
                cpu0, t0 = _cpu(proc.pid), time.perf_counter()
                for _ in range(count):
                    cycle()
                cpu1, t1 = _cpu(proc.pid), time.perf_counter()
            return {
                "cpu_ms_per_cycle": (cpu1 - cpu0) * 1000 / count,
                "wall_ms_per_cycle": (t1 - t0) * 1000 / count,
            }
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            _psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=40, help="MiB")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stores", default="dir-sqlite,dir-pg,db-pg")
    parser.add_argument(
        "--cycles", type=int, default=0, help="instead: N create+send cycles, small attachment"
    )
    args = parser.parse_args()
    stores = args.stores.split(",")
    if args.cycles:
        stores = [s for s in stores if s.endswith("pg")]
    results: dict[str, list[dict[str, float]]] = {s: [] for s in stores}
    print(f"load: {os.getloadavg()}", flush=True)
    for _ in range(args.rounds):
        for store in stores:
            results[store].append(cycles(store, args.cycles) if args.cycles else one(store, args.size))
            print(store, {k: round(v, 2) for k, v in results[store][-1].items()}, flush=True)
    print(f"load: {os.getloadavg()}")
    print(
        f"\nmedians of {args.rounds} rounds, "
        + (f"{args.cycles} cycles:" if args.cycles else f"{args.size} MiB:")
    )
    keys = list(results[stores[0]][0])
    print(f"{'store':12}" + "".join(f"{k:>18}" for k in keys))
    for store in stores:
        print(
            f"{store:12}" + "".join(f"{statistics.median(r[k] for r in results[store]):18.2f}" for k in keys)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
