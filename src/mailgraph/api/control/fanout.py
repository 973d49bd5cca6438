"""Event-stream fan-out: one after-commit subscriber for every SSE client, each event serialized once.

Why (issue 14 benchmark: create+send with 11 stream clients ran at 0.61 of the rate with none): each
client used to subscribe on its own and serialize every change to JSON itself, and its stream wrote
one chunk per event. Now clients watching the same mailboxes form a group; a commit's frames are built
once per group and handed to each member as one bytes object, and a member's stream writes everything
queued since its last write as one chunk (many events per socket write under load).

Memory per client is bounded (`MAX_PENDING` bytes). A client that falls that far behind loses its
backlog and gets `event: resync` instead: it should reload what it shows (the UI refetches its list).
Dropping the backlog, not the newest events, keeps a slow reader from ever seeing a stale end state.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import orjson

from mailgraph.domain.changes import AfterCommit, Commit

HEARTBEAT_S = 15.0
MAX_LIFETIME_S = 600.0
MAX_PENDING = 256 * 1024
RESYNC = b'event: resync\ndata: {"reason":"the client read too slowly; reload"}\n\n'


class _Client:
    """One stream's pending bytes and its wake-up."""

    __slots__ = ("chunks", "limit", "overflowed", "size", "wake")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: list[bytes] = []
        self.size = 0
        self.overflowed = False
        self.wake = asyncio.Event()

    def push(self, blob: bytes) -> None:
        if self.size + len(blob) > self.limit:
            self.chunks.clear()  # the backlog goes; the reader sends `resync` in its place
            self.size = 0
            self.overflowed = True
        else:
            self.chunks.append(blob)
            self.size += len(blob)
        self.wake.set()

    def take(self) -> bytes:
        if self.overflowed:
            self.overflowed = False
            self.chunks.clear()
            self.size = 0
            return RESYNC
        blob = b"".join(self.chunks)
        self.chunks.clear()
        self.size = 0
        self.wake.clear()
        return blob


class EventHub:
    """Groups SSE clients by the mailboxes they watch; subscribes to `AfterCommit` once."""

    def __init__(self, signals: AfterCommit, *, max_pending: int = MAX_PENDING) -> None:
        self._signals = signals
        self._max_pending = max_pending
        self._groups: dict[frozenset[str], list[_Client]] = {}
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def clients(self) -> int:
        """How many streams are connected."""
        return sum(len(members) for members in self._groups.values())

    def _on_commit(self, commit: Commit) -> None:
        for mailboxes, members in self._groups.items():
            blob = frames(commit, mailboxes)
            if blob:
                for client in members:
                    client.push(blob)

    def _join(self, mailboxes: frozenset[str]) -> _Client:
        client = _Client(self._max_pending)
        self._groups.setdefault(mailboxes, []).append(client)
        if self._unsubscribe is None:
            self._unsubscribe = self._signals.subscribe(self._on_commit)
        return client

    def _leave(self, mailboxes: frozenset[str], client: _Client) -> None:
        members = self._groups.get(mailboxes, [])
        if client in members:
            members.remove(client)
        if not members:
            self._groups.pop(mailboxes, None)
        if not self._groups and self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    async def stream(
        self, mailboxes: frozenset[str], *, lifetime_s: float = MAX_LIFETIME_S
    ) -> AsyncIterator[bytes]:
        """SSE bytes for the commits touching `mailboxes`, a heartbeat comment when idle, until
        `lifetime_s` (the browser's EventSource reconnects by itself after `retry:`)."""
        client = self._join(mailboxes)
        loop = asyncio.get_running_loop()
        end = loop.time() + lifetime_s
        try:
            yield b"retry: 1000\n: connected\n\n"
            while (left := end - loop.time()) > 0:
                try:
                    await asyncio.wait_for(client.wake.wait(), min(left, HEARTBEAT_S))
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                blob = client.take()
                if blob:
                    yield blob
        finally:
            self._leave(mailboxes, client)


def frames(commit: Commit, mailboxes: frozenset[str]) -> bytes:
    """The SSE frames of one commit's changes to `mailboxes` (and `queue` if it queued mail), joined."""
    parts = [
        b"event: " + c.entity.encode() + b"\ndata: " + orjson.dumps(
            {"kind": c.kind, "mailboxId": c.mailbox_id, "id": c.item_id, "restId": c.rest_id,
             "folderId": c.folder_id, "fromFolderId": c.from_folder_id}
        ) + b"\n\n"
        for c in commit.changes
        if c.mailbox_id in mailboxes
    ]  # fmt: skip
    if commit.queued and parts:
        parts.append(b"event: queue\ndata: " + orjson.dumps({"queued": commit.queued}) + b"\n\n")
    return b"".join(parts)
