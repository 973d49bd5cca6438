"""Per Graph resource: which properties exist and what `$select`/`$filter`/`$orderby`/`$expand` may use.

The tables are the single source of Graph property names for the OData layer (spec §3.1, §3.3).
Names are matched case-insensitively and the parser hands canonical spelling on: Graph's URI parser
resolves `$select=Subject` like `subject`, and our serializers compare canonical names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

FilterType = Literal["string", "bool", "datetime", "enum", "int"]

# The Edm type names ODL prints in its type errors.
EDM_NAMES: Mapping[FilterType, str] = {
    "string": "Edm.String",
    "bool": "Edm.Boolean",
    "datetime": "Edm.DateTimeOffset",
    "enum": "Edm.String",
    "int": "Edm.Int32",
}


@dataclass(frozen=True, slots=True)
class PropertySpec:
    """One top-level property of a resource.

    Attributes:
        name: Canonical Graph name.
        selectable: Allowed in `$select` (navigations are not: they come via `$expand` or sub-routes).
        navigation: A navigation property (`attachments`, `childFolders`, …).
    """

    name: str
    selectable: bool = True
    navigation: bool = False


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One property path usable in `$filter` (and `$orderby` when `sortable`).

    Attributes:
        path: Canonical Graph path, e.g. `("from", "emailAddress", "address")`.
        type: The literal type a comparison needs.
        sortable: Allowed in `$orderby`.
        enum_values: Canonical members for `enum` (matched case-insensitively, spec §0.4).
        enum_type: The Graph enum type name, for qualified literals and messages.
    """

    path: tuple[str, ...]
    type: FilterType
    sortable: bool = True
    enum_values: tuple[str, ...] = ()
    enum_type: str = ""

    @property
    def name(self) -> str:
        """The path as Graph writes it."""
        return "/".join(self.path)


@dataclass(frozen=True, slots=True, eq=False)
class Resource:
    """The OData surface of one Graph entity type.

    Attributes:
        name: Graph type name without namespace (`message`).
        type_name: Qualified name used in messages (`microsoft.graph.message`).
        properties: Top-level properties, keyed by lowercase name.
        fields: Filterable paths, keyed by lowercase path.
        expandable: Canonical names allowed in `$expand`.
        unknown_property_code: Graph's code for "Could not find a property named …" on this type's routes.
        select_error_prefix: Text Graph puts before that message for `$select`/`$expand` on this type.
    """

    name: str
    type_name: str
    properties: Mapping[str, PropertySpec]
    fields: Mapping[tuple[str, ...], FieldSpec]
    expandable: frozenset[str] = frozenset()
    unknown_property_code: str = "BadRequest"
    select_error_prefix: str = ""
    expand_targets: Mapping[str, Resource] = field(default_factory=lambda: MappingProxyType({}))
    """Per expandable navigation, the resource its nested `$select` is checked against."""
    any_collections: frozenset[str] = frozenset()
    """Canonical names of string collections `$filter` may test with `any(v: v eq '…')`."""

    def has_extended(self, path: Iterable[str]) -> bool:
        """Whether `path` is `singleValueExtendedProperties` of a type that has it (any case)."""
        parts = [p.lower() for p in path]
        return parts == ["singlevalueextendedproperties"] and self.name == "message"

    def find_collection(self, path: Iterable[str]) -> str | None:
        """The canonical name of the string collection at `path` (any case) that `any()` may test."""
        parts = [p.lower() for p in path]
        if len(parts) != 1:
            return None
        return next((c for c in self.any_collections if c.lower() == parts[0]), None)

    def find_property(self, name: str) -> PropertySpec | None:
        """The top-level property called `name` (any case), or None."""
        return self.properties.get(name.lower())

    def find_field(self, path: Iterable[str]) -> FieldSpec | None:
        """The filterable property at `path` (any case), or None."""
        return self.fields.get(tuple(p.lower() for p in path))


def _resource(
    name: str,
    properties: Iterable[PropertySpec],
    fields: Iterable[FieldSpec],
    *,
    expandable: Iterable[str] = (),
    unknown_property_code: str,
    select_error_prefix: str = "",
    any_collections: Iterable[str] = (),
    expand_targets: Mapping[str, Resource] | None = None,
) -> Resource:
    props = {p.name.lower(): p for p in properties}
    flds = {tuple(s.lower() for s in f.path): f for f in fields}
    for path in flds:
        assert path[0] in props, path  # every filterable path starts at a declared property
    return Resource(
        name=name,
        type_name=f"microsoft.graph.{name}",
        properties=props,
        fields=flds,
        expandable=frozenset(expandable),
        unknown_property_code=unknown_property_code,
        select_error_prefix=select_error_prefix,
        any_collections=frozenset(any_collections),
        expand_targets=MappingProxyType(dict(expand_targets or {})),
    )


def _p(*names: str, selectable: bool = True, navigation: bool = False) -> list[PropertySpec]:
    return [PropertySpec(n, selectable, navigation) for n in names]


def _f(path: str, kind: FilterType, *, sortable: bool = True, enum: str = "", values: str = "") -> FieldSpec:
    return FieldSpec(tuple(path.split("/")), kind, sortable, tuple(values.split()), enum)


# attachment.md, fileAttachment.md, itemAttachment.md, referenceAttachment.md: the properties of every
# kind (a kind without one leaves it out). No $filter on attachments (Exchange evaluates none).
ATTACHMENT = _resource(
    "attachment",
    [
        *_p("id", "lastModifiedDateTime", "name", "contentType", "size", "isInline"),
        *_p("contentId", "contentLocation", "contentBytes"),
        *_p("sourceUrl", "providerType", "permission", "isFolder", "previewUrl", "thumbnailUrl"),
        *_p("item", selectable=False, navigation=True),
    ],
    [],
    unknown_property_code="RequestBroker--ParseUri",
)

# spec §3.1 (v1.0). Beta-only properties (mentionsPreview, unsubscribeData, …) are not listed: the
# parser has no API version, and v1.0 must reject them.
MESSAGE = _resource(
    "message",
    [
        *_p("id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories"),
        *_p("receivedDateTime", "sentDateTime", "hasAttachments", "internetMessageId", "subject"),
        *_p("body", "bodyPreview", "uniqueBody", "importance", "parentFolderId", "conversationId"),
        *_p("conversationIndex", "isDeliveryReceiptRequested", "isReadReceiptRequested", "isRead"),
        *_p("isDraft", "webLink", "inferenceClassification", "from", "sender", "toRecipients"),
        *_p("ccRecipients", "bccRecipients", "replyTo", "flag", "internetMessageHeaders"),
        *_p(
            "attachments",
            "extensions",
            "singleValueExtendedProperties",
            "multiValueExtendedProperties",
            selectable=False,
            navigation=True,
        ),
    ],
    [
        _f("id", "string"),
        _f("createdDateTime", "datetime"),
        _f("lastModifiedDateTime", "datetime"),
        _f("receivedDateTime", "datetime"),
        _f("sentDateTime", "datetime"),
        _f("hasAttachments", "bool"),
        _f("internetMessageId", "string"),
        _f("subject", "string"),
        # Exchange cannot sort on the preview (it is computed, not a stored sort key).
        _f("bodyPreview", "string", sortable=False),
        _f("importance", "enum", enum="microsoft.graph.importance", values="low normal high"),
        _f("parentFolderId", "string"),
        _f("conversationId", "string"),
        _f("isDeliveryReceiptRequested", "bool"),
        _f("isReadReceiptRequested", "bool"),
        _f("isRead", "bool"),
        _f("isDraft", "bool"),
        _f(
            "inferenceClassification",
            "enum",
            enum="microsoft.graph.inferenceClassificationType",
            values="focused other",
        ),
        # Nested paths are what clients filter on (spec §2.9: `from/emailAddress/address` [field]).
        _f("from/emailAddress/address", "string"),
        _f("from/emailAddress/name", "string"),
        _f("sender/emailAddress/address", "string"),
        _f("sender/emailAddress/name", "string"),
        _f(
            "flag/flagStatus",
            "enum",
            enum="microsoft.graph.followupFlagStatus",
            values="notFlagged flagged complete",
        ),
    ],
    expandable=("attachments", "extensions", "singleValueExtendedProperties", "multiValueExtendedProperties"),
    unknown_property_code="RequestBroker--ParseUri",
    any_collections=("categories",),
    expand_targets={"attachments": ATTACHMENT},
)

# spec §3.3. Graph answers unknown mailFolder properties with BadRequest and an ODL prefix [field].
MAIL_FOLDER = _resource(
    "mailFolder",
    [
        *_p("id", "displayName", "parentFolderId", "childFolderCount", "totalItemCount"),
        *_p("unreadItemCount", "isHidden"),
        *_p(
            "childFolders",
            "messages",
            "messageRules",
            "singleValueExtendedProperties",
            "multiValueExtendedProperties",
            selectable=False,
            navigation=True,
        ),
    ],
    [
        _f("id", "string"),
        _f("displayName", "string"),
        _f("parentFolderId", "string"),
        _f("childFolderCount", "int"),
        _f("totalItemCount", "int"),
        _f("unreadItemCount", "int"),
        _f("isHidden", "bool"),
    ],
    expandable=("childFolders",),
    unknown_property_code="BadRequest",
    select_error_prefix="Parsing OData Select and Expand failed: ",
)

# Issue 15: the directory's `user` as GET /me and /users serve it. `$filter` on the properties the
# directory indexes for it (mail, userPrincipalName, displayName, givenName, surname, jobTitle, id).
USER = _resource(
    "user",
    _p(
        "id",
        "displayName",
        "givenName",
        "surname",
        "mail",
        "userPrincipalName",
        "jobTitle",
        "businessPhones",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "accountEnabled",
    ),
    [
        _f("id", "string"),
        _f("displayName", "string"),
        _f("givenName", "string"),
        _f("surname", "string"),
        _f("mail", "string"),
        _f("userPrincipalName", "string"),
        _f("jobTitle", "string"),
    ],
    unknown_property_code="Request_BadRequest",
)

# outlookcategory.md: id, displayName, color. Graph documents no $filter on the master list.
OUTLOOK_CATEGORY = _resource(
    "outlookCategory",
    _p("id", "displayName", "color"),
    [],
    unknown_property_code="BadRequest",
    select_error_prefix="Parsing OData Select and Expand failed: ",
)
