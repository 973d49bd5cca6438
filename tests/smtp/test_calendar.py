"""A meeting request received over SMTP keeps its text/calendar invitation (issue 15, RFC 6047)."""

from __future__ import annotations

from email import message_from_bytes, policy

from httpx import AsyncClient

from tests.api.helpers import folder_items, q
from tests.api.test_mime_calendar import invitation
from tests.conftest import TokenFor
from tests.smtp.conftest import SmtpTarget, in_thread
from tests.smtp.test_delivery import send


async def test_invitation_over_smtp_round_trips(
    smtp: SmtpTarget, api: AsyncClient, token_for: TokenFor
) -> None:
    raw = invitation().replace(b"alice@fabrikam.test", b"sam@example.org")
    assert await in_thread(lambda: send(smtp, ["bob@fabrikam.test"], raw)) == {}
    bob = token_for("bob", "Mail.Read")
    (item,) = await folder_items(api, bob, "/v1.0/me", "inbox")
    assert item["body"]["contentType"] == "html"
    r = await api.get(f"/v1.0/me/messages/{q(item['id'])}/$value", headers=bob)
    mail = message_from_bytes(r.content, policy=policy.default)
    assert mail.get_content_type() == "multipart/alternative"
    kinds = [p.get_content_type() for p in mail.iter_parts()]
    assert kinds == ["text/plain", "text/html", "text/calendar"]
    calendar = list(mail.iter_parts())[-1]
    assert calendar.get_param("method") == "REQUEST"
    assert "SUMMARY:Planning" in calendar.get_content()
