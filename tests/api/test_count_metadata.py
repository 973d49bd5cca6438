"""`$count` segments on message collections and the `$metadata` CSDL document (issue 15)."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest
from httpx import AsyncClient

from mailgraph.api.resources import metadata
from mailgraph.api.routes import MESSAGE_ACTIONS, ROUTES
from tests.api.helpers import assert_graph_error, create_draft, q
from tests.conftest import TokenFor

VERSIONS = ["v1.0", "beta"]
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


@pytest.mark.parametrize("version", VERSIONS)
async def test_message_count_segments(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    alice = token_for("alice", "Mail.ReadWrite")
    root = f"/{version}/me"
    for subject in ("alpha report", "beta report", "gamma"):
        await create_draft(api, alice, root=root, subject=subject)
    r = await api.get(f"{root}/messages/$count", headers=alice)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert r.text == "3"
    r = await api.get(f"{root}/mailFolders/drafts/messages/$count", headers=alice)
    assert r.text == "3"
    assert (await api.get(f"{root}/mailFolders/inbox/messages/$count", headers=alice)).text == "0"
    r = await api.get(
        f"{root}/messages/$count", params={"$filter": "startswith(subject,'alpha')"}, headers=alice
    )
    assert r.text == "1"
    r = await api.get(f"{root}/messages/$count", params={"$search": '"report"'}, headers=alice)
    assert r.text == "2"
    r = await api.get(f"/{version}/users/alice@fabrikam.test/messages/$count", headers=alice)
    assert r.text == "3"
    # the percent-encoded spelling is the same segment
    assert (await api.get(f"{root}/messages/%24count", headers=alice)).text == "3"


async def test_message_count_errors(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.Read")
    r = await api.get("/v1.0/me/messages/$count?$top=2", headers=alice)
    assert_graph_error(r, 400, "BadRequest")
    r = await api.get("/v1.0/me/messages/$count", params={"$filter": "nope eq 1"}, headers=alice)
    assert r.status_code == 400
    r = await api.get("/v1.0/me/mailFolders/AQMkAAAAnope%3D/messages/$count", headers=alice)
    assert_graph_error(r, 404, "ErrorItemNotFound")
    assert_graph_error(await api.get("/v1.0/me/messages/$count"), 401, "InvalidAuthenticationToken")
    r = await api.post("/v1.0/me/messages/$count", headers=token_for("alice", "Mail.ReadWrite"))
    assert r.status_code == 405


def _parse(body: bytes) -> ET.Element:
    root = ET.fromstring(body)
    schema = root.find("*/" + EDM + "Schema")
    assert schema is not None and schema.get("Namespace") == "microsoft.graph"
    return schema


@pytest.mark.parametrize("version", VERSIONS)
async def test_metadata_is_csdl_without_a_token(api: AsyncClient, version: str) -> None:
    r = await api.get(f"/{version}/$metadata")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    schema = _parse(r.content)
    entities = {e.get("Name"): e for e in schema.iter(EDM + "EntityType")}
    assert {"message", "mailFolder", "user", "attachment", "fileAttachment", "itemAttachment"} <= set(
        entities
    )
    assert {"referenceAttachment", "subscription", "outlookItem", "entity"} <= set(entities)
    complex_types = {c.get("Name") for c in schema.iter(EDM + "ComplexType")}
    assert {"recipient", "emailAddress", "itemBody"} <= complex_types
    folder_props = {p.get("Name") for p in entities["mailFolder"].iter(EDM + "Property")}
    assert {"displayName", "totalItemCount", "childFolderCount", "isHidden"} <= folder_props
    assert ("wellKnownName" in folder_props) == (version == "beta")  # as the folder JSON (spec §7)
    message_props = {p.get("Name"): p.get("Type") for p in entities["message"].iter(EDM + "Property")}
    assert message_props["toRecipients"] == "Collection(graph.recipient)"
    assert message_props["body"] == "graph.itemBody"
    user_props = {p.get("Name") for p in entities["user"].iter(EDM + "Property")}
    assert {"displayName", "mail", "userPrincipalName", "businessPhones", "jobTitle"} <= user_props
    # the case of the segment does not matter; only GET is served
    assert (await api.get(f"/{version.upper()}/$METADATA")).status_code == 200
    assert (await api.post(f"/{version}/$metadata")).status_code == 405


async def test_metadata_names_every_routed_entity_set_and_action(api: AsyncClient) -> None:
    schema = _parse((await api.get("/v1.0/$metadata")).content)
    container = schema.find(EDM + "EntityContainer")
    assert container is not None
    sets = {e.get("Name") for e in container.iter(EDM + "EntitySet")}
    singletons = {e.get("Name") for e in container.iter(EDM + "Singleton")}
    root_names = {r.pattern[0] for r in ROUTES if r.root and not r.pattern[0].startswith("$")}
    assert root_names <= {n.lower() for n in sets | singletons}, root_names
    operations = {
        (o.tag.removeprefix(EDM), o.get("Name", "").lower())
        for o in schema
        if o.tag in (EDM + "Action", EDM + "Function")
    }
    for name, _, _ in MESSAGE_ACTIONS:
        assert ("Action", name) in operations, name
    # every POST route that is an action (not a collection to create in) is declared as one
    collections = {
        *("messages", "mailfolders", "childfolders", "attachments", "subscriptions", "$batch"),
        *("extensions", "mastercategories", "messagerules", "overrides"),  # entity collections of issue 15
    }
    actions = {r.pattern[-1] for r in ROUTES if "POST" in r.methods and r.pattern[-1] not in collections}
    assert {
        "send",
        "sendmail",
        "move",
        "copy",
        "createuploadsession",
        "reauthorize",
        "permanentdelete",
    } <= actions
    assert {("Action", n) for n in actions} <= operations, actions - {n for _, n in operations}
    routed = {r.pattern[-1] for r in ROUTES}
    assert ("Function", "delta") in operations and "delta" in routed
    # the @odata.context of our responses points at this document
    assert metadata.untyped() == []


async def test_context_links_point_at_the_metadata(api: AsyncClient, token_for: TokenFor) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "User.Read")
    for path in ("/v1.0/me", "/v1.0/me/mailFolders", "/v1.0/me/messages"):
        context = (await api.get(path, headers=alice)).json()["@odata.context"]
        assert context.startswith("https://graph.test/v1.0/$metadata#"), context
        document = await api.get(context.split("#")[0])
        assert document.status_code == 200 and document.content.startswith(b"<?xml")
    draft = await create_draft(api, alice)
    r = await api.get(f"/v1.0/me/messages/{q(draft['id'])}", headers=alice)
    assert r.json()["@odata.context"].startswith("https://graph.test/v1.0/$metadata#users(")
