"""Disk full at the blob store (issue 17): `StorageFullError` (Graph 507, SMTP 452), no half-written
temp file left taking space, and writes work again once space returns. On a real 2 MB tmpfs (root
only; skipped with the reason elsewhere). The whole server on a full disk: tests/trials/disk_full.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailgraph.domain.errors import StorageFullError
from mailgraph.smtpd.replies import reply_for
from mailgraph.store.blobs import BlobStore
from tests.trials.disk_full import fill, mount_allowed, tmpfs


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    reason = mount_allowed()
    if reason:
        pytest.skip(reason)
    with tmpfs(tmp_path / "data", 2) as data:
        yield data


async def test_full_disk_is_storage_full_and_leaves_no_temp_file(small_disk: Path) -> None:
    blobs = BlobStore(small_disk)
    filler = fill(small_disk, 64)
    with pytest.raises(StorageFullError):
        await blobs.put(os.urandom(512 * 1024))
    with pytest.raises(StorageFullError):
        await blobs.write_part("upload1", 0, os.urandom(512 * 1024))
    assert [p.name for p in (small_disk / "blobs").iterdir()] == []  # no `.tmp-…` left behind
    assert list((small_disk / "uploads" / "upload1").glob(".tmp-*")) == []
    filler.unlink()  # space returns: the same write succeeds
    data = os.urandom(512 * 1024)
    blob = await blobs.put(data)
    assert await blobs.read(blob) == data


def test_storage_full_is_a_temporary_smtp_refusal() -> None:
    # RFC 5321 §4.2.3 "452 insufficient system storage": the sending MTA keeps the message and retries.
    assert str(reply_for(StorageFullError())).startswith("452 4.3.1")
