"""Settings, declared once with type, default and help; and the declarative tenant file (TOML).

Loading the tenant file reports every problem at once (ARCHITECTURE.md rule 7), with its key path.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from mailgraph.domain.directory import AppSpec, TenantSpec, UserSpec


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything `mailgraph serve` can be told (see docs/configuration.md)."""

    host: str = field(default="127.0.0.1", metadata={"help": "address to listen on"})
    port: int = field(default=5000, metadata={"help": "HTTP port"})
    data_dir: Path = field(default=Path("mailgraph-data"), metadata={"help": "database, keys and state"})
    tenant_file: Path | None = field(
        default=None, metadata={"help": "declarative tenant (TOML) loaded at start"}
    )
    durability: Literal["full", "normal"] = field(
        default="full",
        metadata={"help": "full: fsync every commit (survives power loss); normal: survives a crash only"},
    )
    token_lifetime_s: int = field(default=3600, metadata={"help": "access token lifetime in seconds"})
    log_level: str = field(default="info", metadata={"help": "debug, info, warning or error"})


class TenantFileError(Exception):
    """The tenant file is not valid; `problems` lists every one found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(problems))
        self.problems = problems


def _strings(value: Any, where: str, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{where} must be a list of strings")
        return ()
    return tuple(value)


def _text(table: dict[str, Any], key: str, where: str, problems: list[str], *, required: bool) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            problems.append(f"{where}.{key} is required")
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}.{key} must be a non-empty string")
        return None
    return value.strip()


def parse_tenant(data: dict[str, Any], source: str) -> TenantSpec:
    """A parsed TOML document → TenantSpec. Raises TenantFileError listing every problem."""
    problems: list[str] = []
    tenant = data.get("tenant", {})
    if not isinstance(tenant, dict):
        raise TenantFileError(source, ["[tenant] must be a table"])
    domains = _strings(tenant.get("domains", []), "tenant.domains", problems)
    if not domains:
        problems.append("tenant.domains must name at least one domain")
    users: list[UserSpec] = []
    for i, raw in enumerate(data.get("users", [])):
        where = f"users[{i}]"
        if not isinstance(raw, dict):
            problems.append(f"{where} must be a table")
            continue
        upn = _text(raw, "userPrincipalName", where, problems, required=True)
        name = _text(raw, "displayName", where, problems, required=False)
        if upn:
            users.append(
                UserSpec(
                    upn,
                    name or upn.split("@")[0],
                    _text(raw, "password", where, problems, required=False),
                    _text(raw, "mail", where, problems, required=False),
                    _text(raw, "id", where, problems, required=False),
                )
            )
    apps: list[AppSpec] = []
    for i, raw in enumerate(data.get("apps", [])):
        where = f"apps[{i}]"
        if not isinstance(raw, dict):
            problems.append(f"{where} must be a table")
            continue
        client_id = _text(raw, "clientId", where, problems, required=True)
        public = raw.get("allowPublicClientFlows", False)
        if not isinstance(public, bool):
            problems.append(f"{where}.allowPublicClientFlows must be true or false")
        secret = _text(raw, "clientSecret", where, problems, required=False)
        display = _text(raw, "displayName", where, problems, required=False)
        application = _strings(
            raw.get("applicationPermissions", []), f"{where}.applicationPermissions", problems
        )
        delegated = _strings(raw.get("delegatedPermissions", []), f"{where}.delegatedPermissions", problems)
        if client_id:
            apps.append(
                AppSpec(client_id, display or client_id, secret, public is True, application, delegated)
            )
    if problems:
        raise TenantFileError(source, problems)
    return TenantSpec(
        domains=domains,
        id=_text(tenant, "id", "tenant", problems, required=False),
        display_name=_text(tenant, "displayName", "tenant", problems, required=False) or "",
        users=tuple(users),
        apps=tuple(apps),
    )


def load_tenant_file(path: Path) -> TenantSpec:
    """Read and validate a tenant file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TenantFileError(str(path), [str(exc)]) from exc
    return parse_tenant(data, str(path))


def demo_tenant() -> TenantSpec:
    """The bundled demo tenant (contoso.com)."""
    text = resources.files("mailgraph").joinpath("demo_tenant.toml").read_text(encoding="utf-8")
    return parse_tenant(tomllib.loads(text), "demo_tenant.toml")
