"""Graph `mailFolder` routes: list, get, childFolders (spec §2.10).

Routes (v1.0 and beta; `/me` or `/users/{id|upn}`): `GET …/mailFolders`, `GET …/mailFolders/{id}`
(id or well-known name, also as `mailFolders('inbox')`), `GET …/mailFolders/{id}/childFolders`.
"""

from __future__ import annotations

from mailgraph.api.context import Ctx, json_response
from mailgraph.api.http import Request, Response
from mailgraph.api.paging import DEFAULT_PAGE, next_link
from mailgraph.api.router import Match
from mailgraph.api.serialize.folders import folder_json
from mailgraph.api.serialize.values import bad_value
from mailgraph.odata.parser import parse_query
from mailgraph.odata.resources import MAIL_FOLDER

LIST_OPTIONS = frozenset({"$select", "$top", "$skip", "$count"})


def _include_hidden(extra: dict[str, str]) -> bool:
    value = next((v for k, v in extra.items() if k.lower() == "includehiddenfolders"), "false")
    if value.lower() not in ("true", "false"):
        bad_value("includeHiddenFolders")
    return value.lower() == "true"


async def list_folders(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/mailFolders (children of msgfolderroot) and …/mailFolders/{id}/childFolders."""
    options, extra = parse_query(req.query, MAIL_FOLDER, allow=LIST_OPTIONS)
    parent = m.keys[0] if m.keys else None
    owner, folders = await ctx.services.folders.list(ctx.actor, m.user_key, parent, _include_hidden(extra))
    top = ctx.page_size(options.top, DEFAULT_PAGE)
    window = folders[options.skip : options.skip + top]
    segment = ctx.user_segment(owner.id)
    shape = "mailFolders" if parent is None else f"mailFolders('{parent}')/childFolders"
    payload: dict[str, object] = {"@odata.context": ctx.context(f"{segment}/{shape}")}
    if options.count:
        payload["@odata.count"] = len(folders)
    payload["value"] = [folder_json(f, m.version, options.select) for f in window]
    if options.skip + top < len(folders):
        payload["@odata.nextLink"] = next_link(req, options.skip + top)
    return json_response(payload)


async def get_folder(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/mailFolders/{id}: the real id is returned even when addressed by well-known name."""
    options, _ = parse_query(req.query, MAIL_FOLDER, allow=frozenset({"$select"}))
    owner, folder = await ctx.services.folders.get(ctx.actor, m.user_key, m.keys[0])
    payload: dict[str, object] = {
        "@odata.context": ctx.context(f"{ctx.user_segment(owner.id)}/mailFolders/$entity")
    }
    payload.update(folder_json(folder, m.version, options.select))
    return json_response(payload)
