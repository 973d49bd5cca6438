"""`mailgraph token | users | apps` against a data directory, and the tokens working on the real app."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path

import httpx
import pytest

from mailgraph.cli import main
from mailgraph.config import Settings
from mailgraph.wiring import build


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


async def _get(data_dir: Path, token: str, path: str) -> httpx.Response:
    runtime = await build(Settings(data_dir=data_dir, database=os.environ.get("MAILGRAPH_DATABASE")))
    try:
        transport = httpx.ASGITransport(app=runtime.app)
        async with httpx.AsyncClient(transport=transport, base_url="https://graph.test") as client:
            return await client.get(path, headers={"Authorization": f"Bearer {token}"})
    finally:
        await runtime.engine.close()


async def _token(data_dir: Path, form: dict[str, str]) -> httpx.Response:
    runtime = await build(Settings(data_dir=data_dir, database=os.environ.get("MAILGRAPH_DATABASE")))
    try:
        transport = httpx.ASGITransport(app=runtime.app)
        async with httpx.AsyncClient(transport=transport, base_url="https://graph.test") as client:
            return await client.post("/fabrikam.test/oauth2/v2.0/token", data=form)
    finally:
        await runtime.engine.close()


def test_token_commands(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = str(data_dir)
    code, app_token, _ = _run(capsys, "token", "--app", "full-app", "--data-dir", d)
    assert code == 0 and app_token.count(".") == 2
    r = asyncio.run(_get(data_dir, app_token, "/v1.0/users/alice@fabrikam.test/messages"))
    assert r.status_code == 200, r.text
    code, user_token, _ = _run(
        capsys, "token", "--user", "bob@fabrikam.test", "--scopes", "mail.read", "--data-dir", d
    )
    assert code == 0
    assert asyncio.run(_get(data_dir, user_token, "/v1.0/me/messages")).status_code == 200
    # Mail.Read does not send: the token carries exactly the scopes asked for.
    r = asyncio.run(_get(data_dir, user_token, "/v1.0/me/mailFolders/inbox"))
    assert r.status_code == 200
    for argv, needle in [
        (("token",), "give --app"),
        (("token", "--app", "nope"), "no app"),
        (("token", "--user", "nobody@fabrikam.test"), "no user"),
        (
            ("token", "--user", "bob@fabrikam.test", "--app", "public-app", "--scopes", "Mail.Read"),
            "no delegated",
        ),
    ]:
        code, _, err = _run(capsys, *argv, "--data-dir", d)
        assert code == 2 and needle in err, (argv, err)


def test_users_and_apps(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    d = str(data_dir)
    monkeypatch.setattr("sys.stdin", io.StringIO("dave-Passw0rd\n"))
    code, out, _ = _run(
        capsys,
        "users",
        "add",
        "dave@fabrikam.test",
        "--display-name",
        "Dave",
        "--password",
        "-",
        "--data-dir",
        d,
    )
    assert code == 0 and "dave@fabrikam.test" in out
    assert "dave-Passw0rd" not in out
    code, out, _ = _run(capsys, "users", "list", "--data-dir", d)
    assert "dave@fabrikam.test" in out and "alice@fabrikam.test" in out
    code, _, err = _run(capsys, "users", "add", "eve@elsewhere.example", "--data-dir", d)
    assert code == 2 and "not a mailbox of the tenant" in err

    code, out, _ = _run(
        capsys,
        "apps",
        "add",
        "cli-app",
        "--secret",
        "cli-secret",
        "--application-permissions",
        "mail.send",
        "--delegated-permissions",
        "Mail.ReadWrite",
        "--data-dir",
        d,
    )
    assert code == 0
    code, out, _ = _run(capsys, "apps", "list", "--data-dir", d)
    assert "cli-app" in out and "application=Mail.Send" in out
    code, _, err = _run(
        capsys,
        "apps",
        "add",
        "x",
        "--secret",
        "s",
        "--application-permissions",
        "Mail.Everything",
        "--data-dir",
        d,
    )
    assert code == 2 and "unknown permission" in err
    code, _, err = _run(capsys, "apps", "add", "y", "--data-dir", d)
    assert code == 2 and "--secret" in err

    r = asyncio.run(
        _token(
            data_dir,
            {
                "grant_type": "password",
                "client_id": "cli-app",
                "client_secret": "cli-secret",
                "username": "dave@fabrikam.test",
                "password": "dave-Passw0rd",
                "scope": "Mail.ReadWrite",
            },
        )
    )
    assert r.status_code == 200, r.text
    assert asyncio.run(_get(data_dir, r.json()["access_token"], "/v1.0/me/messages")).status_code == 200

    assert _run(capsys, "users", "remove", "dave@fabrikam.test", "--data-dir", d)[0] == 0
    assert _run(capsys, "users", "remove", "dave@fabrikam.test", "--data-dir", d)[0] == 2
    assert _run(capsys, "apps", "remove", "cli-app", "--data-dir", d)[0] == 0
    code, _, err = _run(capsys, "apps", "remove", "cli-app", "--data-dir", d)
    assert code == 2 and "no app" in err


def test_key_rotation_keeps_old_tokens_valid(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = str(data_dir)
    _, before, _ = _run(capsys, "token", "--app", "full-app", "--data-dir", d)
    code, out, _ = _run(capsys, "keys", "rotate", "--data-dir", d)
    assert code == 0 and "(current)" in out and len(out.splitlines()) == 3  # message + two live keys
    _, after, _ = _run(capsys, "token", "--app", "full-app", "--data-dir", d)
    assert before.split(".")[0] != after.split(".")[0]  # another kid in the header
    for token in (before, after):
        assert (
            asyncio.run(_get(data_dir, token, "/v1.0/users/alice@fabrikam.test/messages")).status_code == 200
        )
