"""`mailgraph tenants|seed|reset|messages|wait|outbound|inspect`: the control API from a shell.

Every command talks to a running server's `/_mailgraph` API over HTTP (`--url`, env `MAILGRAPH_URL`)
with the admin token (`--admin-token`, env `MAILGRAPH_ADMIN_TOKEN`, else the data dir's
`admin-token` file), so it works against any server, and prints the JSON answer. `wait` exits 1
when nothing matched within `--timeout` (the API's 408), so a shell script can branch on it.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from argparse import Namespace
from pathlib import Path
from typing import Any

from mailgraph.config import Settings

DEFAULTS = Settings()

COMMANDS = ("tenants", "seed", "reset", "messages", "wait", "outbound", "inspect")


class ControlCallError(Exception):
    """The server answered with an error status."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"{status}: {text}")
        self.status = status


def add_workbench_commands(sub: Any) -> None:
    """The workbench's commands (docs/workbench.md)."""

    def common(p: Any) -> Any:
        p.add_argument(
            "--url",
            default=os.environ.get("MAILGRAPH_URL", f"http://127.0.0.1:{DEFAULTS.port}"),
            help="the server (env MAILGRAPH_URL)",
        )
        p.add_argument(
            "--admin-token",
            default=os.environ.get("MAILGRAPH_ADMIN_TOKEN"),
            help="env MAILGRAPH_ADMIN_TOKEN; default: DATA_DIR/admin-token",
        )
        p.add_argument("--data-dir", type=Path, default=DEFAULTS.data_dir, help="where to find admin-token")
        return p

    def filters(p: Any) -> Any:
        p.add_argument("tenant", help="tenant id")
        for name in ("mailbox", "folder", "subject", "from", "to", "internet-message-id", "since"):
            p.add_argument(f"--{name}", dest=name.replace("-", "_"))
        return p

    tenants = common(sub.add_parser("tenants", help="list, create or delete tenants (control API)"))
    tenants.add_argument("action", choices=("list", "create", "delete", "show"))
    tenants.add_argument("tenant", nargs="?", help="tenant id (delete, show)")
    tenants.add_argument("--template", default=None, help="named template (default: default)")
    tenants.add_argument("--name", default=None, help="display name")
    tenants.add_argument("--spec", type=Path, default=None, help="a JSON file with the full tenant body")
    seed = common(sub.add_parser("seed", help="write messages into folders: a JSON file or a .eml"))
    seed.add_argument("tenant")
    seed.add_argument("file", type=Path, help='JSON {"messages": [...]} or a MIME message (.eml)')
    seed.add_argument("--mailbox", default=None, help="for a .eml: the mailbox")
    seed.add_argument("--folder", default="inbox", help="for a .eml: the folder")
    reset = common(sub.add_parser("reset", help="empty a tenant's mailboxes (or re-seed them)"))
    reset.add_argument("tenant")
    reset.add_argument("--to", choices=("empty", "seed"), default="empty")
    filters(common(sub.add_parser("messages", help="messages matching a filter, now")))
    wait = filters(common(sub.add_parser("wait", help="wait for a matching message (exit 1 on timeout)")))
    wait.add_argument("--timeout", type=float, default=10.0)
    wait.add_argument(
        "--outbound", action="store_true", help="wait for outbound (relayed/captured) mail instead"
    )
    filters(common(sub.add_parser("outbound", help="outbound (relayed or captured) mail of a tenant")))
    inspect = common(
        sub.add_parser("inspect", help="what became of a send (draft/sent id or internetMessageId)")
    )
    inspect.add_argument("tenant")
    inspect.add_argument("key")


def run_workbench(args: Namespace) -> int:
    """Run one workbench command; prints JSON. Returns the exit status."""
    token = args.admin_token or _token_file(args.data_dir)
    call = _Caller(args.url.rstrip("/"), token)
    try:
        answer = _dispatch(args, call)
    except ControlCallError as exc:
        print(f"mailgraph: {exc}", file=sys.stderr)
        return 1 if exc.status == 408 else 2
    except urllib.error.URLError as exc:
        print(f"mailgraph: cannot reach {args.url}: {exc.reason}", file=sys.stderr)
        return 2
    if answer is not None:
        print(json.dumps(answer, indent=2))
    return 0


def _dispatch(args: Namespace, call: _Caller) -> Any:
    base = "/_mailgraph/tenants"
    match args.command:
        case "tenants":
            if args.action == "list":
                return call("GET", base)
            if args.action == "create":
                body: dict[str, Any] = json.loads(args.spec.read_text()) if args.spec else {}
                body.update({k: v for k, v in (("template", args.template), ("displayName", args.name)) if v})
                return call("POST", base, body)
            if not args.tenant:
                raise ControlCallError(400, "which tenant?")
            return call("DELETE" if args.action == "delete" else "GET", f"{base}/{args.tenant}")
        case "seed":
            raw = args.file.read_bytes()
            if args.file.suffix.lower() == ".json":
                return call("POST", f"{base}/{args.tenant}/messages", json.loads(raw))
            query = urllib.parse.urlencode({"mailbox": args.mailbox or "", "folder": args.folder})
            return call("POST", f"{base}/{args.tenant}/messages?{query}", raw, content_type="message/rfc822")
        case "reset":
            return call("POST", f"{base}/{args.tenant}/reset", {"to": args.to})
        case "inspect":
            return call("GET", f"{base}/{args.tenant}/sends/{urllib.parse.quote(args.key, safe='')}")
    names = {"from": "from", "internet_message_id": "internetMessageId"}
    params = {names.get(k, k): getattr(args, k) for k in ("mailbox", "folder", "subject", "from", "to", "internet_message_id", "since")
              if getattr(args, k, None)}  # fmt: skip
    kind = "outbound" if args.command == "outbound" or getattr(args, "outbound", False) else "messages"
    if args.command == "wait":
        params["timeout"] = str(args.timeout)
        return call(
            "GET",
            f"{base}/{args.tenant}/{kind}/wait?{urllib.parse.urlencode(params)}",
            timeout=args.timeout + 30,
        )
    return call("GET", f"{base}/{args.tenant}/{kind}?{urllib.parse.urlencode(params)}")


class _Caller:
    def __init__(self, url: str, token: str) -> None:
        self._url, self._token = url, token

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        timeout: float = 60,
    ) -> Any:
        data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self._url + path, data=data, method=method)  # noqa: S310 - the user's URL
        req.add_header("Authorization", f"Bearer {self._token}")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as answer:  # noqa: S310
                payload = answer.read()
        except urllib.error.HTTPError as exc:
            raise ControlCallError(exc.code, exc.read().decode("utf-8", "replace")) from None
        return json.loads(payload) if payload else None


def _token_file(data_dir: Path) -> str:
    path = data_dir / "admin-token"
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        raise SystemExit(f"mailgraph: no --admin-token and no {path}") from None
