"""PostgreSQL connection loss (issue 17 fault trials): a unit whose connection dies raises
`StoreUnavailableError` (Graph 503 serviceNotAvailable, SMTP 451 4.3.0), never a bare driver error that
would become a 500 or a permanent 550, and the next unit works on a fresh connection."""

from __future__ import annotations

import pytest

from mailgraph.domain.errors import StoreUnavailableError
from mailgraph.domain.ports import Tx
from mailgraph.smtpd.replies import reply_for
from mailgraph.store.contract import Engine


async def _kill_own_backend(tx: Tx) -> None:
    conn = tx.directory._conn  # type: ignore[attr-defined]  # the unit's connection, to end it from inside
    await conn.fetch_one("SELECT pg_terminate_backend(pg_backend_pid())", ())


async def test_a_lost_connection_is_unavailable_then_recovers(engine: Engine) -> None:
    if engine.name != "postgres":
        pytest.skip("SQLite has no connection to lose")
    with pytest.raises(StoreUnavailableError):
        await engine.write(_kill_own_backend)
    with pytest.raises(StoreUnavailableError):
        await engine.read(_kill_own_backend)  # read once more on a fresh connection, which is killed too
    assert await engine.read(lambda tx: tx.directory.list_tenants()) == []
    assert str(reply_for(StoreUnavailableError())).startswith("451 4.3.0")
