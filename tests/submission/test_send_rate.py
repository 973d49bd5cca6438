"""SMTP submission over Exchange's message rate is refused, not queued (spec §6), with a 4xx reply."""

from __future__ import annotations

import smtplib
import ssl
from pathlib import Path

import httpx

from mailgraph.certs import tls_dir
from mailgraph.config import Settings
from mailgraph.smtpd.throttle import AuthThrottle
from mailgraph.wiring import build
from tests.smtp.conftest import in_thread
from tests.submission.conftest import LENIENT, Submission, submission_handler, user_token
from tests.submission.test_xoauth2 import ALICE, BOB, message, subjects


async def test_the_31st_submission_in_a_minute_is_refused_with_450(
    data_dir: Path, database: str | None
) -> None:
    settings = Settings(
        data_dir=data_dir,
        submission_port=0,
        submission_tls_port=0,
        throttle="exchange-online",
        database=database,
    )
    runtime = await build(settings)
    assert runtime.smtp is not None
    submission_handler(runtime).throttle = AuthThrottle(LENIENT)
    await runtime.smtp.start()
    try:
        context = ssl.create_default_context(cafile=str(tls_dir(data_dir) / "ca.crt.pem"))
        smtp = Submission(runtime.smtp.ports["submission"], runtime.smtp.ports["submissions"], context, "")
        transport = httpx.ASGITransport(app=runtime.app)
        async with httpx.AsyncClient(transport=transport, base_url="https://graph.test") as api:
            access = await user_token(api, "alice")

            def go() -> tuple[int, bytes]:
                with smtp.signed_in(ALICE, access) as client:
                    for i in range(30):
                        assert client.sendmail(ALICE, [BOB], message(ALICE, BOB, f"m{i}")) == {}
                    try:
                        client.sendmail(ALICE, [BOB], message(ALICE, BOB, "m30"))
                    except smtplib.SMTPDataError as exc:
                        return exc.smtp_code, exc.smtp_error
                raise AssertionError("the 31st submission in a minute was accepted")

            code, text = await in_thread(go)
            assert code == 450 and text.startswith(b"4.7.0 ")
            inbox = await subjects(api, BOB, "inbox")
            assert len(inbox) == 30 and "m30" not in inbox  # refused: neither delivered nor held
            assert await runtime.engine.read(lambda tx: tx.send_quota.held()) == []
    finally:
        await runtime.smtp.close()
        await runtime.engine.close()
