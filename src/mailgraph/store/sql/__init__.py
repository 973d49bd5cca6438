"""SQL written once, in the portable subset of SQLite and PostgreSQL (`?` placeholders)."""
