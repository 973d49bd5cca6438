"""Row counts of every table of the store (the delete test compares them before and after)."""

from __future__ import annotations

from mailgraph.wiring import Runtime


async def row_counts(runtime: Runtime) -> dict[str, int]:
    """`{table: rows}` for every table but the migration record (SQLite or PostgreSQL)."""
    import sqlite3

    if runtime.engine.name == "postgres":
        import asyncpg

        con = await asyncpg.connect(runtime.engine.url)  # the test server trusts local connections
        try:
            names = await con.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            return {
                r[0]: int(await con.fetchval(f'SELECT COUNT(*) FROM "{r[0]}"'))
                for r in names
                if r[0] != "schema_version"
            }
        finally:
            await con.close()

    path = runtime.data_dir / "mailgraph.db"
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            t: db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]
            for t in tables
            if t != "schema_version"
        }
