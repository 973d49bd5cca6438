"""The domain error hierarchy.

The domain raises these; `api/errors.py` is the one place that maps them to Graph status codes and
error codes (and a future `smtpd/replies.py` to SMTP replies). They carry no HTTP status.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base class: a failure the caller caused or must hear about, never a bug."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ItemNotFoundError(DomainError):
    """A message, attachment or folder id that does not exist in the addressed mailbox."""

    def __init__(self, message: str = "The specified object was not found in the store.") -> None:
        super().__init__(message)


class UserNotFoundError(DomainError):
    """`/users/{x}` names no user of the tenant (Graph: ErrorInvalidUser)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"The requested user '{key}' is invalid.")
        self.key = key


class MalformedIdError(DomainError):
    """An id that cannot be an id of ours at all (Graph: ErrorInvalidIdMalformed)."""

    def __init__(self) -> None:
        super().__init__("Id is malformed.")


class AccessDeniedError(DomainError):
    """The caller lacks the permission or the mailbox right."""

    def __init__(self, message: str = "Access is denied. Check credentials and try again.") -> None:
        super().__init__(message)


class InvalidRecipientsError(DomainError):
    """No recipients, or a recipient that cannot be resolved or is malformed."""


class InvalidPropertyValueError(DomainError):
    """A property value that is well typed but not acceptable (e.g. CR/LF in a subject)."""


class InvalidPropertySetError(DomainError):
    """A property that may not be set on this item (e.g. a draft-only property on a sent message)."""


class InvalidOperationError(DomainError):
    """The operation does not apply to this item (e.g. sending a message that is not a draft)."""


class MessageSizeExceededError(DomainError):
    """The message exceeds the mailbox's maximum message size."""

    def __init__(self) -> None:
        super().__init__(
            "The message exceeds the maximum supported size., Cannot save changes made to an item to store."
        )


class ConflictError(DomainError):
    """An integrity rule of the store was violated (unique name, concurrent change)."""


class BadRequestError(DomainError):
    """A request the domain cannot interpret (Graph: BadRequest)."""


class SendAsDeniedError(DomainError):
    """`from` names a mailbox the caller may not send as (spec §4.4)."""

    def __init__(self) -> None:
        super().__init__(
            "The user account which was used to submit this request does not have the right to send mail"
            " on behalf of the specified sending account. Cannot submit message."
        )


class InvalidInternetMessageHeaderError(DomainError):
    """A custom header whose name does not start with `x-` or whose value would inject a header."""


class InvalidInternetMessageHeaderCollectionError(DomainError):
    """More custom headers than Graph allows (5)."""


class CannotDeleteObjectError(DomainError):
    """The item cannot be deleted."""

    def __init__(self) -> None:
        super().__init__("Object cannot be deleted.")


class MimeContentError(DomainError):
    """MIME content that cannot be read as an RFC 5322 message, or that exceeds the parser's bounds."""


class InvalidMimeBase64Error(MimeContentError):
    """A MIME-mode request body that is not base64 (spec §2.1, §5)."""

    def __init__(self) -> None:
        super().__init__("Invalid base64 string for MIME content.")


class RecipientNotFoundError(InvalidRecipientsError):
    """An address of one of the tenant's domains that names no mailbox (SMTP 550 5.1.1)."""

    def __init__(self, address: str) -> None:
        super().__init__(f"The recipient '{address}' was not found in this organization.")
        self.address = address


class RelayDeniedError(AccessDeniedError):
    """Mail for a domain the tenant does not host, from a session that has not authenticated (5.7.1)."""

    def __init__(self, address: str) -> None:
        super().__init__(f"Relaying to '{address}' is denied; authenticate to send to other domains.")
        self.address = address


class AttachmentSizeError(DomainError):
    """An attachment over the size its route allows (spec §6: < 3 MB by POST, ≤ 150 MB by upload)."""


class AttachmentCountError(DomainError):
    """More attachments on one message than allowed (spec §6: 250)."""


class UploadRangeError(DomainError):
    """A chunk whose Content-Range is malformed or does not fit the session (Graph: invalidRange, 416)."""


class FragmentOverlapError(DomainError):
    """A chunk that starts before the next expected byte (Graph: fragmentOverlap)."""


class FragmentOutOfOrderError(DomainError):
    """A chunk that starts after the next expected byte (Graph: fragmentOutOfOrder)."""


class UploadSessionNotFoundError(DomainError):
    """An unknown, finished, cancelled or expired upload session (Graph: uploadSessionNotFound)."""


class UploadSessionIncompleteError(DomainError):
    """A draft sent while one of its attachment uploads is unfinished (Graph: uploadSessionIncomplete)."""


class UploadTokenError(DomainError):
    """An upload URL whose token does not match its session."""


class FolderExistsError(DomainError):
    """A sibling folder already has this display name (compared case-insensitively, as Exchange does)."""

    def __init__(self) -> None:
        super().__init__("A folder with the specified name already exists.")


class DistinguishedFolderError(DomainError):
    """A well-known (distinguished) folder cannot be deleted, moved or renamed."""

    operation = "changed"

    def __init__(self) -> None:
        super().__init__(f"Distinguished folders cannot be {self.operation}.")


class DeleteDistinguishedFolderError(DistinguishedFolderError):
    """EWS's ErrorDeleteDistinguishedFolder, which Graph passes through."""

    operation = "deleted"


class MoveDistinguishedFolderError(DistinguishedFolderError):
    """EWS's ErrorMoveDistinguishedFolder, which Graph passes through."""

    operation = "moved"


class RenameDistinguishedFolderError(DistinguishedFolderError):
    """Renaming a well-known folder (Outlook refuses it; Graph's code is unconfirmed)."""

    operation = "renamed"


class MoveCopyFailedError(DomainError):
    """A folder move or copy that would put a folder inside itself or its own subtree."""

    def __init__(self) -> None:
        super().__init__("A folder cannot be moved or copied into itself or one of its subfolders.")


class StorageFullError(DomainError):
    """The data directory's disk (or the database's) is full: nothing of the unit was committed and any
    bytes written for it were removed; try again when space returns (Graph 507, SMTP 452 4.3.1)."""

    def __init__(self) -> None:
        super().__init__("The server has no storage space left; nothing was saved. Try again later.")


class StoreUnavailableError(DomainError):
    """The database could not be reached (a PostgreSQL restart, a dropped connection): nothing of the
    unit was committed that the caller was told about; try again (Graph 503, SMTP 451)."""

    def __init__(self) -> None:
        super().__init__("The service is temporarily unavailable. Try again after a short delay.")
