"""Storage: the only package with SQL or a database driver. Implements `domain.ports`."""
