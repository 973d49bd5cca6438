"""Row counts of every table of the store (the delete test compares them before and after)."""

from __future__ import annotations

from mailgraph.wiring import Runtime


async def row_counts(runtime: Runtime) -> dict[str, int]:
    """`{table: rows}` for every table but the migration record."""
    import sqlite3

    path = runtime.data_dir / "mailgraph.db"
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            t: db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]
            for t in tables
            if t != "schema_version"
        }
