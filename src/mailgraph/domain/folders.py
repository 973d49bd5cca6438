"""Mail folders: list the top level or a folder's children, get one (spec §2.10)."""

from __future__ import annotations

from mailgraph.domain.mailboxes import ROOT, folder, resolve
from mailgraph.domain.model import Actor, Folder, User
from mailgraph.domain.ports import Tx, UnitOfWork


class FolderService:
    """The folder use cases."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def list(
        self, actor: Actor, user_key: str | None, parent_key: str | None, include_hidden: bool
    ) -> tuple[User, list[Folder]]:
        """`GET …/mailFolders` (children of msgfolderroot) or `…/mailFolders/{id}/childFolders`.

        Raises:
            ItemNotFoundError: an unknown parent folder.
        """

        async def unit(tx: Tx) -> tuple[User, list[Folder]]:
            owner = await resolve(tx, actor, user_key)
            parent = await folder(tx, owner, parent_key or ROOT)
            return owner, await tx.folders.list_children(owner.id, parent.id, include_hidden)

        return await self._uow.read(unit)

    async def get(self, actor: Actor, user_key: str | None, folder_key: str) -> tuple[User, Folder]:
        """`GET …/mailFolders/{id or well-known name}`; the answer carries the real id, never the alias.

        Raises:
            ItemNotFoundError: no such folder in this mailbox.
        """

        async def unit(tx: Tx) -> tuple[User, Folder]:
            owner = await resolve(tx, actor, user_key)
            return owner, await folder(tx, owner, folder_key)

        return await self._uow.read(unit)
