"""THE prefix mount table: which part of the server answers a path (Graph, identity, upload, admin…).

A `Mount` claims paths by their leading segments (percent-decoded, compared case-insensitively unless
`case_sensitive`; `ANY` matches one segment). **Precedence**: a mount with more literal segments in
its prefix comes first; ties keep the order of the table. That reproduces the answers the server
gave before the table existed, and lets a later mount (`/_mailgraph/…`, a UI) be added without
touching app.py:

    ANY/oauth2/v2.0/token (exact)   the token endpoint, for any tenant segment, even `v1.0`
    upload/…, admin/…               upload-session chunks; the admin JSON (each with its own credential)
    v1.0/$metadata, beta/$metadata  the CSDL document (exact; no bearer token)
    v1.0/…, beta/…                  Graph (the router; it answers every path it is given)
    ANY/…                           the identity platform's pages and metadata
    (nothing)                       Graph's router again, for its 404 naming the segment

A mount's handler returns None for a path it does not serve after all; the next mount is tried.

**Fast path** (measured: splitting and percent-decoding every path to look for the endpoints outside
Graph was ~1.5 % of a create+send cycle's server CPU): a mount marked `plain` (Graph) gets a path
whose first two segments are written plainly (no `%`) straight away, undecoded, unless a mount of
higher precedence could claim it — which is known when the table is built (`shadowed`): today only
the token endpoint, so `/v1.0/oauth2/…` takes the full check. The router then decodes the path once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import unquote

from mailgraph.api.describe import Describe, PathOp, graph_ops
from mailgraph.api.handler import GraphHandler
from mailgraph.api.http import Request, Response
from mailgraph.api.resources import identity, metadata, oauth_token, upload_sessions
from mailgraph.api.router import VERSIONS

ANY: Final = None
"""A prefix segment that matches any one segment."""

MountHandler = Callable[[Request, Sequence[str]], Awaitable[Response | None]]
"""`(request, decoded path segments)` → a response, or None to let the next mount try.

On the fast path a `plain` mount gets an empty segment list (the path was not split)."""

Segment = str | tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class Mount:
    """A part of the server and the path prefix it answers."""

    name: str
    prefix: tuple[Segment, ...]
    """Literal segments (a tuple of alternatives, e.g. the Graph versions) or ANY."""
    serve: MountHandler
    exact: bool = False
    """The path has exactly `len(prefix)` segments (not just starts with them)."""
    case_sensitive: bool = False
    plain: bool = False
    """Plainly written paths under its literal first segment skip decoding (see the module docstring)."""
    describe: Describe | None = field(default=None, compare=False)
    """The operations it serves, for `/openapi.json` (api/describe.py); every mount has one."""
    alternatives: tuple[frozenset[str] | None, ...] = field(init=False, repr=False, compare=False)
    """`prefix` normalised: per segment the set of accepted spellings (lower-cased unless case-sensitive)."""

    def __post_init__(self) -> None:
        normalised: list[frozenset[str] | None] = []
        for seg in self.prefix:
            names = () if seg is None else (seg,) if isinstance(seg, str) else seg
            folded = names if self.case_sensitive else tuple(n.lower() for n in names)
            normalised.append(None if seg is None else frozenset(folded))
        object.__setattr__(self, "alternatives", tuple(normalised))

    @property
    def literals(self) -> int:
        """How many prefix segments are literal: the precedence of the mount."""
        return sum(seg is not None for seg in self.alternatives)

    def claims(self, parts: Sequence[str], lower: Sequence[str]) -> bool:
        """Whether the decoded path `parts` (and its lower-cased copy) starts with the prefix."""
        size = len(self.alternatives)
        if len(parts) < size or (self.exact and len(parts) != size):
            return False
        given = parts if self.case_sensitive else lower
        return all(alt is None or given[i] in alt for i, alt in enumerate(self.alternatives))


class MountTable:
    """The mounts in precedence order, and the fast path derived from them."""

    def __init__(self, mounts: Sequence[Mount], fallback: MountHandler) -> None:
        """`fallback` answers a path no mount claims (Graph's router: 404 naming the segment)."""
        self._mounts: list[Mount] = []
        self._fallback = fallback
        self._plain: dict[bytes, Mount] = {}
        self._shadowed: frozenset[bytes] = frozenset()
        for mount in mounts:
            self.add(mount)

    @property
    def mounts(self) -> list[Mount]:
        """The mounts in the order they are tried."""
        return list(self._mounts)

    def add(self, mount: Mount) -> None:
        """Add a mount at its precedence (after the mounts with as many literal segments).

        Raises:
            ValueError: the name is taken, or the mount would claim paths the fast path skips it for.
        """
        if any(m.name == mount.name for m in self._mounts):
            raise ValueError(f"a mount named {mount.name!r} exists")
        at = next((i for i, m in enumerate(self._mounts) if m.literals < mount.literals), len(self._mounts))
        mounts = [*self._mounts[:at], mount, *self._mounts[at:]]
        self._plain, self._shadowed = _fast_path(mounts)
        self._mounts = mounts

    def fast(self, raw_path: bytes) -> Mount | None:
        """The plain mount a plainly written path goes to without decoding, or None."""
        pieces = raw_path.split(b"/", 3)
        if len(pieces) < 3 or pieces[0]:
            return None
        mount = self._plain.get(pieces[1].lower())
        second = pieces[2]
        if mount is None or not second or b"%" in second or second.lower() in self._shadowed:
            return None
        return mount

    async def dispatch(self, req: Request) -> Response:
        """The response of the first mount that answers `req` (or of the fallback)."""
        raw = req.raw_path
        mount = self.fast(raw)
        if mount is not None:
            req.route = req.route or mount.name
            answer = await mount.serve(req, ())
            if answer is not None:
                return answer
        parts = [unquote(p) for p in raw.decode("latin-1").split("/") if p]
        lower = [p.lower() for p in parts]
        for mount in self._mounts:
            if mount.claims(parts, lower):
                req.route = mount.name  # a Graph route names itself more precisely (api/handler.py)
                answer = await mount.serve(req, parts)
                if answer is not None:
                    return answer
        answer = await self._fallback(req, parts)
        assert answer is not None, "the fallback answers every path"
        return answer


def _fast_path(mounts: list[Mount]) -> tuple[dict[bytes, Mount], frozenset[bytes]]:
    """Which plain paths may skip the table: worked out once per change of the table, not per request.

    Returns the plain mount per first segment, and the second segments that must take the full check.
    """
    plain: dict[bytes, Mount] = {}
    shadowed: set[bytes] = set()
    for at, mount in enumerate(mounts):
        if not mount.plain:
            continue
        first = mount.alternatives[0] if mount.alternatives else None
        if first is None or mount.case_sensitive:
            raise ValueError(f"plain mount {mount.name!r} needs a literal, case-insensitive first segment")
        heads = {h.encode() for h in first}
        # A mount tried before this one that could claim one of its plain paths must see it first: that
        # mount's second segment leaves the fast path (a plain path has two or more segments).
        for earlier in mounts[:at]:
            alts = earlier.alternatives
            if earlier.exact and len(alts) < 2:
                continue
            if alts and alts[0] is not None and not {a.lower().encode() for a in alts[0]} & heads:
                continue
            second = alts[1] if len(alts) > 1 else None
            if second is None:
                raise ValueError(f"mount {earlier.name!r} would hide the fast path of {mount.name!r}")
            shadowed.update(s.lower().encode() for s in second)
        for head in heads:
            plain.setdefault(head, mount)
    return plain, frozenset(shadowed)


def graph_mount(graph: GraphHandler) -> Mount:
    """Graph at `/v1.0/…` and `/beta/…`: authenticate the bearer token, then the handler."""
    return Mount("graph", (VERSIONS,), graph.serve, plain=True, describe=lambda: graph_ops(graph.routes))


def standard_mounts(graph: GraphHandler) -> MountTable:
    """The table every server starts with: token endpoint, upload, Graph, identity platform.

    Added by wiring when configured: `admin_mount`; later the control namespace and a UI mount.
    """
    services = graph.services

    async def token(req: Request, parts: Sequence[str]) -> Response:
        return await oauth_token.token(req, services.oauth, parts[0])

    async def upload(req: Request, parts: Sequence[str]) -> Response:
        # upload-session chunks: the URL's own token, no bearer (spec §2.12)
        return await upload_sessions.handle_upload(req, services, list(parts))

    async def identity_platform(req: Request, parts: Sequence[str]) -> Response | None:
        return await identity.dispatch(req, services.oauth, services.tokens, list(parts))

    return MountTable(
        [
            Mount("token", (ANY, "oauth2", "v2.0", "token"), token, exact=True, describe=_token_ops),
            Mount("upload", ("upload",), upload, case_sensitive=True, describe=_upload_ops),
            # The CSDL document, without a bearer token as on Graph (issue 15).
            Mount("metadata", (VERSIONS, "$metadata"), metadata.serve, exact=True, describe=_metadata_ops),
            graph_mount(graph),
            # spec §4.1; None for paths it does not know
            Mount("identity", (ANY,), identity_platform, describe=identity.describe),
        ],
        fallback=graph.serve,
    )


def admin_mount(
    admin: Callable[[Request, Sequence[str]], Awaitable[Response]], describe: Describe | None = None
) -> Mount:
    """`/admin/…`, outside Graph, with its own credential (api/admin.py; an alias of `/_mailgraph/queue…`)."""

    async def serve(req: Request, parts: Sequence[str]) -> Response:
        return await admin(req, parts)

    return Mount("admin", ("admin",), serve, case_sensitive=True, describe=describe)


_FORM = "application/x-www-form-urlencoded"
_TOKEN_FORM = {
    "type": "object",
    "properties": {
        name: {"type": "string"}
        for name in (
            *("grant_type", "client_id", "client_secret", "scope", "code", "redirect_uri", "code_verifier"),
            *("refresh_token", "device_code", "client_assertion", "client_assertion_type", "username"),
            "password",
        )
    },
    "required": ["grant_type"],
}


def _token_ops() -> list[PathOp]:
    # The OAuth 2.0 token endpoint (RFC 6749 §3.2), any tenant segment (id, domain, common, organizations).
    return [
        PathOp("POST", "/{tenant}/oauth2/v2.0/token", "Issue a token (every grant of docs/identity.md)",
               body=_TOKEN_FORM, body_type=_FORM, responses=(200,))
    ]  # fmt: skip


def _metadata_ops() -> list[PathOp]:
    # The CSDL document (OData 4.01 §11.1.2), served without a token as Graph serves it (issue 15).
    return [
        PathOp("GET", "/{version}/$metadata", "The CSDL document of the entity types and actions served",
               responses=(200,), produces="application/xml")
    ]  # fmt: skip


def _upload_ops() -> list[PathOp]:
    path = "/upload/{version}/attachmentSessions/{session-id}"
    token = ("authtoken",)  # the URL's own credential (spec §2.12): no Authorization header
    return [
        PathOp("PUT", path, "Upload one chunk (Content-Range)", query=token,
               body={"type": "string", "format": "binary"}, body_type="application/octet-stream",
               responses=(200, 201)),
        PathOp("DELETE", path, "Cancel the upload session", query=token, responses=(204,)),
    ]  # fmt: skip
