"""Graph over HTTP: translation between HTTP and the domain only (raw ASGI, see docs/architecture.md)."""
