"""`mailgraph token --resource outlook`: SMTP submission tokens from the command line, as the endpoint's."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailgraph.cli import main
from tests.smtp.conftest import in_thread
from tests.submission.conftest import Submission, claims_of
from tests.submission.test_xoauth2 import ALICE, BOB, message


async def _cli(capsys: pytest.CaptureFixture[str], data_dir: Path, *argv: str) -> tuple[int, str, str]:
    code = await in_thread(lambda: main(["token", *argv, "--data-dir", str(data_dir)]))
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


async def test_cli_tokens_for_exchange_online_authenticate_on_the_submission_port(
    submission: Submission, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, delegated, _ = await _cli(
        capsys, data_dir, "--user", ALICE, "--app", "smtp-client", "--resource", "outlook"
    )
    assert code == 0
    assert (claims_of(delegated)["aud"], claims_of(delegated)["scp"]) == (
        "https://outlook.office.com",
        "SMTP.Send",
    )
    code, app, _ = await _cli(capsys, data_dir, "--app", "smtp-client", "--resource", "outlook")
    assert code == 0 and claims_of(app)["roles"] == ["SMTP.SendAsApp"]
    # A Graph token (the default) never carries the SMTP permission, even when the app has it.
    code, graph, _ = await _cli(capsys, data_dir, "--user", ALICE, "--app", "smtp-client")
    assert code == 0 and claims_of(graph)["scp"] == "Mail.Read"
    code, _, err = await _cli(
        capsys,
        data_dir,
        "--user",
        ALICE,
        "--app",
        "smtp-client",
        "--resource",
        "outlook",
        "--scopes",
        "Mail.Read",
    )
    assert code == 2 and "no delegated permission Mail.Read for https://outlook.office.com" in err

    def go(access: str, subject: str) -> dict[str, object]:
        with submission.signed_in(ALICE, access) as client:
            return client.sendmail(ALICE, [BOB], message(ALICE, BOB, subject))

    assert await in_thread(lambda: go(delegated, "CLI delegated")) == {}
    assert await in_thread(lambda: go(app, "CLI app-only")) == {}
