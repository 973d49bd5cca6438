"""Graph `mailFolder` routes: list, get, create, rename, delete, move, copy, `$count` (spec §2.10).

Routes (v1.0 and beta; `/me` or `/users/{id|upn}`; a folder by id or well-known name, also as
`mailFolders('inbox')`; a child also as `mailFolders/{id}/childFolders/{id}`, checked to be that child):
`GET|POST …/mailFolders`, `GET|POST …/mailFolders/{id}/childFolders`, `GET|PATCH|DELETE
…/mailFolders/{id}`, `POST …/mailFolders/{id}/move|copy` `{destinationId}`, `POST
…/mailFolders/{id}/permanentDelete`, `GET …/mailFolders/$count` and `…/childFolders/$count` (text/plain). Lists take `$filter`, `$select`, `$top`, `$skip`, `$count`,
`$expand=childFolders` and `includeHiddenFolders=true`. The rules of the writes: domain/folder_writes.py.
"""

from __future__ import annotations

from typing import Any

from mailgraph.api.context import Ctx, json_response, no_content
from mailgraph.api.errors import GraphError
from mailgraph.api.http import Request, Response
from mailgraph.api.paging import DEFAULT_PAGE, next_link
from mailgraph.api.resources.counts import TEXT_PLAIN
from mailgraph.api.router import Match
from mailgraph.api.serialize.folders import folder_json
from mailgraph.api.serialize.values import bad_value, boolean, read_json, string, unknown_property
from mailgraph.domain.errors import InvalidPropertySetError
from mailgraph.domain.model import Folder
from mailgraph.odata.ast import QueryOptions
from mailgraph.odata.parser import parse_query
from mailgraph.odata.resources import MAIL_FOLDER

LIST_OPTIONS = frozenset({"$select", "$top", "$skip", "$count", "$filter", "$expand"})
COUNT_OPTIONS = frozenset({"$filter"})
# Server-set properties (spec §3.3): a body naming them is refused, not silently ignored.
_READ_ONLY = frozenset(
    {"id", "parentfolderid", "childfoldercount", "totalitemcount", "unreaditemcount", "wellknownname"}
)


def _include_hidden(extra: dict[str, str]) -> bool:
    value = next((v for k, v in extra.items() if k.lower() == "includehiddenfolders"), "false")
    if value.lower() not in ("true", "false"):
        bad_value("includeHiddenFolders")
    return value.lower() == "true"


def _parent(m: Match) -> list[str] | None:
    """The parent folder of a list/create route: the keys of `mailFolders/{a}[/childFolders/{b}]/childFolders`."""
    return m.keys or None


def _folder(m: Match) -> list[str]:
    """The folder of an item route: `mailFolders/{a}` or `mailFolders/{a}/childFolders/{b}` (b below a)."""
    return m.keys


def _shape(m: Match) -> str:
    if not m.keys:
        return "mailFolders"
    return "mailFolders" + "".join(f"('{k}')/childFolders" for k in m.keys)


async def _folders(
    req: Request, ctx: Ctx, m: Match, allow: frozenset[str]
) -> tuple[QueryOptions, bool, str, list[Folder]]:
    options, extra = parse_query(req.query, MAIL_FOLDER, allow=allow)
    hidden = _include_hidden(extra)
    owner, folders = await ctx.services.folders.list(
        ctx.actor, m.user_key, _parent(m), hidden, options.filter
    )
    return options, hidden, owner.id, folders


async def list_folders(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/mailFolders (children of msgfolderroot) and …/mailFolders/{id}/childFolders."""
    options, hidden, owner_id, folders = await _folders(req, ctx, m, LIST_OPTIONS)
    top = ctx.page_size(options.top, DEFAULT_PAGE)
    window = folders[options.skip : options.skip + top]
    payload: dict[str, object] = {"@odata.context": ctx.context(f"{ctx.user_segment(owner_id)}/{_shape(m)}")}
    if options.count:
        payload["@odata.count"] = len(folders)
    payload["value"] = await _render(ctx, m, window, options, hidden)
    if options.skip + top < len(folders):
        payload["@odata.nextLink"] = next_link(req, options.skip + top)
    return json_response(payload)


async def count_folders(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/mailFolders/$count and …/childFolders/$count: the number as text/plain (OData §11.2.10)."""
    _, _, _, folders = await _folders(req, ctx, m, COUNT_OPTIONS)
    return Response(200, str(len(folders)).encode(), TEXT_PLAIN)


async def _render(
    ctx: Ctx, m: Match, folders: list[Folder], options: QueryOptions, hidden: bool
) -> list[dict[str, Any]]:
    """Folders as JSON; with `$expand=childFolders` each carries its direct children (hidden ones only
    with includeHiddenFolders=true, as in the list itself)."""
    out = [folder_json(f, m.version, options.select) for f in folders]
    if "childFolders" in options.expand and folders:
        children = await ctx.services.folders.children(ctx.actor, m.user_key, [f.id for f in folders], hidden)
        for f, item in zip(folders, out, strict=True):
            item["childFolders"] = [folder_json(c, m.version) for c in children[f.id]]
    return out


def _entity(
    ctx: Ctx, owner_id: str, folder: Folder, m: Match, options: QueryOptions | None = None
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "@odata.context": ctx.context(f"{ctx.user_segment(owner_id)}/mailFolders/$entity")
    }
    payload.update(folder_json(folder, m.version, options.select if options else None))
    return payload


async def get_folder(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/mailFolders/{id}: the real id is returned even when addressed by well-known name."""
    options, extra = parse_query(req.query, MAIL_FOLDER, allow=frozenset({"$select", "$expand"}))
    owner, folder = await ctx.services.folders.get(ctx.actor, m.user_key, _folder(m))
    payload = _entity(ctx, owner.id, folder, m, options)
    if "childFolders" in options.expand:
        children = await ctx.services.folders.children(
            ctx.actor, m.user_key, [folder.id], _include_hidden(extra)
        )
        payload["childFolders"] = [folder_json(c, m.version) for c in children[folder.id]]
    return json_response(payload)


def _body(req: Request, *, creating: bool) -> tuple[str | None, bool | None]:
    """(displayName, isHidden) of a create or PATCH body.

    Raises:
        GraphError: malformed JSON, a wrong type, an unknown property (RequestBodyRead).
        InvalidPropertySetError: a server-set property, or `isHidden` after creation (spec §2.10).
    """
    data: dict[str, Any] = read_json(req, required=True) or {}
    name: str | None = None
    hidden: bool | None = None
    for key, value in data.items():
        lowered = key.lower()
        if lowered == "displayname":
            name = string(value, "displayName")
        elif lowered == "ishidden" and creating:
            hidden = boolean(value, "isHidden")
        elif lowered == "ishidden" or lowered in _READ_ONLY:
            raise InvalidPropertySetError(f"The property '{key}' can't be set on this request.")
        elif not key.startswith("@odata."):
            unknown_property(key, "mailFolder")
    return name, hidden


async def create_folder(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST …/mailFolders and …/mailFolders/{id}/childFolders: 201 with the new folder."""
    parse_query(req.query, MAIL_FOLDER, allow=frozenset())
    name, hidden = _body(req, creating=True)
    if name is None:
        raise GraphError(400, "ErrorInvalidRequest", "The 'displayName' property is required.")
    owner, folder = await ctx.services.folders.create(ctx.actor, m.user_key, _parent(m), name, bool(hidden))
    return json_response(_entity(ctx, owner.id, folder, m), 201)


async def update_folder(req: Request, ctx: Ctx, m: Match) -> Response:
    """PATCH …/mailFolders/{id}: rename (`displayName` is the one writable property)."""
    parse_query(req.query, MAIL_FOLDER, allow=frozenset())
    name, _ = _body(req, creating=False)
    if name is None:  # nothing to change: the folder as it is
        owner, folder = await ctx.services.folders.get(ctx.actor, m.user_key, _folder(m))
    else:
        owner, folder = await ctx.services.folders.rename(ctx.actor, m.user_key, _folder(m), name)
    return json_response(_entity(ctx, owner.id, folder, m))


async def delete_folder(req: Request, ctx: Ctx, m: Match) -> Response:
    """DELETE …/mailFolders/{id}: 204; the folder goes to Deleted Items (domain/folder_writes.py)."""
    parse_query(req.query, MAIL_FOLDER, allow=frozenset())
    await ctx.services.folders.delete(ctx.actor, m.user_key, _folder(m))
    return no_content()


async def permanent_delete_folder(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST …/mailFolders/{id}/permanentDelete: 204; the folder, its subtree and items are gone."""
    parse_query(req.query, MAIL_FOLDER, allow=frozenset())
    if read_json(req, required=False):
        raise GraphError(400, "BadRequest", "The action 'permanentDelete' takes no parameters.")
    await ctx.services.folders.permanent_delete(ctx.actor, m.user_key, _folder(m))
    return no_content()


def _destination(req: Request, action: str) -> str:
    parse_query(req.query, MAIL_FOLDER, allow=frozenset())
    data: dict[str, Any] = read_json(req, required=True) or {}
    destination: str | None = None
    for key, value in data.items():
        if key.lower() == "destinationid":
            destination = string(value, "destinationId")
        elif not key.startswith("@odata."):
            unknown_property(key, action)
    if not destination:
        raise GraphError(400, "ErrorInvalidRequest", "The 'destinationId' parameter is required.")
    return destination


async def move_folder(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST …/mailFolders/{id}/move: 201 with the folder under its new parent (same id)."""
    destination = _destination(req, "move")
    owner, folder = await ctx.services.folders.move(ctx.actor, m.user_key, _folder(m), destination)
    return json_response(_entity(ctx, owner.id, folder, m), 201)


async def copy_folder(req: Request, ctx: Ctx, m: Match) -> Response:
    """POST …/mailFolders/{id}/copy: 201 with the new folder (new ids, copies of its content)."""
    destination = _destination(req, "copy")
    owner, folder = await ctx.services.folders.copy(ctx.actor, m.user_key, _folder(m), destination)
    return json_response(_entity(ctx, owner.id, folder, m), 201)
