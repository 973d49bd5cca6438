"""Query options for listings and `@odata.nextLink` (spec §2.9, client-wire facts 6–7)."""

from __future__ import annotations

from urllib.parse import unquote_plus

from mailgraph.api.http import Request

DEFAULT_PAGE = 10  # spec §6: default page size 10, $top 1–1000


def next_link(req: Request, skip: int) -> str:
    """An absolute link to the next page: every option of this request kept, `$skip` replaced.

    Built from the scheme/host/port the client called (or X-Forwarded-*): a relative link or another
    host name breaks the SDKs' page iterators (client-wire fact 6).
    """
    kept = [p for p in req.query.split("&") if p and unquote_plus(p.split("=", 1)[0]).lower() != "$skip"]
    kept.append(f"%24skip={skip}")
    path = req.raw_path.decode("latin-1")
    return f"{req.base_url}{path}?{'&'.join(kept)}"
