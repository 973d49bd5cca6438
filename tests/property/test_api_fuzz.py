"""Hypothesis fuzz of the Graph routes: any method, path, query, header and body → never a 500.

Every answer must be a Graph JSON error (or a success), never a traceback on the wire (issue 2,
"Bad input"); and nothing a refused request carried may be left in the mailbox.
"""

from __future__ import annotations

import json
import string
from urllib.parse import quote

from httpx import AsyncClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import TokenFor

SEGMENTS = st.sampled_from(
    [
        "me", "users", "alice@fabrikam.test", "messages", "mailFolders", "mailfolders('inbox')", "inbox",
        "drafts", "sentitems", "send", "sendMail", "attachments", "createReply", "reply", "forward",
        "move", "copy", "$value", "childFolders", "microsoft.graph.send", "%2F", "%FF", "x'y", "(", ")",
        "AAMkAAA=", "createUploadSession", "replyAll", "createForward", "oauth2", "v2.0", "token",
        "authorize", "devicecode", ".well-known", "openid-configuration", "discovery", "keys", "queue",
        "userrealm", "attachmentSessions", "v1.0",
        "$batch", "subscriptions", "reauthorize", "delta", "delta()", "_mailgraph", "faults", "tenants",
        "wait", "ui", "health", "metrics", "messageRules", "mailboxSettings", "automaticRepliesSetting",
        "$count", "$metadata", "deleteditems", "msgfolderroot",  # issue 15: folder writes, users, $count
    ]
)  # fmt: skip
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
KEYS = st.sampled_from(
    ["subject", "body", "toRecipients", "message", "saveToSentItems", "comment", "destinationId",
     "emailAddress", "address", "contentType", "content", "@odata.type", "attachments", "flag",
     "displayName", "isHidden",
     "AttachmentItem", "internetMessageHeaders", "from", "Message", "importance", "isRead",
     "requests", "id", "url", "method", "dependsOn", "headers", "changeType", "resource",
     "expirationDateTime", "clientState", "notificationUrl", "includeResourceData"]
)  # fmt: skip
BODIES = st.one_of(
    st.binary(max_size=200),
    st.dictionaries(KEYS, JSON_VALUES, max_size=5).map(lambda d: json.dumps(d).encode()),
)
SAFE = "$'(),/"  # what clients leave raw in OData queries (client-wire fact 7)
QUERY = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "$top",
                "$skip",
                "$select",
                "$filter",
                "$orderby",
                "$count",
                "$search",
                "$expand",
                "%24top",
                "x",
                "$deltatoken",
                "$skiptoken",
                "changeType",
            ]
        ),
        st.text(alphabet=string.printable, max_size=30),
    ),
    max_size=3,
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT"]),
    # Graph roots, and the endpoints outside the Graph router (upload URLs, /admin, identity, token).
    version=st.sampled_from(
        ["v1.0", "beta", "BETA", "v2", "upload", "admin", "fabrikam.test", "common", "organizations"]
    ),
    segments=st.lists(SEGMENTS, min_size=0, max_size=6),
    query=QUERY,
    body=BODIES,
    content_type=st.sampled_from(["application/json", "text/plain", "", "application/x-www-form-urlencoded"]),
)
async def test_no_request_yields_a_500(
    api: AsyncClient,
    token_for: TokenFor,
    method: str,
    version: str,
    segments: list[str],
    query: list[tuple[str, str]],
    body: bytes,
    content_type: str,
) -> None:
    headers = {**token_for("alice", "Mail.ReadWrite", "Mail.Send"), "Content-Type": content_type}
    path = "/" + "/".join([version, *segments])
    params = "&".join(f"{k}={quote(v, safe=SAFE)}" for k, v in query)
    r = await api.request(method, f"{path}?{params}" if params else path, content=body, headers=headers)
    assert r.status_code < 500, (method, path, params, body, r.text)
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/json"), r.headers
        assert r.json()["error"]["code"]
