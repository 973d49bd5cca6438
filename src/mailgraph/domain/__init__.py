"""Mail rules: no HTTP, no SMTP wire format, no SQL."""
