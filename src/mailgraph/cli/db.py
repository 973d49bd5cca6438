"""`mailgraph db upgrade [--database URL]`: bring a database's schema to this version's migrations.

Opening an engine migrates at need (SQLite and PostgreSQL alike, store/migrate.py; several processes
may do it at once), so `serve` upgrades too; this command does it alone, for a deployment step that
runs before the new servers start (e.g. one job against the shared PostgreSQL).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mailgraph.config import Settings
from mailgraph.wiring import open_engine, schema_version


def add_db_commands(sub: Any, add_database_option: Any, default_data_dir: Path) -> None:
    """Register `db upgrade`."""
    db = sub.add_parser("db", help="database schema")
    actions = db.add_subparsers(dest="db_command", required=True)
    upgrade = actions.add_parser("upgrade", help="apply pending schema migrations, then exit")
    upgrade.add_argument(
        "--data-dir", type=Path, default=default_data_dir, help="data directory (SQLite default)"
    )
    add_database_option(upgrade)


async def run_db(args: argparse.Namespace) -> int:
    """Run a `db` command."""
    engine = await open_engine(Settings(data_dir=args.data_dir, database=args.database))
    try:
        print(f"{engine.url}: schema at version {schema_version()} ({engine.name})")
    finally:
        await engine.close()
    return 0
