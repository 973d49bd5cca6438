"""Drafts: create one from the caller's properties, and the rules of what a PATCH may change (spec §2.2–§2.3)."""

from __future__ import annotations

from dataclasses import replace

from mailgraph.domain import bodies, ids
from mailgraph.domain.addresses import check_shape, domain_of, has_control
from mailgraph.domain.errors import (
    InvalidInternetMessageHeaderCollectionError,
    InvalidInternetMessageHeaderError,
    InvalidPropertySetError,
    InvalidPropertyValueError,
    InvalidRecipientsError,
)
from mailgraph.domain.flags import check_flag
from mailgraph.domain.model import (
    UNSET,
    EmailAddress,
    InternetMessageHeader,
    ItemBody,
    Message,
    MessageChanges,
    Timestamp,
    Unset,
    User,
)

MAX_RECIPIENTS = 500  # spec §6: To+Cc+Bcc, Exchange Online default
MAX_CUSTOM_HEADERS = 5  # spec §2.2/§6: x- headers, at creation only
MAX_HEADER_NAME = 255  # issue 17: a field name cannot be folded; ours (docs/graph-coverage.md)
MAX_MESSAGE_ID = 900  # issue 17: a msg-id cannot be folded either; fits one line after any field name
MAX_SUBJECT = 4096  # generous; Exchange truncates at 255 in some views but stores more


def new_draft(owner: User, folder_id: str, changes: MessageChanges, now: Timestamp) -> Message:
    """A new draft in `folder_id`, with the server-set values of spec §2.2 and the caller's properties.

    Raises:
        DomainError: a property value the rules of `apply_changes` refuse.
    """
    draft = Message(
        id=ids.immutable_id(),
        rest_id=ids.message_id(),
        mailbox_id=owner.id,
        folder_id=folder_id,
        change_key=ids.change_key(),
        created_at=now,
        modified_at=now,
        # Spec §2.2: a new draft's sentDateTime and receivedDateTime both equal its creation time.
        received_at=now,
        sent_at=now,
        is_draft=True,
        is_read=True,
        internet_message_id=ids.internet_message_id(domain_of(owner.mail)),
        conversation_id=ids.conversation_id(),
        conversation_index=ids.conversation_index(now),
    )
    apply_changes(draft, changes, now, creating=True)
    return draft


def _check_headers(headers: list[InternetMessageHeader]) -> None:
    if len(headers) > MAX_CUSTOM_HEADERS:
        raise InvalidInternetMessageHeaderCollectionError(
            f"Maximum number of headers in one message should be less than or equal to {MAX_CUSTOM_HEADERS}."
        )
    for header in headers:
        if not header.name.lower().startswith("x-"):
            raise InvalidInternetMessageHeaderError(
                f"The internet message header name '{header.name}' should start with 'x-' or 'X-'."
            )
        # RFC 5322 §2.2: a field name is printable ASCII without ':'; CR/LF in a value would start a new header.
        if not header.name.isascii() or ":" in header.name or has_control(header.name) or " " in header.name:
            raise InvalidInternetMessageHeaderError(
                f"The internet message header name '{header.name}' is invalid."
            )
        if len(header.name) > MAX_HEADER_NAME:
            # RFC 5322 §2.1.1: a line is at most 998 octets, and a name cannot be folded.
            raise InvalidInternetMessageHeaderError(
                f"The internet message header name '{header.name[:40]}…' is longer than "
                f"{MAX_HEADER_NAME} characters."
            )
        if has_control(header.value.replace("\t", " ")):
            raise InvalidInternetMessageHeaderError(
                f"The internet message header '{header.name}' has a value with control characters."
            )


def _check_subject(subject: str) -> None:
    if has_control(subject.replace("\t", " ")):
        raise InvalidPropertyValueError("The subject must not contain control characters such as CR or LF.")
    if len(subject) > MAX_SUBJECT:
        raise InvalidPropertyValueError(f"The subject is longer than {MAX_SUBJECT} characters.")


_DRAFT_ONLY = ("subject", "body", "from_", "sender", "reply_to", "internet_message_id")


def apply_changes(
    message: Message, changes: MessageChanges, now: Timestamp, *, creating: bool = False
) -> None:
    """Apply the caller's properties to `message` in place, enforcing the PATCH rules of spec §2.3.

    Derived values (bodyPreview, changeKey, lastModifiedDateTime) are recomputed.

    Raises:
        InvalidPropertySetError: a draft-only property on a non-draft, or headers after creation.
        InvalidPropertyValueError: a subject with control characters.
        InvalidRecipientsError: too many recipients, or control characters in one.
        InvalidInternetMessageHeaderError / …CollectionError: bad custom headers.
    """
    if not message.is_draft:
        for name in _DRAFT_ONLY:
            if not isinstance(getattr(changes, name), Unset):
                raise InvalidPropertySetError("Message is not draft.")
    if not isinstance(changes.headers, Unset):
        if not creating:
            # message.md: internetMessageHeaders can be set at creation only.
            raise InvalidPropertySetError(
                "The property 'internetMessageHeaders' can only be set when creating."
            )
        _check_headers(changes.headers)
        message.headers = list(changes.headers)
    if not isinstance(changes.subject, Unset):
        _check_subject(changes.subject)
        message.subject = changes.subject
    if not isinstance(changes.body, Unset):
        message.body = bodies.normalize(changes.body)
        message.body_preview = bodies.preview(message.body)
    _apply_recipients(message, changes)
    if not isinstance(changes.internet_message_id, Unset):
        message.internet_message_id = _message_id(changes.internet_message_id)
    if not isinstance(changes.flag, Unset):
        message.flag = check_flag(changes.flag, now)
    for name in (
        "importance",
        "inference_classification",
        "categories",
        "is_read",
        "is_delivery_receipt_requested",
        "is_read_receipt_requested",
    ):
        value = getattr(changes, name)
        if value is not UNSET:
            setattr(message, name, value)
    message.modified_at = now
    message.change_key = ids.change_key()


def _apply_recipients(message: Message, changes: MessageChanges) -> None:
    for name in ("to", "cc", "bcc", "reply_to"):
        value = getattr(changes, name)
        if not isinstance(value, Unset):
            check_shape(value)
            setattr(message, name, list(value))
    for name in ("from_", "sender"):
        single = getattr(changes, name)
        if isinstance(single, EmailAddress):
            check_shape([single])
        if not isinstance(single, Unset):
            setattr(message, name, single)
    if len(message.recipients) > MAX_RECIPIENTS:
        raise InvalidRecipientsError(
            f"The message has {len(message.recipients)} recipients; at most {MAX_RECIPIENTS} are allowed."
        )


def _message_id(value: str) -> str:
    # RFC 5322 §3.6.4: msg-id is "<" id-left "@" id-right ">"; it becomes a header, so no controls.
    if has_control(value) or not (value.startswith("<") and value.endswith(">") and "@" in value):
        raise InvalidPropertyValueError(f"The internetMessageId '{value}' is not an RFC 5322 msg-id.")
    if len(value) > MAX_MESSAGE_ID:
        raise InvalidPropertyValueError(f"The internetMessageId is longer than {MAX_MESSAGE_ID} characters.")
    return value


def copy_for(message: Message, mailbox_id: str, folder_id: str, now: Timestamp) -> Message:
    """A copy of `message` as a new item of another folder or mailbox (new ids, new change key)."""
    return replace(
        message,
        id=ids.immutable_id(),
        rest_id=ids.message_id(),
        mailbox_id=mailbox_id,
        folder_id=folder_id,
        change_key=ids.change_key(),
        created_at=now,
        modified_at=now,
        to=list(message.to),
        cc=list(message.cc),
        bcc=list(message.bcc),
        reply_to=list(message.reply_to),
        categories=list(message.categories),
        headers=list(message.headers),
        body=ItemBody(message.body.content_type, message.body.content),
    )
