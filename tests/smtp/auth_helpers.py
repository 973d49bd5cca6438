"""Credentials of the test tenant (tests/tenant.toml) used by the SMTP AUTH tests."""

ALICE_PASSWORD = "alice-Passw0rd"
