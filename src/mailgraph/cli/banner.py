"""The start-up banner of `mailgraph serve`: where everything is, and the credentials of the tenant
actually loaded.

The credentials come from the tenant's own declaration, since the store keeps only hashes: the
`--tenant` file when one is given, the bundled demo tenant when that is the tenant served, and
otherwise (a data dir whose tenant came from an earlier `--tenant` run) the client ids only, with a
placeholder for the secret. Before, the banner always printed the demo app's credentials, even when
`--tenant` named another tenant (issue 14). The secrets shown are the ones the operator wrote in
their own file, printed as the demo's always were: mailgraph is a development and test server.
"""

from __future__ import annotations

from mailgraph.cli.delivery import delivery_banner
from mailgraph.config import Settings, demo_tenant, load_tenant_file
from mailgraph.domain.directory import TenantSpec
from mailgraph.wiring import Runtime

_SHOWN_USERS = 5


def declared(settings: Settings, runtime: Runtime) -> tuple[TenantSpec | None, str]:
    """The declaration of the served tenant and where it came from, if the server has one."""
    if settings.tenant_file is not None:
        return load_tenant_file(settings.tenant_file), str(settings.tenant_file)
    demo = demo_tenant()
    if runtime.seeded_demo or (demo.id is not None and demo.id.lower() == runtime.tenant.id):
        return demo, "the demo tenant"
    return None, "the data directory"


def credential_lines(
    spec: TenantSpec | None, source: str, client_ids: list[str], token_url: str
) -> list[str]:
    """The users, the app and a token request that works as printed (when the secret is known)."""
    lines: list[str] = []
    client_id, secret = (client_ids[0] if client_ids else "<client id>"), "<client secret>"
    if spec is not None:
        users = [
            u.user_principal_name + (f" (password {u.password})" if u.password else "")
            for u in spec.users[:_SHOWN_USERS]
        ]
        more = len(spec.users) - _SHOWN_USERS
        lines.append(f"  Tenant:         {spec.display_name or spec.domains[0]}, from {source}")
        if users:
            lines.append("  Users:          " + ", ".join(users) + (f" and {more} more" if more > 0 else ""))
        app = next((a for a in spec.apps if a.client_secret), spec.apps[0] if spec.apps else None)
        if app is not None:
            client_id, secret = app.client_id, app.client_secret or secret
            perms = ", ".join(app.application_permissions) or "no application permissions"
            lines.append(f"  App:            {client_id} / {secret} ({perms})")
    else:
        lines.append(f"  Tenant:         from {source} (its secrets are stored hashed; see your tenant file)")
        if client_ids:
            lines.append("  Apps:           " + ", ".join(client_ids))
    lines += [
        "  Get an app token:",
        f"    curl -s -X POST {token_url} \\",
        f"      -d grant_type=client_credentials -d client_id={client_id} -d client_secret={secret} \\",
        "      -d scope=https://graph.microsoft.com/.default",
    ]
    return lines


async def banner(runtime: Runtime, settings: Settings, url: str) -> str:
    """The whole banner for the listener at `url`."""
    tenant = runtime.tenant
    token_url = f"{url}/{tenant.domains[0]}/oauth2/v2.0/token"
    lines = [
        f"mailgraph ready: {url}",
        f"  Graph API:      {url}/v1.0  and  {url}/beta",
        f"  Token endpoint: {token_url}   (tenant id {tenant.id})",
        "  Store:          " + runtime.engine.url,
    ]
    spec, source = declared(settings, runtime)
    apps = await runtime.engine.read(lambda tx: tx.directory.list_apps(tenant.id))
    lines += credential_lines(spec, source, [a.client_id for a in apps], token_url)
    lines += delivery_banner(runtime, url)
    return "\n".join(lines)
