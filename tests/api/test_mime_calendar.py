"""text/calendar in incoming MIME is kept and `$value` gives it back (issue 15; RFC 6047 iMIP)."""

from __future__ import annotations

import base64
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from httpx import AsyncClient

from mailgraph.domain.model import ItemBody
from mailgraph.mime.compose import MimeAttachment, compose, is_invitation
from mailgraph.mime.parse import parse
from tests.api.helpers import folder_items, q
from tests.conftest import TokenFor
from tests.store.test_contract import message, user

ICS = (
    "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nPRODID:-//test//EN\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\n"
    "UID:abc-123@example.org\r\nDTSTART:20260302T100000Z\r\nDTEND:20260302T110000Z\r\n"
    "SUMMARY:Planning\r\nORGANIZER:mailto:alice@fabrikam.test\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def invitation(html: bool = True, extra_ics: bool = False) -> bytes:
    parts = ["--alt", "Content-Type: text/plain; charset=utf-8", "", "Planning at 10", ""]
    if html:
        parts += ["--alt", "Content-Type: text/html; charset=utf-8", "", "<p>Planning at 10</p>", ""]
    parts += ["--alt", "Content-Type: text/calendar; charset=utf-8; method=REQUEST", "", ICS, "--alt--", ""]
    alternative = "\r\n".join(parts)
    if extra_ics:  # a plain .ics file attached beside the invitation: an ordinary attachment
        body = (
            'Content-Type: multipart/mixed; boundary="mix"\r\n\r\n--mix\r\n'
            'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n'
            + alternative
            + '--mix\r\nContent-Type: text/calendar; charset=utf-8\r\nContent-Disposition: attachment; filename="holidays.ics"\r\n\r\n'
            + ICS
            + "--mix--\r\n"
        )
    else:
        body = 'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n' + alternative
    head = (
        "From: Alice Able <alice@fabrikam.test>\r\nTo: Bob Baker <bob@fabrikam.test>\r\nSubject: Planning\r\n"
        "Message-ID: <invite-1@fabrikam.test>\r\nMIME-Version: 1.0\r\n"
    )
    return (head + body).encode()


def _calendar_parts(mail: Any) -> list[Any]:
    return [p for p in mail.walk() if p.get_content_type() == "text/calendar"]


def test_compose_round_trips_the_invitation_alternative() -> None:
    parsed = parse(invitation())
    (kept,) = parsed.attachments
    assert (kept.name, kept.content_type) == ("attachment1.ics", "text/calendar; method=REQUEST")
    attachment = MimeAttachment(kept.name, kept.content_type, kept.data)
    assert is_invitation(attachment)
    assert not is_invitation(MimeAttachment("x.ics", "text/calendar", b""))
    item = message(user("alice"), "folder", 1)
    item.body = ItemBody("html", "<p>Planning at 10</p>")
    mail = message_from_bytes(compose(item, [attachment]), policy=policy.default)
    assert mail.get_content_type() == "multipart/alternative"
    kinds = [p.get_content_type() for p in mail.iter_parts()]
    assert kinds == ["text/plain", "text/html", "text/calendar"]
    (calendar,) = _calendar_parts(mail)
    assert calendar.get_param("method") == "REQUEST"
    assert isinstance(calendar, EmailMessage)
    assert calendar.get_content().replace("\r\n", "\n") == ICS.replace("\r\n", "\n")


@pytest.mark.parametrize("version", ["v1.0", "beta"])
async def test_value_round_trips_text_calendar(api: AsyncClient, token_for: TokenFor, version: str) -> None:
    alice = token_for("alice", "Mail.ReadWrite", "Mail.Send")
    for raw, expect_files in ((invitation(), []), (invitation(html=False, extra_ics=True), ["holidays.ics"])):
        body = base64.encodebytes(raw)
        r = await api.post(
            f"/{version}/me/messages", content=body, headers=alice | {"Content-Type": "text/plain"}
        )
        assert r.status_code == 201, r.text
        draft = r.json()
        r = await api.get(f"/{version}/me/messages/{q(draft['id'])}/$value", headers=alice)
        mail = message_from_bytes(r.content, policy=policy.default)
        calendars = _calendar_parts(mail)
        assert [c.get_param("method") for c in calendars] == ["REQUEST", *([None] * len(expect_files))]
        assert "UID:abc-123@example.org" in calendars[0].get_content()
        assert [p.get_filename() for p in mail.iter_attachments()] == expect_files
    # sent over Graph in MIME mode: the recipient's copy keeps the invitation
    r = await api.post(
        f"/{version}/me/sendMail",
        content=base64.encodebytes(invitation()),
        headers=alice | {"Content-Type": "text/plain"},
    )
    assert r.status_code == 202, r.text
    bob = token_for("bob", "Mail.Read")
    (copy,) = await folder_items(api, bob, f"/{version}/me", "inbox")
    r = await api.get(f"/{version}/me/messages/{q(copy['id'])}/$value", headers=bob)
    calendars = _calendar_parts(message_from_bytes(r.content, policy=policy.default))
    assert [c.get_param("method") for c in calendars] == ["REQUEST"]
