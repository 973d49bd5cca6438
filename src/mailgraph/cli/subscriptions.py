"""Command line of change notifications: `serve`'s webhook options and `mailgraph subscriptions …`.

mailgraph serve --webhooks-https-only          accept only https notification URLs (Graph's rule)
mailgraph serve --webhooks-allow-link-local    allow 169.254.0.0/16, fe80::/10, fd00:ec2::254 receivers
mailgraph serve --webhooks-ca-file CA.pem      verify receivers' https against this CA (default: system)
mailgraph serve --webhooks-insecure            do not verify receivers' https certificates
mailgraph subscriptions list                   every subscription, and the notification outbox counts
mailgraph subscriptions show ID                one subscription as JSON
mailgraph subscriptions delete ID              remove it (subscriptionRemoved goes to its lifecycle URL)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mailgraph.api.admin import subscription_admin_json
from mailgraph.cli.delivery import add_database_option
from mailgraph.config import Settings
from mailgraph.delivery.policy import parse_schedule
from mailgraph.delivery.subscriptions_admin import SubscriptionAdmin
from mailgraph.wiring import clock, open_engine

DEFAULTS = Settings()


def _schedule(value: str) -> tuple[float, ...]:
    try:
        return parse_schedule(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _batch(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return value


def add_webhook_options(parser: argparse.ArgumentParser) -> None:
    """The change-notification options of `serve` (docs/change-tracking.md)."""
    parser.add_argument("--webhooks-https-only", action="store_true", help="only https notification URLs")
    parser.add_argument(
        "--webhooks-allow-link-local", action="store_true", help="allow link-local/metadata receivers"
    )
    parser.add_argument("--webhooks-ca-file", type=Path, default=None, help="CA bundle for receivers' https")
    parser.add_argument("--webhooks-insecure", action="store_true", help="skip receivers' https verification")
    parser.add_argument(
        "--webhook-retry-schedule",
        type=_schedule,
        default=DEFAULTS.webhook_retry_schedule,
        help="seconds between notification retries, the last repeating (default: 10,60,300,600)",
    )
    parser.add_argument(
        "--webhook-max-age", type=float, default=DEFAULTS.webhook_max_age_s, help="retry window in seconds"
    )
    parser.add_argument(
        "--webhook-batch",
        type=_batch,
        default=DEFAULTS.webhook_batch,
        help="notifications per POST at most, one URL and tenant each (default: 1000)",
    )
    parser.add_argument(
        "--webhook-reauth-lead",
        type=float,
        default=DEFAULTS.webhook_reauth_lead_s,
        help="seconds before token expiry that reauthorizationRequired is sent (default: 600)",
    )


def webhook_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The Settings fields the webhook options set."""
    return {
        "webhooks_https_only": args.webhooks_https_only,
        "webhooks_allow_link_local": args.webhooks_allow_link_local,
        "webhooks_ca_file": args.webhooks_ca_file,
        "webhooks_verify": not args.webhooks_insecure,
        "webhook_retry_schedule": args.webhook_retry_schedule,
        "webhook_max_age_s": args.webhook_max_age,
        "webhook_reauth_lead_s": args.webhook_reauth_lead,
        "webhook_batch": args.webhook_batch,
    }


def add_subscription_commands(sub: Any) -> None:
    """`mailgraph subscriptions list|show|delete`."""
    parser = sub.add_parser("subscriptions", help="inspect and remove change-notification subscriptions")
    commands = parser.add_subparsers(dest="subscriptions_command", required=True)
    listing = commands.add_parser("list", help="list subscriptions and the notification outbox counts")
    show = commands.add_parser("show", help="one subscription as JSON")
    show.add_argument("id")
    delete = commands.add_parser("delete", help="remove a subscription (its app gets subscriptionRemoved)")
    delete.add_argument("id")
    for p in (listing, show, delete):
        p.add_argument("--data-dir", type=Path, default=DEFAULTS.data_dir, help="database, keys and state")
        add_database_option(p)  # env MAILGRAPH_DATABASE too, like every other store command


async def run_subscriptions(args: argparse.Namespace) -> int:
    """Run `mailgraph subscriptions …`."""
    engine = await open_engine(Settings(data_dir=args.data_dir, database=args.database))
    admin = SubscriptionAdmin(engine, clock)
    try:
        if args.subscriptions_command == "list":
            subs = await admin.list_all()
            print(f"{'id':36}  {'expires':20}  {'changeType':22}  {'resource':40}  notificationUrl")
            for s in subs:
                row = subscription_admin_json(s)
                print(
                    f"{s.id:36}  {str(row['expirationDateTime'])[:19]:20}  {row['changeType']!s:22}  "
                    f"{s.resource[:40]:40}  {s.notification_url}"
                )
            counts = await admin.counts()
            print(
                f"{len(subs)} subscription(s); notifications pending {counts['pending']}, failed {counts['failed']}"
            )
        elif args.subscriptions_command == "show":
            found = await admin.show(args.id)
            if found is None:
                print(f"mailgraph: no subscription {args.id!r}", file=sys.stderr)
                return 1
            print(json.dumps(subscription_admin_json(found), indent=2))
        else:
            if not await admin.delete(args.id):
                print(f"mailgraph: no subscription {args.id!r}", file=sys.stderr)
                return 1
            print(f"subscription {args.id} deleted")
    finally:
        await engine.close()
    return 0
