"""Issue 17, defect 4: the data directory is 0700 and everything in it 0700 (directories) or 0600 (files),
whatever the umask, including data directories written by older versions (fixed at start)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailgraph.certs import ensure_server_cert
from mailgraph.config import Settings
from mailgraph.wiring import build

EXPECTED = [
    "mailgraph.db",
    "mailgraph.db-wal",
    "mailgraph.db-shm",
    "admin-token",
    "tls",
    "blobs",
]  # signing keys live in the store (issue 10)


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    out = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        out[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return out


def _assert_private(root: Path) -> None:
    modes = _modes(root)
    for name in EXPECTED:
        assert name in modes, (name, sorted(modes))
    wrong = {
        name: oct(mode)
        for name, mode in modes.items()
        if mode != (0o700 if (root / name).is_dir() else 0o600)
    }
    assert not wrong, wrong


async def _exercise(data_dir: Path) -> None:
    """Start the server on `data_dir` and make it write every kind of file it keeps there."""
    runtime = await build(Settings(data_dir=data_dir))
    try:
        blobs = runtime.app.services.attachments.blobs
        await blobs.put(os.urandom(64))  # a blob in a new fan-out directory
        await blobs.write_part("session1", 0, b"partial upload")
        await runtime.directory.tenant()  # the WAL and shared-memory files exist while the store is open
        ensure_server_cert(data_dir)
        _assert_private(data_dir)
    finally:
        await runtime.engine.close()


async def test_new_data_dir_is_private_whatever_the_umask(umask: int, tmp_path: Path) -> None:
    await _exercise(tmp_path / "data")


def _as_older_versions_left_it(data_dir: Path) -> None:
    data_dir.chmod(0o755)
    for path in data_dir.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    assert stat.S_IMODE((data_dir / "mailgraph.db").stat().st_mode) == 0o644


async def test_old_data_dir_is_fixed_at_start(umask: int, data_dir: Path) -> None:
    _as_older_versions_left_it(data_dir)  # world-readable everything
    await _exercise(data_dir)
