"""Deterministic fault injection: rules, which request they hit, and whether this occurrence fires.

A `FaultRule` matches by scope (`http` requests, the `relay` of the outbound worker, `webhook`
deliveries), method, a route glob (`POST */messages/*/send`: fnmatch on the path below the version root;
for the relay the recipient address, for webhooks the notification URL), mailbox and app. Each match
is an *occurrence*, counted in the store (migration 0017) so that "the 3rd send by alice" is the 3rd
across every server process on the database. Whether an occurrence fires is a pure function of the
rule and its count (`fires`): exactly the `nth`, or with `probability` drawn from a generator seeded
by (`seed`, occurrence) — the same sequence on every run —, or every one; at most `times` firings,
none after `expires_at`.

Rules live in the store; `FaultService` keeps a copy in memory, reloaded in the background every
second, so a server without rules does no store work per request (`active` is False) and a rule added
by another process (`mailgraph faults add`) applies within a second. Firing is decided in one unit of
work per occurrence (count, decide, count the firing), so two processes never both take "the 3rd".

Webhook delivery (issue 11, built in parallel) calls `await faults.webhook(url)` before each POST and
applies the returned rule's effect (status, latency, reset), or delivers normally on None.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Literal

from mailgraph.domain.errors import BadRequestError
from mailgraph.domain.model import Timestamp
from mailgraph.domain.periodic import Periodic

if TYPE_CHECKING:
    from mailgraph.domain.ports import Tx, UnitOfWork


FaultScope = Literal["http", "relay", "webhook"]
SCOPES: tuple[FaultScope, ...] = ("http", "relay", "webhook")
REFRESH_S = 1.0


@dataclass(frozen=True, slots=True)
class FaultRule:
    """One rule: what it matches, when it fires, and its effect."""

    id: str = ""
    scope: FaultScope = "http"
    method: str | None = None
    """HTTP method (http scope), upper case; None: any."""
    route: str | None = None
    """Glob, case-insensitive: path below the version root (http), recipient (relay), URL (webhook)."""
    mailbox: str | None = None
    """The mailbox (UPN, address or user id; http: the addressed mailbox, relay: the sender)."""
    app: str | None = None
    """The caller's app (client) id."""
    nth: int | None = None
    probability: float | None = None
    seed: int = 0
    times: int | None = None
    """Fire at most this many times (count-limited rule)."""
    expires_at: Timestamp | None = None
    """No firing after this time (time-limited rule)."""
    status: int | None = None
    """HTTP status (http, webhook) or SMTP reply code (relay); None: no failure (latency only)."""
    code: str | None = None
    message: str | None = None
    retry_after_s: int | None = None
    latency_ms: int = 0
    reset: bool = False
    """http/webhook: the connection is dropped; relay: the connection drops in the middle of DATA."""
    seen: int = 0
    fired: int = 0
    created_at: Timestamp = 0

    def matches(
        self, scope: FaultScope, method: str, target: str, mailboxes: tuple[str, ...], app: str | None
    ) -> bool:
        """Whether a request (or relay transaction, or webhook POST) is an occurrence of this rule."""
        if scope != self.scope or (self.method is not None and self.method != method.upper()):
            return False
        if self.route is not None and not fnmatchcase(target.lower(), self.route.lower()):
            return False
        if self.mailbox is not None and self.mailbox.casefold() not in mailboxes:
            return False
        return self.app is None or (app is not None and self.app.casefold() == app.casefold())


def fires(rule: FaultRule, seen: int, fired: int, now: Timestamp) -> bool:
    """Whether occurrence number `seen` (1-based) fires, `fired` firings before it."""
    if rule.expires_at is not None and now >= rule.expires_at:
        return False
    if rule.times is not None and fired >= rule.times:
        return False
    if rule.nth is not None:
        return seen == rule.nth
    if rule.probability is not None:
        return random.Random(f"{rule.seed}:{seen}").random() < rule.probability
    return True


def validate(rule: FaultRule) -> FaultRule:
    """The rule normalised (method upper case, an id). Raises BadRequestError naming what is wrong."""
    problems = []
    if rule.scope not in SCOPES:
        problems.append(f"scope must be one of {', '.join(SCOPES)}")
    if rule.nth is not None and rule.nth < 1:
        problems.append("nth must be 1 or more")
    if rule.probability is not None and not 0 <= rule.probability <= 1:
        problems.append("probability must be between 0 and 1")
    if rule.nth is not None and rule.probability is not None:
        problems.append("give nth or probability, not both")
    if rule.status is not None and not (
        100 <= rule.status <= 599 if rule.scope != "relay" else 400 <= rule.status <= 599
    ):
        problems.append("status must be an HTTP status (an SMTP 4xx/5xx code for the relay)")
    if rule.status is None and not rule.reset and rule.latency_ms <= 0:
        problems.append("a rule needs an effect: status, reset or latencyMs")
    if rule.latency_ms < 0 or (rule.times is not None and rule.times < 1):
        problems.append("latencyMs must be ≥ 0 and times ≥ 1")
    if problems:
        raise BadRequestError("; ".join(problems))
    return replace(
        rule, id=rule.id or uuid.uuid4().hex[:12], method=rule.method.upper() if rule.method else None
    )


class FaultService:
    """The rules of the store, a cached copy for the hot path, and the decision per occurrence."""

    def __init__(self, uow: UnitOfWork, clock: Callable[[], Timestamp]) -> None:
        self._uow = uow
        self._clock = clock
        self._rules: list[FaultRule] = []
        self._periodic = Periodic("mailgraph-faults", REFRESH_S, self.refresh)

    @property
    def active(self) -> bool:
        """Whether any rule exists (False: callers skip fault checks entirely)."""
        return bool(self._rules)

    def any(self, scope: FaultScope) -> bool:
        """Whether a rule of this scope exists."""
        return any(r.scope == scope for r in self._rules)

    async def refresh(self) -> list[FaultRule]:
        """Reload the rules from the store."""
        self._rules = await self._uow.read(lambda tx: tx.faults.list())
        return list(self._rules)

    async def add(self, rule: FaultRule) -> FaultRule:
        """Validate and store a rule (replacing one with the same id, its counts reset)."""
        rule = replace(validate(rule), seen=0, fired=0, created_at=self._clock())

        async def unit(tx: Tx) -> None:
            await tx.faults.put(rule)

        await self._uow.write(unit)
        await self.refresh()
        return rule

    async def clear(self, rule_id: str | None = None) -> int:
        """Remove one rule, or all; returns how many went."""

        async def unit(tx: Tx) -> int:
            return await tx.faults.delete(rule_id)

        gone = await self._uow.write(unit)
        await self.refresh()
        return gone

    async def check(
        self, scope: FaultScope, method: str, target: str, mailboxes: tuple[str, ...], app: str | None
    ) -> FaultRule | None:
        """The first matching rule that fires for this occurrence, or None. Counts every match."""
        if not self._rules:
            return None
        folded = tuple(m.casefold() for m in mailboxes if m)
        candidates = [r for r in self._rules if r.matches(scope, method, target, folded, app)]
        if not candidates:
            return None
        now = self._clock()

        async def unit(tx: Tx) -> FaultRule | None:
            chosen = None
            for rule in candidates:  # every matching rule counts its occurrence, the first firing wins
                counts = await tx.faults.hit(rule.id)
                if counts is not None and chosen is None and fires(rule, counts[0], counts[1], now):
                    await tx.faults.fired(rule.id)
                    chosen = rule
            return chosen

        return await self._uow.write(unit)

    async def webhook(self, url: str, mailbox: str | None = None, app: str | None = None) -> FaultRule | None:
        """For webhook delivery: the rule whose effect to apply to this POST to `url`, or None."""
        return await self.check("webhook", "POST", url, (mailbox or "",), app)

    async def relay(self, sender: str, recipients: list[str]) -> FaultRule | None:
        """For the outbound worker: the rule whose SMTP effect to apply to this transaction, or None."""
        if not self.any("relay"):
            return None
        for rcpt in recipients:
            rule = await self.check("relay", "DATA", rcpt, (sender,), None)
            if rule is not None:
                return rule
        return None

    def start(self) -> None:
        """Reload the rules every second in the background (rules added by other processes)."""
        self._periodic.start()

    async def stop(self) -> None:
        """Stop the background reload."""
        await self._periodic.stop()


# The fields of a rule as clients write them (JSON of /_mailgraph/faults, TOML of the tenant file).
_FIELDS: dict[str, tuple[str, type | tuple[type, ...]]] = {
    "id": ("id", str),
    "scope": ("scope", str),
    "method": ("method", str),
    "route": ("route", str),
    "mailbox": ("mailbox", str),
    "app": ("app", str),
    "nth": ("nth", int),
    "probability": ("probability", (int, float)),
    "seed": ("seed", int),
    "times": ("times", int),
    "status": ("status", int),
    "code": ("code", str),
    "message": ("message", str),
    "retryAfter": ("retry_after_s", int),
    "latencyMs": ("latency_ms", int),
    "reset": ("reset", bool),
}


def rule_from_mapping(data: object, now: Timestamp) -> FaultRule:
    """A rule from its JSON/TOML form (`{"method": "POST", "route": "*/send", "nth": 3, "status": 503}`).

    `route` may start with the method (`"POST */messages/*/send"`); `ttlSeconds` makes a time-limited
    rule. Raises BadRequestError naming every unknown or mistyped field, then `validate`'s problems.
    """
    if not isinstance(data, dict):
        raise BadRequestError("a fault rule must be an object")
    values: dict[str, object] = {}
    problems = []
    for key, value in data.items():
        if key == "ttlSeconds" and isinstance(value, int | float) and not isinstance(value, bool):
            values["expires_at"] = now + int(value * 1_000_000)
            continue
        spec = _FIELDS.get(key)
        if spec is None:
            problems.append(f"unknown field {key!r}")
        elif value is None:
            continue
        elif not isinstance(value, spec[1]) or (isinstance(value, bool) and spec[1] is not bool):
            problems.append(f"{key} has the wrong type")
        else:
            values[spec[0]] = value
    if problems:
        raise BadRequestError("; ".join(problems))
    route = values.get("route")
    if isinstance(route, str) and " " in route.strip():
        method, _, rest = route.strip().partition(" ")
        values["method"], values["route"] = method, rest.strip()
    if "probability" in values:
        values["probability"] = float(values["probability"])  # type: ignore[arg-type]
    return validate(FaultRule(**values))  # type: ignore[arg-type]


def rule_to_mapping(rule: FaultRule) -> dict[str, object]:
    """A rule in its JSON form, with its counts."""
    out: dict[str, object] = {name: getattr(rule, attr) for name, (attr, _) in _FIELDS.items()}
    out.update(expiresAt=rule.expires_at, seen=rule.seen, fired=rule.fired)
    return out
