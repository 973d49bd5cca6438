"""`$batch` of 20 GETs vs 20 single GETs, in-process through the ASGI app: inner requests per second.

    .venv/bin/python bench/batch_ratio.py [rounds]

Both sides run the same Graph handler; the batch saves the per-request transport work (here: ASGI
parsing, token verification, headers), which over a real socket also saves 19 round trips, so the
in-process ratio is a lower bound of what a client over the network sees.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from mailgraph.config import Settings
from mailgraph.wiring import build


async def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="mailgraph-batch-") as tmp:
        runtime = await build(Settings(data_dir=Path(tmp) / "data", durability="normal"))
        try:
            app = runtime.app
            registered = await runtime.engine.read(lambda tx: tx.directory.get_app("mailgraph-demo"))
            assert registered is not None
            token = app.services.tokens.issue_app_token(runtime.tenant, registered)
            h = {"Authorization": f"Bearer {token}"}
            url = "/users/alice@contoso.com/mailFolders/inbox"
            batch = orjson.dumps(
                {"requests": [{"id": str(i), "method": "GET", "url": url} for i in range(20)]}
            )
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as api:
                for _ in range(3):  # warm-up
                    await api.get(f"/v1.0{url}", headers=h)
                    await api.post(
                        "/v1.0/$batch", content=batch, headers={**h, "Content-Type": "application/json"}
                    )
                start = time.perf_counter()
                for _ in range(rounds * 20):
                    assert (await api.get(f"/v1.0{url}", headers=h)).status_code == 200
                single = rounds * 20 / (time.perf_counter() - start)
                start = time.perf_counter()
                for _ in range(rounds):
                    r = await api.post(
                        "/v1.0/$batch", content=batch, headers={**h, "Content-Type": "application/json"}
                    )
                    assert r.status_code == 200
                batched = rounds * 20 / (time.perf_counter() - start)
            print(
                f"single GETs: {single:.0f} req/s; $batch of 20: {batched:.0f} inner req/s; ratio {batched / single:.2f}x"
            )
        finally:
            await runtime.engine.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50))
