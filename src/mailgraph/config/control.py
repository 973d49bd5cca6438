"""The tenant file's test controls: `[throttling]` and `[[faults]]` (docs/throttling.md, docs/faults.md).

    [throttling]
    profile = "exchange-online"          # the tenant's profile ("off" or "exchange-online")
    concurrency = 2                      # any limit of domain/throttling.py `Limits`, overridden
    [throttling.mailboxes]
    "bob@contoso.com" = "off"            # per mailbox (UPN, address or id)

    [[faults]]
    route = "POST */messages/*/send"
    mailbox = "alice@contoso.com"
    nth = 3
    status = 503

Problems are reported all at once, like the rest of the tenant file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mailgraph.domain.errors import DomainError
from mailgraph.domain.faults import FaultRule, rule_from_mapping
from mailgraph.domain.model import now
from mailgraph.domain.throttling import Limits, profile


@dataclass(frozen=True, slots=True)
class ControlSpec:
    """What a tenant file says about throttling and faults."""

    tenant: Limits | None = None
    tenant_set: bool = False
    """Whether the file names a tenant profile (else the server's applies)."""
    mailboxes: dict[str, Limits | None] = field(default_factory=dict)
    faults: tuple[FaultRule, ...] = ()


def parse_control(data: dict[str, Any], problems: list[str]) -> ControlSpec:
    """The `[throttling]` and `[[faults]]` sections of a parsed tenant file."""
    spec = ControlSpec()
    raw = data.get("throttling", {})
    if not isinstance(raw, dict):
        problems.append("[throttling] must be a table")
        raw = {}
    overrides = {k: v for k, v in raw.items() if k not in ("profile", "mailboxes")}
    try:
        if "profile" in raw:
            spec = replace(spec, tenant=profile(str(raw["profile"]), **overrides), tenant_set=True)
        mailboxes = raw.get("mailboxes", {})
        if not isinstance(mailboxes, dict):
            raise ValueError("throttling.mailboxes must be a table of mailbox = profile")
        chosen = {str(k).casefold(): profile(str(v), **overrides) for k, v in mailboxes.items()}
        spec = replace(spec, mailboxes=chosen)
    except ValueError as exc:
        problems.append(f"throttling: {exc}")
    rules = []
    faults = data.get("faults", [])
    for i, item in enumerate(faults if isinstance(faults, list) else [faults]):
        try:
            rule = rule_from_mapping(
                {"id": f"tenant-file-{i}", **item} if isinstance(item, dict) else item, now()
            )
            rules.append(rule)
        except DomainError as exc:
            problems.append(f"faults[{i}]: {exc.message}")
    return replace(spec, faults=tuple(rules))


def load_control(path: Path) -> tuple[ControlSpec, list[str]]:
    """The control sections of a tenant file, and the problems found (the file itself is valid TOML:
    `load_tenant_file` has read it first)."""
    problems: list[str] = []
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return parse_control(data, problems), problems
