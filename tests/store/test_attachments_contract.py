"""The store contract for attachments, blob reference counts and upload sessions (migration 0003)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mailgraph.domain import ids
from mailgraph.domain.attachments import attachment_id
from mailgraph.domain.model import Attachment, ReferenceInfo, UploadSession
from mailgraph.domain.ports import Tx
from mailgraph.store.contract import Engine
from tests.store.test_contract import message, seed

H1 = "a" * 64
H2 = "b" * 64


def attachment(item_id: str, position: int, blob: str | None = H1, **extra: object) -> Attachment:
    base = Attachment(
        id=attachment_id(),
        item_id=item_id,
        position=position,
        kind="file" if blob else "reference",
        name=f"file{position}.txt",
        content_type="text/plain",
        size=3,
        is_inline=False,
        content_id=None,
        content_location=None,
        modified_at=1_000,
        blob_hash=blob,
    )
    return replace(base, **extra)  # type: ignore[arg-type]


async def stored_item(engine: Engine) -> str:
    (alice,) = await seed(engine, "alice")
    drafts = await engine.read(lambda tx: tx.folders.get_well_known(alice.id, "drafts"))
    assert drafts is not None
    item = message(alice, drafts.id, 1)
    await engine.write(lambda tx: tx.messages.insert(item))
    return item.id


async def test_round_trip_order_and_counts(engine: Engine) -> None:
    item = await stored_item(engine)
    ref = ReferenceInfo("https://x.test/a", "dropbox", "view", False, None, None)
    rows = [
        attachment(item, 0),
        attachment(item, 1, H2, is_inline=True, content_id="logo", content_location="cid:logo"),
        attachment(item, 2, None, reference=ref),
    ]

    async def unit(tx: Tx) -> None:
        for row in rows:
            await tx.attachments.insert(row)

    await engine.write(unit)
    assert await engine.read(lambda tx: tx.attachments.for_item(item)) == rows
    assert await engine.read(lambda tx: tx.attachments.get(item, rows[1].id)) == rows[1]
    assert await engine.read(lambda tx: tx.attachments.get("other", rows[1].id)) is None
    assert await engine.read(lambda tx: tx.attachments.counts(item)) == (3, 2)
    assert await engine.read(lambda tx: tx.attachments.counts("none")) == (0, 0)
    assert await engine.read(lambda tx: tx.attachments.known_blobs([H1, H2, "c" * 64])) == {H1, H2}


async def test_reference_counts_and_collection(engine: Engine) -> None:
    item = await stored_item(engine)
    first, second = attachment(item, 0), attachment(item, 1)

    async def unit(tx: Tx) -> None:
        await tx.attachments.insert(first)
        await tx.attachments.insert(second)  # same blob: two references, one blob row

    await engine.write(unit)
    assert await engine.write(lambda tx: tx.attachments.delete(item, first.id, 5_000)) is True
    assert await engine.write(lambda tx: tx.attachments.delete(item, first.id, 5_000)) is False
    assert await engine.write(lambda tx: tx.attachments.collect(10**15, False)) == []  # still referenced
    assert await engine.write(lambda tx: tx.attachments.release_item(item, 7_000)) == 1
    assert await engine.write(lambda tx: tx.attachments.collect(6_999, False)) == []  # released after
    assert await engine.write(lambda tx: tx.attachments.collect(7_000, False)) == [H1]
    assert await engine.read(lambda tx: tx.attachments.known_blobs([H1])) == set()
    # Referenced again after release: the count restarts and the blob is no longer collectable.
    await engine.write(lambda tx: tx.attachments.insert(attachment(item, 2)))
    assert await engine.write(lambda tx: tx.attachments.collect(10**15, False)) == []


async def test_failed_unit_adds_no_reference(engine: Engine) -> None:
    item = await stored_item(engine)
    row = attachment(item, 0)

    async def fails(tx: Tx) -> None:
        await tx.attachments.insert(row)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await engine.write(fails)
    assert await engine.read(lambda tx: tx.attachments.for_item(item)) == []
    assert await engine.read(lambda tx: tx.attachments.known_blobs([H1])) == set()


async def test_reconcile_drops_rows_of_vanished_items(engine: Engine) -> None:
    item = await stored_item(engine)

    async def unit(tx: Tx) -> None:
        await tx.attachments.insert(attachment(item, 0))
        await tx.attachments.insert(attachment("vanished-item", 0, H2))

    await engine.write(unit)
    assert await engine.write(lambda tx: tx.attachments.collect(10**15, False)) == []
    assert await engine.write(lambda tx: tx.attachments.collect(10**15, True)) == [H2]
    assert await engine.read(lambda tx: tx.attachments.for_item("vanished-item")) == []
    assert len(await engine.read(lambda tx: tx.attachments.for_item(item))) == 1


async def test_upload_sessions(engine: Engine) -> None:
    session = UploadSession(
        ids.queue_id(), "f" * 64, "mbx", "item", "big.bin", None, 10, False, None, 0, 500, 1
    )
    await engine.write(lambda tx: tx.attachments.put_session(session))
    assert await engine.read(lambda tx: tx.attachments.get_session(session.id)) == session
    moved = replace(session, received=4, expires_at=900, content_type="image/png", content_id="c1")
    await engine.write(lambda tx: tx.attachments.put_session(moved))  # replace
    assert await engine.read(lambda tx: tx.attachments.get_session(session.id)) == moved
    assert await engine.read(lambda tx: tx.attachments.open_sessions("item", 800)) == 1
    assert await engine.read(lambda tx: tx.attachments.open_sessions("item", 901)) == 0
    assert await engine.read(lambda tx: tx.attachments.expired_sessions(901, 10)) == [session.id]
    assert await engine.read(lambda tx: tx.attachments.expired_sessions(899, 10)) == []
    assert await engine.write(lambda tx: tx.attachments.delete_session(session.id)) is True
    assert await engine.write(lambda tx: tx.attachments.delete_session(session.id)) is False
    assert await engine.read(lambda tx: tx.attachments.get_session(session.id)) is None
