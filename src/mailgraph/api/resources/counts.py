"""The `$count` path segment on message collections (OData URL conventions §4.8; issue 15).

Routes (v1.0 and beta; `/me` or `/users/{id|upn}`): `GET …/messages/$count` (the whole mailbox) and
`GET …/mailFolders/{id}/messages/$count`. The answer is the number alone, `text/plain`, as Graph
returns it; `$filter` and `$search` narrow what is counted, exactly as on the list (the same SQL).
Other query options are refused as on any route that does not take them. Folder collections count in
api/resources/mail_folders.py (`…/mailFolders/$count`).
"""

from __future__ import annotations

from mailgraph.api.context import Ctx
from mailgraph.api.http import Request, Response
from mailgraph.api.router import Match
from mailgraph.domain.model import DEFAULT_ORDER, Page
from mailgraph.odata.parser import parse_query
from mailgraph.odata.resources import MESSAGE

COUNT_OPTIONS = frozenset({"$filter", "$search"})
TEXT_PLAIN = b"text/plain"


async def count_messages(req: Request, ctx: Ctx, m: Match) -> Response:
    """GET …/messages/$count and …/mailFolders/{id}/messages/$count: the number as text/plain."""
    options, _ = parse_query(req.query, MESSAGE, allow=COUNT_OPTIONS)
    page = Page(1, 0, DEFAULT_ORDER, options.filter, options.search)
    folder_key = m.keys[0] if m.keys else None
    listing = await ctx.services.messages.list(ctx.actor, m.user_key, page, folder_key, count=True)
    return Response(200, str(listing.count or 0).encode(), TEXT_PLAIN)
