"""Exchange Online's limits on the submission port: 500 recipients a message, SIZE (35 MB by default).

The numbers are Exchange Online's documented defaults ("Exchange Online limits", recipient limit 500,
message size limit 35 MB): docs/smtp-submission.md, "Limits".
"""

from __future__ import annotations

import smtplib
import ssl
from pathlib import Path

import httpx

from mailgraph.certs import tls_dir
from mailgraph.config import Settings
from mailgraph.domain.inspection import MessageQuery
from mailgraph.smtpd.server import DEFAULT_MAX_SIZE
from mailgraph.wiring import build
from tests.smtp.conftest import in_thread
from tests.submission.conftest import Submission, submission_handler, user_token, xoauth2
from tests.submission.test_xoauth2 import ALICE, BOB, message, subjects


async def test_size_is_advertised_and_the_501st_recipient_is_refused_with_452(
    api: httpx.AsyncClient, submission: Submission
) -> None:
    access = await user_token(api, "alice")
    assert DEFAULT_MAX_SIZE == 35 * 1024 * 1024

    def go() -> tuple[str, list[int], tuple[int, bytes], dict[str, object]]:
        with submission.signed_in(ALICE, access) as client:
            size = client.esmtp_features["size"]
            client.mail(ALICE)
            codes = [client.rcpt(f"r{i}@example.com")[0] for i in range(500)]
            refused = client.rcpt(BOB)
            client.rset()
            # The client sends to the rest in another transaction (RFC 5321 §4.5.3.1.10).
            later = client.sendmail(ALICE, [BOB], message(ALICE, BOB, "The rest"))
            return size, codes, refused, later

    size, codes, refused, later = await in_thread(go)
    assert size == str(35 * 1024 * 1024)
    assert codes == [250] * 500
    assert refused == (452, b"4.5.3 Too many recipients")
    assert later == {}
    assert await subjects(api, BOB, "inbox") == ["The rest"]


async def test_a_message_over_the_size_limit_is_refused_with_552_and_not_stored(
    api: httpx.AsyncClient, data_dir: Path, database: str | None
) -> None:
    limit = 64 * 1024
    rt = await build(Settings(data_dir=data_dir, submission_port=0, smtp_max_size=limit, database=database))
    assert rt.smtp is not None
    submission_handler(rt)  # the submission listener is on
    await rt.smtp.start()
    try:
        app = await rt.engine.read(lambda tx: tx.directory.get_app("smtp-client"))
        alice = await rt.engine.read(lambda tx: tx.directory.find_user(rt.tenant.id, ALICE))
        assert app is not None and alice is not None
        access = rt.app.services.tokens.issue_user_token(
            rt.tenant, app, alice, ["SMTP.Send"], resource="https://outlook.office.com"
        )
        port = rt.smtp.ports["submission"]
        context = ssl.create_default_context(cafile=str(tls_dir(data_dir) / "ca.crt.pem"))
        big = message(ALICE, BOB, "Too big").replace(
            b"Sent over SMTP.\r\n", (b"x" * 998 + b"\r\n") * (limit // 1000 + 8)
        )
        assert len(big) > limit

        def go() -> tuple[str, tuple[int, bytes], tuple[int, bytes]]:
            with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=30) as client:
                client.starttls(context=context)
                client.ehlo()
                client.auth("XOAUTH2", lambda challenge=None: xoauth2(ALICE, access))
                size = client.esmtp_features["size"]
                declared = client.mail(ALICE, [f"SIZE={limit + 1}"])  # RFC 1870: refused up front
                client.rset()
                client.mail(ALICE)
                client.rcpt(BOB)
                data = client.data(big)  # undeclared: read, discarded, refused after the dot
                return size, declared, data

        size, declared, data = await in_thread(go)
        assert size == str(limit)
        assert declared[0] == 552 and declared[1].startswith(b"5.3.4")
        assert data[0] == 552 and data[1].startswith(b"5.3.4")
        stored = await rt.engine.read(
            lambda tx: tx.workbench.find_messages(rt.tenant.id, MessageQuery(subject="Too big"))
        )
        assert stored == []
    finally:
        await rt.smtp.close()
        await rt.engine.close()
