"""The one error type of the OData layer, and the Graph codes/messages it carries.

Every failure while reading query options is an `ODataError`; the API answers it with HTTP 400 and
the Graph error body (spec §5). Clients branch on `code` only, so codes follow what Graph returns
where it is known; messages follow Graph or OData Library (ODL, the parser Graph runs on) wording.

Case → code, message (source):

- Unsupported filter construct (`endswith`, `in (…)`, `any(…)`/`all(…)`, `has`, arithmetic, an
  unknown function, a non-filterable property, property vs property, a range comparison on a
  boolean or enum, a constant filter) → `ErrorInvalidUrlQueryFilter`, "The query filter contains
  one or more invalid nodes." (spec §2.9 [field]; we extend it to every construct Exchange cannot run).
- `$orderby` properties not first and in order in `$filter`; our complexity bounds (nesting > 50,
  > 100 filter terms, > 64 search terms) → `InefficientFilter`, "The restriction or sort order is too
  complex for this operation." (spec §2.9 [doc]; the bounds are ours).
- `$search` with `$orderby` → `SearchWithOrderBy`, "The query parameter '$orderBy' is not supported
  with '$search'." (spec §2.9 [doc]).
- `$search` with `$filter` → `ErrorInvalidUrlQuery`, "The query parameter '$filter' is not supported
  with '$search'." (ours: the spec only says "unsupported" [field]).
- Unknown property in `$select`/`$filter`/`$orderby`/`$expand` → "Could not find a property named
  'x' on type 'microsoft.graph.message'." with code `RequestBroker--ParseUri` on message routes and
  `BadRequest` on mailFolder routes, where `$select`/`$expand` prefix "Parsing OData Select and
  Expand failed: " ([field], public issues; per-resource in odata/resources.py).
- Property exists but is not sortable → `BadRequest`, "OrderBy not supported." (message spec §2.9
  [field]; code ours, unconfirmed).
- Everything else (syntax, bad `$top`/`$skip`/`$count`, unknown, duplicate or disallowed option,
  literal of the wrong type, bad enum member, query too long, bad `$search`) → `BadRequest`, with
  ODL's wording where we know it (e.g. "Syntax error at position 8 in 'isRead eq'.").
"""

from __future__ import annotations

INVALID_FILTER = "ErrorInvalidUrlQueryFilter"
INVALID_FILTER_MESSAGE = "The query filter contains one or more invalid nodes."
INEFFICIENT = "InefficientFilter"
INEFFICIENT_MESSAGE = "The restriction or sort order is too complex for this operation."
SEARCH_WITH_ORDER_BY = "SearchWithOrderBy"
SEARCH_WITH_ORDER_BY_MESSAGE = "The query parameter '$orderBy' is not supported with '$search'."
SEARCH_WITH_FILTER = "ErrorInvalidUrlQuery"
SEARCH_WITH_FILTER_MESSAGE = "The query parameter '$filter' is not supported with '$search'."
BAD_REQUEST = "BadRequest"


class ODataError(Exception):
    """A query option Graph would refuse; always answered with HTTP 400.

    Attributes:
        code: The Graph error code (`error.code` on the wire).
        message: The human-readable text (`error.message`).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"ODataError({self.code!r}, {self.message!r})"


def bad_request(message: str) -> ODataError:
    """A generic `BadRequest` (syntax and option-value errors)."""
    return ODataError(BAD_REQUEST, message)


def invalid_filter() -> ODataError:
    """Graph's answer to a filter node Exchange cannot evaluate (spec §2.9)."""
    return ODataError(INVALID_FILTER, INVALID_FILTER_MESSAGE)


def inefficient() -> ODataError:
    """Graph's answer to a restriction or sort order it will not run (spec §2.9)."""
    return ODataError(INEFFICIENT, INEFFICIENT_MESSAGE)
