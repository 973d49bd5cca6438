"""The full Graph route table: each path below the mailbox root, its handlers and required operation.

The operation ("read", "write", "send") is checked against the token's permissions before the
handler runs (spec §4.3); handlers never look at scopes themselves.
"""

from __future__ import annotations

from mailgraph.api.resources import mail_folders, messages, send_mail
from mailgraph.api.router import KEY, Route

ROUTES: list[Route] = [
    Route(("mailfolders",), {"GET": (mail_folders.list_folders, "read")}),
    Route(("mailfolders", KEY), {"GET": (mail_folders.get_folder, "read")}),
    Route(("mailfolders", KEY, "childfolders"), {"GET": (mail_folders.list_folders, "read")}),
    Route(
        ("mailfolders", KEY, "messages"),
        {"GET": (messages.list_messages, "read"), "POST": (messages.create_message, "write")},
    ),
    Route(
        ("mailfolders", KEY, "messages", KEY),
        {
            "GET": (messages.get_message, "read"),
            "PATCH": (messages.update_message, "write"),
            "DELETE": (messages.delete_message, "write"),
        },
    ),
    Route(("mailfolders", KEY, "messages", KEY, "send"), {"POST": (send_mail.send, "send")}),
    Route(
        ("messages",), {"GET": (messages.list_messages, "read"), "POST": (messages.create_message, "write")}
    ),
    Route(
        ("messages", KEY),
        {
            "GET": (messages.get_message, "read"),
            "PATCH": (messages.update_message, "write"),
            "DELETE": (messages.delete_message, "write"),
        },
    ),
    Route(("messages", KEY, "send"), {"POST": (send_mail.send, "send")}),
    Route(("sendmail",), {"POST": (send_mail.send_mail, "send")}),
]
