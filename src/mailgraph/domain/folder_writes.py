"""Mail folder writes: create, rename, delete, move and copy (spec §2.10, §3.3; issue 15).

Rules, as Exchange keeps them (docs/graph-coverage.md lists the choices Graph does not document):

* Sibling folders have distinct display names, compared case-insensitively (Unicode case folding):
  a create, rename, move or copy that would break this answers 409 `ErrorFolderExists`.
* Well-known (distinguished) folders cannot be deleted, moved or renamed; they can be copied (the
  copy is an ordinary folder).
* `DELETE` moves the folder, with its subtree and items, into Deleted Items, as Outlook does (Graph's
  page does not say where it goes). The folder keeps its id and its items keep theirs (their folder
  does not change). A name taken there gets " (2)", " (3)", … as Outlook's Deleted Items shows.
  Deleting a folder that already lies inside Deleted Items removes it for good, with its subtree
  and items (attachments released), as emptying Deleted Items does.
* `move` changes the parent only (folder ids do not change on move, spec §3.3); `copy` creates a new
  folder with new ids for it, its subtree and copies of every item.
* Every row written is reported through `tx.changes` (a folder's rename or move is `updated`: the
  folder delta reports it changed, with its new `parentFolderId`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from mailgraph.domain import attachments, drafts, ids
from mailgraph.domain.errors import (
    DeleteDistinguishedFolderError,
    FolderExistsError,
    InvalidPropertyValueError,
    ItemNotFoundError,
    MoveCopyFailedError,
    MoveDistinguishedFolderError,
    RenameDistinguishedFolderError,
)
from mailgraph.domain.mailboxes import ROOT, folder, resolve, well_known_id
from mailgraph.domain.model import Actor, Folder, Page, Timestamp, User
from mailgraph.domain.moves import copy_attachments, destination_folder
from mailgraph.domain.ports import Tx, UnitOfWork

MAX_NAME = 255
"""Exchange's limit on a folder's display name (PR_DISPLAY_NAME of a folder)."""
_BATCH = 200
"""Items read per query while copying or purging a folder's content."""


FolderKey = str | Sequence[str]
"""A folder as a path addresses it: its id or well-known name, or the keys of
`mailFolders/{a}/childFolders/{b}/…` in order (each must be a child of the one before)."""


async def addressed(tx: Tx, owner: User, key: FolderKey) -> Folder:
    """The folder a path names; with several keys, each one must be a child of the previous.

    Raises:
        ItemNotFoundError: an unknown folder, or one that is not the child of the key before it.
    """
    keys = (key,) if isinstance(key, str) else tuple(key)
    current = await folder(tx, owner, keys[0])
    for child_key in keys[1:]:
        child = await folder(tx, owner, child_key)
        if child.parent_id != current.id:
            raise ItemNotFoundError()
        current = child
    return current


def check_name(name: str) -> str:
    """A display name as stored: trimmed, non-empty, at most 255 characters.

    Raises:
        InvalidPropertyValueError: empty or too long.
    """
    trimmed = name.strip()
    if not trimmed or len(trimmed) > MAX_NAME:
        raise InvalidPropertyValueError("The value of the property 'displayName' is not valid.")
    return trimmed


async def _taken(tx: Tx, owner: User, parent_id: str, name: str, except_id: str | None = None) -> bool:
    """Whether a child of `parent_id` other than `except_id` has this name; locks the parent first, so
    two concurrent units cannot both find a name free (PostgreSQL runs units READ COMMITTED)."""
    await tx.folders.lock(parent_id)
    key = name.casefold()
    siblings = await tx.folders.list_children(owner.id, parent_id, True)
    return any(f.display_name.casefold() == key and f.id != except_id for f in siblings)


def _subtree(folders: list[Folder], top: Folder) -> list[Folder]:
    """`top` and every folder below it, parents before children."""
    children: dict[str, list[Folder]] = {}
    for f in folders:
        if f.parent_id is not None:
            children.setdefault(f.parent_id, []).append(f)
    out, queue = [], [top]
    while queue:
        current = queue.pop(0)
        out.append(current)
        queue.extend(children.get(current.id, []))
    return out


class FolderWriteService:
    """The folder write use cases (one unit of work each)."""

    def __init__(self, uow: UnitOfWork, clock: Callable[[], Timestamp]) -> None:
        self._uow = uow
        self._clock = clock

    async def create(
        self, actor: Actor, user_key: str | None, parent_key: FolderKey | None, name: str, hidden: bool
    ) -> tuple[User, Folder]:
        """`POST …/mailFolders` (below msgfolderroot) or `…/mailFolders/{id}/childFolders`.

        Raises:
            ItemNotFoundError: an unknown parent.
            FolderExistsError: a sibling has that name.
            InvalidPropertyValueError: an empty or too long name.
        """
        display = check_name(name)

        async def unit(tx: Tx) -> tuple[User, Folder]:
            owner = await resolve(tx, actor, user_key)
            parent = await addressed(tx, owner, parent_key or ROOT)
            if await _taken(tx, owner, parent.id, display):
                raise FolderExistsError()
            created = Folder(ids.folder_id(), owner.id, parent.id, None, display, hidden)
            await tx.folders.insert(created)
            tx.changes.folder("created", created)
            return owner, created

        return await self._uow.write(unit)

    async def rename(
        self, actor: Actor, user_key: str | None, folder_key: FolderKey, name: str
    ) -> tuple[User, Folder]:
        """`PATCH …/mailFolders/{id}` with `displayName`.

        Raises:
            ItemNotFoundError: no such folder.
            RenameDistinguishedFolderError: a well-known folder.
            FolderExistsError: a sibling has that name.
        """
        display = check_name(name)

        async def unit(tx: Tx) -> tuple[User, Folder]:
            owner = await resolve(tx, actor, user_key)
            current = await addressed(tx, owner, folder_key)
            if current.well_known_name is not None:
                raise RenameDistinguishedFolderError()
            if current.display_name == display:
                return owner, current
            if current.parent_id and await _taken(tx, owner, current.parent_id, display, current.id):
                raise FolderExistsError()
            renamed = replace(current, display_name=display)
            await tx.folders.update(renamed)
            tx.changes.folder("updated", renamed)
            return owner, renamed

        return await self._uow.write(unit)

    async def delete(self, actor: Actor, user_key: str | None, folder_key: FolderKey) -> None:
        """`DELETE …/mailFolders/{id}`: into Deleted Items, or for good from inside it (module docstring).

        Raises:
            ItemNotFoundError: no such folder.
            DeleteDistinguishedFolderError: a well-known folder.
        """

        async def unit(tx: Tx) -> None:
            owner, current = await _deletable(tx, actor, user_key, folder_key)
            deleted_items = await well_known_id(tx, owner, "deleteditems")
            everything = await tx.folders.list_all(owner.id)
            if _inside(everything, current, deleted_items):
                await self._purge(tx, _subtree(everything, current))
                return
            name = await _free_name(tx, owner, deleted_items, current.display_name)
            moved = replace(current, parent_id=deleted_items, display_name=name)
            await tx.folders.update(moved)
            tx.changes.folder("updated", moved)

        await self._uow.write(unit)

    async def permanent_delete(self, actor: Actor, user_key: str | None, folder_key: FolderKey) -> None:
        """`POST …/mailFolders/{id}/permanentDelete`: the folder, its subtree and items removed for good.

        Raises:
            ItemNotFoundError: no such folder.
            DeleteDistinguishedFolderError: a well-known folder.
        """

        async def unit(tx: Tx) -> None:
            owner, current = await _deletable(tx, actor, user_key, folder_key)
            await self._purge(tx, _subtree(await tx.folders.list_all(owner.id), current))

        await self._uow.write(unit)

    async def move(
        self, actor: Actor, user_key: str | None, folder_key: FolderKey, destination: str
    ) -> tuple[User, Folder]:
        """`POST …/mailFolders/{id}/move` `{destinationId}`: the same folder under a new parent.

        Raises:
            ItemNotFoundError: an unknown folder or destination.
            MalformedIdError: a destination that cannot be a folder id.
            MoveDistinguishedFolderError: a well-known folder.
            MoveCopyFailedError: a destination inside the folder's own subtree.
            FolderExistsError: the destination has a child of that name.
        """

        async def unit(tx: Tx) -> tuple[User, Folder]:
            owner = await resolve(tx, actor, user_key)
            current = await addressed(tx, owner, folder_key)
            if current.well_known_name is not None:
                raise MoveDistinguishedFolderError()
            target = await destination_folder(tx, owner, destination)
            if target.id == current.parent_id:
                return owner, current
            everything = await tx.folders.list_all(owner.id)
            if target.id in {f.id for f in _subtree(everything, current)}:
                raise MoveCopyFailedError()
            if await _taken(tx, owner, target.id, current.display_name):
                raise FolderExistsError()
            moved = replace(current, parent_id=target.id)
            await tx.folders.update(moved)
            tx.changes.folder("updated", moved)
            return owner, moved

        return await self._uow.write(unit)

    async def copy(
        self, actor: Actor, user_key: str | None, folder_key: FolderKey, destination: str
    ) -> tuple[User, Folder]:
        """`POST …/mailFolders/{id}/copy` `{destinationId}`: a new folder tree with copies of the items.

        Raises:
            ItemNotFoundError: an unknown folder or destination.
            MalformedIdError: a destination that cannot be a folder id.
            MoveCopyFailedError: a destination inside the folder's own subtree.
            FolderExistsError: the destination has a child of that name.
        """

        async def unit(tx: Tx) -> tuple[User, Folder]:
            owner = await resolve(tx, actor, user_key)
            current = await addressed(tx, owner, folder_key)
            target = await destination_folder(tx, owner, destination)
            tree = _subtree(await tx.folders.list_all(owner.id), current)
            if target.id in {f.id for f in tree}:
                raise MoveCopyFailedError()
            if await _taken(tx, owner, target.id, current.display_name):
                raise FolderExistsError()
            new_ids = {f.id: ids.folder_id() for f in tree}
            now = self._clock()
            for source in tree:  # parents first: each copy's parent exists when it is inserted
                parent = target.id if source is current else new_ids[source.parent_id or ""]
                clone = Folder(
                    new_ids[source.id], owner.id, parent, None, source.display_name, source.is_hidden
                )
                await tx.folders.insert(clone)
                tx.changes.folder("created", clone)
                await self._copy_items(tx, owner, source.id, clone.id, now)
            copied = await tx.folders.get(owner.id, new_ids[current.id])
            assert copied is not None  # inserted above, in this unit
            return owner, copied

        return await self._uow.write(unit)

    async def _copy_items(self, tx: Tx, owner: User, source_id: str, target_id: str, now: Timestamp) -> None:
        skip = 0
        while True:
            page = await tx.messages.list(owner.id, source_id, Page(top=_BATCH, skip=skip))
            for message in page:
                clone = drafts.copy_for(message, owner.id, target_id, now)
                await tx.messages.insert(clone)
                tx.changes.message("created", clone)
                await copy_attachments(tx, message, clone, now)
            if len(page) < _BATCH:
                return
            skip += _BATCH

    async def _purge(self, tx: Tx, tree: list[Folder]) -> None:
        """Remove folders (children first) with their items and the items' attachment references."""
        now = self._clock()
        for gone in reversed(tree):
            while page := await tx.messages.list(gone.mailbox_id, gone.id, Page(top=_BATCH)):
                for message in page:
                    await attachments.release(tx, message.id, now)
                    await tx.messages.delete(message.id)
                    tx.changes.message("deleted", message)
            await tx.folders.delete(gone.id)
            tx.changes.folder("deleted", gone)


def _inside(folders: list[Folder], current: Folder, ancestor_id: str) -> bool:
    """Whether `current` lies below the folder `ancestor_id`."""
    by_id = {f.id: f for f in folders}
    parent = current.parent_id
    for _ in range(len(folders)):  # bounded: a cycle cannot exist, but never loop forever
        if parent is None:
            return False
        if parent == ancestor_id:
            return True
        parent = by_id[parent].parent_id if parent in by_id else None
    return False


async def _free_name(tx: Tx, owner: User, parent_id: str, name: str) -> str:
    """`name`, or `name (2)`, `name (3)`, … whichever no child of `parent_id` has (parent locked)."""
    await tx.folders.lock(parent_id)
    taken = {f.display_name.casefold() for f in await tx.folders.list_children(owner.id, parent_id, True)}
    candidate, n = name, 1
    while candidate.casefold() in taken:
        n += 1
        candidate = f"{name} ({n})"
    return candidate


async def _deletable(
    tx: Tx, actor: Actor, user_key: str | None, folder_key: FolderKey
) -> tuple[User, Folder]:
    """The owner and the addressed folder, which must not be a well-known one (Graph refuses to delete
    a distinguished folder: ErrorDeleteDistinguishedFolder)."""
    owner = await resolve(tx, actor, user_key)
    current = await addressed(tx, owner, folder_key)
    if current.well_known_name is not None:
        raise DeleteDistinguishedFolderError()
    return owner, current
