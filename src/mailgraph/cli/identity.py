"""Command line for people who use curl: `mailgraph token`, `users …`, `apps …`, `keys list|rotate`,
and the TLS half of `mailgraph serve` (uvicorn's TLS options and the banner telling clients what to trust).

Every command works on a data directory; tokens are signed with the keys its store keeps per tenant,
so a server started on the same directory accepts them. Secrets given here are hashed before they are stored and
never printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Final

from mailgraph.auth.keyring import KeyRing
from mailgraph.auth.passwords import hash_secret, verify_secret
from mailgraph.auth.permissions import OUTLOOK_RESOURCE, canonical_permission, for_resource
from mailgraph.auth.tokens import GRAPH_RESOURCE, TokenService
from mailgraph.certs import client_settings, ensure_server_cert
from mailgraph.config import Settings
from mailgraph.domain.directory import AppSpec, DirectoryService, Secrets, UserSpec
from mailgraph.domain.tenancy import user_by_address
from mailgraph.wiring import open_engine, open_keyring

_DEFAULTS = Settings()
# `token --resource`: the audience of the token, and which permissions it may carry (`for_resource`).
_RESOURCES: Final = {"graph": GRAPH_RESOURCE, "outlook": OUTLOOK_RESOURCE}


def add_admin_commands(sub: Any) -> None:
    """Register `token`, `users` and `apps` on the top-level subparsers."""
    token = sub.add_parser("token", help="print an access token signed with the data dir's keys")
    token.add_argument("--data-dir", type=Path, default=_DEFAULTS.data_dir)
    token.add_argument("--app", help="client id: an app-only token, or the client of a --user token")
    token.add_argument("--user", help="userPrincipalName: a delegated token for this user")
    token.add_argument("--scopes", nargs="+", help="delegated permissions (default: all the app's)")
    token.add_argument("--lifetime", type=int, default=_DEFAULTS.token_lifetime_s, help="seconds")
    token.add_argument(
        "--resource",
        choices=sorted(_RESOURCES),
        default="graph",
        help="graph (default), or outlook: Exchange Online's SMTP.Send / SMTP.SendAsApp for SMTP submission",
    )
    users = sub.add_parser("users", help="list, add or remove users").add_subparsers(
        dest="action", required=True
    )
    users.add_parser("list").add_argument("--data-dir", type=Path, default=_DEFAULTS.data_dir)
    add = users.add_parser("add", help="create or update a user (and mailbox)")
    add.add_argument("upn")
    add.add_argument("--display-name")
    add.add_argument("--mail", help="primary address (default: the UPN)")
    add.add_argument("--password", help="'-' reads one line from stdin (keeps it out of `ps`)")
    add.add_argument("--data-dir", type=Path, default=_DEFAULTS.data_dir)
    rm = users.add_parser("remove", help="delete a user and their mailbox")
    rm.add_argument("upn")
    rm.add_argument("--data-dir", type=Path, default=_DEFAULTS.data_dir)
    apps = sub.add_parser("apps", help="list, add or remove app registrations").add_subparsers(
        dest="action", required=True
    )
    apps.add_parser("list").add_argument("--data-dir", type=Path, default=_DEFAULTS.data_dir)
    add_app = apps.add_parser("add", help="create or update an app registration")
    add_app.add_argument("client_id")
    add_app.add_argument("--display-name")
    add_app.add_argument("--secret", help="client secret; '-' reads one line from stdin")
    add_app.add_argument("--public", action="store_true", help="allow public-client flows (no secret)")
    add_app.add_argument("--application-permissions", nargs="*", default=[])
    add_app.add_argument("--delegated-permissions", nargs="*", default=[])
    add_app.add_argument("--data-dir", type=Path, default=_DEFAULTS.data_dir)
    keys = sub.add_parser("keys", help="list or rotate the token signing keys").add_subparsers(
        dest="action", required=True
    )
    listing = keys.add_parser("list")
    rotate = keys.add_parser("rotate", help="new current key; the old one verifies until its tokens expire")
    for cmd in (listing, rotate):
        cmd.add_argument("--data-dir", type=Path, default=_DEFAULTS.data_dir)
        cmd.add_argument("--tenant", default=None, help="tenant id (default: every tenant)")
    rm_app = apps.add_parser("remove", help="delete an app registration")
    rm_app.add_argument("client_id")
    rm_app.add_argument("--data-dir", type=Path, default=_DEFAULTS.data_dir)


class AdminError(Exception):
    """A command that cannot be carried out; the message is printed as is."""


def _secret(value: str | None) -> str | None:
    return sys.stdin.readline().rstrip("\n") if value == "-" else value


def _permissions(names: list[str]) -> tuple[str, ...]:
    out = []
    for name in names:
        canonical = canonical_permission(name)
        if canonical is None:
            raise AdminError(f"unknown permission {name!r}")
        out.append(canonical)
    return tuple(out)


async def run_admin(args: argparse.Namespace) -> int:
    """Run `token`, `users …` or `apps …`; 0 on success, 2 with a message on stderr otherwise."""
    database = os.environ.get("MAILGRAPH_DATABASE") or None  # these commands take no --database
    engine = await open_engine(Settings(data_dir=args.data_dir, database=database))
    directory = DirectoryService(engine, Secrets(hash_secret, verify_secret))
    try:
        if args.command == "keys":
            await _keys(args, directory)
        elif args.command == "token":
            print(await _token(args, engine, directory))
        elif args.command == "users":
            await _users(args, engine, directory)
        else:
            await _apps(args, engine, directory)
        return 0
    except AdminError as exc:
        print(f"mailgraph: {exc}", file=sys.stderr)
        return 2
    finally:
        await engine.close()


async def _token(args: argparse.Namespace, engine: Any, directory: DirectoryService) -> str:
    tenants = {t.id: t for t in await directory.tenants()}
    home = await directory.tenant()
    if home is None:
        raise AdminError(f"{args.data_dir} has no tenant yet; run `mailgraph serve` once")
    keyring = await open_keyring(engine, directory, args.data_dir, home)
    tokens = TokenService(keyring, lifetime_s=args.lifetime)
    resource = _RESOURCES[args.resource]
    outlook = resource == OUTLOOK_RESOURCE
    if args.user is None:
        if args.app is None:
            raise AdminError("give --app CLIENT_ID (app-only token) or --user UPN (delegated token)")
        found = await engine.read(lambda tx: tx.directory.get_app(args.app))
        if found is None:
            raise AdminError(f"no app with client id {args.app!r}")
        return tokens.issue_app_token(tenants[found.tenant_id], found, resource=resource)
    user = await engine.read(lambda tx: user_by_address(tx, args.user))
    if user is None:
        raise AdminError(f"no user {args.user!r}")
    tenant = tenants[user.tenant_id]
    # The user's tenant: its apps only (an app of another tenant cannot sign its users in).
    apps = await engine.read(lambda tx: tx.directory.list_apps(tenant.id))
    # The client of a delegated token: the named app, or the first one with delegated permissions.
    candidates = [a for a in apps if (a.client_id == args.app if args.app else a.delegated_permissions)]
    if not candidates:
        raise AdminError(f"no app {args.app!r}" if args.app else "no app has delegated permissions")
    app = candidates[0]
    # A token names one resource and carries only its permissions (Graph's, or Exchange Online's SMTP.Send).
    consented = {p.casefold(): p for p in for_resource(app.delegated_permissions, outlook)}
    wanted = args.scopes or list(consented.values())
    missing = [s for s in wanted if s.casefold() not in consented]
    if missing or not wanted:
        raise AdminError(
            f"app {app.client_id!r} has no delegated permission {', '.join(missing) or '(none)'}"
            f" for {resource}"
        )
    scopes = [consented[s.casefold()] for s in wanted]
    return tokens.issue_user_token(tenant, app, user, scopes, resource=resource)


async def _keys(args: argparse.Namespace, directory: DirectoryService) -> None:
    home = await directory.tenant()
    if home is None:
        raise AdminError(f"{args.data_dir} has no tenant yet; run `mailgraph serve` once")
    ring: KeyRing = await open_keyring(directory.uow, directory, args.data_dir, home)
    tenants = [t for t in await directory.tenants() if args.tenant in (None, t.id)]
    if not tenants:
        raise AdminError(f"no tenant {args.tenant!r}")
    for tenant in tenants:
        if args.action == "rotate":
            key = await ring.rotate(tenant.id)
            print(
                f"tenant {tenant.id}: new signing key {key.kid}; running servers sign with it within a minute"
            )
        for jwk in ring.jwks(tenant.id)["keys"]:
            current = "  (current)" if jwk["kid"] == ring.current(tenant.id).kid else ""
            print(f"{tenant.id} {jwk['kid']}{current}")


async def _users(args: argparse.Namespace, engine: Any, directory: DirectoryService) -> None:
    if args.action == "list":
        for u in await engine.read(lambda tx: tx.directory.list_users()):
            print(f"{u.user_principal_name:40} {u.mail:40} {u.id}  {u.display_name}")
    elif args.action == "add":
        spec = UserSpec(
            args.upn, args.display_name or args.upn.split("@")[0], _secret(args.password), args.mail
        )
        user = await directory.add_user(spec)
        print(f"user {user.user_principal_name} ({user.id})")
    elif not await directory.remove_user(args.upn):
        raise AdminError(f"no user {args.upn!r}")
    else:
        print(f"removed user {args.upn}")


async def _apps(args: argparse.Namespace, engine: Any, directory: DirectoryService) -> None:
    if args.action == "list":
        for a in await engine.read(lambda tx: tx.directory.list_apps()):
            kind = "confidential" if a.secret_hash else "public"
            print(
                f"{a.client_id:30} {kind:12} application={','.join(a.application_permissions) or '-'}"
                f" delegated={','.join(a.delegated_permissions) or '-'}"
            )
    elif args.action == "add":
        secret = _secret(args.secret)
        if secret is None and not args.public:
            raise AdminError("give --secret (confidential client) or --public (public client)")
        spec = AppSpec(
            args.client_id,
            args.display_name or args.client_id,
            secret,
            args.public,
            _permissions(args.application_permissions),
            _permissions(args.delegated_permissions),
        )
        app = await directory.add_app(spec)
        print(f"app {app.client_id} ({app.object_id})")
    elif not await directory.remove_app(args.client_id):
        raise AdminError(f"no app {args.client_id!r}")
    else:
        print(f"removed app {args.client_id}")


def tls_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's TLS options: your certificate (`--tls-cert/--tls-key`) or the data dir's local CA's."""
    if settings.tls_cert is not None or settings.tls_key is not None:
        if settings.tls_cert is None or settings.tls_key is None:
            raise AdminError("--tls-cert and --tls-key go together")
        return {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)} | _TLS_SHUTDOWN
    files = ensure_server_cert(settings.data_dir, settings.tls_names)
    return {"ssl_certfile": str(files.cert), "ssl_keyfile": str(files.key)} | _TLS_SHUTDOWN


# Closing an idle TLS keep-alive connection waits for the client's close_notify (up to 30 s in the
# event loop's SSL layer), and clients that keep a pool open never send it: bound the wait on stop.
_TLS_SHUTDOWN: Final = {"timeout_graceful_shutdown": 3}


def tls_banner(settings: Settings) -> str:
    """What to tell clients about the https listener: the CA to trust and the port-443 caveat."""
    if settings.tls_cert is not None:
        lines = [f"  TLS certificate: {settings.tls_cert} (yours)"]
    else:
        lines = client_settings(ensure_server_cert(settings.data_dir, settings.tls_names).ca_cert)
    lines.append(
        "  MSAL Python's password flow calls /common/userrealm on port 443 (the port is dropped):"
        " use --tls-port 443 for it."
    )
    return "\n".join(lines)
