"""Compose: one message item (and its attachments) as RFC 5322 / MIME bytes (RFC 2045–2049).

Used for `GET …/messages/{id}/$value`, for the transport header set of `internetMessageHeaders`, and
by the outbound relay. Structure, as Outlook writes it:

    multipart/mixed                      when there are (non-inline) attachments
      multipart/related                  when there are inline attachments (Content-ID, `cid:` URLs)
        multipart/alternative            for an HTML body: text/plain rendering, then text/html
        inline parts…
      attachment parts… (message/rfc822 for an attached item)

Bodies go out 7-bit clean (7bit or quoted-printable; attachments base64); headers are
RFC 2047-encoded when non-ASCII, or raw UTF-8 (RFC 6532, policy SMTPUTF8) when an address itself is
non-ASCII — RFC 2047 may not encode an addr-spec.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email import policy as policies
from email.headerregistry import AddressHeader, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime
from typing import Any, cast

from mailgraph.domain.model import SECOND, EmailAddress, InternetMessageHeader, ItemBody, Message
from mailgraph.mime.folding import LineSafe
from mailgraph.mime.headers import X_PRIORITY, clean, needs_utf8, thread_topic, to_header
from mailgraph.mime.text import html_to_text

_DERIVED = frozenset(
    {
        *("from", "sender", "to", "cc", "bcc", "reply-to", "subject", "date", "message-id"),
        *("in-reply-to", "references", "thread-topic", "thread-index", "importance", "x-priority"),
        *("disposition-notification-to", "return-receipt-to", "x-ms-has-attach", "mime-version"),
    }
)
_FIELD_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 §3.6.8 ftext
_MAX_TYPE = 255  # attachments' contentType is limited to 255 characters at creation too
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 2045 §5.1 token


class _CachingHeaderRegistry(HeaderRegistry):
    """A HeaderRegistry that builds each header class once per field name.

    The stdlib's `__getitem__` calls `type()` to build a fresh class for *every* header it sets;
    that was ~40 % of `compose` (bench/queue_drain.py: 1.07 ms of worker CPU per relayed message,
    0.65 ms of it composing). The classes are stateless, so one per name is equivalent.
    Each class also gets `LineSafe` first, so no header line exceeds 998 octets (mime/folding.py).
    """

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def map_to_type(self, name: str, cls: type[BaseHeader]) -> None:
        super().map_to_type(name, cls)
        self._classes.clear()  # a remapped name needs a new class

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            base = super().__getitem__(name)
            cls = self._classes[key] = type(base.__name__, (LineSafe, base), {})
        return cls


# A registry of our own, so `email.policy.default`'s shared one is left alone. Receipt headers carry
# addresses (RFC 8098 §2.1). Stored fields of received mail that we do not write ourselves (Resent-*,
# Orig-Date) are unstructured: the structured parser recurses once per nested comment, and a hostile
# stored value must not make `$value` fail.
_REGISTRY = _CachingHeaderRegistry()
# typeshed types AddressHeader as a mixin (not a BaseHeader); the registry combines it with BaseHeader.
_REGISTRY.map_to_type("disposition-notification-to", cast("type[BaseHeader]", AddressHeader))
_REGISTRY.map_to_type("return-receipt-to", cast("type[BaseHeader]", AddressHeader))
for _name in (
    "resent-date",
    "orig-date",
    "resent-sender",
    "resent-to",
    "resent-cc",
    "resent-bcc",
    "resent-from",
):
    _REGISTRY.map_to_type(_name, cast("type[BaseHeader]", UnstructuredHeader))
_SMTP = policies.SMTP.clone(header_factory=_REGISTRY)
_SMTPUTF8 = policies.SMTPUTF8.clone(header_factory=_REGISTRY)


@dataclass(frozen=True, slots=True)
class MimeAttachment:
    """One attachment to compose. For an attached item (itemAttachment) `message` holds its RFC 5322
    bytes and becomes a message/rfc822 part; `data` is unused then."""

    name: str
    content_type: str
    data: bytes
    is_inline: bool = False
    content_id: str | None = None
    message: bytes | None = None


def compose(
    message: Message,
    attachments: Sequence[MimeAttachment] = (),
    *,
    include_bcc: bool = False,
    extra_headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """The MIME of `message` with CRLF line ends.

    `include_bcc` adds the Bcc header (only the sender's own copy shows it, RFC 5322 §3.6.3).
    `extra_headers` (name, value) are appended after the item's own x- headers.

    Raises:
        ValueError: an `extra_headers` name that is not an RFC 5322 field name (a caller's bug).
    """
    mail = _build(message, attachments, include_bcc, extra_headers, has_attach=None)
    return mail.as_bytes(policy=mail.policy)


def transport_headers(message: Message, *, include_bcc: bool = False) -> list[InternetMessageHeader]:
    """The header block `compose` writes for `message` (values decoded, unfolded), without building
    the body: Graph's `internetMessageHeaders` of a sent or received item (spec §3.1)."""
    # An empty body of the same type gives the same structure headers without converting the content.
    shape = replace(message, body=ItemBody(message.body.content_type, ""))
    mail = _build(shape, (), include_bcc, (), has_attach=message.has_attachments)
    return [InternetMessageHeader(name, str(value)) for name, value in mail.items()]


def _build(
    message: Message,
    attachments: Sequence[MimeAttachment],
    include_bcc: bool,
    extra_headers: Sequence[tuple[str, str]],
    has_attach: bool | None,
) -> EmailMessage:
    people = [*message.to, *message.cc, *message.reply_to, *(message.bcc if include_bcc else [])]
    people += [a for a in (message.from_, message.sender) if a is not None]
    policy = _SMTPUTF8 if any(needs_utf8(a) for a in people) else _SMTP
    mail = EmailMessage(policy=policy)
    stored = [(h.name, h.value) for h in message.headers if _FIELD_NAME.match(h.name)]
    # Stored fields that are not derived from properties: trace fields of received mail first
    # (RFC 5321 §4.4: Received/Return-Path are prepended), custom x- fields after ours.
    for name, value in stored:
        if not _derived(name) and not name.lower().startswith("x-"):
            mail[name] = clean(value)
    _envelope(mail, message, include_bcc=include_bcc)
    invitations = [a for a in attachments if is_invitation(a)]
    attachments = [a for a in attachments if not is_invitation(a)]
    if has_attach is None:
        has_attach = any(not a.is_inline for a in attachments)
    _descriptive(mail, message, has_attach)
    for name, value in stored:
        if not _derived(name) and name.lower().startswith("x-"):
            mail[name] = clean(value)
    for name, value in extra_headers:
        if not _FIELD_NAME.match(name):
            raise ValueError(f"not a header field name: {name!r}")
        mail[name] = clean(value)
    _body(mail, message)
    for attachment in attachments:
        if attachment.is_inline and attachment.message is None:
            _add(mail, attachment, policy, related=True)
    # After the related parts (they join the HTML alternative), before mixed attachments.
    for invitation in invitations:
        # RFC 6047 §2.4/§4: an iMIP invitation is the body's last alternative, with its method.
        text = invitation.data.decode("utf-8", "replace")
        method = invitation.content_type.partition("method=")[2].strip().upper()
        mail.add_alternative(
            text, subtype="calendar", charset="utf-8", cte=_cte(text), params={"method": method}
        )
    for attachment in attachments:
        if not attachment.is_inline or attachment.message is not None:
            _add(mail, attachment, policy, related=False)
    return mail


def is_invitation(attachment: MimeAttachment) -> bool:
    """A text/calendar part with an iTIP method (mime/reading.py keeps it so): the body's calendar alternative."""
    kind, _, params = attachment.content_type.partition(";")
    method = params.strip().lower().partition("method=")[2].strip()
    return (
        kind.strip().lower() == "text/calendar"
        and attachment.message is None
        and method.isascii()
        and method.replace("-", "").isalnum()
    )


def _derived(name: str) -> bool:
    """True for a field `compose` writes from the item's properties (a stored copy is not repeated)."""
    lowered = name.lower()
    return lowered in _DERIVED or lowered.startswith("content-")


def _addresses(items: Sequence[EmailAddress]) -> list[object]:
    return [to_header(a) for a in items]


def _envelope(mail: EmailMessage, message: Message, *, include_bcc: bool) -> None:
    """Originator and destination fields (RFC 5322 §3.6.2–§3.6.3)."""
    if message.from_ is not None:
        mail["From"] = _addresses([message.from_])
    sender = message.sender
    if sender is not None and (message.from_ is None or sender.key != message.from_.key):
        # RFC 5322 §3.6.2: Sender only when it differs from the single From author.
        mail["Sender" if message.from_ is not None else "From"] = _addresses([sender])
    for name, items in (("To", message.to), ("Cc", message.cc), ("Reply-To", message.reply_to)):
        if items:
            mail[name] = _addresses(items)
    if include_bcc and message.bcc:
        mail["Bcc"] = _addresses(message.bcc)


def _descriptive(mail: EmailMessage, message: Message, has_attach: bool) -> None:
    """Subject, identification, threading, Exchange's thread headers, importance and receipts."""
    subject = clean(message.subject)
    mail["Subject"] = subject
    mail["Thread-Topic"] = thread_topic(subject)
    if message.conversation_index:
        mail["Thread-Index"] = clean(message.conversation_index)
    sent = datetime.fromtimestamp(message.sent_at / SECOND, UTC)
    mail["Date"] = format_datetime(sent)
    if message.internet_message_id:
        mail["Message-ID"] = clean(message.internet_message_id)
    if message.in_reply_to:
        mail["In-Reply-To"] = clean(message.in_reply_to)
    if message.references:
        mail["References"] = clean(message.references)
    if message.importance != "normal":
        mail["Importance"] = message.importance
        mail["X-Priority"] = X_PRIORITY[message.importance]
    notify = message.from_ or message.sender
    if notify is not None:
        if message.is_read_receipt_requested:
            mail["Disposition-Notification-To"] = _addresses([notify])  # RFC 8098 §2.1
        if message.is_delivery_receipt_requested:
            mail["Return-Receipt-To"] = _addresses([notify])  # what Outlook writes (non-standard)
    mail["X-MS-Has-Attach"] = "yes" if has_attach else ""


def _cte(text: str) -> str:
    # 7-bit clean bodies (RFC 2045 §2.7: ASCII, lines ≤ 998) go as they are, others quoted-printable,
    # so a body never needs 8BITMIME; only an attached 8-bit message (RFC 2046 §5.2.1) can.
    if text.isascii() and all(len(line) <= 998 for line in text.splitlines()):
        return "7bit"
    return "quoted-printable"


def _body(mail: EmailMessage, message: Message) -> None:
    body = message.body
    if body.content_type == "html":
        text = html_to_text(body.content)
        mail.set_content(text, subtype="plain", charset="utf-8", cte=_cte(text))
        mail.add_alternative(body.content, subtype="html", charset="utf-8", cte=_cte(body.content))
    else:
        mail.set_content(body.content, subtype="plain", charset="utf-8", cte=_cte(body.content))


def _split_type(content_type: str) -> tuple[str, str]:
    main, _, sub = content_type.split(";", 1)[0].strip().lower().partition("/")
    # The length bound keeps `Content-Type: type/subtype` on one line (RFC 5322 §2.1.1).
    fits = len(main) + len(sub) <= _MAX_TYPE
    if fits and _TOKEN.match(main) and _TOKEN.match(sub) and main not in ("multipart", "message"):
        return main, sub
    return "application", "octet-stream"


def _last(mail: EmailMessage) -> EmailMessage:
    """The last subpart `email` just added (its parts are EmailMessage under an EmailPolicy)."""
    payload = mail.get_payload()
    part = payload[-1] if isinstance(payload, list) else None
    assert isinstance(part, EmailMessage)
    return part


def _add(mail: EmailMessage, attachment: MimeAttachment, policy: Any, *, related: bool) -> None:
    # `policy` is Any: typeshed's EmailPolicy generic does not accept our EmailMessage-typed clones.
    name = clean(attachment.name)
    if attachment.message is not None:
        inner = BytesParser(policy=policy).parsebytes(attachment.message)
        mail.add_attachment(inner, disposition="attachment", filename=name or None)
        return
    maintype, subtype = _split_type(attachment.content_type)
    if related:
        cid = clean(attachment.content_id or "").strip().strip("<>")
        # `email` cannot wrap an alternative in a related part, so inline parts join the HTML half:
        # alternative[text, related[html, images…]] — RFC 2387's own layout, read by every client.
        target = _last(mail) if mail.get_content_type() == "multipart/alternative" else mail
        target.add_related(
            attachment.data,
            maintype,
            subtype,
            disposition="inline",
            filename=name or None,
            cid=f"<{cid}>" if cid else None,
        )
        return
    mail.add_attachment(attachment.data, maintype, subtype, filename=name or None)
    if attachment.content_id:
        _last(mail)["Content-ID"] = f"<{clean(attachment.content_id).strip().strip('<>')}>"
