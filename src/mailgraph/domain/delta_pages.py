"""The pages of delta rounds (domain/delta.py says how rounds work): one page, in one read snapshot.

`MessagePage` reads the items of one folder (initial round: the content by keyset; later rounds: the
items the change log touched there, coalesced); `folder_page` the visible folder hierarchy. Both leave
items changed after the round's horizon to the next round.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from mailgraph.domain.change_log import LogEntry, MailboxClock
from mailgraph.domain.delta_tokens import SyncState
from mailgraph.domain.mailboxes import ROOT
from mailgraph.domain.model import Folder, Message
from mailgraph.domain.ports import Tx

FILTER_CAP = 5000  # delta-query-messages.md: with $filter a delta returns at most 5,000 messages


@dataclass(frozen=True, slots=True)
class Removed:
    """A `{"id", "@removed": {"reason": "deleted"}}` entry."""

    id: str


def _first_and_last(entries: list[LogEntry]) -> dict[str, tuple[LogEntry, LogEntry]]:
    """Per item, its first and last entry (entries come in change order)."""
    out: dict[str, tuple[LogEntry, LogEntry]] = {}
    for e in entries:
        first = out.get(e.item_id)
        out[e.item_id] = (e if first is None else first[0], e)
    return out


class MessagePage:
    """One page of a message delta round, inside one read snapshot."""

    def __init__(
        self,
        tx: Tx,
        mailbox_id: str,
        folder_id: str,
        clock: MailboxClock,
        state: SyncState,
        size: int,
        immutable: bool,
        pending: Sequence[LogEntry] = (),
    ) -> None:
        self.tx, self.mailbox_id, self.folder_id = tx, mailbox_id, folder_id
        self.clock, self.state, self.size, self.immutable = clock, state, size, immutable
        self.horizon = state.horizon if state.horizon is not None else clock.n
        self.pending = pending
        self.out: list[Message | Removed] = []

    async def run(self) -> tuple[list[Message | Removed], SyncState]:
        # Items changed after the horizon are the next round's: reading them now would report them twice.
        # Changes still pending (numbered after commit, domain/delta.py) will be numbered above the clock:
        # later too, though the current rows may already show them.
        later = {
            e.item_id
            for e in self.pending
            if e.entity == "message" and self.folder_id in (e.folder_id, e.from_folder_id)
        }
        if self.clock.n > self.horizon:
            later_entries = await self.tx.change_log.entries(
                self.mailbox_id, self.horizon, self.clock.n, self.folder_id
            )
            later.update(e.item_id for e in later_entries)
        if self.state.base is None:
            return await self._initial(later)
        return await self._changes(later)

    def _emit(self, entry: Message | Removed, change: str) -> None:
        wanted = self.state.options.change_type
        if wanted is None or wanted == change:
            self.out.append(entry)

    def _id(self, message: Message) -> str:
        return message.id if self.immutable else message.rest_id

    async def _initial(self, later: set[str]) -> tuple[list[Message | Removed], SyncState]:
        state, options = self.state, self.state.options
        room = self.size
        if options.received_since is not None:
            room = min(room, FILTER_CAP - state.emitted)
        before = None
        if state.cursor:
            at, _, item_id = state.cursor.partition(":")
            before = (int(at), item_id)
        rows = await self.tx.change_log.folder_items(
            self.mailbox_id, self.folder_id, before, options.received_since, room + len(later) + 1
        )
        candidates = [m for m in rows if m.id not in later]
        page = candidates[:room]
        self.out.extend(
            page
        )  # the initial round is the content: every changeType sees it (Graph's example 2)
        emitted = state.emitted + len(page)
        capped = options.received_since is not None and emitted >= FILTER_CAP
        if len(candidates) > len(page) and not capped:
            last = page[-1]
            cursor = f"{last.received_at}:{last.id}"
            return self.out, replace(state, horizon=self.horizon, cursor=cursor, emitted=emitted)
        return self.out, _delta_link(state, self.horizon)

    async def _changes(self, later: set[str]) -> tuple[list[Message | Removed], SyncState]:
        state = self.state
        assert state.base is not None
        entries = await self.tx.change_log.entries(self.mailbox_id, state.base, self.horizon, self.folder_id)
        items = _first_and_last(entries)
        order = sorted(items)
        last_done = state.cursor
        for item_id in order[bisect_right(order, state.cursor) if state.cursor else 0 :]:
            if len(self.out) >= self.size:
                return self.out, replace(state, horizon=self.horizon, cursor=last_done)
            last_done = item_id
            first, last = items[item_id]
            if item_id in later:
                self._settle_later(first, last)
            else:
                await self._report(first)
        return self.out, _delta_link(state, self.horizon)

    def _known(self, first: LogEntry) -> tuple[bool, str | None]:
        """Whether the item was in the folder at `base`, and the id the client knows it by."""
        if first.folder_before != self.folder_id:
            return False, None
        return True, first.item_id if self.immutable else first.rest_id_before

    async def _report(self, first: LogEntry) -> None:
        """An item unchanged since the horizon: its current row is its state at the horizon."""
        was_in, known = self._known(first)
        current = await self.tx.messages.get_immutable(self.mailbox_id, first.item_id)
        since = self.state.options.received_since
        is_in = (
            current is not None
            and current.folder_id == self.folder_id
            and (since is None or current.received_at >= since)
        )
        if current is not None and is_in:
            if was_in and known != self._id(current):
                self._emit(Removed(known or ""), "deleted")
                self._emit(current, "created")
            else:
                self._emit(current, "updated" if was_in else "created")
        elif was_in:
            self._emit(Removed(known or ""), "deleted")

    def _settle_later(self, first: LogEntry, last: LogEntry) -> None:
        """An item changed again after the horizon: the next round sends its state, but the id the
        client holds from `base` must go now if it is not the id the item had at the horizon."""
        was_in, known = self._known(first)
        in_at_horizon = last.kind != "deleted" and last.folder_id == self.folder_id
        id_at_horizon = last.item_id if self.immutable else last.rest_id
        if was_in and (not in_at_horizon or known != id_at_horizon):
            self._emit(Removed(known or ""), "deleted")


def _delta_link(state: SyncState, horizon: int) -> SyncState:
    return SyncState(state.kind, state.mailbox_id, state.folder_id, state.options, base=horizon)


def _visible(folders: list[Folder]) -> dict[str, Folder]:
    """The folders a client syncs: below msgfolderroot, not hidden, no hidden ancestor."""
    by_id = {f.id: f for f in folders}
    shown: dict[str, Folder] = {}
    for f in folders:
        node: Folder | None = f
        ok = f.well_known_name != ROOT and f.parent_id is not None
        while ok and node is not None:
            ok = not node.is_hidden
            node = by_id.get(node.parent_id) if node.parent_id else None
        if ok:
            shown[f.id] = f
    return shown


def _touched(entries: Iterable[LogEntry]) -> tuple[set[str], set[str]]:
    """Folders whose row or item counts changed in these entries, and folders deleted among them."""
    touched: set[str] = set()
    deleted: set[str] = set()
    for e in entries:
        if e.entity == "folder":
            touched.add(e.item_id)
            if e.kind == "deleted":
                deleted.add(e.item_id)
            elif e.kind == "created":
                deleted.discard(e.item_id)
        else:
            touched.add(e.folder_id)
            if e.from_folder_id:
                touched.add(e.from_folder_id)
    return touched, deleted


async def folder_page(
    tx: Tx,
    mailbox_id: str,
    clock: MailboxClock,
    state: SyncState,
    size: int,
    pending: Sequence[LogEntry] = (),
) -> tuple[list[Folder | Removed], SyncState]:
    """One page of the hierarchy delta; a folder whose item counts changed counts as updated. Folders
    touched after the horizon (or by changes still `pending`) are left to the next round."""
    horizon = state.horizon if state.horizon is not None else clock.n
    later = _touched(pending)[0]
    if clock.n > horizon:
        later |= _touched(await tx.change_log.entries(mailbox_id, horizon, clock.n))[0]
    visible = _visible(await tx.change_log.mailbox_folders(mailbox_id))
    candidates: set[str] = set(visible)
    deleted: set[str] = set()
    if state.base is not None:
        candidates, deleted = _touched(await tx.change_log.entries(mailbox_id, state.base, horizon))
    order = sorted(candidates - later)
    start = bisect_right(order, state.cursor) if state.cursor else 0
    out: list[Folder | Removed] = []
    out_cursor = state.cursor
    for folder_id in order[start:]:
        if len(out) >= size:
            return out, replace(state, horizon=horizon, cursor=out_cursor)
        out_cursor = folder_id
        if folder_id in visible:
            out.append(visible[folder_id])
        elif folder_id in deleted:
            out.append(Removed(folder_id))
    return out, _delta_link(state, horizon)
