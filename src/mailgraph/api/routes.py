"""The full Graph route table: each path below the mailbox root, its handlers and required operation.

The operation ("read", "write", "send") is checked against the token's permissions before the
handler runs (spec §4.3); handlers never look at scopes themselves.

Patterns are below the mailbox root (`/me`, `/users/{key}`). Root-level routes (`/subscriptions`,
`/$batch`, `/users`, and `/me`, `/users/{id}` as entities) join this same table as
`Route(pattern, methods, root=True)` when their handlers exist (api/router.py).
"""

from __future__ import annotations

from mailgraph.api import batch
from mailgraph.api.resources import (
    attachments,
    categories,
    counts,
    delta,
    exchange_ids,
    extensions,
    inference,
    mail_folders,
    mailbox_settings,
    message_rules,
    messages,
    mime_content,
    moves,
    replies,
    send_mail,
    subscriptions,
    upload_sessions,
    users,
)
from mailgraph.api.router import KEY, Handler, Route
from mailgraph.auth.permissions import Operation

ROUTES: list[Route] = [
    # Folders (spec §2.10; writes issue 15). `$count` comes before `{id}`: the first match wins.
    Route(
        ("mailfolders",),
        {"GET": (mail_folders.list_folders, "read"), "POST": (mail_folders.create_folder, "write")},
    ),
    Route(("mailfolders", "$count"), {"GET": (mail_folders.count_folders, "read")}),
    *(
        route
        for item in (("mailfolders", KEY), ("mailfolders", KEY, "childfolders", KEY))
        for route in (
            Route(
                item,
                {
                    "GET": (mail_folders.get_folder, "read"),
                    "PATCH": (mail_folders.update_folder, "write"),
                    "DELETE": (mail_folders.delete_folder, "write"),
                },
            ),
            Route(
                (*item, "childfolders"),
                {"GET": (mail_folders.list_folders, "read"), "POST": (mail_folders.create_folder, "write")},
            ),
            Route((*item, "childfolders", "$count"), {"GET": (mail_folders.count_folders, "read")}),
            Route((*item, "move"), {"POST": (mail_folders.move_folder, "write")}),
            Route((*item, "copy"), {"POST": (mail_folders.copy_folder, "write")}),
            Route((*item, "permanentdelete"), {"POST": (mail_folders.permanent_delete_folder, "write")}),
        )
    ),
    # `…/messages/$count` before `…/messages/{id}` (issue 15).
    Route(("mailfolders", KEY, "messages", "$count"), {"GET": (counts.count_messages, "read")}),
    Route(("messages", "$count"), {"GET": (counts.count_messages, "read")}),
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
    # The item's MIME (spec §2.4); `$value` is a segment name like any other.
    Route(("messages", KEY, "$value"), {"GET": (mime_content.message_value, "read_content")}),
    Route(
        ("mailfolders", KEY, "messages", KEY, "$value"), {"GET": (mime_content.message_value, "read_content")}
    ),
]

# Message actions (spec §2.6–§2.8), each under `…/messages/{id}/` and `…/mailFolders/{f}/messages/{id}/`.
# The direct sends need Mail.Send only, like `send` (spec §2.8); the drafts and moves Mail.ReadWrite.
MESSAGE_ACTIONS: list[tuple[str, Handler, Operation]] = [
    ("createreply", replies.create_reply, "write"),
    ("createreplyall", replies.create_reply_all, "write"),
    ("createforward", replies.create_forward, "write"),
    ("reply", replies.reply, "send"),
    ("replyall", replies.reply_all, "send"),
    ("forward", replies.forward, "send"),
    ("move", moves.move, "write"),
    ("copy", moves.copy, "write"),
]
ROUTES += [
    Route((*prefix, name), {"POST": (handler, operation)})
    for prefix in (("messages", KEY), ("mailfolders", KEY, "messages", KEY))
    for name, handler, operation in MESSAGE_ACTIONS
]

# Attachments (spec §2.11, §2.12). `createUploadSession` comes before `{aid}`: the first match wins.
ROUTES += [
    route
    for prefix in (("messages", KEY), ("mailfolders", KEY, "messages", KEY))
    for route in (
        Route(
            (*prefix, "attachments"),
            {
                "GET": (attachments.list_attachments, "read_content"),
                "POST": (attachments.add_attachment, "write"),
            },
        ),
        Route(
            (*prefix, "attachments", "createuploadsession"),
            {"POST": (upload_sessions.create_upload_session, "write")},
        ),
        Route(
            (*prefix, "attachments", KEY),
            {
                "GET": (attachments.get_attachment, "read_content"),
                "DELETE": (attachments.delete_attachment, "write"),
            },
        ),
        Route(
            (*prefix, "attachments", KEY, "$value"), {"GET": (attachments.attachment_value, "read_content")}
        ),
    )
]

# Delta (spec §2.13; issue 12), also spelled `delta()` (a key "" after the name). Put first: the same
# paths would otherwise match `mailFolders/{id}` and `…/messages/{id}` with the id "delta".
ROUTES[:0] = [
    Route(pattern, {"GET": (handler, "read")})
    for base, handler in (
        (("mailfolders", KEY, "messages", "delta"), delta.message_delta),
        (("mailfolders", "delta"), delta.folder_delta),
    )
    for pattern in (base, (*base, KEY))
]

# Change notifications (issue 12, spec §2.15): root routes `/{version}/subscriptions…`. Subscribing needs
# read access to the mailbox; domain/webhooks.py applies the own-mailbox and .Shared rules.
ROUTES += [
    Route(
        ("subscriptions",),
        {"GET": (subscriptions.list_subscriptions, "read"), "POST": (subscriptions.create, "read")},
        root=True,
    ),
    Route(
        ("subscriptions", KEY),
        {
            "GET": (subscriptions.get, "read"),
            "PATCH": (subscriptions.update, "read"),
            "DELETE": (subscriptions.delete, "read"),
        },
        root=True,
    ),
    Route(("subscriptions", KEY, "reauthorize"), {"POST": (subscriptions.reauthorize, "read")}, root=True),
]
# Root routes (directly below `/{version}`). `$batch` needs only a valid token: its items are each
# routed, authorized and throttled like top-level requests (api/batch.py).
ROUTES.append(Route(("$batch",), {"POST": (batch.run_batch, "none")}, root=True))

# The directory (issue 15): the signed-in user and the tenant's users. `/users/$count` before `/users/{id}`.
ROUTES += [
    Route(("me",), {"GET": (users.get_me, "directory")}, root=True),
    Route(("users",), {"GET": (users.list_users, "directory")}, root=True),
    Route(("users", "$count"), {"GET": (users.count_users, "directory")}, root=True),
    Route(("users", KEY), {"GET": (users.get_user, "directory")}, root=True),
]
# Inbox rules and mailbox settings (issue 15): MailboxSettings.Read to read, .ReadWrite to change (the
# permission tables of mailfolder-list-messagerules.md, user-get/update-mailboxsettings.md).
ROUTES += [
    Route(
        ("mailfolders", KEY, "messagerules"),
        {
            "GET": (message_rules.list_rules, "settings_read"),
            "POST": (message_rules.create_rule, "settings_write"),
        },
    ),
    Route(
        ("mailfolders", KEY, "messagerules", KEY),
        {
            "GET": (message_rules.get_rule, "settings_read"),
            "PATCH": (message_rules.update_rule, "settings_write"),
            "DELETE": (message_rules.delete_rule, "settings_write"),
        },
    ),
    Route(
        ("mailboxsettings",),
        {
            "GET": (mailbox_settings.get_settings, "settings_read"),
            "PATCH": (mailbox_settings.update_settings, "settings_write"),
        },
    ),
    Route(("mailboxsettings", KEY), {"GET": (mailbox_settings.get_setting, "settings_read")}),
]

# Master categories (issue 15, outlookuser-list-mastercategories.md): MailboxSettings.Read to read,
# MailboxSettings.ReadWrite to change, as the permission tables of those pages say.
ROUTES += [
    Route(
        ("outlook", "mastercategories"),
        {
            "GET": (categories.list_categories, "settings_read"),
            "POST": (categories.create_category, "settings_write"),
        },
    ),
    Route(
        ("outlook", "mastercategories", KEY),
        {
            "GET": (categories.get_category, "settings_read"),
            "PATCH": (categories.update_category, "settings_write"),
            "DELETE": (categories.delete_category, "settings_write"),
        },
    ),
]

# translateExchangeIds (spec §2.16, user-translateexchangeids.md): User.Read (least privileged) up to
# User.ReadBasic.All, delegated only — the directory operation; the domain refuses app-only tokens.
ROUTES.append(Route(("translateexchangeids",), {"POST": (exchange_ids.translate_exchange_ids, "directory")}))

# Focused Inbox overrides (issue 15). Graph asks Mail.Read / Mail.ReadWrite: the mail operations.
ROUTES += [
    Route(
        ("inferenceclassification", "overrides"),
        {"GET": (inference.list_overrides, "read"), "POST": (inference.create_override, "write")},
    ),
    Route(
        ("inferenceclassification", "overrides", KEY),
        {"PATCH": (inference.update_override, "write"), "DELETE": (inference.delete_override, "write")},
    ),
]

# Open extensions of messages (issue 15, opentypeextension-*.md), also below a folder.
ROUTES += [
    route
    for prefix in (("messages", KEY), ("mailfolders", KEY, "messages", KEY))
    for route in (
        Route(
            (*prefix, "extensions"),
            {"GET": (extensions.list_extensions, "read"), "POST": (extensions.create_extension, "write")},
        ),
        Route(
            (*prefix, "extensions", KEY),
            {
                "GET": (extensions.get_extension, "read"),
                "PATCH": (extensions.update_extension, "write"),
                "DELETE": (extensions.delete_extension, "write"),
            },
        ),
    )
]
