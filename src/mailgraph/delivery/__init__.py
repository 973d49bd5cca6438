"""Outbound delivery after commit: retry policy, SMTP relay client, queue worker, bounces, queue admin."""
