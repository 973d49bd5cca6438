"""THE map from failures to Graph error responses (spec §5, client-wire fact 2).

Every error leaves as `Content-Type: application/json` with `{"error": {"code", "message",
"innerError": {"date", "request-id", "client-request-id"}}}` — without the JSON content type the
SDKs cannot surface `ODataError` with a code. Unknown exceptions become one generic 500, logged once
with traceback and request id; no traceback ever reaches the wire.
"""

from __future__ import annotations

import logging
import time

import orjson

from mailgraph.api.http import JSON_TYPE, Response
from mailgraph.auth.tokens import TokenError
from mailgraph.domain import errors as d
from mailgraph.domain import mailbox_settings as settings
from mailgraph.domain import message_rules as rules
from mailgraph.domain import subscriptions as subs
from mailgraph.domain import users
from mailgraph.domain.categories import DuplicateCategoryError
from mailgraph.odata.errors import ODataError

log = logging.getLogger("mailgraph.api")


class GraphError(Exception):
    """An error raised by the HTTP layer itself (shape of the request), already in Graph terms."""

    def __init__(
        self, status: int, code: str, message: str, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or []


# Domain error class -> (HTTP status, Graph error code). Codes from spec §5; [unconfirmed] choices
# are listed in docs/graph-coverage.md.
DOMAIN_ERRORS: dict[type[d.DomainError], tuple[int, str]] = {
    d.ItemNotFoundError: (404, "ErrorItemNotFound"),
    d.UserNotFoundError: (404, "ErrorInvalidUser"),
    d.MalformedIdError: (400, "ErrorInvalidIdMalformed"),
    d.AccessDeniedError: (403, "ErrorAccessDenied"),
    d.InvalidRecipientsError: (400, "ErrorInvalidRecipients"),
    d.InvalidPropertyValueError: (400, "ErrorInvalidValueForProperty"),
    d.InvalidPropertySetError: (400, "ErrorInvalidPropertySet"),
    d.InvalidOperationError: (400, "ErrorInvalidOperation"),
    d.MessageSizeExceededError: (400, "ErrorMessageSizeExceeded"),
    d.ConflictError: (409, "ErrorIrresolvableConflict"),
    d.BadRequestError: (400, "BadRequest"),
    d.SendAsDeniedError: (403, "ErrorSendAsDenied"),
    d.InvalidInternetMessageHeaderError: (400, "InvalidInternetMessageHeader"),
    d.InvalidInternetMessageHeaderCollectionError: (400, "InvalidInternetMessageHeaderCollection"),
    d.CannotDeleteObjectError: (400, "ErrorCannotDeleteObject"),
    d.InvalidMimeBase64Error: (400, "ErrorMimeContentInvalidBase64String"),
    d.MimeContentError: (400, "ErrorMimeContentConversionFailed"),  # EWS code; Graph's is unconfirmed
    # Folder writes (spec §2.10); the choices Graph does not document: docs/graph-coverage.md.
    d.FolderExistsError: (409, "ErrorFolderExists"),
    d.DeleteDistinguishedFolderError: (400, "ErrorDeleteDistinguishedFolder"),
    d.MoveDistinguishedFolderError: (400, "ErrorMoveDistinguishedFolder"),
    d.RenameDistinguishedFolderError: (400, "ErrorInvalidRequest"),
    d.MoveCopyFailedError: (400, "ErrorMoveCopyFailed"),
    # The directory (issue 15) answers in its own (Azure AD Graph) codes.
    users.DirectoryObjectNotFoundError: (404, "Request_ResourceNotFound"),
    users.DirectoryAccessDeniedError: (403, "Authorization_RequestDenied"),
    # Attachments and upload sessions (spec §2.11, §2.12); statuses not in the spec: docs/graph-coverage.md.
    d.AttachmentSizeError: (400, "ErrorAttachmentSizeLimitExceeded"),
    d.AttachmentCountError: (400, "ErrorInvalidRequest"),
    d.UploadRangeError: (416, "invalidRange"),
    d.FragmentOverlapError: (416, "fragmentOverlap"),
    d.FragmentOutOfOrderError: (416, "fragmentOutOfOrder"),
    d.UploadSessionNotFoundError: (404, "uploadSessionNotFound"),
    d.UploadSessionIncompleteError: (400, "uploadSessionIncomplete"),
    d.UploadTokenError: (401, "InvalidAuthenticationToken"),
    # Change notifications (spec §2.15): Graph answers subscription errors with `InvalidRequest`.
    subs.SubscriptionError: (400, "InvalidRequest"),
    subs.SubscriptionNotFoundError: (404, "ResourceNotFound"),
    # Inbox rules and mailbox settings (issue 15; user-update-mailboxsettings.md's error table).
    rules.RuleError: (400, "ErrorInvalidRequest"),
    settings.InvalidTimeZoneError: (400, "InvalidTimeZone"),
    settings.InvalidTimeSettingsError: (400, "ErrorInvalidTimeSettings"),
    # Master categories (issue 15): the duplicate's code is [unconfirmed] (docs/graph-coverage.md).
    DuplicateCategoryError: (409, "ErrorItemSave"),
    # The store's connection was lost (issue 17 fault trials): Graph's transient 503 (error-codes doc:
    # "serviceNotAvailable … you may repeat the request after a delay").
    d.StoreUnavailableError: (503, "serviceNotAvailable"),
    # The disk is full (issue 17 disk-full trial): Graph's "507 Insufficient Storage — the maximum
    # storage quota has been reached" with its `quotaLimitReached` code (graph/errors); nothing was saved.
    d.StorageFullError: (507, "quotaLimitReached"),
}

# spec §0.3: the 401 challenge names the Graph resource app.
WWW_AUTHENTICATE = (
    b"www-authenticate",
    b'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize",'
    b' client_id="00000003-0000-0000-c000-000000000000"',
)


def error_body(code: str, message: str, request_id: str, client_request_id: str) -> bytes:
    """The Graph error JSON; `date` has no zone and no fraction (spec §5)."""
    inner = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
        "request-id": request_id,
        "client-request-id": client_request_id,
    }
    return orjson.dumps({"error": {"code": code, "message": message, "innerError": inner}})


def to_response(exc: BaseException, request_id: str, client_request_id: str) -> Response:
    """The Graph response for any exception raised while handling a request."""
    headers: list[tuple[bytes, bytes]] = []
    if isinstance(exc, GraphError):
        status, code, message, headers = exc.status, exc.code, exc.message, exc.headers
    elif isinstance(exc, d.DomainError):
        status, code = _lookup(type(exc))
        message = exc.message
    elif isinstance(exc, ODataError):
        status, code, message = 400, exc.code, exc.message
    elif isinstance(exc, TokenError):
        status, code, message = 401, "InvalidAuthenticationToken", str(exc)
        headers = [WWW_AUTHENTICATE]
    else:
        log.exception("unhandled error (request-id %s)", request_id, exc_info=exc)
        status, code, message = 500, "generalException", "An internal server error occurred."
    return Response(status, error_body(code, message, request_id, client_request_id), JSON_TYPE, headers)


def _lookup(kind: type[d.DomainError]) -> tuple[int, str]:
    for klass in kind.__mro__:
        if klass in DOMAIN_ERRORS:
            return DOMAIN_ERRORS[klass]
    return 400, "ErrorInvalidRequest"
