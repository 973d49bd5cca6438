"""Logging of `mailgraph serve`: plain text (the default) or JSON lines (`--log-format json`, env
`MAILGRAPH_LOG_FORMAT=json`), for our loggers and uvicorn's alike, so a container's log collector
gets one JSON object per line with no parsing rules.

One line: `{"time": RFC 3339 UTC with ms, "level", "logger", "message"}`, plus `"exception"` (the
traceback text) when there is one. Access lines (`--access-log`, uvicorn's `uvicorn.access` logger)
also carry `"client"`, `"method"`, `"path"`, `"httpVersion"`, `"status"` as separate fields, taken
from the record's arguments rather than parsed back out of the message.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"
_ACCESS_FIELDS = ("client", "method", "path", "httpVersion", "status")


class JsonLines(logging.Formatter):
    """A log record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }  # fmt: skip
        # uvicorn's access record: args = (client "host:port", method, path with query, http version, status)
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            line.update(zip(_ACCESS_FIELDS, record.args, strict=True))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(level: str, fmt: LogFormat) -> None:
    """Set up the root logger (our `mailgraph.*` loggers and libraries) on stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


def uvicorn_config(level: str, fmt: LogFormat) -> dict[str, Any]:
    """uvicorn's `log_config`: its error and access loggers in the same format as ours."""
    formatter: dict[str, Any] = {"()": f"{__name__}.JsonLines"} if fmt == "json" else {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["default"], "level": "INFO", "propagate": False},
        },
    }  # fmt: skip
