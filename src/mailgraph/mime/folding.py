"""Header folding that keeps every line of a composed message within RFC 5322 §2.1.1's 998 octets.

The stdlib `email` folder gives up on a word it cannot break: an ASCII display name of 999 characters
without spaces, a quoted display name, or a raw UTF-8 (RFC 6532) value under the SMTPUTF8 policy came
out as one line of over 998 octets, and relays answer `500 Line too long` (issue 17, defect 1). Every
header `compose` writes is therefore built with `LineSafe` in its class: when the stdlib's folding
leaves an over-long line, the field is folded again here, by kind:

- address fields: one address per line; display names as RFC 2047 encoded words (allowed in a phrase,
  §5(3)) of at most 75 characters; addr-specs as they are (RFC 2047 may not encode them; their length
  is limited when a draft is created, `domain/drafts.py`);
- unstructured fields (Subject, x- headers, trace fields): RFC 2047 encoded words (§5(1));
- other structured fields (Message-ID, References, Content-*): folded at their spaces, and before the
  value (FWS/CFWS may precede a msg-id or a parameter); their words are short by the create-time limits.

Lengths are counted in octets of UTF-8, as a relay counts them.
"""

from __future__ import annotations

from email.header import Header
from email.headerregistry import AddressHeader, UnstructuredHeader
from typing import Any, Final

MAX_LINE: Final = 998  # RFC 5322 §2.1.1, octets without the CRLF
_SOFT: Final = 78  # RFC 5322 §2.1.1's "SHOULD": where we fold on our own
_LONG_WORD: Final = 256  # a word this long is encoded here, not by the stdlib (see LineSafe.fold)


def fits(folded: str, linesep: str) -> bool:
    """True if every line of `folded` is at most 998 octets."""
    return all(len(line.encode("utf-8", "surrogateescape")) <= MAX_LINE for line in folded.split(linesep))


def _encoded(text: str, name: str, linesep: str) -> str:
    """`text` as RFC 2047 encoded words (UTF-8), folded as `Header` folds them, without the field name."""
    header = Header(text, "utf-8", maxlinelen=_SOFT, header_name=name)
    return header.encode(linesep=linesep, maxlinelen=_SOFT)


def _words(name: str, words: list[str], linesep: str) -> str:
    """`name:` and `words` joined greedily into lines of at most 78 characters where each word allows."""
    lines = [f"{name}:"]
    for word in words:
        if len(lines[-1]) + 1 + len(word) > _SOFT and lines[-1] != f"{name}:":
            lines.append("")
        elif lines[-1] == f"{name}:" and len(name) + 2 + len(word) > _SOFT:
            lines.append("")  # the value starts on a continuation line (FWS before it)
        lines[-1] += " " + word
    return linesep.join(lines) + linesep


def _addresses(header: Any, linesep: str) -> str:
    items: list[str] = []
    for address in header.addresses:
        spec = address.addr_spec
        if address.display_name:
            items.append(f"{_encoded(address.display_name, header.name, linesep)} <{spec}>")
        else:
            items.append(spec)
    return f"{header.name}: " + f",{linesep} ".join(items) + linesep


class LineSafe:
    """Mixin placed first in every header class of `compose`'s registry (see the module docstring)."""

    def fold(self, *, policy: Any) -> str:
        linesep: str = policy.linesep
        header: Any = self
        name: str = header.name
        value = str(header)
        structured_ok = isinstance(header, AddressHeader) and all(
            g.display_name is None for g in header.groups
        )
        if structured_ok and not policy.utf8 and _non_ascii_names(header):
            # CPython's folder (3.11-3.13) encodes the comma after an encoded-word display name as
            # `=?utf-8?q?=2C?=`, which turns the next address into garbage for every reader (found by
            # tests/property/test_mime_properties.py): write such lists ourselves, one address a line.
            return _addresses(header, linesep)
        if (structured_ok or isinstance(header, UnstructuredHeader)) and _long_word(value):
            # The stdlib folds a long unbroken non-ASCII word in time quadratic in its length (0.9 s for
            # a 1,100-character CJK display name, per compose): encode such values here directly.
            return _refold(header, name, value, linesep)
        try:
            folded: str = super().fold(policy=policy)  # type: ignore[misc]
        except IndexError:
            # CPython's folder fails on an empty value after a name that fills the line (x-h…h of 76+).
            if value.strip():
                raise
            return f"{name}:{linesep}"
        if fits(folded, linesep):
            return folded
        refolded = _refold(header, name, value, linesep)
        return refolded if fits(refolded, linesep) else folded


def _non_ascii_names(header: Any) -> bool:
    addresses = header.addresses
    return len(addresses) > 1 and any(not a.display_name.isascii() for a in addresses if a.display_name)


def _long_word(value: str) -> bool:
    return len(value) > _LONG_WORD and any(len(word) > _LONG_WORD for word in value.split())


def _refold(header: Any, name: str, value: str, linesep: str) -> str:
    if isinstance(header, AddressHeader) and all(g.display_name is None for g in header.groups):
        return _addresses(header, linesep)
    if isinstance(header, UnstructuredHeader):
        return f"{name}: {_encoded(value, name, linesep)}{linesep}"
    return _words(name, value.split(), linesep)
