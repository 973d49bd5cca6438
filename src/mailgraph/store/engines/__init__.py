"""Database engines: connection handling and transactions per database; no business SQL."""
