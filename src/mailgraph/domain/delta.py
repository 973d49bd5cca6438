"""Delta queries (spec §2.13): the messages of one folder, and the folder hierarchy, round by round.

Every page is computed in ONE read snapshot from the mailbox clock (`n`), the change log and the
current rows (domain/change_log.py). Where changes are numbered after commit (PostgreSQL), a read that
finds the mailbox's committed changes still pending first numbers them in a write unit of its own and
reads again (a client sees its own writes); changes still pending in that snapshot count as changed
after the horizon, like later numbers (the current rows may already show them). A round has a `base` (the change number the client's copy is
at; None for the initial round) and a `horizon` (the clock when the round's first page was read); it
ends with a deltaLink at the horizon. A page read later, at clock `c` > horizon, leaves out the items
changed in `(horizon, c]`: the next round reports them, so no change is lost and none reported twice.

- Initial round: the folder's content in `receivedDateTime desc, id desc` order, by keyset cursor.
- Later rounds: the items whose log entries touched the folder in `(base, horizon]`, coalesced into
  their current state, ordered by immutable id. Whether an item was in the folder at `base` (and
  with which REST id) is read from its first entry there: the client sees it created, updated, or
  `@removed` (reason "deleted": Graph uses it for deletions and moves out alike). With REST ids a
  move out and back in changes the id, so the old id is removed and the item comes again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from mailgraph.domain import delta_tokens
from mailgraph.domain.change_log import TOKEN_LIFETIME_S, LogEntry, MailboxClock
from mailgraph.domain.delta_pages import MessagePage, Removed, folder_page
from mailgraph.domain.delta_tokens import BadTokenError, DeltaOptions, SyncState, TokenKind
from mailgraph.domain.errors import DomainError
from mailgraph.domain.mailboxes import folder, resolve
from mailgraph.domain.model import SECOND, Actor, Folder, Message, Timestamp, User
from mailgraph.domain.ports import Tx, UnitOfWork

DEFAULT_PAGE = 10
MAX_PAGE = 1000
E = TypeVar("E")


class SyncStateNotFoundError(DomainError):
    """A token this mailbox cannot continue: forged, foreign, expired, or older than the kept log.

    `reset` (when set) are the options of a full resync the client should start instead (Graph: 410
    with a `Location` whose `$deltatoken` is empty)."""

    def __init__(self, reset: DeltaOptions | None = None) -> None:
        super().__init__(
            "The sync state generation is not found; start a new sync without a $deltatoken or $skiptoken."
        )
        self.reset = reset


@dataclass(slots=True)
class DeltaPage(Generic[E]):
    """One page of a round: entries, and the token of the next page (`done`: a deltatoken)."""

    owner: User
    entries: list[E | Removed]
    token: str
    done: bool
    options: DeltaOptions
    """The round's options (from the token on later pages)."""


class DeltaService:
    """The delta use cases."""

    def __init__(self, uow: UnitOfWork, clock: Callable[[], Timestamp]) -> None:
        self._uow = uow
        self._clock = clock

    async def messages(
        self,
        actor: Actor,
        user_key: str | None,
        folder_key: str,
        options: DeltaOptions,
        token: str | None,
        page_size: int | None = None,
        immutable_ids: bool = False,
    ) -> DeltaPage[Message]:
        """`GET …/mailFolders/{id}/messages/delta`: one page (`page_size` overrides the round's size).

        Raises:
            SyncStateNotFoundError: the token cannot be continued.
            ItemNotFoundError: no such folder.
        """

        async def unit(tx: Tx, sequenced: bool) -> DeltaPage[Message] | str:
            owner = await resolve(tx, actor, user_key)
            box = await folder(tx, owner, folder_key)
            clock, pending = await _clock(tx, owner.id, sequenced)
            if clock is None:
                return owner.id
            state = self._state(token, clock, "m", owner.id, box.id, options)
            size = _size(page_size, state.options)
            page = MessagePage(tx, owner.id, box.id, clock, state, size, immutable_ids, pending)
            entries, next_state = await page.run()
            return self._page(owner, entries, next_state, clock)

        return await self._run(unit)

    async def folders(
        self,
        actor: Actor,
        user_key: str | None,
        options: DeltaOptions,
        token: str | None,
        page_size: int | None,
    ) -> DeltaPage[Folder]:
        """`GET …/mailFolders/delta`: the visible folder hierarchy (msgfolderroot and hidden folders left out).

        Raises:
            SyncStateNotFoundError: the token cannot be continued.
        """

        async def unit(tx: Tx, sequenced: bool) -> DeltaPage[Folder] | str:
            owner = await resolve(tx, actor, user_key)
            clock, pending = await _clock(tx, owner.id, sequenced)
            if clock is None:
                return owner.id
            state = self._state(token, clock, "f", owner.id, "", options)
            entries, next_state = await folder_page(
                tx, owner.id, clock, state, _size(page_size, state.options), pending
            )
            return self._page(owner, entries, next_state, clock)

        return await self._run(unit)

    async def _run(self, unit: Callable[[Tx, bool], Awaitable[DeltaPage[E] | str]]) -> DeltaPage[E]:
        result = await self._uow.read(lambda tx: unit(tx, False))
        if isinstance(result, str):
            # A mailbox without a clock yet (no change since 0015), or with committed changes not yet
            # numbered (an engine that numbers after commit): number them, so the client sees its own
            # writes, then read again. What commits meanwhile is left to the next round.
            mailbox_id = result
            await self._uow.write(lambda tx: _prepare(tx, mailbox_id))
            result = await self._uow.read(lambda tx: unit(tx, True))
        assert not isinstance(result, str)  # the clock exists now
        return result

    def _page(
        self, owner: User, entries: list[E | Removed], state: SyncState, clock: MailboxClock
    ) -> DeltaPage[E]:
        state = replace(state, issued_at=self._clock() // SECOND)
        token = delta_tokens.encode(state, clock.secret)
        return DeltaPage(owner, entries, token, state.horizon is None, state.options)

    def _state(
        self,
        token: str | None,
        clock: MailboxClock,
        kind: TokenKind,
        mailbox_id: str,
        folder_id: str,
        options: DeltaOptions,
    ) -> SyncState:
        """The round's state: fresh for no (or an empty) token, else the verified token's."""
        if not token:
            return SyncState(kind, mailbox_id, folder_id, options)
        try:
            state = delta_tokens.decode(token, clock.secret)
        except BadTokenError:
            raise SyncStateNotFoundError() from None
        if (state.kind, state.mailbox_id, state.folder_id) != (kind, mailbox_id, folder_id):
            raise SyncStateNotFoundError()
        numbers = [n for n in (state.base, state.horizon) if n is not None]
        if any(n > clock.n for n in numbers):
            raise SyncStateNotFoundError()
        expired = self._clock() // SECOND - state.issued_at > TOKEN_LIFETIME_S
        if expired or any(n < clock.pruned_through for n in numbers):
            raise SyncStateNotFoundError(reset=state.options)
        return state


async def _clock(tx: Tx, mailbox_id: str, sequenced: bool) -> tuple[MailboxClock | None, list[LogEntry]]:
    """The mailbox's clock in this snapshot and its changes not numbered yet (None: prepare first —
    no clock, or pending changes the round must not miss before the mailbox was sequenced)."""
    clock = await tx.change_log.clock(mailbox_id)
    if clock is None:
        return None, []
    pending = await tx.change_log.pending(mailbox_id)
    if pending and not sequenced:
        return None, []
    return clock, pending


async def _prepare(tx: Tx, mailbox_id: str) -> None:
    """Create the mailbox's clock unless it exists, and number its pending changes."""
    await tx.change_log.ensure_clock(mailbox_id)
    await tx.change_log.sequence(mailbox_id)


def _size(override: int | None, options: DeltaOptions) -> int:
    return max(1, min(MAX_PAGE, override or options.page_size or DEFAULT_PAGE))
