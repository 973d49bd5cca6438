"""End to end with the official msgraph-sdk (Python): folder writes and the directory (issue 15).

A delegated client creates a folder and a child folder, renames, moves, copies and deletes them, and
reads `me`, `users` (with $filter, $select, $count and ConsistencyLevel) and `users/$count`; an app
client reads a user by UPN. The server is a real `mailgraph serve` process (tests/e2e/conftest.py).
"""

from __future__ import annotations

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.mail_folder import MailFolder
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.users.item.mail_folders.item.copy.copy_post_request_body import CopyPostRequestBody
from msgraph.generated.users.item.mail_folders.item.move.move_post_request_body import MovePostRequestBody
from msgraph.generated.users.users_request_builder import UsersRequestBuilder

from tests.e2e.conftest import Server
from tests.e2e.test_msgraph_sdk import _client

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

_SCOPES = "Mail.ReadWrite User.Read User.ReadBasic.All openid profile offline_access"
ALICE = {
    "grant_type": "password",
    "client_id": "full-app",
    "client_secret": "full-secret",
    "username": "alice@fabrikam.test",
    "password": "alice-Passw0rd",
    "scope": " ".join(f"https://graph.microsoft.com/{s}" if "." in s else s for s in _SCOPES.split()),
}
APP = {
    "grant_type": "client_credentials",
    "client_id": "full-app",
    "client_secret": "full-secret",
    "scope": "https://graph.microsoft.com/.default",
}


async def test_folder_lifecycle_with_the_sdk(server: Server) -> None:
    async with _client(server, ALICE) as alice:
        folders = alice.me.mail_folders
        made = await folders.post(MailFolder(display_name="SDK Projects"))
        assert made is not None and made.id and made.display_name == "SDK Projects"
        child = await folders.by_mail_folder_id(made.id).child_folders.post(MailFolder(display_name="Q1"))
        assert child is not None and child.id and child.parent_folder_id == made.id
        renamed = await folders.by_mail_folder_id(made.id).patch(MailFolder(display_name="SDK Renamed"))
        assert renamed is not None and renamed.display_name == "SDK Renamed"
        moved = await folders.by_mail_folder_id(made.id).move.post(
            MovePostRequestBody(destination_id="archive")
        )
        archive = await folders.by_mail_folder_id("archive").get()
        assert moved is not None and archive is not None and moved.parent_folder_id == archive.id
        assert moved.id == made.id and archive.child_folder_count == 1
        copied = await folders.by_mail_folder_id(made.id).copy.post(
            CopyPostRequestBody(destination_id="inbox")
        )
        assert copied is not None and copied.id != made.id and copied.child_folder_count == 1
        kids = await folders.by_mail_folder_id(made.id).child_folders.get()
        assert kids is not None and kids.value is not None and [k.display_name for k in kids.value] == ["Q1"]
        assert child.id is not None
        nested = folders.by_mail_folder_id(made.id).child_folders.by_mail_folder_id1(child.id)
        got = await nested.get()
        assert got is not None and got.display_name == "Q1"
        await nested.patch(MailFolder(display_name="Q1 2026"))
        await folders.by_mail_folder_id(copied.id).permanent_delete.post()
        with pytest.raises(ODataError) as caught:
            await folders.by_mail_folder_id(copied.id).get()
        assert caught.value.response_status_code == 404
        await folders.by_mail_folder_id(made.id).delete()
        deleted = await folders.by_mail_folder_id("deleteditems").child_folders.get()
        assert deleted is not None and deleted.value is not None
        assert [f.id for f in deleted.value] == [made.id]
        with pytest.raises(ODataError) as caught:
            await folders.by_mail_folder_id("inbox").delete()
        assert caught.value.response_status_code == 400
        assert caught.value.error is not None and caught.value.error.code == "ErrorDeleteDistinguishedFolder"
        await folders.post(MailFolder(display_name="sdk twice"))
        with pytest.raises(ODataError) as caught:
            await folders.post(MailFolder(display_name="SDK TWICE"))
        assert caught.value.error is not None and caught.value.error.code == "ErrorFolderExists"


async def test_me_and_users_with_the_sdk(server: Server) -> None:
    async with _client(server, ALICE) as alice, _client(server, APP) as app:
        me = await alice.me.get()
        assert me is not None and me.user_principal_name == "alice@fabrikam.test"
        assert (me.given_name, me.job_title, me.business_phones) == ("Alice", "Engineer", ["+1 425 555 0100"])
        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter="startswith(displayName,'B')", select=["displayName", "mail"], count=True
        )
        config = RequestConfiguration(query_parameters=query)
        config.headers.add("ConsistencyLevel", "eventual")
        found = await alice.users.get(request_configuration=config)
        assert found is not None and found.value is not None and found.odata_count == 1
        assert [(u.display_name, u.mail) for u in found.value] == [("Bob Baker", "bob@fabrikam.test")]
        count_config = RequestConfiguration()
        count_config.headers.add("ConsistencyLevel", "eventual")
        assert await alice.users.count.get(request_configuration=count_config) == 3
        carol = await app.users.by_user_id("carol@fabrikam.test").get()
        assert carol is not None and carol.mail == "carol@fabrikam-mail.test"
