"""The token endpoint's logic: grants, scopes, client and user authentication, Entra's error shapes."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import pytest

from mailgraph.auth.keyring import KeyRing
from mailgraph.auth.oauth import OAuthError, OAuthService, resolve_tenant
from mailgraph.auth.passwords import hash_secret
from mailgraph.auth.tokens import TokenService
from mailgraph.domain.lockout import SignInFailures
from mailgraph.domain.model import App, Tenant, User

T = TypeVar("T")

TENANT = Tenant("11111111-1111-1111-1111-111111111111", "Contoso", ("contoso.com", "mail.contoso.com"))
SECRET, PASSWORD = "s3cret~value", "P@ssw0rd!"
SECRET_HASH, PASSWORD_HASH = hash_secret(SECRET), hash_secret(PASSWORD)
DAEMON = App(
    client_id="22222222-2222-2222-2222-222222222222",
    tenant_id=TENANT.id,
    object_id="33333333-3333-3333-3333-333333333333",
    display_name="Daemon",
    secret_hash=SECRET_HASH,
    allow_public_client=False,
    application_permissions=("Mail.ReadWrite", "Mail.Send"),
    delegated_permissions=("Mail.Read", "Mail.Send", "User.Read", "openid"),
)
PUBLIC = App(
    client_id="55555555-5555-5555-5555-555555555555",
    tenant_id=TENANT.id,
    object_id="66666666-6666-6666-6666-666666666666",
    display_name="Desktop",
    secret_hash=None,
    allow_public_client=True,
    application_permissions=(),
    delegated_permissions=("Mail.ReadWrite", "Mail.Send"),
)
FOREIGN = App("77777777-7777-7777-7777-777777777777", "other-tenant", "o", "X", SECRET_HASH, False, (), ())
ALICE = User(
    id="44444444-4444-4444-4444-444444444444",
    tenant_id=TENANT.id,
    user_principal_name="alice@contoso.com",
    mail="alice@contoso.com",
    display_name="Alice",
    password_hash=PASSWORD_HASH,
)
BOB = User(
    "88888888-8888-8888-8888-888888888888", TENANT.id, "bob@contoso.com", "bob@contoso.com", "Bob", None
)
CAROL = User(
    "99999999-9999-9999-9999-999999999999",
    TENANT.id,
    "carol@contoso.com",
    "carol@contoso.com",
    "Carol",
    PASSWORD_HASH,
    account_enabled=False,
)
GRAPH_DEFAULT = "https://graph.microsoft.com/.default"


class FakeDirectory:
    """Only what the token endpoint reads."""

    def __init__(self, tenant: Tenant | None, apps: list[App], users: list[User]) -> None:
        self.tenant = tenant
        self.apps = {a.client_id: a for a in apps}
        self.users = {u.user_principal_name.casefold(): u for u in users}

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        return self.tenant if self.tenant is not None and self.tenant.id == tenant_id else None

    async def list_tenants(self) -> list[Tenant]:
        return [] if self.tenant is None else [self.tenant]

    async def tenant_for_domain(self, domain: str) -> Tenant | None:
        if self.tenant is not None and domain.casefold() in (d.casefold() for d in self.tenant.domains):
            return self.tenant
        return None

    async def get_app(self, client_id: str) -> App | None:
        return self.apps.get(client_id)

    async def find_user(self, tenant_id: str, upn_or_mail: str) -> User | None:
        user = self.users.get(upn_or_mail.casefold())
        return user if user is not None and user.tenant_id == tenant_id else None


class FakeDelegation:
    """No certificates registered (client assertions are tested through the real store)."""

    async def certificates(self, client_id: str) -> list[str]:
        return []


class FakeLockouts:
    """Smart lockout's rows in a dict (the real table is tested in tests/identity/test_lockout.py)."""

    def __init__(self) -> None:
        self.rows: dict[str, SignInFailures] = {}

    async def get(self, subject: str) -> SignInFailures | None:
        return self.rows.get(subject)

    async def put(self, state: SignInFailures, now: int) -> None:
        self.rows[state.subject] = state

    async def clear(self, subject: str) -> None:
        self.rows.pop(subject, None)


class FakeTx:
    def __init__(self, directory: FakeDirectory) -> None:
        self.directory = directory
        self.delegation = FakeDelegation()
        self.lockouts = FakeLockouts()


class FakeUow:
    """A UnitOfWork with only `read`/`write`, over in-memory dicts (the SQLite store replaces it later)."""

    def __init__(self, directory: FakeDirectory) -> None:
        self.tx = FakeTx(directory)
        self.reads = 0

    async def read(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        self.reads += 1
        return await fn(self.tx)

    async def write(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        return await fn(self.tx)

    async def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> TokenService:
    ring = KeyRing(None)
    asyncio.run(ring.ensure(TENANT.id))
    return TokenService(ring, tenant_id=TENANT.id)


@pytest.fixture
def uow() -> FakeUow:
    return FakeUow(FakeDirectory(TENANT, [DAEMON, PUBLIC, FOREIGN], [ALICE, BOB, CAROL]))


@pytest.fixture
def oauth(uow: FakeUow, tokens: TokenService) -> OAuthService:
    return OAuthService(uow, tokens)


def cc(**extra: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": DAEMON.client_id,
        "client_secret": SECRET,
        "scope": GRAPH_DEFAULT,
    } | extra


def ropc(**extra: str) -> dict[str, str]:
    return {
        "grant_type": "password",
        "client_id": PUBLIC.client_id,
        "username": "Alice@Contoso.com",
        "password": PASSWORD,
        "scope": "https://graph.microsoft.com/Mail.Send openid profile offline_access",
    } | extra


def payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


async def refused(oauth: OAuthService, form: Mapping[str, str], segment: str = TENANT.id) -> OAuthError:
    with pytest.raises(OAuthError) as info:
        await oauth.token(segment, form)
    return info.value


# --- client credentials -----------------------------------------------------------------------------


async def test_client_credentials(oauth: OAuthService, tokens: TokenService) -> None:
    body = await oauth.token(TENANT.id, cc())
    assert set(body) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    assert (body["token_type"], body["expires_in"], body["ext_expires_in"]) == ("Bearer", 3600, 3600)
    claims = tokens.verify(str(body["access_token"]))
    assert (claims.kind, claims.app_id, claims.object_id) == ("app", DAEMON.client_id, DAEMON.object_id)
    assert claims.permissions == frozenset({"Mail.ReadWrite", "Mail.Send"})


@pytest.mark.parametrize(
    "scope",
    [
        GRAPH_DEFAULT,
        "00000003-0000-0000-c000-000000000000/.default",
        "https://graph.microsoft.com//.default",
        "HTTPS://GRAPH.MICROSOFT.COM/.default",
    ],
)
async def test_client_credentials_scope_forms(oauth: OAuthService, scope: str) -> None:
    assert "access_token" in await oauth.token(TENANT.id, cc(scope=scope))


@pytest.mark.parametrize(
    "scope", ["https://graph.microsoft.com/Mail.Send", "Mail.Read", "openid", f"{GRAPH_DEFAULT} openid"]
)
async def test_client_credentials_needs_dot_default(oauth: OAuthService, scope: str) -> None:
    err = await refused(oauth, cc(scope=scope))
    assert (err.status, err.error, err.codes) == (400, "invalid_scope", [1002012])
    assert scope in err.description


async def test_other_resource_is_refused(oauth: OAuthService) -> None:
    err = await refused(oauth, cc(scope="api://other-api/.default"))
    assert (err.status, err.error, err.codes) == (400, "invalid_resource", [500011])


async def test_extra_fields_are_ignored(oauth: OAuthService) -> None:
    extra = {
        "client_info": "1",
        "claims": '{"access_token":{"xms_cc":{"values":["CP1"]}}}',
        "x-client-SKU": "MSAL.Python",
        "x-client-VER": "1.39.0",
        "x-client-current-telemetry": "4|730,2|",
        "x-ms-lib-capability": "retry-after, h429",
    }
    body = await oauth.token(TENANT.id, cc(**extra))
    assert "client_info" not in body  # no user, so no account for MSAL to cache


@pytest.mark.parametrize(
    ("form", "status", "error", "code"),
    [
        (cc(client_secret="wrong"), 401, "invalid_client", 7000215),
        (cc(client_secret=""), 401, "invalid_client", 7000218),
        ({k: v for k, v in cc().items() if k != "client_secret"}, 401, "invalid_client", 7000218),
        (cc(client_id=PUBLIC.client_id, client_secret="anything"), 401, "invalid_client", 7000215),
        (cc(client_id=PUBLIC.client_id, client_secret=""), 401, "invalid_client", 7000218),
        (cc(client_id="00000000-0000-0000-0000-000000000000"), 400, "unauthorized_client", 700016),
        (cc(client_id=FOREIGN.client_id), 400, "unauthorized_client", 700016),
        (
            cc(client_secret="", client_assertion="eyJ.x.y", client_assertion_type="urn:x"),
            400,
            "invalid_request",
            900144,
        ),
        (
            cc(
                client_secret="",
                client_assertion="eyJ.x.y",
                client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            401,
            "invalid_client",
            50027,
        ),
        (cc(grant_type="implicit"), 400, "unsupported_grant_type", 70003),
        (
            cc(grant_type="urn:ietf:params:oauth:grant-type:saml1_1-bearer"),
            400,
            "unsupported_grant_type",
            70003,
        ),
    ],
)
async def test_client_failures(
    oauth: OAuthService, form: dict[str, str], status: int, error: str, code: int
) -> None:
    err = await refused(oauth, form)
    assert (err.status, err.error, err.codes) == (status, error, [code])


@pytest.mark.parametrize("missing", ["grant_type", "client_id", "scope"])
async def test_missing_parameter(oauth: OAuthService, missing: str) -> None:
    err = await refused(oauth, {k: v for k, v in cc().items() if k != missing})
    assert (err.status, err.error, err.codes) == (400, "invalid_request", [900144])
    assert err.description == f"The request body must contain the following parameter: '{missing}'."


# --- tenants ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "segment", [TENANT.id, TENANT.id.upper(), "contoso.com", "MAIL.Contoso.COM", "common", "organizations"]
)
async def test_tenant_segments(oauth: OAuthService, segment: str) -> None:
    assert "access_token" in await oauth.token(segment, cc())


@pytest.mark.parametrize(
    ("segment", "code"),
    [("fabrikam.com", 90002), ("00000000-0000-0000-0000-000000000000", 90002), ("consumers", 9002331)],
)
async def test_unknown_tenant(oauth: OAuthService, segment: str, code: int) -> None:
    err = await refused(oauth, cc(), segment)
    assert (err.status, err.error, err.codes) == (400, "invalid_request", [code])


def test_no_tenant_yet() -> None:
    with pytest.raises(OAuthError) as info:
        resolve_tenant(None, "common")
    assert info.value.codes == [90002]


async def test_tenant_lookup_is_used(uow: FakeUow, tokens: TokenService) -> None:
    calls = []

    async def lookup() -> Tenant | None:
        calls.append(1)
        return TENANT

    uow.tx.directory.tenant = None  # the lookup, not the directory, decides
    oauth = OAuthService(uow, tokens, tenant_lookup=lookup)
    assert "access_token" in await oauth.token("contoso.com", cc())
    assert calls == [1] and uow.reads == 1


# --- password (ROPC) --------------------------------------------------------------------------------


async def test_password_public_client(oauth: OAuthService, tokens: TokenService) -> None:
    body = await oauth.token(TENANT.id, ropc(client_info="1"))
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == "https://graph.microsoft.com/Mail.Send openid profile offline_access"
    assert "refresh_token" in body  # offline_access was asked for
    claims = tokens.verify(str(body["access_token"]))
    assert (claims.kind, claims.object_id, claims.upn) == ("user", ALICE.id, ALICE.user_principal_name)
    assert claims.permissions == frozenset({"Mail.Send"})
    assert payload(str(body["access_token"]))["appidacr"] == "0"
    id_claims = payload(str(body["id_token"]))
    assert id_claims["aud"] == PUBLIC.client_id and id_claims["oid"] == ALICE.id
    assert id_claims["preferred_username"] == ALICE.user_principal_name and id_claims["tid"] == TENANT.id
    assert id_claims["iss"] == f"https://login.microsoftonline.com/{TENANT.id}/v2.0"
    info = str(body["client_info"])
    assert json.loads(base64.urlsafe_b64decode(info + "=" * (-len(info) % 4))) == {
        "uid": ALICE.id,
        "utid": TENANT.id,
    }


async def test_password_issuer_base(uow: FakeUow, tokens: TokenService) -> None:
    oauth = OAuthService(uow, tokens, issuer_base="https://mail.contoso.com")
    body = await oauth.token("contoso.com", ropc())
    assert payload(str(body["id_token"]))["iss"] == f"https://mail.contoso.com/{TENANT.id}/v2.0"
    body = await oauth.token("contoso.com", ropc(), issuer_base="https://localhost:8443/")
    assert payload(str(body["id_token"]))["iss"] == f"https://localhost:8443/{TENANT.id}/v2.0"


async def test_password_confidential_client(oauth: OAuthService, tokens: TokenService) -> None:
    form = ropc(client_id=DAEMON.client_id, client_secret=SECRET, scope="Mail.Read mail.send User.Read")
    body = await oauth.token(TENANT.id, form)
    assert body["scope"] == (
        "https://graph.microsoft.com/Mail.Read https://graph.microsoft.com/Mail.Send "
        "https://graph.microsoft.com/User.Read"
    )
    assert "id_token" not in body and "client_info" not in body  # no openid scope, no client_info=1
    assert payload(str(body["access_token"]))["scp"] == "Mail.Read Mail.Send User.Read"
    assert payload(str(body["access_token"]))["appidacr"] == "1"


@pytest.mark.parametrize(
    ("scope", "scp", "scope_out"),
    [
        (
            f"{GRAPH_DEFAULT} openid profile offline_access",
            "Mail.Read Mail.Send User.Read",
            "https://graph.microsoft.com/Mail.Read https://graph.microsoft.com/Mail.Send "
            "https://graph.microsoft.com/User.Read openid profile offline_access",
        ),
        ("https://graph.microsoft.com/Mail.ReadWrite openid", "", "openid"),  # not consented: not granted
        ("openid email", "", "openid email"),
        (
            "00000003-0000-0000-c000-000000000000/Mail.Read",
            "Mail.Read",
            "https://graph.microsoft.com/Mail.Read",
        ),
    ],
)
async def test_password_scopes(oauth: OAuthService, scope: str, scp: str, scope_out: str) -> None:
    form = ropc(client_id=DAEMON.client_id, client_secret=SECRET, scope=scope)
    body = await oauth.token(TENANT.id, form)
    assert payload(str(body["access_token"]))["scp"] == scp
    assert body["scope"] == scope_out


@pytest.mark.parametrize(
    ("form", "status", "error", "code"),
    [
        (ropc(password="wrong"), 400, "invalid_grant", 50126),
        (ropc(password=PASSWORD + " "), 400, "invalid_grant", 50126),
        (ropc(username="nobody@contoso.com"), 400, "invalid_grant", 50126),
        (ropc(username="bob@contoso.com"), 400, "invalid_grant", 50126),  # no password set
        (ropc(username="carol@contoso.com"), 400, "invalid_grant", 50057),  # disabled
        (ropc(username="carol@contoso.com", password="wrong"), 400, "invalid_grant", 50126),
        (ropc(client_id=DAEMON.client_id), 401, "invalid_client", 7000218),  # confidential, no secret
        (ropc(client_id=DAEMON.client_id, client_secret="wrong"), 401, "invalid_client", 7000215),
        (ropc(scope="api://other/read"), 400, "invalid_resource", 500011),
    ],
)
async def test_password_failures(
    oauth: OAuthService, form: dict[str, str], status: int, error: str, code: int
) -> None:
    err = await refused(oauth, form)
    assert (err.status, err.error, err.codes) == (status, error, [code])


@pytest.mark.parametrize("missing", ["username", "password"])
async def test_password_missing_parameter(oauth: OAuthService, missing: str) -> None:
    err = await refused(oauth, {k: v for k, v in ropc().items() if k != missing})
    assert err.codes == [900144] and f"'{missing}'" in err.description


async def test_secret_checks_do_not_block_the_loop(oauth: OAuthService) -> None:
    # While scrypt runs in a worker thread, other tasks keep running.
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await oauth.token(TENANT.id, ropc())
    task.cancel()
    assert ticks > 10  # scrypt on the loop itself would leave the ticker no turn at all


async def test_secrets_are_not_logged(oauth: OAuthService, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    for form in (cc(client_secret="hunter2-secret"), ropc(password="hunter2-password")):
        await refused(oauth, form)
    assert caplog.records
    assert "hunter2" not in caplog.text


# --- the error body ---------------------------------------------------------------------------------


def test_error_body_shape() -> None:
    err = OAuthError(401, "invalid_client", "Invalid client secret provided.", [7000215])
    now = dt.datetime(2024, 5, 1, 10, 11, 12, tzinfo=dt.UTC)
    body = err.body("trace-1", "corr-1", now=now)
    assert body == {
        "error": "invalid_client",
        "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: trace-1\r\n"
        "Correlation ID: corr-1\r\nTimestamp: 2024-05-01 10:11:12Z",
        "error_codes": [7000215],
        "timestamp": "2024-05-01 10:11:12Z",
        "trace_id": "trace-1",
        "correlation_id": "corr-1",
        "error_uri": "https://login.microsoftonline.com/error?code=7000215",
    }
    assert str(err) == "AADSTS7000215: Invalid client secret provided."
