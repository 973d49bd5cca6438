"""Recipient address rules: what counts as a well-formed mailbox (RFC 5321 §4.1.2, RFC 6531).

Used at send time ("Recipient 'x' isn't resolved", spec §5) and for routing by domain.
"""

from __future__ import annotations

import re

from mailgraph.domain.errors import InvalidRecipientsError
from mailgraph.domain.model import EmailAddress

# RFC 5321 Dot-string local parts (atext incl. UTF-8 per RFC 6531) or a Quoted-string; domain names
# of LDH labels (UTF-8 allowed for IDNs) or an address literal. CR, LF, NUL and other controls never.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]"
_DOT_STRING = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_QUOTED = r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e\u0080-\U0010ffff]|\\[\x20-\x7e])*"'
_LABEL = r"[A-Za-z0-9\u0080-\U0010ffff](?:[A-Za-z0-9\-\u0080-\U0010ffff]{0,61}[A-Za-z0-9\u0080-\U0010ffff])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[A-Za-z0-9:.]+\])"
_MAILBOX = re.compile(rf"(?:{_DOT_STRING}|{_QUOTED})@{_DOMAIN}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

MAX_ADDRESS_LENGTH = 254  # RFC 5321 §4.5.3.1.3 path limit less the angle brackets


def is_mailbox(address: str) -> bool:
    """True when `address` is a complete, well-formed `local@domain`."""
    if len(address) > MAX_ADDRESS_LENGTH or _CONTROL.search(address):
        return False
    if not _MAILBOX.fullmatch(address):
        return False
    return len(address.rsplit("@", 1)[0].encode()) <= 64


def domain_of(address: str) -> str:
    """The domain part, lower-cased (domains compare case-insensitively, RFC 5321 §2.4)."""
    return address.rsplit("@", 1)[1].lower()


def has_control(text: str) -> bool:
    """True when `text` holds CR, LF or another control character (header injection, RFC 5322 §2.2)."""
    return _CONTROL.search(text) is not None


MAX_ADDRESS = 320  # RFC 5321 §4.5.3.1: a 64-octet local part, '@', a 255-octet domain


def check_shape(items: list[EmailAddress]) -> None:
    """Reject CR/LF and other controls in names and addresses at the edge of the domain.

    Raises:
        InvalidRecipientsError: a name or address holds a control character, or an address is too long.
    """
    for item in items:
        if has_control(item.address) or has_control(item.name):
            raise InvalidRecipientsError(
                f"At least one recipient isn't valid., Recipient '{item.address!r}' contains a control character."
            )
        if len(item.address) > MAX_ADDRESS:
            # An addr-spec can be neither folded nor RFC 2047-encoded: over-long, its header line would
            # pass 998 octets (RFC 5322 §2.1.1) and the relay would refuse the message after a 202.
            raise InvalidRecipientsError(
                f"At least one recipient isn't valid., Recipient '{item.address[:40]}…' is longer than "
                f"{MAX_ADDRESS} characters."
            )


def check_resolvable(items: list[EmailAddress]) -> None:
    """At send: at least one recipient, each a well-formed mailbox (spec §1, §5).

    Raises:
        InvalidRecipientsError: no recipients, or one that is not a mailbox.
    """
    if not items:
        raise InvalidRecipientsError(
            "At least one recipient isn't valid., A message can't be sent because it contains no recipients."
        )
    for item in items:
        if not is_mailbox(item.address):
            raise InvalidRecipientsError(
                f"At least one recipient isn't valid., Recipient \"{item.address}\" isn't resolved. "
                "All recipients must be resolved before a message can be submitted."
            )
