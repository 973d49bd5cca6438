"""The writer's well-known folder id cache (store/sql/folder_ids.py) never hands out a stale id.

Each test warms the cache with a draft (the drafts id is looked up on the writer), changes the
mailbox's well-known folders the way the server or the CLI can, and checks the next draft lands in
the drafts folder that exists now.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from mailgraph.auth.passwords import hash_secret, verify_secret
from mailgraph.config import Settings
from mailgraph.domain.directory import DirectoryService, Secrets, UserSpec
from mailgraph.store.sql.folder_ids import WellKnownIdCache
from mailgraph.wiring import Runtime, open_engine
from tests.api.helpers import create_draft
from tests.conftest import TokenFor

ROOT = "/v1.0/users/carol@fabrikam.test"


async def drafts_id(runtime: Runtime) -> str:
    """The drafts folder id as the table has it now (reader connection, no cache)."""
    user = await runtime.engine.read(
        lambda tx: tx.directory.find_user(runtime.tenant.id, "carol@fabrikam.test")
    )
    assert user is not None
    found = await runtime.engine.read(lambda tx: tx.folders.get_well_known(user.id, "drafts"))
    assert found is not None
    return found.id


async def draft_folder(api: httpx.AsyncClient, headers: dict[str, str]) -> Any:
    return (await create_draft(api, headers, root=ROOT))["parentFolderId"]


async def recreate(directory: DirectoryService, user_id: str | None) -> None:
    assert await directory.remove_user("carol@fabrikam.test")
    await directory.add_user(
        UserSpec("carol@fabrikam.test", "Carol Clark", mail="carol@fabrikam-mail.test", id=user_id)
    )


@pytest.mark.parametrize("same_id", [False, True])
async def test_recreated_user_gets_their_new_folders(
    api: httpx.AsyncClient, runtime: Runtime, token_for: TokenFor, same_id: bool
) -> None:
    headers = token_for()
    old = await drafts_id(runtime)
    assert await draft_folder(api, headers) == old  # warms the writer's cache
    user = await runtime.engine.read(
        lambda tx: tx.directory.find_user(runtime.tenant.id, "carol@fabrikam.test")
    )
    assert user is not None
    await recreate(runtime.directory, user.id if same_id else None)
    new = await drafts_id(runtime)
    assert new != old
    assert await draft_folder(api, headers) == new


async def test_change_by_another_process_is_noticed(
    api: httpx.AsyncClient, runtime: Runtime, token_for: TokenFor, data_dir: Path
) -> None:
    headers = token_for()
    old = await drafts_id(runtime)
    assert await draft_folder(api, headers) == old
    user = await runtime.engine.read(
        lambda tx: tx.directory.find_user(runtime.tenant.id, "carol@fabrikam.test")
    )
    assert user is not None
    # The CLI's own connection (`mailgraph users remove` + `users add` with a fixed id).
    other = await open_engine(Settings(data_dir=data_dir))
    try:
        await recreate(DirectoryService(other, Secrets(hash_secret, verify_secret)), user.id)
    finally:
        await other.close()
    new = await drafts_id(runtime)
    assert new != old
    assert await draft_folder(api, headers) == new


def test_a_batch_that_changed_a_mailbox_does_not_cache_it() -> None:
    version = [1]
    cache = WellKnownIdCache(lambda: version[0])
    cache.begin_batch()
    assert cache.get("m") is None
    cache.put("m", {"inbox": "a"})
    assert cache.get("m") == {"inbox": "a"}
    cache.forget("m")  # e.g. provision in a unit that may still roll back
    assert cache.get("m") is None
    cache.put("m", {"inbox": "uncommitted"})
    assert cache.get("m") is None
    cache.begin_batch()  # the next batch reads committed rows again
    cache.put("m", {"inbox": "b"})
    assert cache.get("m") == {"inbox": "b"}
    version[0] = 2  # another connection committed
    cache.begin_batch()
    assert cache.get("m") is None
    cache.put("m", {})  # nothing found: not remembered
    assert cache.get("m") is None
