"""Graph `mailFolder` JSON (spec §3.3)."""

from __future__ import annotations

from typing import Any

from mailgraph.domain.model import Folder


def folder_json(f: Folder, version: str, select: tuple[str, ...] | None = None) -> dict[str, Any]:
    """A folder as Graph returns it; beta adds `wellKnownName` (spec §7)."""
    out: dict[str, Any] = {
        "id": f.id,
        "displayName": f.display_name,
        "parentFolderId": f.parent_id,
        "childFolderCount": f.child_folder_count,
        "unreadItemCount": f.unread_item_count,
        "totalItemCount": f.total_item_count,
        "isHidden": f.is_hidden,
    }
    if version == "beta":
        out["wellKnownName"] = f.well_known_name
    if select is not None:
        out = {k: v for k, v in out.items() if k == "id" or k in select}
    return out
