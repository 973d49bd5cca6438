"""Tenant files: validation reports every problem; loading is idempotent (same ids across restarts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailgraph.auth.passwords import verify_secret
from mailgraph.config import Settings, TenantFileError, demo_tenant, load_tenant_file, parse_tenant
from mailgraph.domain.errors import BadRequestError
from mailgraph.wiring import build

GOOD = """
[tenant]
domains = ["northwind.test"]
[[users]]
userPrincipalName = "ann@northwind.test"
displayName = "Ann"
password = "pw-1"
extraKey = "more keys are allowed"
[[apps]]
clientId = "nw-app"
clientSecret = "nw-secret"
applicationPermissions = ["Mail.Send"]
"""


def test_problems_are_reported_all_at_once(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[tenant]\ndomains = "x"\n[[users]]\ndisplayName = "no upn"\n[[apps]]\nclientId = ""\n'
        "allowPublicClientFlows = 3\ndelegatedPermissions = [1]\n"
    )
    with pytest.raises(TenantFileError) as caught:
        load_tenant_file(bad)
    problems = "\n".join(caught.value.problems)
    for fragment in (
        "tenant.domains",
        "users[0].userPrincipalName",
        "apps[0].clientId",
        "allowPublicClientFlows",
        "delegatedPermissions",
    ):
        assert fragment in problems
    (tmp_path / "broken.toml").write_text("[tenant\n")
    with pytest.raises(TenantFileError):
        load_tenant_file(tmp_path / "broken.toml")


def test_bad_tenant_id_and_display_name_are_reported_not_dropped() -> None:
    data = {"tenant": {"domains": ["n.test"], "id": "", "displayName": 5}}
    with pytest.raises(TenantFileError) as caught:
        parse_tenant(data, "t.toml")
    assert "tenant.id must be a non-empty string" in caught.value.problems
    assert "tenant.displayName must be a non-empty string" in caught.value.problems


def test_user_profile_fields() -> None:
    user = {
        "userPrincipalName": "ann@n.test",
        "givenName": "Ann",
        "surname": "Lee",
        "jobTitle": "Buyer",
        "businessPhones": ["+1 555 0100", "+1 555 0199"],
        "mobilePhone": "+1 555 0101",
        "officeLocation": "B/12",
        "preferredLanguage": "en-GB",
    }
    spec = parse_tenant({"tenant": {"domains": ["n.test"]}, "users": [user]}, "t.toml")
    profile = spec.users[0].profile
    assert (profile.given_name, profile.surname, profile.job_title) == ("Ann", "Lee", "Buyer")
    assert profile.business_phones == ("+1 555 0100", "+1 555 0199")
    assert (profile.mobile_phone, profile.office_location, profile.preferred_language) == (
        "+1 555 0101",
        "B/12",
        "en-GB",
    )
    bad = {"tenant": {"domains": ["n.test"]}, "users": [{**user, "businessPhones": "x", "jobTitle": 3}]}
    with pytest.raises(TenantFileError) as caught:
        parse_tenant(bad, "t.toml")
    assert {
        "users[0].businessPhones must be a list of strings",
        "users[0].jobTitle must be a non-empty string",
    } <= set(caught.value.problems)


def test_the_demo_tenant_parses() -> None:
    spec = demo_tenant()
    assert spec.domains == ("contoso.com",)
    assert {u.user_principal_name for u in spec.users} == {
        "alice@contoso.com",
        "bob@contoso.com",
        "carol@contoso.com",
    }


async def test_loading_twice_keeps_ids_and_hashes(tmp_path: Path) -> None:
    file = tmp_path / "tenant.toml"
    file.write_text(GOOD)
    settings = Settings(data_dir=tmp_path / "data", tenant_file=file)
    first = await build(settings)
    users = await first.engine.read(lambda tx: tx.directory.list_users())
    apps = await first.engine.read(lambda tx: tx.directory.list_apps())
    await first.engine.close()
    second = await build(settings)
    try:
        assert second.tenant == first.tenant
        assert await second.engine.read(lambda tx: tx.directory.list_users()) == users
        assert await second.engine.read(lambda tx: tx.directory.list_apps()) == apps
        assert users[0].password_hash is not None and verify_secret("pw-1", users[0].password_hash)
        assert "pw-1" not in users[0].password_hash
        folders = await second.engine.read(lambda tx: tx.folders.well_known_ids(users[0].id))
        assert {"inbox", "drafts", "sentitems", "deleteditems", "recoverableitemsdeletions"} <= set(folders)
    finally:
        await second.engine.close()


async def test_a_user_outside_the_domains_and_a_foreign_tenant_id_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.toml"
    outside.write_text('[tenant]\ndomains = ["a.test"]\n[[users]]\nuserPrincipalName = "x@b.test"\n')
    with pytest.raises(BadRequestError):
        await build(Settings(data_dir=tmp_path / "d1", tenant_file=outside))
    file = tmp_path / "tenant.toml"
    file.write_text(GOOD)
    runtime = await build(Settings(data_dir=tmp_path / "d2", tenant_file=file))
    await runtime.engine.close()
    other = tmp_path / "other.toml"
    other.write_text(GOOD.replace("[tenant]", '[tenant]\nid = "99999999-2222-3333-4444-555555555555"'))
    with pytest.raises(BadRequestError):
        await build(Settings(data_dir=tmp_path / "d2", tenant_file=other))


async def test_unknown_permission_is_refused(tmp_path: Path) -> None:
    spec = parse_tenant(
        {
            "tenant": {"domains": ["a.test"]},
            "apps": [{"clientId": "c", "applicationPermissions": ["Mail.Fly"]}],
        },
        "x",
    )
    assert spec.apps[0].application_permissions == ("Mail.Fly",)
    file = tmp_path / "perm.toml"
    file.write_text(
        '[tenant]\ndomains = ["a.test"]\n[[apps]]\nclientId = "c"\napplicationPermissions = ["Mail.Fly"]\n'
    )
    with pytest.raises(TenantFileError) as caught:
        await build(Settings(data_dir=tmp_path / "d", tenant_file=file))
    assert "Mail.Fly" in caught.value.problems[0]


@pytest.mark.parametrize("key", ["id", "displayName"])
def test_bad_tenant_id_or_display_name_is_reported_not_dropped(key: str) -> None:
    # Regression (review of issue 15): these two were read after the problems check, so a bad value
    # vanished instead of failing the file.
    with pytest.raises(TenantFileError) as caught:
        parse_tenant({"tenant": {"domains": ["a.test"], key: 42}}, "x")
    assert caught.value.problems == [f"tenant.{key} must be a non-empty string"]
    spec = parse_tenant({"tenant": {"domains": ["a.test"], key: " ok "}}, "x")
    assert (spec.id if key == "id" else spec.display_name) == "ok"
