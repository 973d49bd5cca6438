"""RFC 5322 / MIME for messages: `compose` (item → bytes), `parse` (bytes → item fields), bounded.

Built on the standard library `email` package (policy `SMTP`/`SMTPUTF8`); nothing here hand-rolls
MIME syntax. The package sits beside `mailgraph.domain` (it imports the model and the errors; domain
modules may import it).
"""
