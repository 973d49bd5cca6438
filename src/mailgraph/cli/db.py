"""`mailgraph db upgrade [--database URL]`: bring a database's schema to this version's migrations;
`mailgraph db import-blobs`: move a PostgreSQL deployment's blob files into the database (issue 11);
`mailgraph backup DEST` and `mailgraph restore SRC`: a consistent copy of an SQLite data directory, taken
while the server runs, and its way back (store/engines/sqlite_backup.py; docs/reliability.md).

Opening an engine migrates at need (SQLite and PostgreSQL alike, store/migrate.py; several processes
may do it at once), so `serve` upgrades too; this command does it alone, for a deployment step that
runs before the new servers start (e.g. one job against the shared PostgreSQL).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mailgraph.config import Settings
from mailgraph.store.contract import Engine, EngineUrlError
from mailgraph.store.engines import import_blob_files
from mailgraph.store.engines.sqlite_backup import BackupError, backup, restore
from mailgraph.store.engines.urls import sqlite_path
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
    imports = actions.add_parser(
        "import-blobs", help="copy the data dir's blob files into the PostgreSQL database (--blobs db)"
    )
    imports.add_argument(
        "--data-dir", type=Path, default=default_data_dir, help="data directory whose blobs/ to import"
    )
    add_database_option(imports)
    save = sub.add_parser("backup", help="copy the data directory (online, consistent) into DEST")
    save.add_argument("dest", type=Path, help="a directory that does not exist yet (or is empty)")
    save.add_argument("--data-dir", type=Path, default=default_data_dir, help="the data directory to copy")
    add_database_option(save)
    back = sub.add_parser("restore", help="restore a backup into an empty or new data directory")
    back.add_argument("src", type=Path, help="a directory written by `mailgraph backup`")
    back.add_argument(
        "--data-dir", type=Path, default=default_data_dir, help="where to restore (must be empty)"
    )


BACKUP_COMMANDS = ("backup", "restore")


def run_backup(args: argparse.Namespace) -> int:
    """Run `backup` or `restore`; a refusal is one line on stderr and exit status 1."""
    try:
        if args.command == "backup":
            if args.database and not args.database.startswith("sqlite:"):
                raise BackupError(
                    "the database is PostgreSQL: back it up with pg_dump, then copy the data directory's"
                    " blobs/ and keys/ (docs/reliability.md, 'Backup and restore')"
                )
            database = sqlite_path(args.database) if args.database else None
            report = backup(args.data_dir, args.dest, database)
            print(f"backup written to {report.path}: database {report.db_bytes} bytes, {report.files} files,"
                  f" {report.blobs} referenced blobs")  # fmt: skip
        else:
            report = restore(args.src, args.data_dir)
            print(f"restored into {report.path}: {report.files} files, {report.blobs} referenced blobs")
    except (BackupError, OSError) as exc:
        print(f"mailgraph {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


async def run_db(args: argparse.Namespace) -> int:
    """Run a `db` command."""
    engine = await open_engine(Settings(data_dir=args.data_dir, database=args.database))
    try:
        if args.db_command == "import-blobs":
            return await _import_blobs(engine, args.data_dir)
        print(f"{engine.url}: schema at version {schema_version()} ({engine.name})")
    finally:
        await engine.close()
    return 0


async def _import_blobs(engine: Engine, data_dir: Path) -> int:
    """`db import-blobs`: a PostgreSQL deployment from before migration 0034 moves its blob files into
    the database (docs/scaling.md); idempotent, so every host may run it on its own data dir."""
    if not (data_dir / "blobs").is_dir():
        print(f"mailgraph db import-blobs: no blobs/ in {data_dir}", file=sys.stderr)
        return 1
    try:
        imported, present = await import_blob_files(engine, data_dir)
    except EngineUrlError as exc:
        print(f"mailgraph db import-blobs: {exc}", file=sys.stderr)
        return 1
    print(f"{engine.url}: {imported} blobs imported from {data_dir / 'blobs'}, {present} were there already")
    return 0
