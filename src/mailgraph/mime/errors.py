"""The MIME layer's error: a `DomainError`, so the API maps it like any other (api/errors.py)."""

from __future__ import annotations

from mailgraph.domain.errors import InvalidMimeBase64Error, MimeContentError


class MimeError(MimeContentError):
    """Malformed, hostile or oversized MIME (too many parts, too deep, huge headers, no headers)."""


__all__ = ["InvalidMimeBase64Error", "MimeContentError", "MimeError"]
