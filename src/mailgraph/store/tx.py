"""The assembly of one transaction: `SqlTx`, the repositories of store/sql/ over one `Conn`.

Implements `domain.ports.Tx`. Engines build one per connection (the writer's keeps the well-known
folder id cache; readers' do not).
"""

from __future__ import annotations

from mailgraph.domain.changes import UNOBSERVED, ChangeRecorder
from mailgraph.store.contract import Conn
from mailgraph.store.sql.attachments import SqlAttachments
from mailgraph.store.sql.change_log import SqlChangeLog
from mailgraph.store.sql.delegation import SqlDelegation
from mailgraph.store.sql.directory import SqlDirectory
from mailgraph.store.sql.faults import SqlFaults
from mailgraph.store.sql.flows import SqlFlows
from mailgraph.store.sql.folder_ids import WellKnownIdCache
from mailgraph.store.sql.folders import SqlFolders
from mailgraph.store.sql.lockouts import SqlLockouts
from mailgraph.store.sql.message_properties import SqlMessageProperties
from mailgraph.store.sql.messages import SqlMessages
from mailgraph.store.sql.outbox import SqlOutbox
from mailgraph.store.sql.outlook import SqlCategories, SqlOverrides
from mailgraph.store.sql.rule_forwards import SqlRuleForwards
from mailgraph.store.sql.rules import SqlMessageRules
from mailgraph.store.sql.send_quota import SqlSendQuota
from mailgraph.store.sql.settings import SqlMailboxSettings
from mailgraph.store.sql.signing_keys import SqlKeys
from mailgraph.store.sql.subscriptions import SqlSubscriptions
from mailgraph.store.sql.upload_parts import SqlUploadParts
from mailgraph.store.sql.workbench import SqlWorkbench


class SqlTx:
    """The repositories of one transaction (implements `domain.ports.Tx`)."""

    __slots__ = (
        "attachments",
        "categories",
        "change_log",
        "changes",
        "delegation",
        "directory",
        "faults",
        "flows",
        "folders",
        "keys",
        "lockouts",
        "mailbox_settings",
        "message_rules",
        "messages",
        "outbox",
        "overrides",
        "properties",
        "rule_forwards",
        "send_quota",
        "subscriptions",
        "upload_parts",
        "workbench",
    )

    def __init__(self, conn: Conn, folder_ids: WellKnownIdCache | None = None) -> None:
        # folder_ids: only the writer's Tx has one (store/sql/folder_ids.py says why it is sound).
        self.directory = SqlDirectory(conn, folder_ids)
        self.folders = SqlFolders(conn, folder_ids)
        self.messages = SqlMessages(conn)
        self.outbox = SqlOutbox(conn)
        self.attachments = SqlAttachments(conn)
        self.delegation = SqlDelegation(conn)
        self.keys = SqlKeys(conn)
        self.lockouts = SqlLockouts(conn)
        self.flows = SqlFlows(conn)  # issue 10: shared state of the identity flows
        self.upload_parts = SqlUploadParts(conn)
        self.change_log = SqlChangeLog(conn)  # issue 12: change numbers and the log delta reads
        self.subscriptions = SqlSubscriptions(conn)  # issue 12: webhooks (migration 0016)
        self.faults = SqlFaults(conn)  # issue 13: fault-injection rules and their counts
        self.workbench = SqlWorkbench(conn, folder_ids)  # issue 14: tenant-wide queries of the workbench
        self.send_quota = SqlSendQuota(conn)  # issue 13: per-mailbox send limits (migration 0020)
        self.message_rules = SqlMessageRules(conn)  # issue 15: Inbox rules (migration 0022)
        self.mailbox_settings = SqlMailboxSettings(conn)  # issue 15: settings, auto-reply log (0022)
        self.categories = SqlCategories(conn)  # issue 15: master categories (migration 0023)
        self.overrides = SqlOverrides(conn)  # issue 15: Focused Inbox overrides (migration 0023)
        self.properties = SqlMessageProperties(conn)  # issue 15: extended props, extensions (0024)
        self.rule_forwards = SqlRuleForwards(conn)  # issue 15: rules' forwards-as-attachment (0032)
        # Units run through domain.changes.ObservedUnitOfWork get their own recorder instead.
        self.changes: ChangeRecorder = UNOBSERVED
