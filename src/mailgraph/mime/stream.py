"""Streamed compose: the MIME of an item with large file attachments, never whole in memory.

`compose` builds the whole message as one `bytes`; for a 150 MB attachment that is the file plus its
base64 (~350 MB) in RAM. Here the message is composed by the very same `compose`, but each large file
attachment carries a small random stand-in payload; the rendered message (headers, bodies and
stand-ins: small) is split at the stand-ins' base64 lines, and each is replaced on the way out by the
file read in bounded pieces and base64-encoded exactly as the stdlib `email` package encodes it
(RFC 2045 §6.8: 76-character lines; `email.contentmanager` uses 57 input bytes a line with the
policy's CRLF line end, the last line shorter). So the bytes are identical to `compose`'s, and the
length is known before the first byte is sent.

Callers decide which attachments are large (`domain/mime_items.py`); the relay still uses `compose`.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace

from mailgraph.domain.model import Message
from mailgraph.mime.compose import MimeAttachment, compose

_LINE_INPUT = 57  # bytes of input per 76-character base64 line (78 // 4 * 3 under the SMTP policies)
_CHUNK = _LINE_INPUT * 2048  # 114 KiB read per worker-thread hop: 2,048 whole lines, ~156 KiB out
_STAND_IN = 24  # random bytes: a 32-character base64 line, unique in the rendered message


@dataclass(frozen=True, slots=True)
class StreamedFile:
    """A file attachment whose bytes stay in the blob store: `attachment` describes the part (its `data`
    is ignored), `source(piece)` yields the bytes in pieces of exactly `piece` bytes (the last shorter;
    `BlobStorage.stream`) and `size` is their count (fixed: blobs are immutable)."""

    attachment: MimeAttachment
    source: Callable[[int], AsyncIterator[bytes]]
    size: int


def encoded_length(size: int) -> int:
    """Bytes of `size` input bytes as base64 in 76-character CRLF-terminated lines."""
    whole, rest = divmod(size, _LINE_INPUT)
    return whole * 78 + (4 * ((rest + 2) // 3) + 2 if rest else 0)


def _encode(piece: bytes) -> bytes:
    # encodebytes writes 76-character lines (57 input bytes) ending in LF; the policy's line end is CRLF.
    return base64.encodebytes(piece).replace(b"\n", b"\r\n")


@dataclass(frozen=True, slots=True)
class StreamedMime:
    """A composed message as rendered segments with a file between each two: segments[0], files[0],
    segments[1], … segments[-1]. `length` is the exact byte count of the whole."""

    segments: list[bytes]
    files: list[StreamedFile]
    length: int

    async def pieces(self) -> AsyncIterator[bytes]:
        """The message in pieces of at most ~156 KiB of file data (encoded in worker threads)."""
        for segment, file in zip(self.segments, [*self.files, None], strict=True):
            if segment:
                yield segment
            if file is None:
                continue
            left = file.size
            # Whole 57-byte lines per piece (the source's pieces are exactly _CHUNK long), so the
            # encoded pieces join into the one encoding `compose` writes.
            async for data in file.source(_CHUNK):
                piece = data[:left]
                left -= len(piece)
                if piece:
                    yield await asyncio.to_thread(_encode, piece)
                if left <= 0:
                    break
            if left > 0:  # the blob shrank under us: the promised length cannot be kept
                raise OSError(f"attachment content ended early: {file.attachment.name!r}")


def compose_streamed(
    message: Message,
    attachments: Sequence[MimeAttachment | StreamedFile],
    *,
    include_bcc: bool = False,
) -> StreamedMime:
    """`compose(message, attachments)` as a `StreamedMime` (blocking CPU work: call in a thread).

    Raises:
        RuntimeError: a stand-in is not found exactly once in the rendered message (a 2^-192 chance).
    """
    parts: list[MimeAttachment] = []
    files: list[tuple[bytes, StreamedFile]] = []
    for item in attachments:
        if isinstance(item, MimeAttachment):
            parts.append(item)
            continue
        raw = secrets.token_bytes(_STAND_IN)
        parts.append(replace(item.attachment, data=raw, message=None))
        files.append((base64.b64encode(raw) + b"\r\n", item))
    rendered = compose(message, parts, include_bcc=include_bcc)
    placed: list[tuple[int, bytes, StreamedFile]] = []
    for line, file in files:  # inline parts come before the others: order by place, not by input
        at = rendered.find(b"\r\n" + line) + 2
        if at < 2 or rendered.find(line, at + len(line)) >= 0:
            raise RuntimeError("attachment stand-in not unique in the composed message")
        placed.append((at, line, file))
    placed.sort(key=lambda p: p[0])
    segments: list[bytes] = []
    start = 0
    for at, line, _ in placed:
        segments.append(rendered[start:at])
        start = at + len(line)
    segments.append(rendered[start:])
    length = sum(map(len, segments)) + sum(encoded_length(f.size) for _, _, f in placed)
    return StreamedMime(segments, [f for _, _, f in placed], length)
