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
    WORKLOADS,
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

    def start(self) -> None:
        self._log = self.log_path.open("w")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
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

    def cpu_s(self) -> float:
        """utime + stime of the process (all its threads), from /proc."""
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return float("nan")
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

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


def floor_argv(port: int, extra: list[str] | None) -> list[str]:
    opts = uvicorn_speed_options() if extra is None else extra
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(BENCH_DIR),
        "floor_app:app",
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


@dataclass
class RunStats:
    run: int
    loadavg_1m: float
    phases: dict[str, PhaseStats] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        c, b = self.phases.get("cycle"), self.phases.get("inbox")
        return c.ops_s / b.ops_s if c and b and b.ops_s else float("nan")

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


async def run_phase(
    workload: str,
    port: int,
    token: str,
    args: argparse.Namespace,
    seq_base: int,
    server: Server | None,
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
    if workload != "floor":
        stats.server_cpu_pct = 100 * srv_cpu / window
        stats.server_cpu_ms_per_op = 1e3 * srv_cpu / res.ops if res.ops else float("nan")
        stats.settle_s = await settle(server)
    return stats


async def preflight(port: int, token: str) -> None:
    """One cycle and one inbox read, so a broken server fails fast with a readable message."""
    samples: list[str] = []
    conn = Connection("127.0.0.1", port)
    try:
        for wl in ("cycle", "inbox"):
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
    f"  {'phase':<6} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7}"
    f" {'srv ms/op':>9} {'srv cpu%':>8} {'cli cpu%':>8} {'settle s':>8}"
)


def phase_line(p: PhaseStats) -> str:
    errs = sum(p.errors.values())
    return (
        f"  {p.workload:<6} {_fmt(p.ops_s, '9.1f')} {_fmt(p.p50_ms, '8.2f')} {_fmt(p.p99_ms, '8.2f')}"
        f" {_fmt(p.max_ms, '8.1f')} {errs:>7d} {_fmt(p.server_cpu_ms_per_op, '9.3f')}"
        f" {_fmt(p.server_cpu_pct, '8.0f')} {_fmt(p.client_cpu_pct, '8.0f')} {_fmt(p.settle_s, '8.1f')}"
    )


def print_run(r: RunStats, total: int) -> None:
    print(f"run {r.run}/{total}  (load avg 1m {r.loadavg_1m:.2f})")
    print(HEADER)
    for wl in WORKLOADS:
        if wl in r.phases:
            print(phase_line(r.phases[wl]))
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


def summarize(runs: list[RunStats]) -> dict[str, float]:
    def col(wl: str, attr: str) -> list[float]:
        return [float(getattr(r.phases[wl], attr)) for r in runs if wl in r.phases]

    out = {
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
    return out


def summary_line(s: dict[str, float], n: int, errors: int) -> str:
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


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and v != v:
        return None
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    return v


# --------------------------------------------------------------------------- main


async def bench(
    args: argparse.Namespace, port: int, server: Server | None, floor: Server | None
) -> tuple[list[RunStats], int]:
    await wait_ready(server, "127.0.0.1", port, probe_token=True)
    if floor is not None:
        await wait_ready(floor, "127.0.0.1", floor.port, probe_token=False)
    token = await fetch_token("127.0.0.1", port)
    await preflight(port, token)
    runs: list[RunStats] = []
    errors = 0
    for i in range(args.runs):
        token = await fetch_token("127.0.0.1", port)  # fresh per run: runs may outlive a token
        run = RunStats(run=i + 1, loadavg_1m=os.getloadavg()[0])
        order = ["inbox", "cycle", "floor"]
        if i % 2:  # alternate the order so slow drift (noise, DB growth) hits both sides alike
            order.reverse()
        for wl in order:
            if wl == "floor":
                if floor is None:
                    continue
                stats = await run_phase(wl, floor.port, token, args, 0, None)
            else:
                stats = await run_phase(wl, port, token, args, i * 10**9, server)
            run.phases[wl] = stats
            errors += sum(stats.errors.values())
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
    ap.add_argument("--json", type=Path, help="write all numbers to this file")
    args = ap.parse_args(argv)
    if (
        args.runs < 1
        or args.duration <= 0
        or args.warmup < 0
        or args.concurrency < 1
        or args.client_procs < 1
    ):
        ap.error("--runs/--concurrency/--client-procs must be >= 1, --duration > 0, --warmup >= 0")
    if args.runs > 1000 or args.duration > 3600 or args.concurrency > 4096:
        ap.error("refusing an unbounded-looking run (runs <= 1000, duration <= 3600, concurrency <= 4096)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="mailgraph-bench-"))
    server: Server | None = None
    floor: Server | None = None
    runs: list[RunStats] = []
    errors = 0
    status = 0
    try:
        if args.url:
            u = urlsplit(args.url)
            if u.hostname not in ALLOWED_HOSTS or u.port is None:
                print(f"--url must be http://127.0.0.1:PORT, not {args.url}", file=sys.stderr)
                return 2
            port = u.port
        else:
            port = free_port()
            argv_ = mailgraph_argv(
                args.server_cmd, "127.0.0.1", port, tmp / "data", shlex.split(args.server_args)
            )
            server = Server("mailgraph", argv_, port, tmp / "server.log")
            print(f"# starting: {shlex.join(argv_)}", flush=True)
            server.start()
        if not args.no_floor:
            fport = free_port()
            fextra = shlex.split(args.floor_args) if args.floor_args is not None else None
            floor = Server("floor", floor_argv(fport, fextra), fport, tmp / "floor.log")
            print(f"# floor:    {shlex.join(floor.argv)}", flush=True)
            floor.start()
        print(
            f"# runs={args.runs} duration={args.duration}s warmup={args.warmup}s"
            f" concurrency={args.concurrency} client-procs={args.client_procs} cores={os.cpu_count()}",
            flush=True,
        )
        try:
            runs, errors = asyncio.run(bench(args, port, server, floor))
        except (SetupError, RuntimeError, OSError) as exc:
            print(f"setup failed: {exc}", file=sys.stderr)
            status = 2
    finally:
        tracebacks = server.log_count("Traceback") if server is not None else 0
        for s in (floor, server):
            if s is not None:
                s.stop()
        if server is not None:
            print(
                f"# server: ready after {_fmt(server.ready_s, '.2f')}s,"
                f" stopped by {server.stop_signal or '-'} in {_fmt(server.stop_s, '.2f')}s,"
                f" {tracebacks} traceback(s) in its log",
                flush=True,
            )
            if tracebacks or status:
                print(f"# server log tail:\n{server.log_tail(40)}", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
    if not runs:
        return status or 2
    summary = summarize(runs)
    print(summary_line(summary, len(runs), errors))
    if args.json:
        doc = {
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "env": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "server_ready_s": server.ready_s if server else None,
                "server_stop_s": server.stop_s if server else None,
                "server_tracebacks": tracebacks,
            },
            "runs": [
                {
                    "run": r.run,
                    "loadavg_1m": r.loadavg_1m,
                    "ratio": r.ratio,
                    "floor_ratio": r.floor_ratio,
                    "phases": {wl: vars(p) for wl, p in r.phases.items()},
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
