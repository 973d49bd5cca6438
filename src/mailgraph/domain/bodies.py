"""Message bodies: HTML normalisation and `bodyPreview` (spec §2.2, §3.1)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from mailgraph.domain.model import ItemBody

PREVIEW_LENGTH = 255  # spec §6: bodyPreview is the first 255 characters, as text

# Graph stores an HTML body wrapped in a full document with a UTF-8 meta tag (spec §2.2 doc example).
_HTML_HEAD = '<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n</head>\r\n<body>\r\n'
_HTML_TAIL = "\r\n</body>\r\n</html>\r\n"
_HAS_DOCUMENT = re.compile(r"^\s*(?:<!doctype[^>]*>\s*)?<html[\s>]", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


class _TextExtractor(HTMLParser):
    """Collects the text of an HTML document, skipping script/style/head content."""

    _SKIP = frozenset({"script", "style", "head", "title"})

    def __init__(self, limit: int) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in {"br", "p", "div", "tr", "li"}:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping and self.size < self.limit * 4:
            self.parts.append(data)
            self.size += len(data)


def normalize(body: ItemBody) -> ItemBody:
    """The body as Graph stores it: HTML wrapped in a document, text unchanged."""
    if body.content_type == "html" and body.content and not _HAS_DOCUMENT.match(body.content):
        return ItemBody("html", _HTML_HEAD + body.content + _HTML_TAIL)
    return body


def preview(body: ItemBody) -> str:
    """The first 255 characters of the body as text, whitespace collapsed."""
    if body.content_type == "html":
        extractor = _TextExtractor(PREVIEW_LENGTH)
        extractor.feed(body.content)
        extractor.close()
        text = "".join(extractor.parts)
    else:
        text = body.content[: PREVIEW_LENGTH * 4]
    return _SPACE.sub(" ", text).strip()[:PREVIEW_LENGTH]
