"""Benchmark driver: create-draft + send cycles against ``mailgraph serve``, with in-run baselines.

Usage (see bench/README.md)::

    python bench/run.py [--runs 5] [--duration 10] [--concurrency 16] [--warmup 2]
                        [--server-args "--durability normal"] [--json out.json]
                        [--url http://127.0.0.1:PORT] [--client-procs 1] [--no-floor]

By default it starts ``mailgraph serve`` on a free 127.0.0.1 port with a fresh
temporary data dir (removed afterwards) and stops exactly that process by PID
(SIGTERM, then SIGKILL after a timeout).  Each run measures three phases
against the same server process with the same client:

* ``inbox`` - baseline: ``GET /v1.0/users/alice@contoso.com/mailFolders/inbox``;
* ``cycle`` - the subject: ``POST .../messages`` (201) then ``POST .../{id}/send`` (202);
* ``floor`` - optional ceiling: a raw ASGI app (bench/floor_app.py) under uvicorn.

and the summary reports medians over runs of cycles/s, cycle p50/p99, baseline
req/s and the per-run ratio cycles/s / baseline req/s.  Exit status: 0 clean,
1 if any request failed, 2 if the setup failed (server did not come up, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from client import (
    ALLOWED_HOSTS,
    Connection,
    LoadResult,
    LoadSpec,
    fetch_token,
    make_op,
    percentile,
    run_load,
)

BENCH_DIR = Path(__file__).resolve().parent
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
SETTLE_MAX_S = 20.0  # after a phase, wait at most this long for the server to go idle
SETTLE_IDLE_FRACTION = 0.05  # "idle" = under 5 % of a core over a 0.2 s sample
CLK_TCK = os.sysconf("SC_CLK_TCK")


class SetupError(Exception):
    """The benchmark could not start (server not ready, preflight request failed, ...)."""


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    """A server process this benchmark started (and therefore may stop)."""

    name: str
    argv: list[str]
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    _log: TextIO | None = None
    started_at: float = 0.0
    ready_s: float = float("nan")
    stop_s: float = float("nan")
    stop_signal: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        self._log = self.log_path.open("w")
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=env
        )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tree(self) -> list[int]:
        """This process and its descendants (`serve --processes N` forks N children)."""
        out, todo = [], [self.pid]
        while todo and len(out) < 256:
            pid = todo.pop()
            out.append(pid)
            with contextlib.suppress(OSError):
                todo += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        return out

    def cpu_s(self) -> float:
        """utime + stime of the process tree (all threads of all processes), from /proc."""
        total, seen = 0, False
        for pid in self.tree():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])
            seen = True
        return total / CLK_TCK if seen else float("nan")

    def rss_mb(self) -> float:
        """The largest resident set of one process of the tree, MB (the goal is per process)."""
        best = float("nan")
        for pid in self.tree():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        mb = int(line.split()[1]) / 1024
                        best = mb if best != best else max(best, mb)
            except OSError:
                continue
        return best

    def stop(self) -> None:
        """SIGTERM this process (only it, by PID), SIGKILL after STOP_TIMEOUT_S."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            self.stop_signal = "SIGTERM"
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                self.stop_signal = "SIGKILL"
                proc.wait(STOP_TIMEOUT_S)
            self.stop_s = time.monotonic() - t0
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_count(self, needle: str) -> int:
        try:
            return self.log_path.read_text(errors="replace").count(needle)
        except OSError:
            return 0


def mailgraph_argv(cmd: str | None, host: str, port: int, data_dir: Path, extra: list[str]) -> list[str]:
    """The server command line; `cmd` defaults to the `mailgraph` next to this interpreter."""
    if cmd:
        base = shlex.split(cmd)
    else:
        exe = Path(sys.executable).parent / "mailgraph"
        base = [str(exe)] if exe.exists() else [sys.executable, "-m", "mailgraph"]
    return [*base, "serve", "--host", host, "--port", str(port), "--data-dir", str(data_dir), *extra]


def uvicorn_speed_options() -> list[str]:
    """The uvicorn options `mailgraph serve` uses (src/mailgraph/cli.py): httptools, uvloop,
    no access log, no Server header; uvloop/httptools only when installed."""
    import importlib.util

    opts = ["--no-access-log", "--no-server-header", "--log-level", "warning"]
    if importlib.util.find_spec("httptools") is not None:
        opts += ["--http", "httptools"]
    if importlib.util.find_spec("uvloop") is not None:
        opts += ["--loop", "uvloop"]
    return opts


def floor_argv(port: int, extra: list[str] | None, app: str = "floor_app:app") -> list[str]:
    opts = uvicorn_speed_options() if extra is None else extra
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(BENCH_DIR),
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *opts,
    ]


async def wait_ready(server: Server | None, host: str, port: int, probe_token: bool) -> None:
    """Poll TCP connect (+ a token request) until it answers, at most READY_TIMEOUT_S."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = "no attempt"
    for _ in range(int(READY_TIMEOUT_S / 0.1) + 1):
        if server is not None and not server.alive():
            raise SetupError(f"{server.name} exited early; log tail:\n{server.log_tail()}")
        if time.monotonic() >= deadline:
            break
        try:
            if probe_token:
                await fetch_token(host, port, limit_s=2.0)
            else:
                conn = Connection(host, port)
                try:
                    await asyncio.wait_for(conn.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 2.0)
                finally:
                    conn.close()
            if server is not None:
                server.ready_s = time.monotonic() - server.started_at
            return
        except (OSError, TimeoutError, RuntimeError, ValueError, asyncio.IncompleteReadError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        await asyncio.sleep(0.1)
    tail = f"; log tail:\n{server.log_tail()}" if server is not None else ""
    raise SetupError(f"no answer on 127.0.0.1:{port} within {READY_TIMEOUT_S:.0f}s ({last}){tail}")


# --------------------------------------------------------------------------- phases


@dataclass
class PhaseStats:
    workload: str
    label: str
    ops_s: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    ops: int
    errors: dict[str, int]
    error_samples: list[str]
    client_cpu_pct: float
    server_cpu_pct: float = float("nan")
    server_cpu_ms_per_op: float = float("nan")
    settle_s: float = float("nan")
    server_rss_mb: float = float("nan")


@dataclass
class RunStats:
    run: int
    loadavg_1m: float
    phases: dict[str, PhaseStats] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        c, b = self.phases.get("cycle"), self.phases.get("inbox")
        return c.ops_s / b.ops_s if c and b and b.ops_s else float("nan")

    def ops_ratio(self, a: str, b: str) -> float:
        """ops/s of phase `a` / ops/s of phase `b` in this run (paired: common noise cancels)."""
        x, y = self.phases.get(a), self.phases.get(b)
        return x.ops_s / y.ops_s if x and y and y.ops_s else float("nan")

    def cpu_ratio(self, a: str, b: str) -> float:
        """Server CPU per op of phase `b` / of phase `a`: the throughput ratio CPU alone would give."""
        x, y = self.phases.get(a), self.phases.get(b)
        if not x or not y or not x.server_cpu_ms_per_op:
            return float("nan")
        return y.server_cpu_ms_per_op / x.server_cpu_ms_per_op

    @property
    def floor_ratio(self) -> float:
        """Requests/s the cycle phase achieved (2 requests per cycle) / floor requests/s."""
        c, f = self.phases.get("cycle"), self.phases.get("floor")
        return 2 * c.ops_s / f.ops_s if c and f and f.ops_s else float("nan")


async def _sample_cpu_at(server: Server | None, when: float) -> float:
    await asyncio.sleep(max(when - time.monotonic(), 0.0))
    return server.cpu_s() if server is not None else float("nan")


async def _child_load(spec: LoadSpec, limit_s: float) -> LoadResult:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(BENCH_DIR / "client.py"),
        "--worker",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(json.dumps(spec.__dict__).encode()), limit_s)
    finally:
        if proc.returncode is None:  # only the client process we started, by PID
            proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        return LoadResult(errors={f"client-process:{proc.returncode}": 1})
    return LoadResult.from_json(json.loads(out))


async def settle(server: Server | None) -> float:
    """Wait (bounded) until the server's CPU use drops, i.e. deferred work has drained."""
    if server is None:
        return float("nan")
    t0 = time.monotonic()
    for _ in range(int(SETTLE_MAX_S / 0.2)):
        c0 = server.cpu_s()
        await asyncio.sleep(0.2)
        if server.cpu_s() - c0 <= 0.2 * SETTLE_IDLE_FRACTION:
            break
    return time.monotonic() - t0


async def _sample_rss(server: Server | None, start: float, end: float) -> float:
    """The largest per-process RSS seen in [start, end), sampled every 0.5 s."""
    best = float("nan")
    if server is None:
        return best
    await asyncio.sleep(max(start - time.monotonic(), 0.0))
    while time.monotonic() < end:
        mb = server.rss_mb()
        best = mb if best != best else max(best, mb)
        await asyncio.sleep(0.5)
    return best


async def run_phase(
    workload: str,
    port: int,
    token: str,
    args: argparse.Namespace,
    seq_base: int,
    server: Server | None,
    label: str | None = None,
) -> PhaseStats:
    procs = max(1, min(args.client_procs, args.concurrency))
    lead = 0.2 if procs == 1 else 1.0  # time for the client processes to start
    t_start = time.monotonic() + lead
    m_start = t_start + args.warmup
    m_end = m_start + args.duration
    shares = [args.concurrency // procs + (i < args.concurrency % procs) for i in range(procs)]
    specs = [
        LoadSpec(workload, "127.0.0.1", port, token, c, t_start, m_start, m_end, seq_base + i * 10**8)
        for i, c in enumerate(shares)
    ]
    budget = lead + args.warmup + args.duration + specs[0].grace_s + 15.0
    cpu0 = asyncio.create_task(_sample_cpu_at(server, m_start))
    cpu1 = asyncio.create_task(_sample_cpu_at(server, m_end))
    rss = asyncio.create_task(_sample_rss(server, m_start, m_end))
    children = [asyncio.create_task(_child_load(s, budget)) for s in specs[1:]]
    res = await run_load(specs[0])
    for child in children:
        try:
            res.merge(await child)
        except (TimeoutError, ValueError, OSError) as exc:
            res.errors[f"client-process:{type(exc).__name__}"] = 1
    srv_cpu = (await cpu1) - (await cpu0)
    lat = sorted(res.latencies)
    window = m_end - m_start
    stats = PhaseStats(
        workload=workload,
        label=label or workload,
        ops_s=res.ops / window,
        p50_ms=percentile(lat, 50) * 1e3,
        p99_ms=percentile(lat, 99) * 1e3,
        mean_ms=(statistics.fmean(lat) * 1e3) if lat else float("nan"),
        max_ms=(lat[-1] * 1e3) if lat else float("nan"),
        ops=res.ops,
        errors=res.errors,
        error_samples=res.error_samples,
        client_cpu_pct=100 * res.cpu_s / res.wall_s if res.wall_s else float("nan"),
    )
    stats.server_rss_mb = await rss
    if server is not None:
        stats.server_cpu_pct = 100 * srv_cpu / window
        stats.server_cpu_ms_per_op = 1e3 * srv_cpu / res.ops if res.ops else float("nan")
        stats.settle_s = await settle(server)
    return stats


async def preflight(port: int, token: str, workloads: tuple[str, ...] = ("cycle", "inbox")) -> None:
    """One cycle and one inbox read, so a broken server fails fast with a readable message."""
    samples: list[str] = []
    conn = Connection("127.0.0.1", port)
    try:
        for wl in workloads:
            err = await asyncio.wait_for(make_op(wl, "127.0.0.1", port, token, samples)(conn, 0), 10.0)
            if err is not None:
                raise SetupError(f"preflight {wl} failed: {samples[-1] if samples else err}")
    finally:
        conn.close()


# --------------------------------------------------------------------------- output


def _fmt(v: float, spec: str) -> str:
    """format(v, spec), or a right-aligned "-" of the same width for NaN (not measured)."""
    if v != v:
        width = spec.split(".", 1)[0]
        return "-".rjust(int(width) if width.isdigit() else 1)
    return format(v, spec)


HEADER = (
    f"  {'phase':<12} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7}"
    f" {'srv ms/op':>9} {'srv cpu%':>8} {'cli cpu%':>8} {'settle s':>8} {'rss MB':>7}"
)


def phase_line(p: PhaseStats) -> str:
    errs = sum(p.errors.values())
    return (
        f"  {p.label:<12} {_fmt(p.ops_s, '9.1f')} {_fmt(p.p50_ms, '8.2f')} {_fmt(p.p99_ms, '8.2f')}"
        f" {_fmt(p.max_ms, '8.1f')} {errs:>7d} {_fmt(p.server_cpu_ms_per_op, '9.3f')}"
        f" {_fmt(p.server_cpu_pct, '8.0f')} {_fmt(p.client_cpu_pct, '8.0f')} {_fmt(p.settle_s, '8.1f')}"
        f" {_fmt(p.server_rss_mb, '7.0f')}"
    )


def print_run(r: RunStats, total: int) -> None:
    print(f"run {r.run}/{total}  (load avg 1m {r.loadavg_1m:.2f})")
    print(HEADER)
    for p in r.phases.values():
        print(phase_line(p))
    line = f"  ratio cycles/s / inbox req/s = {_fmt(r.ratio, '.3f')}"
    if "floor" in r.phases:
        line += f";  cycle req/s (2 per cycle) / floor req/s = {_fmt(r.floor_ratio, '.3f')}"
    print(line)
    for p in r.phases.values():
        if p.errors:
            print(f"  ! {p.workload} errors: {p.errors}")
        for s in dict.fromkeys(p.error_samples):  # distinct samples, first seen first
            print(f"  !   {s}")
    sys.stdout.flush()


def _median(values: list[float]) -> float:
    vals = [v for v in values if v == v]
    return statistics.median(vals) if vals else float("nan")


RATIOS = (  # (name, phase a, phase b, goal): a / b per run, medians reported (issue 11's goals)
    ("mailgraph 1 process / prototype", "cycle", "prototype", 1.7),
    ("mailgraph N processes / prototype", "cycle-Np", "prototype", 1.7),
    ("mailgraph N processes / 1 process", "cycle-Np", "cycle", float("nan")),
    ("PostgreSQL 1 process / prototype", "pg-1p", "prototype", float("nan")),
    ("PostgreSQL 2 processes / 1 process", "pg-2p", "pg-1p", 1.6),
    ("PostgreSQL 1 process / PostgreSQL prototype 1p", "pg-1p", "pg-proto-1p", float("nan")),
    ("PostgreSQL 2 processes / PostgreSQL prototype 2p", "pg-2p", "pg-proto-2p", float("nan")),
    ("PostgreSQL prototype 2p / 1p", "pg-proto-2p", "pg-proto-1p", float("nan")),
    ("cycles at 1M / at 10k stored", "cycle-1M", "cycle-10k", 0.9),
)


def summarize(runs: list[RunStats]) -> dict[str, Any]:
    def col(label: str, attr: str) -> list[float]:
        return [float(getattr(r.phases[label], attr)) for r in runs if label in r.phases]

    out: dict[str, Any] = {
        "cycles_s": _median(col("cycle", "ops_s")),
        "cycle_p50_ms": _median(col("cycle", "p50_ms")),
        "cycle_p99_ms": _median(col("cycle", "p99_ms")),
        "cycle_server_cpu_ms": _median(col("cycle", "server_cpu_ms_per_op")),
        "baseline_req_s": _median(col("inbox", "ops_s")),
        "baseline_p50_ms": _median(col("inbox", "p50_ms")),
        "baseline_server_cpu_ms": _median(col("inbox", "server_cpu_ms_per_op")),
        "ratio": _median([r.ratio for r in runs]),
    }
    if any("floor" in r.phases for r in runs):
        out["floor_req_s"] = _median(col("floor", "ops_s"))
        out["floor_ratio"] = _median([r.floor_ratio for r in runs])
    labels = list(dict.fromkeys(label for r in runs for label in r.phases))
    out["phases"] = {
        label: {
            attr: _median(col(label, attr))
            for attr in (
                "ops_s",
                "p50_ms",
                "p99_ms",
                "server_cpu_ms_per_op",
                "server_cpu_pct",
                "server_rss_mb",
            )
        }
        for label in labels
    }
    out["ratios"] = {
        name: {
            "median": _median([r.ops_ratio(a, b) for r in runs]),
            "goal": goal,
            "per_run": [r.ops_ratio(a, b) for r in runs],
            "cpu_median": _median([r.cpu_ratio(a, b) for r in runs]),
        }
        for name, a, b, goal in RATIOS
        if any(a in r.phases and b in r.phases for r in runs)
    }
    if "list-1M" in labels:
        ms = out["phases"]["list-1M"]["server_cpu_ms_per_op"]
        out["list_1M_req_s_per_core"] = 1000 / ms if ms == ms and ms else float("nan")
    rss = [v["server_rss_mb"] for k, v in out["phases"].items() if k.endswith("1M")]
    out["rss_1M_mb"] = max((v for v in rss if v == v), default=float("nan"))
    return out


def summary_line(s: dict[str, Any], n: int, errors: int) -> str:
    line = (
        f"SUMMARY median of {n} run(s): cycles/s={_fmt(s['cycles_s'], '.1f')}"
        f" p50={_fmt(s['cycle_p50_ms'], '.2f')}ms p99={_fmt(s['cycle_p99_ms'], '.2f')}ms"
        f" baseline(inbox) req/s={_fmt(s['baseline_req_s'], '.1f')} ratio={_fmt(s['ratio'], '.3f')}"
        f" server-cpu ms/cycle={_fmt(s['cycle_server_cpu_ms'], '.3f')}"
        f" ms/inbox={_fmt(s['baseline_server_cpu_ms'], '.3f')}"
    )
    if "floor_req_s" in s:
        line += (
            f" floor req/s={_fmt(s['floor_req_s'], '.0f')} cycle-req/floor={_fmt(s['floor_ratio'], '.3f')}"
        )
    return line + f" errors={errors}"


def summary_table(s: dict[str, Any], n: int) -> str:
    """Every phase's medians, then the issue's ratios against their goals."""
    lines = [
        f"MEDIANS of {n} run(s)",
        f"  {'phase':<12} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'srv ms/op':>9} {'srv cpu%':>8} {'rss MB':>7}",
    ]
    for label, v in s["phases"].items():
        lines.append(
            f"  {label:<12} {_fmt(v['ops_s'], '9.1f')} {_fmt(v['p50_ms'], '8.2f')} {_fmt(v['p99_ms'], '8.2f')}"
            f" {_fmt(v['server_cpu_ms_per_op'], '9.3f')} {_fmt(v['server_cpu_pct'], '8.0f')}"
            f" {_fmt(v['server_rss_mb'], '7.0f')}"
        )
    lines.append("RATIOS (median of per-run ratios; goal from issue 11; [per run]; by server CPU per op)")
    for name, v in s["ratios"].items():
        goal = v["goal"]
        verdict = "" if goal != goal else ("  met" if v["median"] >= goal else "  NOT met")
        runs = ", ".join(_fmt(x, ".2f") for x in v["per_run"])
        lines.append(
            f"  {name:<38} {_fmt(v['median'], '6.3f')}  goal {_fmt(goal, '.2f')}{verdict}"
            f"  [{runs}]  cpu {_fmt(v['cpu_median'], '.3f')}"
        )
    if "list_1M_req_s_per_core" in s:
        per_core = s["list_1M_req_s_per_core"]
        lines.append(
            f"  {'list at 1M, req/s per server core':<38} {_fmt(per_core, '6.0f')}  goal 5000"
            + ("  met" if per_core >= 5000 else "  NOT met")
        )
    if s["rss_1M_mb"] == s["rss_1M_mb"]:
        rss = s["rss_1M_mb"]
        lines.append(
            f"  {'RSS at 1M under load, MB (max)':<38} {rss:6.0f}  goal <= 150"
            + ("  met" if rss <= 150 else "  NOT met")
        )
    return "\n".join(lines)


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and v != v:
        return None
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    return v


# --------------------------------------------------------------------------- main


@dataclass
class Phase:
    """One measured phase of every run: a workload against one started server."""

    label: str
    workload: str
    server: Server | None  # None: the --url server
    port: int


async def bench(args: argparse.Namespace, plan: list[Phase]) -> tuple[list[RunStats], int]:
    servers: dict[int, Server | None] = {}
    for ph in plan:
        servers.setdefault(ph.port, ph.server)
    for port, server in servers.items():
        token_probe = server is None or not server.name.endswith("floor")
        await wait_ready(server, "127.0.0.1", port, probe_token=token_probe)
        if token_probe:
            token = await fetch_token("127.0.0.1", port)
            workloads = tuple(dict.fromkeys(ph.workload for ph in plan if ph.port == port))
            await preflight(port, token, tuple(w for w in workloads if w != "floor"))
    runs: list[RunStats] = []
    errors = 0
    for i in range(args.runs):
        tokens = {  # fresh per run: runs may outlive a token
            port: await fetch_token("127.0.0.1", port)
            for port, server in servers.items()
            if server is None or not server.name.endswith("floor")
        }
        run = RunStats(run=i + 1, loadavg_1m=os.getloadavg()[0])
        order = plan if i % 2 == 0 else plan[::-1]  # alternate: slow drift hits both sides alike
        for ph in order:
            stats = await run_phase(
                ph.workload, ph.port, tokens.get(ph.port, ""), args, i * 10**9, ph.server, ph.label
            )
            run.phases[ph.label] = stats
            errors += sum(stats.errors.values())
        run.phases = {ph.label: run.phases[ph.label] for ph in plan}  # print in plan order
        runs.append(run)
        print_run(run, args.runs)
    return runs, errors


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=5, help="measured runs; the summary is their median")
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds per phase")
    ap.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each phase")
    ap.add_argument("--concurrency", type=int, default=16, help="concurrent workers = connections")
    ap.add_argument("--client-procs", type=int, default=1, help="spread the workers over N processes")
    ap.add_argument(
        "--server-args",
        "--bench-server-args",
        default="",
        help='extra `mailgraph serve` flags, one shell-quoted string (e.g. "--durability normal")',
    )
    ap.add_argument(
        "--server-cmd",
        help="server executable (default: the mailgraph next to this Python); `serve --host"
        " 127.0.0.1 --port P --data-dir D` and --server-args are appended",
    )
    ap.add_argument("--url", help="benchmark an already running server (http://127.0.0.1:PORT)")
    ap.add_argument("--no-floor", action="store_true", help="skip the raw-ASGI floor baseline")
    ap.add_argument(
        "--floor-args", help="uvicorn options for the floor app (default: the speed options mailgraph uses)"
    )
    ap.add_argument(
        "--no-prototype", action="store_true", help="skip the durable prototype (prototype_app.py)"
    )
    ap.add_argument(
        "--processes", type=int, default=2, help="N of the `serve --processes N` phase (0: skip it)"
    )
    ap.add_argument(
        "--database",
        help="postgresql://... : add PostgreSQL phases with 1 and 2 processes (needs the PostgreSQL engine)",
    )
    ap.add_argument("--scale", action="store_true", help="add the 10k / 1M stored-messages phases")
    ap.add_argument(
        "--list-floor", action="store_true", help="add the list's floor (bench/list_floor_app.py) phases"
    )
    ap.add_argument("--scale-only", action="store_true", help="only the 10k / 1M phases (implies --scale)")
    ap.add_argument("--scale-messages", type=int, default=1_000_000, help="the big store (default 1M)")
    ap.add_argument("--small-messages", type=int, default=10_000, help="the small store (default 10k)")
    ap.add_argument(
        "--store-cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "mailgraph-bench-stores",
        help="where the loaded stores are kept between runs (bench/load_store.py builds them once)",
    )
    ap.add_argument("--json", type=Path, help="write all numbers to this file")
    args = ap.parse_args(argv)
    if (
        args.runs < 1
        or args.duration <= 0
        or args.warmup < 0
        or args.concurrency < 1
        or args.client_procs < 1
        or args.processes < 0
    ):
        ap.error("--runs/--concurrency/--client-procs must be >= 1, --duration > 0, --warmup >= 0")
    if args.runs > 1000 or args.duration > 3600 or args.concurrency > 4096 or args.processes > 64:
        ap.error("refusing an unbounded-looking run (runs <= 1000, duration <= 3600, concurrency <= 4096)")
    return args


def cached_store(cache: Path, messages: int) -> Path:
    """The data dir of a store with `messages` loaded messages, built once (bench/load_store.py)."""
    path = cache / f"m{messages}"
    if not (path / "mailgraph.db").exists():
        from load_store import load

        tmp = cache / f"m{messages}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        print(f"# loading a {messages:,}-message store into {path} (once)", flush=True)
        seconds = asyncio.run(load(tmp, messages))
        print(f"# loaded in {seconds:.0f} s", flush=True)
        tmp.rename(path)
    return path


def plan_servers(args: argparse.Namespace, tmp: Path) -> list[Phase]:
    """Every server of this benchmark (not started yet) and the phases measured against them."""
    extra = shlex.split(args.server_args)
    plan: list[Phase] = []

    def mailgraph(name: str, data: Path, *more: str) -> Server:
        port = free_port()
        argv = mailgraph_argv(args.server_cmd, "127.0.0.1", port, data, [*extra, *more])
        return Server(name, argv, port, tmp / f"{name}.log")

    if args.scale_only:
        pass
    elif args.url:
        port = urlsplit(args.url).port
        assert port is not None
        plan += [Phase("inbox", "inbox", None, port), Phase("cycle", "cycle", None, port)]
    else:
        mg = mailgraph("mailgraph", tmp / "data")
        plan += [Phase("inbox", "inbox", mg, mg.port), Phase("cycle", "cycle", mg, mg.port)]
    if not args.no_floor and not args.scale_only:
        fport = free_port()
        fextra = shlex.split(args.floor_args) if args.floor_args is not None else None
        floor = Server("floor", floor_argv(fport, fextra), fport, tmp / "floor.log")
        plan.append(Phase("floor", "floor", floor, fport))
    if not args.no_prototype and not args.scale_only:
        pport = free_port()
        proto = Server(
            "prototype", floor_argv(pport, None, "prototype_app:app"), pport, tmp / "prototype.log"
        )
        proto.env = {"PROTOTYPE_DB": str(tmp / "prototype.db")}
        plan.append(Phase("prototype", "cycle", proto, pport))
    if args.processes > 1 and not args.url and not args.scale_only:
        multi = mailgraph("mailgraph-Np", tmp / "data-n", "--processes", str(args.processes))
        plan.append(Phase("cycle-Np", "cycle", multi, multi.port))
    if args.database:
        for n in (1, 2):
            pg = mailgraph(
                f"pg-{n}p", tmp / f"data-pg{n}", "--database", args.database, "--processes", str(n)
            )
            plan.append(Phase(f"pg-{n}p", "cycle", pg, pg.port))
        if not args.no_prototype:
            # The PostgreSQL floor (prototype_pg_app.py): the fewest statements per cycle, 1 and 2
            # uvicorn worker processes; a pool of half the connections each with 2 (16 in all).
            for n in (1, 2):
                port = free_port()
                proto_pg = Server(
                    f"pg-proto-{n}p",
                    floor_argv(port, [*uvicorn_speed_options(), "--workers", str(n)], "prototype_pg_app:app"),
                    port,
                    tmp / f"pg-proto-{n}p.log",
                )
                proto_pg.env = {
                    "PROTOTYPE_PG": args.database,
                    "PROTOTYPE_PG_POOL": str(-(-args.concurrency // n)),
                }
                plan.append(Phase(f"pg-proto-{n}p", "cycle", proto_pg, port))
    if args.list_floor:
        # The list's floor (bench/list_floor_app.py): a fixed page, and the page built per request.
        for mode in ("fixed", "build"):
            lport = free_port()
            name = f"list-{mode}-floor"
            lfloor = Server(name, floor_argv(lport, None, "list_floor_app:app"), lport, tmp / f"{name}.log")
            lfloor.env = {"LIST_FLOOR_MODE": mode}
            plan.append(Phase(name, "list", lfloor, lport))
    if args.scale or args.scale_only:
        # The two cycle phases side by side, then the two lists: with the order reversed every other
        # run (`bench`), each 10k/1M pair is measured back to back, 10k first in one run, 1M first in
        # the next, so a drift in machine load or a checkpoint of the other store hits both sides alike.
        stores = [
            (label, mailgraph(f"store-{label}", cached_store(args.store_cache, n)))
            for label, n in (("10k", args.small_messages), ("1M", args.scale_messages))
        ]
        plan += [Phase(f"cycle-{label}", "cycle", server, server.port) for label, server in stores]
        plan += [Phase(f"list-{label}", "list", server, server.port) for label, server in stores]
    return plan


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.url:
        u = urlsplit(args.url)
        if u.hostname not in ALLOWED_HOSTS or u.port is None:
            print(f"--url must be http://127.0.0.1:PORT, not {args.url}", file=sys.stderr)
            return 2
    tmp = Path(tempfile.mkdtemp(prefix="mailgraph-bench-"))
    servers: list[Server] = []
    runs: list[RunStats] = []
    errors = 0
    status = 0
    tracebacks = 0
    try:
        plan = plan_servers(args, tmp)
        servers = list({id(ph.server): ph.server for ph in plan if ph.server is not None}.values())
        for server in servers:
            print(f"# {server.name:<12} {shlex.join(server.argv)}", flush=True)
            server.start()
        print(
            f"# runs={args.runs} duration={args.duration}s warmup={args.warmup}s"
            f" concurrency={args.concurrency} client-procs={args.client_procs} cores={os.cpu_count()}",
            flush=True,
        )
        try:
            runs, errors = asyncio.run(bench(args, plan))
        except (SetupError, RuntimeError, OSError) as exc:
            print(f"setup failed: {exc}", file=sys.stderr)
            status = 2
    finally:
        for server in servers:
            tracebacks += server.log_count("Traceback")
        for server in reversed(servers):
            server.stop()
        for server in servers:
            print(
                f"# {server.name}: ready after {_fmt(server.ready_s, '.2f')}s,"
                f" stopped by {server.stop_signal or '-'} in {_fmt(server.stop_s, '.2f')}s,"
                f" {server.log_count('Traceback')} traceback(s) in its log",
                flush=True,
            )
            if server.log_count("Traceback") or status:
                print(f"# {server.name} log tail:\n{server.log_tail(40)}", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
    if not runs:
        return status or 2
    summary = summarize(runs)
    print(summary_table(summary, len(runs)))
    print(summary_line(summary, len(runs), errors))
    if args.json:
        doc = {
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "env": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "servers": {s.name: {"ready_s": s.ready_s, "stop_s": s.stop_s} for s in servers},
                "server_tracebacks": tracebacks,
            },
            "runs": [
                {
                    "run": r.run,
                    "loadavg_1m": r.loadavg_1m,
                    "ratio": r.ratio,
                    "floor_ratio": r.floor_ratio,
                    "phases": {label: vars(p) for label, p in r.phases.items()},
                }
                for r in runs
            ],
            "median": summary,
            "errors": errors,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(_jsonable(doc), indent=2) + "\n")
    if errors:
        print(f"FAILED: {errors} request(s) failed", file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
