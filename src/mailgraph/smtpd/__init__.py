"""Inbound SMTP (aiosmtpd): the listeners (server), the command hooks (handler), the reply map (replies).

aiosmtpd is imported only inside this package; the mail rules live in `domain.inbound`.
"""
