"""mailgraph: a self-hostable mail server that speaks the Microsoft Graph mail API."""

__version__ = "0.1.0"
