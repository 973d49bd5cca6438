"""`mailgraph serve --submission-port 0` as a real process: the banner names the port, and it works."""

from __future__ import annotations

import re
import signal
import smtplib
import ssl
from pathlib import Path

import httpx
import pytest

from mailgraph.certs import tls_dir
from tests.e2e.test_delivery_e2e import Process
from tests.submission.conftest import SMTP_SEND, TENANT_FILE, xoauth2
from tests.submission.test_xoauth2 import ALICE, BOB, message

pytestmark = [pytest.mark.e2e]
SUBMISSION = re.compile(r"mailgraph SMTP submission: smtp://127\.0\.0\.1:(\d+) ")


def test_the_banner_prints_the_submission_port_and_a_client_sends_through_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = Process(data, "--tenant", str(TENANT_FILE), "--submission-port", "0")
    try:
        banner = "".join(server.banner)
        found = SUBMISSION.search(banner)
        assert found is not None, banner
        assert "token scope https://outlook.office.com/SMTP.Send" in banner
        r = httpx.post(
            f"{server.url}/fabrikam.test/oauth2/v2.0/token",
            data={"grant_type": "password", "client_id": "smtp-client", "username": ALICE,
                  "password": "alice-Passw0rd", "scope": SMTP_SEND},
            timeout=30,
        )  # fmt: skip
        assert r.status_code == 200, r.text
        access = r.json()["access_token"]
        context = ssl.create_default_context(cafile=str(tls_dir(data) / "ca.crt.pem"))
        with smtplib.SMTP("127.0.0.1", int(found.group(1)), local_hostname="client.test", timeout=30) as c:
            c.starttls(context=context)
            c.ehlo()
            assert c.auth("XOAUTH2", lambda challenge=None: xoauth2(ALICE, access))[0] == 235
            assert c.sendmail(ALICE, [BOB], message(ALICE, BOB, "Through the served port")) == {}
    finally:
        server.kill(signal.SIGTERM)


def test_without_the_option_no_submission_port_is_announced(tmp_path: Path) -> None:
    server = Process(tmp_path / "data", "--tenant", str(TENANT_FILE))
    try:
        assert "SMTP submission" not in "".join(server.banner)  # off by default
    finally:
        server.kill(signal.SIGTERM)
