"""Mail folders: list the top level or a folder's children, get one (spec §2.10); the writes are
in domain/folder_writes.py."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mailgraph.domain.folder_writes import FolderKey, FolderWriteService, addressed
from mailgraph.domain.mailboxes import ROOT, resolve
from mailgraph.domain.model import Actor, Folder, Timestamp, User, now
from mailgraph.domain.ports import Tx, UnitOfWork
from mailgraph.odata.ast import Expr
from mailgraph.odata.evaluate import matches

Children = dict[str, list[Folder]]
"""Child folders per parent folder id."""


class FolderService(FolderWriteService):
    """The folder use cases: the reads here, the writes inherited from FolderWriteService."""

    def __init__(self, uow: UnitOfWork, clock: Callable[[], Timestamp] = now) -> None:
        super().__init__(uow, clock)

    async def list(
        self,
        actor: Actor,
        user_key: str | None,
        parent_key: FolderKey | None,
        include_hidden: bool,
        where: Expr | None = None,
    ) -> tuple[User, list[Folder]]:
        """`GET …/mailFolders` (children of msgfolderroot) or `…/mailFolders/{id}/childFolders`,
        optionally only those matching a `$filter` (evaluated on the few rows read, odata/evaluate.py).

        Raises:
            ItemNotFoundError: an unknown parent folder.
        """

        async def unit(tx: Tx) -> tuple[User, list[Folder]]:
            owner = await resolve(tx, actor, user_key)
            parent = await addressed(tx, owner, parent_key or ROOT)
            found = await tx.folders.list_children(owner.id, parent.id, include_hidden)
            if where is not None:
                found = [f for f in found if matches(where, _getter(f))]
            return owner, found

        return await self._uow.read(unit)

    async def children(
        self, actor: Actor, user_key: str | None, parent_ids: Sequence[str], include_hidden: bool
    ) -> Children:
        """The child folders of each of `parent_ids` (`$expand=childFolders`), in one read."""

        async def unit(tx: Tx) -> Children:
            owner = await resolve(tx, actor, user_key)
            return {p: await tx.folders.list_children(owner.id, p, include_hidden) for p in parent_ids}

        return await self._uow.read(unit)

    async def get(self, actor: Actor, user_key: str | None, folder_key: FolderKey) -> tuple[User, Folder]:
        """`GET …/mailFolders/{id or well-known name}`; the answer carries the real id, never the alias.

        Raises:
            ItemNotFoundError: no such folder in this mailbox.
        """

        async def unit(tx: Tx) -> tuple[User, Folder]:
            owner = await resolve(tx, actor, user_key)
            return owner, await addressed(tx, owner, folder_key)

        return await self._uow.read(unit)


_FIELDS: dict[str, Callable[[Folder], object]] = {
    "id": lambda f: f.id,
    "displayName": lambda f: f.display_name,
    "parentFolderId": lambda f: f.parent_id,
    "childFolderCount": lambda f: f.child_folder_count,
    "totalItemCount": lambda f: f.total_item_count,
    "unreadItemCount": lambda f: f.unread_item_count,
    "isHidden": lambda f: f.is_hidden,
}


def _getter(f: Folder) -> Callable[[tuple[str, ...]], object]:
    """The Graph property values of a folder (paths as odata/resources.py MAIL_FOLDER declares them)."""
    return lambda path: _FIELDS[path[0]](f)
