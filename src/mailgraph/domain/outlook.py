"""The mailbox's Outlook settings records (issue 15) and the repositories that keep them.

`OutlookCategory` is Graph's `outlookCategory` (the master category list, migration 0023);
`ClassificationOverride` is Graph's `inferenceClassificationOverride` (Focused Inbox: always file a
sender's mail as focused or other). The use cases are in domain/categories.py and domain/inference.py;
this module holds no rules, only the shapes, so domain/ports.py can name the repositories.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from mailgraph.domain.model import Inference, Timestamp


@dataclass(frozen=True, slots=True)
class OutlookCategory:
    """One entry of the master category list."""

    id: str
    mailbox_id: str
    display_name: str
    color: str
    created_at: Timestamp

    @property
    def name_key(self) -> str:
        """The name as compared: case-insensitively, as Exchange does."""
        return self.display_name.casefold()


@dataclass(frozen=True, slots=True)
class ClassificationOverride:
    """Always classify mail from `address` as `classify_as` (inferenceclassificationoverride.md)."""

    id: str
    mailbox_id: str
    address: str
    name: str
    classify_as: Inference
    created_at: Timestamp

    @property
    def address_key(self) -> str:
        """The sender as compared: case-insensitively (RFC 5321 §2.4 allows no more)."""
        return self.address.casefold()


class CategoryRepo(Protocol):
    """The master category lists (migration 0023)."""

    async def list(self, mailbox_id: str) -> list[OutlookCategory]:
        """The mailbox's categories in creation order."""
        ...

    async def get(self, category_id: str) -> OutlookCategory | None:
        """One category by id."""
        ...

    async def find_name(self, mailbox_id: str, name_key: str) -> OutlookCategory | None:
        """The mailbox's category with this case-folded name."""
        ...

    async def add(self, category: OutlookCategory) -> None:
        """Insert (a duplicate name is a `ConflictError` from the engine)."""
        ...

    async def set_color(self, category_id: str, color: str) -> None:
        """Change the color."""
        ...

    async def delete(self, category_id: str) -> None:
        """Remove the category."""
        ...


class OverrideRepo(Protocol):
    """Focused Inbox overrides (migration 0023)."""

    async def list(self, mailbox_id: str) -> list[ClassificationOverride]:
        """The mailbox's overrides in creation order."""
        ...

    async def get(self, override_id: str) -> ClassificationOverride | None:
        """One override by id."""
        ...

    async def find_sender(self, mailbox_id: str, address_key: str) -> ClassificationOverride | None:
        """The mailbox's override for this case-folded sender address."""
        ...

    async def put(self, override: ClassificationOverride) -> None:
        """Insert, or replace the row with the same id."""
        ...

    async def delete(self, override_id: str) -> None:
        """Remove the override."""
        ...
