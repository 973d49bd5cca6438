"""Client side of scripts/container/check.sh: talks to a mailgraph running in a container the way a user
would (Graph token + sendMail over HTTP, inbound SMTP), and checks what the script collected from the
container (data-dir permissions, JSON log lines). Standard library only: it runs with the host's python3,
outside the project's virtualenv. Every wait is bounded."""

from __future__ import annotations

import argparse
import json
import smtplib
import socket
import sys
import time
import urllib.parse
import urllib.request
from email.message import EmailMessage
from typing import Any

TENANT = "contoso.com"  # the demo tenant a fresh data dir is seeded with (its banner prints these)
APP = {"client_id": "mailgraph-demo", "client_secret": "demo-secret"}


def _call(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    req = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310 (http, local)
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        body = resp.read()
        return json.loads(body) if body else None


def token(base: str) -> str:
    form = {**APP, "grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default"}
    got = _call(f"{base}/{TENANT}/oauth2/v2.0/token", urllib.parse.urlencode(form).encode())
    return str(got["access_token"])


def send(base: str, to: str, subject: str) -> None:
    """alice sends `subject` to `to` through Graph's sendMail with an app token."""
    message: dict[str, Any] = {"subject": subject}
    message["body"] = {"contentType": "Text", "content": "sent by check.sh"}
    message["toRecipients"] = [{"emailAddress": {"address": to}}]
    headers = {"Authorization": f"Bearer {token(base)}", "Content-Type": "application/json"}
    _call(f"{base}/v1.0/users/alice@{TENANT}/sendMail", json.dumps({"message": message}).encode(), headers)
    print(f"probe: sendMail alice@{TENANT} -> {to}: accepted ({subject!r})")


def inbox(base: str, user: str, subject: str, timeout: float) -> None:
    """Wait until `user`'s inbox holds a message with `subject`."""
    headers = {"Authorization": f"Bearer {token(base)}"}
    url = f"{base}/v1.0/users/{user}/mailFolders/inbox/messages?%24select=subject&%24top=50"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(m["subject"] == subject for m in _call(url, headers=headers)["value"]):
            print(f"probe: {user}'s inbox holds {subject!r}")
            return
        time.sleep(0.5)
    sys.exit(f"probe: {subject!r} not in {user}'s inbox after {timeout:.0f} s")


def smtp(host: str, port: int, to: str, subject: str) -> None:
    """Deliver `subject` to `to` over inbound SMTP (the MX-style listener, no AUTH)."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "someone@example.net", to, subject
    msg.set_content("delivered over SMTP by check.sh")
    with smtplib.SMTP(host, port, timeout=10) as s:
        s.send_message(msg)
    print(f"probe: SMTP {host}:{port} accepted {subject!r} for {to}")


def wait(base: str, timeout: float) -> None:
    """Wait until GET /health answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as resp:  # noqa: S310
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    sys.exit(f"probe: {base}/health did not answer within {timeout:.0f} s")


def free_ports(ports: list[int]) -> None:
    """Fail unless every port can be bound on this host (compose.yaml publishes fixed ports)."""
    for port in ports:
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))  # noqa: S104 (where compose will publish it)
            except OSError as exc:
                sys.exit(f"probe: port {port} is taken ({exc}); compose.yaml publishes it")


def perms(uid: int) -> None:
    """stdin: `find /data -printf '%m %U %y %p\\n'`; the data dir and its dirs 0700, files and pipes
    0600, all owned by `uid`."""
    bad, n = [], 0
    for line in sys.stdin:
        mode, owner, kind, path = line.split(maxsplit=3)
        n += 1
        want = "700" if kind == "d" else "600"
        if mode != want or int(owner) != uid:
            bad.append(f"{path.strip()}: mode {mode} owner {owner} (want {want}, {uid})")
    if bad or n == 0:
        sys.exit("probe: data dir permissions:\n  " + "\n  ".join(bad or ["nothing listed"]))
    print(f"probe: {n} entries under the data dir, dirs 0700, files 0600, owner {uid}")


def json_lines() -> None:
    """stdin: a container's log; every non-empty line must be one JSON object (MAILGRAPH_LOG_FORMAT=json)."""
    lines = [line for line in sys.stdin if line.strip()]
    for line in lines:
        try:
            assert isinstance(json.loads(line), dict)
        except (ValueError, AssertionError):
            sys.exit(f"probe: a log line is not a JSON object: {line.rstrip()}")
    if not lines:
        sys.exit("probe: empty log")
    print(f"probe: {len(lines)} log lines, each a JSON object")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("send")
    a.add_argument("base"), a.add_argument("to"), a.add_argument("subject")
    a = sub.add_parser("inbox")
    a.add_argument("base"), a.add_argument("user"), a.add_argument("subject")
    a.add_argument("--timeout", type=float, default=30)
    a = sub.add_parser("smtp")
    a.add_argument("host"), a.add_argument("port", type=int), a.add_argument("to"), a.add_argument("subject")
    a = sub.add_parser("wait")
    a.add_argument("base"), a.add_argument("--timeout", type=float, default=60)
    a = sub.add_parser("free-ports")
    a.add_argument("ports", type=int, nargs="+")
    a = sub.add_parser("perms")
    a.add_argument("uid", type=int)
    sub.add_parser("json-lines")
    args = p.parse_args()
    match args.cmd:
        case "send":
            send(args.base, args.to, args.subject)
        case "inbox":
            inbox(args.base, args.user, args.subject, args.timeout)
        case "smtp":
            smtp(args.host, args.port, args.to, args.subject)
        case "wait":
            wait(args.base, args.timeout)
        case "free-ports":
            free_ports(args.ports)
        case "perms":
            perms(args.uid)
        case "json-lines":
            json_lines()


if __name__ == "__main__":
    main()
