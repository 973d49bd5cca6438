"""Inbox rules (Graph `messageRule`, `…/mailFolders/inbox/messageRules`): validation and the CRUD use cases.

A rule has a `sequence` (the order rules run in), `is_enabled`, conditions and exceptions (Graph's
`messageRulePredicates`, every field stored as given) and actions (`messageRuleActions`). Evaluation
and the actions at delivery live in domain/rule_engine.py; this module owns what a valid rule is
(mailfolder-post-messagerules.md: displayName, sequence and actions are required) and its storage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace

from mailgraph.domain import ids
from mailgraph.domain.errors import DomainError, ItemNotFoundError
from mailgraph.domain.mailboxes import folder, resolve, well_known_id
from mailgraph.domain.model import Actor, Timestamp, User
from mailgraph.domain.ports import Tx, UnitOfWork
from mailgraph.domain.rule_model import MessageRule, Predicates, RuleActions, RuleRepo

MAX_RULES = 256  # Exchange's rule quota is 256 KB per mailbox; a count bound keeps one mailbox's rules small


class RuleError(DomainError):
    """A rule Graph refuses (400 ErrorInvalidRequest; the message names the property)."""


class RuleNotFoundError(ItemNotFoundError):
    """No rule with this id in the mailbox's Inbox."""


def _rules(tx: Tx) -> RuleRepo:
    return tx.message_rules


async def check_actions(tx: Tx, owner: User, actions: RuleActions) -> None:
    """The folders an action names exist in the owner's mailbox (id or well-known name).

    Raises:
        ItemNotFoundError: moveToFolder/copyToFolder names no folder of this mailbox (Graph answers
            ErrorItemNotFound for an unknown folder id).
    """
    for key in (actions.move_to_folder, actions.copy_to_folder):
        if key is not None:
            await folder(tx, owner, key)


@dataclass(slots=True)
class RuleChanges:
    """What a create or PATCH sent (None: not sent)."""

    display_name: str | None = None
    sequence: int | None = None
    is_enabled: bool | None = None
    conditions: Predicates | None = None
    exceptions: Predicates | None = None
    actions: RuleActions | None = None


def _check_complete(rule: MessageRule) -> None:
    if not rule.display_name.strip():
        raise RuleError("The displayName property is required.")
    if rule.sequence < 0:
        raise RuleError("The sequence property must be a non-negative integer.")
    if rule.actions.is_empty():
        raise RuleError("The rule must have at least one action.")


class MessageRuleService:
    """The messageRule use cases."""

    def __init__(self, uow: UnitOfWork, clock: Callable[[], Timestamp]) -> None:
        self._uow = uow
        self._clock = clock

    async def list(self, actor: Actor, user_key: str | None, folder_key: str) -> list[MessageRule]:
        """`GET …/mailFolders/inbox/messageRules`: the rules in sequence order."""

        async def unit(tx: Tx) -> list[MessageRule]:
            owner = await _inbox_owner(tx, actor, user_key, folder_key)
            return await _rules(tx).list([owner.id])

        return await self._uow.read(unit)

    async def get(self, actor: Actor, user_key: str | None, folder_key: str, rule_id: str) -> MessageRule:
        """`GET …/messageRules/{id}`.

        Raises:
            RuleNotFoundError: no such rule.
        """

        async def unit(tx: Tx) -> MessageRule:
            owner = await _inbox_owner(tx, actor, user_key, folder_key)
            return await _get(tx, owner, rule_id)

        return await self._uow.read(unit)

    async def create(
        self, actor: Actor, user_key: str | None, folder_key: str, changes: RuleChanges
    ) -> MessageRule:
        """`POST …/messageRules`: displayName, sequence and actions are required.

        Raises:
            RuleError: a required property is missing, or too many rules.
            ItemNotFoundError: an action names an unknown folder.
        """
        if changes.display_name is None or changes.sequence is None or changes.actions is None:
            missing = [
                n for n, v in (("displayName", changes.display_name), ("sequence", changes.sequence),
                               ("actions", changes.actions)) if v is None
            ]  # fmt: skip
            raise RuleError(f"Required properties are missing: {', '.join(missing)}.")

        async def unit(tx: Tx) -> MessageRule:
            owner = await _inbox_owner(tx, actor, user_key, folder_key)
            if len(await _rules(tx).list([owner.id])) >= MAX_RULES:
                raise RuleError(f"A mailbox can have at most {MAX_RULES} rules.")
            rule = MessageRule(
                id=ids.rule_id(),
                mailbox_id=owner.id,
                display_name=changes.display_name or "",
                sequence=changes.sequence or 0,
                is_enabled=True if changes.is_enabled is None else changes.is_enabled,
                conditions=changes.conditions or Predicates(),
                exceptions=changes.exceptions or Predicates(),
                actions=changes.actions or RuleActions(),
                created_at=self._clock(),
            )
            _check_complete(rule)
            await check_actions(tx, owner, rule.actions)
            await _rules(tx).put(rule)
            return rule

        return await self._uow.write(unit)

    async def update(
        self, actor: Actor, user_key: str | None, folder_key: str, rule_id: str, changes: RuleChanges
    ) -> MessageRule:
        """`PATCH …/messageRules/{id}`: the properties sent replace the stored ones (a predicate set or
        the actions replace the whole set, as Graph's complex properties are replaced on PATCH).

        Raises:
            RuleNotFoundError, RuleError, ItemNotFoundError: see `get` and `create`.
        """

        async def unit(tx: Tx) -> MessageRule:
            owner = await _inbox_owner(tx, actor, user_key, folder_key)
            rule = await _get(tx, owner, rule_id)
            updates = {k: v for k, v in _as_dict(changes).items() if v is not None}
            rule = replace(rule, **updates)  # type: ignore[arg-type]
            _check_complete(rule)
            await check_actions(tx, owner, rule.actions)
            await _rules(tx).put(rule)
            return rule

        return await self._uow.write(unit)

    async def delete(self, actor: Actor, user_key: str | None, folder_key: str, rule_id: str) -> None:
        """`DELETE …/messageRules/{id}`.

        Raises:
            RuleNotFoundError: no such rule.
        """

        async def unit(tx: Tx) -> None:
            owner = await _inbox_owner(tx, actor, user_key, folder_key)
            if not await _rules(tx).delete(owner.id, rule_id):
                raise RuleNotFoundError()

        await self._uow.write(unit)


async def _inbox_owner(tx: Tx, actor: Actor, user_key: str | None, folder_key: str) -> User:
    """The mailbox owner, once the folder in the path is the Inbox (rules live only there).

    Raises:
        ItemNotFoundError: no such folder.
        RuleError: another folder (Graph serves messageRules on the Inbox only).
    """
    owner = await resolve(tx, actor, user_key)
    if (await folder(tx, owner, folder_key)).id != await well_known_id(tx, owner, "inbox"):
        raise RuleError("Message rules can only be managed on the Inbox folder.")
    return owner


def _as_dict(changes: RuleChanges) -> dict[str, object]:
    return {f.name: getattr(changes, f.name) for f in fields(changes)}


async def _get(tx: Tx, owner: User, rule_id: str) -> MessageRule:
    rule = await _rules(tx).get(owner.id, rule_id)
    if rule is None:
        raise RuleNotFoundError()
    return rule
