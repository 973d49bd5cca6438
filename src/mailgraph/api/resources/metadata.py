"""`GET /v1.0/$metadata` and `/beta/$metadata`: a CSDL (OData v4) document of what this server serves.

Generated from our own model, not copied from Microsoft's: the entity types' properties are the
property tables of odata/resources.py (MESSAGE, MAIL_FOLDER, USER: the names `$select` accepts),
typed by `_TYPES` below; navigations, entity sets and the bound actions/functions are the ones the
route table serves (api/routes.py). A property of a resource table without a type here is left out,
and tests/api/test_count_metadata.py fails until it gets one, so the document never drifts from the
tables. The namespace is `microsoft.graph` (alias `graph`), matching our `@odata.context` links
(`…/$metadata#users('…')/messages/$entity`) and `@odata.type` values (`#microsoft.graph.message`).

Served without a bearer token, as Graph serves it; `application/xml`. Built once per version.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from xml.etree import ElementTree as ET

from mailgraph.api.errors import GraphError, to_response
from mailgraph.api.http import Request, Response
from mailgraph.odata.resources import MAIL_FOLDER, MESSAGE, USER, Resource

EDMX = "http://docs.oasis-open.org/odata/ns/edmx"
EDM = "http://docs.oasis-open.org/odata/ns/edm"
NAMESPACE = "microsoft.graph"
XML_TYPE = b"application/xml"

_S, _B, _DT, _I32, _I64 = "Edm.String", "Edm.Boolean", "Edm.DateTimeOffset", "Edm.Int32", "Edm.Int64"
_RECIPIENTS = "Collection(graph.recipient)"

# Per entity type: property → (type, nullable). The keys must cover the resource tables' properties.
_TYPES: dict[str, dict[str, tuple[str, bool]]] = {
    "outlookItem": {
        "createdDateTime": (_DT, True),
        "lastModifiedDateTime": (_DT, True),
        "changeKey": (_S, True),
        "categories": ("Collection(Edm.String)", True),
    },
    "message": {
        "receivedDateTime": (_DT, True),
        "sentDateTime": (_DT, True),
        "hasAttachments": (_B, True),
        "internetMessageId": (_S, True),
        "subject": (_S, True),
        "body": ("graph.itemBody", True),
        "bodyPreview": (_S, True),
        "uniqueBody": ("graph.itemBody", True),
        "importance": ("graph.importance", True),
        "parentFolderId": (_S, True),
        "conversationId": (_S, True),
        "conversationIndex": ("Edm.Binary", True),
        "isDeliveryReceiptRequested": (_B, True),
        "isReadReceiptRequested": (_B, True),
        "isRead": (_B, True),
        "isDraft": (_B, True),
        "webLink": (_S, True),
        "inferenceClassification": ("graph.inferenceClassificationType", True),
        "from": ("graph.recipient", True),
        "sender": ("graph.recipient", True),
        "toRecipients": (_RECIPIENTS, True),
        "ccRecipients": (_RECIPIENTS, True),
        "bccRecipients": (_RECIPIENTS, True),
        "replyTo": (_RECIPIENTS, True),
        "flag": ("graph.followupFlag", True),
        "internetMessageHeaders": ("Collection(graph.internetMessageHeader)", True),
    },
    "mailFolder": {
        "displayName": (_S, True),
        "parentFolderId": (_S, True),
        "childFolderCount": (_I32, True),
        "totalItemCount": (_I32, True),
        "unreadItemCount": (_I32, True),
        "isHidden": (_B, True),
    },
    "user": {
        "displayName": (_S, True),
        "givenName": (_S, True),
        "surname": (_S, True),
        "mail": (_S, True),
        "userPrincipalName": (_S, True),
        "jobTitle": (_S, True),
        "businessPhones": ("Collection(Edm.String)", False),
        "mobilePhone": (_S, True),
        "officeLocation": (_S, True),
        "preferredLanguage": (_S, True),
        "accountEnabled": (_B, True),
    },
}
_BETA_ONLY = {"mailFolder": {"wellKnownName": (_S, True)}}
_RESOURCES: dict[str, Resource] = {"message": MESSAGE, "mailFolder": MAIL_FOLDER, "user": USER}
_BASES = {"message": "outlookItem", "mailFolder": "entity", "user": "directoryObject"}

# Navigations we serve (routes), per entity type: name → target type.
_NAVIGATIONS = {
    "message": {"attachments": "Collection(graph.attachment)"},
    "mailFolder": {"childFolders": "Collection(graph.mailFolder)", "messages": "Collection(graph.message)"},
    "user": {"messages": "Collection(graph.message)", "mailFolders": "Collection(graph.mailFolder)"},
}

_ENUMS = {
    "importance": ("low", "normal", "high"),
    "bodyType": ("text", "html"),
    "inferenceClassificationType": ("focused", "other"),
    "followupFlagStatus": ("notFlagged", "complete", "flagged"),
    "attachmentType": ("file", "item", "reference"),
}
_COMPLEX: dict[str, Sequence[tuple[str, str]]] = {
    "emailAddress": (("name", _S), ("address", _S)),
    "recipient": (("emailAddress", "graph.emailAddress"),),
    "itemBody": (("contentType", "graph.bodyType"), ("content", _S)),
    "internetMessageHeader": (("name", _S), ("value", _S)),
    # translateExchangeIds' result (user-translateexchangeids.md, convertidresult.md, genericerror.md)
    "genericError": (("code", _S), ("message", _S)),
    "convertIdResult": (("sourceId", _S), ("targetId", _S), ("errorDetails", "graph.genericError")),
    "dateTimeTimeZone": (("dateTime", _S), ("timeZone", _S)),
    "followupFlag": (
        ("completedDateTime", "graph.dateTimeTimeZone"),
        ("dueDateTime", "graph.dateTimeTimeZone"),
        ("startDateTime", "graph.dateTimeTimeZone"),
        ("flagStatus", "graph.followupFlagStatus"),
    ),
    "attachmentItem": (
        ("attachmentType", "graph.attachmentType"),
        ("name", _S),
        ("size", _I64),
        ("contentType", _S),
        ("isInline", _B),
        ("contentId", _S),
    ),
    "uploadSession": (
        ("uploadUrl", _S),
        ("expirationDateTime", _DT),
        ("nextExpectedRanges", "Collection(Edm.String)"),
    ),
}
_ATTACHMENTS: dict[str, Sequence[tuple[str, str]]] = {
    "attachment": (
        ("lastModifiedDateTime", _DT),
        ("name", _S),
        ("contentType", _S),
        ("size", _I32),
        ("isInline", _B),
    ),
    "fileAttachment": (("contentBytes", "Edm.Binary"), ("contentId", _S), ("contentLocation", _S)),
    "itemAttachment": (),
    "referenceAttachment": (),
}
_SUBSCRIPTION = (
    ("resource", _S),
    ("applicationId", _S),
    ("changeType", _S),
    ("clientState", _S),
    ("notificationUrl", _S),
    ("notificationQueryOptions", _S),
    ("lifecycleNotificationUrl", _S),
    ("expirationDateTime", _DT),
    ("creatorId", _S),
    ("includeResourceData", _B),
    ("latestSupportedTlsVersion", _S),
    ("encryptionCertificate", _S),
    ("encryptionCertificateId", _S),
    ("notificationUrlAppId", _S),
)

# Bound operations: (kind, name, binding type, parameters, return type or None). Names as Graph's.
_MESSAGE_TEXT = (("Comment", _S), ("Message", "graph.message"), ("ToRecipients", _RECIPIENTS))
OPERATIONS: tuple[tuple[str, str, str, tuple[tuple[str, str], ...], str | None], ...] = (
    ("Action", "send", "graph.message", (), None),
    ("Action", "reply", "graph.message", _MESSAGE_TEXT[:2], None),
    ("Action", "replyAll", "graph.message", _MESSAGE_TEXT[:2], None),
    ("Action", "forward", "graph.message", _MESSAGE_TEXT, None),
    ("Action", "createReply", "graph.message", _MESSAGE_TEXT[:2], "graph.message"),
    ("Action", "createReplyAll", "graph.message", _MESSAGE_TEXT[:2], "graph.message"),
    ("Action", "createForward", "graph.message", _MESSAGE_TEXT, "graph.message"),
    ("Action", "move", "graph.message", (("DestinationId", _S),), "graph.message"),
    ("Action", "copy", "graph.message", (("DestinationId", _S),), "graph.message"),
    ("Action", "move", "graph.mailFolder", (("DestinationId", _S),), "graph.mailFolder"),
    ("Action", "copy", "graph.mailFolder", (("DestinationId", _S),), "graph.mailFolder"),
    ("Action", "permanentDelete", "graph.mailFolder", (), None),
    ("Action", "sendMail", "graph.user", (("Message", "graph.message"), ("SaveToSentItems", _B)), None),
    (
        "Action",
        "createUploadSession",
        "Collection(graph.attachment)",
        (("AttachmentItem", "graph.attachmentItem"),),
        "graph.uploadSession",
    ),
    ("Action", "reauthorize", "graph.subscription", (), None),
    (
        "Action",
        "translateExchangeIds",
        "graph.user",
        (("InputIds", "Collection(Edm.String)"), ("TargetIdType", _S), ("SourceIdType", _S)),
        "Collection(graph.convertIdResult)",
    ),
    ("Function", "delta", "Collection(graph.message)", (), "Collection(graph.message)"),
    ("Function", "delta", "Collection(graph.mailFolder)", (), "Collection(graph.mailFolder)"),
)
ENTITY_SETS = {"users": "graph.user", "subscriptions": "graph.subscription"}
SINGLETONS = {"me": "graph.user"}


def _el(parent: ET.Element, tag: str, **attrs: str) -> ET.Element:
    return ET.SubElement(parent, f"{{{EDM}}}{tag}", attrs)


def _property(parent: ET.Element, name: str, type_: str, nullable: bool = True) -> None:
    attrs = {"Name": name, "Type": type_}
    if not nullable:
        attrs["Nullable"] = "false"
    _el(parent, "Property", **attrs)


def typed_properties(entity: str, version: str) -> list[tuple[str, str, bool]]:
    """(name, type, nullable) of an entity type's own structural properties, from its resource table."""
    types = _TYPES[entity]
    names = [p.name for p in _RESOURCES[entity].properties.values() if not p.navigation and p.name != "id"]
    out = [(n, *types[n]) for n in names if n in types]
    if version == "beta":
        out += [(n, *t) for n, t in _BETA_ONLY.get(entity, {}).items()]
    return out


def untyped() -> list[str]:
    """Properties of the resource tables without a CSDL type here (the test keeps this empty)."""
    out = []
    for entity, resource in _RESOURCES.items():
        types = {**_TYPES[entity], **(_TYPES["outlookItem"] if entity == "message" else {})}
        out += [
            f"{entity}.{p.name}"
            for p in resource.properties.values()
            if not p.navigation and p.name != "id" and p.name not in types
        ]
    return out


@cache
def document(version: str) -> bytes:
    """The CSDL document of one API version."""
    ET.register_namespace("edmx", EDMX)
    ET.register_namespace("", EDM)
    root = ET.Element(f"{{{EDMX}}}Edmx", {"Version": "4.0"})
    services = ET.SubElement(root, f"{{{EDMX}}}DataServices")
    schema = ET.SubElement(services, f"{{{EDM}}}Schema", {"Namespace": NAMESPACE, "Alias": "graph"})
    for name, members in _ENUMS.items():
        enum = _el(schema, "EnumType", Name=name)
        for i, member in enumerate(members):
            _el(enum, "Member", Name=member, Value=str(i))
    for name, props in _COMPLEX.items():
        complex_type = _el(schema, "ComplexType", Name=name)
        for prop, type_ in props:
            _property(complex_type, prop, type_)
    entity = _el(schema, "EntityType", Name="entity", Abstract="true")
    _el(_el(entity, "Key"), "PropertyRef", Name="id")
    _property(entity, "id", _S, nullable=False)
    _el(schema, "EntityType", Name="directoryObject", BaseType="graph.entity")
    outlook = _el(schema, "EntityType", Name="outlookItem", BaseType="graph.entity", Abstract="true")
    for prop, (type_, nullable) in _TYPES["outlookItem"].items():
        _property(outlook, prop, type_, nullable)
    for name in ("message", "mailFolder", "user"):
        element = _el(schema, "EntityType", Name=name, BaseType=f"graph.{_BASES[name]}")
        for prop, type_, nullable in typed_properties(name, version):
            _property(element, prop, type_, nullable)
        for nav, target in _NAVIGATIONS[name].items():
            _el(element, "NavigationProperty", Name=nav, Type=target, ContainsTarget="true")
    for name, props in _ATTACHMENTS.items():
        base = "graph.entity" if name == "attachment" else "graph.attachment"
        extra = {"Abstract": "true"} if name == "attachment" else {}
        element = _el(schema, "EntityType", Name=name, BaseType=base, **extra)
        for prop, type_ in props:
            _property(element, prop, type_)
        if name == "itemAttachment":
            _el(element, "NavigationProperty", Name="item", Type="graph.outlookItem", ContainsTarget="true")
    subscription = _el(schema, "EntityType", Name="subscription", BaseType="graph.entity")
    for prop, type_ in _SUBSCRIPTION:
        _property(subscription, prop, type_)
    for kind, name, binding, params, returns in OPERATIONS:
        operation = _el(schema, kind, Name=name, IsBound="true")
        _el(operation, "Parameter", Name="bindingParameter", Type=binding)
        for param, type_ in params:
            _el(operation, "Parameter", Name=param, Type=type_)
        if returns is not None:
            _el(operation, "ReturnType", Type=returns)
    container = _el(schema, "EntityContainer", Name="GraphService")
    for name, type_ in ENTITY_SETS.items():
        _el(container, "EntitySet", Name=name, EntityType=type_)
    for name, type_ in SINGLETONS.items():
        _el(container, "Singleton", Name=name, Type=type_)
    return b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root, encoding="unicode").encode()


async def serve(req: Request, parts: Sequence[str]) -> Response:
    """The `/{version}/$metadata` mount: GET (and HEAD) only; no bearer token needed."""
    if req.method not in ("GET", "HEAD"):
        error = GraphError(
            405, "BadRequest", f"The HTTP method '{req.method}' is not allowed on this resource."
        )
        response = to_response(error, req.request_id, req.client_request_id)
        response.headers.append((b"allow", b"GET"))
        return response
    return Response(200, document(parts[0].lower()), XML_TYPE)
