"""End to end with the official msgraph-sdk (issue 15): Alice creates a folder of her own and an Inbox
rule that files mail from Bob into it, sets an automatic reply; Bob sends → the mail lands in that
folder, and Bob gets exactly one automatic reply."""

from __future__ import annotations

import pytest
from msgraph.generated.models.automatic_replies_setting import AutomaticRepliesSetting
from msgraph.generated.models.automatic_replies_status import AutomaticRepliesStatus
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.mail_folder import MailFolder
from msgraph.generated.models.mailbox_settings import MailboxSettings
from msgraph.generated.models.message import Message
from msgraph.generated.models.message_rule import MessageRule
from msgraph.generated.models.message_rule_actions import MessageRuleActions
from msgraph.generated.models.message_rule_predicates import MessageRulePredicates
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import SendMailPostRequestBody

from tests.e2e.conftest import Server
from tests.e2e.test_msgraph_sdk import _client, _user_form

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def _form(user: str, password: str) -> dict[str, str]:
    form = _user_form(user, password)
    form["scope"] += " https://graph.microsoft.com/MailboxSettings.ReadWrite"
    return form


async def test_rule_files_mail_from_bob_and_auto_reply_answers_once(server: Server) -> None:
    async with (
        _client(server, _form("alice@fabrikam.test", "alice-Passw0rd")) as alice,
        _client(server, _user_form("bob@fabrikam.test", "bob-Passw0rd")) as bob,
    ):
        folder = await alice.me.mail_folders.post(MailFolder(display_name="From Bob"))
        assert folder is not None and folder.id and folder.display_name == "From Bob"
        rule = MessageRule(
            display_name="Bob to his folder",
            sequence=1,
            is_enabled=True,
            conditions=MessageRulePredicates(
                from_addresses=[Recipient(email_address=EmailAddress(address="bob@fabrikam.test"))]
            ),
            actions=MessageRuleActions(move_to_folder=folder.id, stop_processing_rules=True),
        )
        rules = alice.me.mail_folders.by_mail_folder_id("inbox").message_rules
        created = await rules.post(rule)
        assert created is not None and created.id and created.display_name == "Bob to his folder"
        listed = await rules.get()
        assert listed is not None and [r.id for r in listed.value or []] == [created.id]
        settings = MailboxSettings(
            automatic_replies_setting=AutomaticRepliesSetting(
                status=AutomaticRepliesStatus.AlwaysEnabled, internal_reply_message="Away today"
            )
        )
        await alice.me.mailbox_settings.patch(settings)
        read = await alice.me.mailbox_settings.get()
        assert read is not None and read.automatic_replies_setting is not None
        assert read.automatic_replies_setting.status == AutomaticRepliesStatus.AlwaysEnabled

        for subject in ("Filed 1", "Filed 2"):
            body = Message(subject=subject, to_recipients=[Recipient(email_address=EmailAddress(
                address="alice@fabrikam.test"))])  # fmt: skip
            await bob.me.send_mail.post(SendMailPostRequestBody(message=body))
        archived = await alice.me.mail_folders.by_mail_folder_id(folder.id).messages.get()
        assert archived is not None and sorted(m.subject or "" for m in archived.value or []) == [
            "Filed 1",
            "Filed 2",
        ]
        inbox = await alice.me.mail_folders.by_mail_folder_id("inbox").messages.get()
        assert inbox is not None and inbox.value == []
        replies = await bob.me.mail_folders.by_mail_folder_id("inbox").messages.get()
        assert replies is not None and [m.subject for m in replies.value or []] == [
            "Automatic reply: Filed 1"
        ]
        await rules.by_message_rule_id(created.id).delete()
        assert (await rules.get()).value == []  # type: ignore[union-attr]
