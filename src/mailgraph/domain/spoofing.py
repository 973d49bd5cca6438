"""Anonymous mail that claims a hosted domain: marked, filed in Junk Email, or refused (issue 17, defect 5).

An unauthenticated SMTP client (the inbound listener) can write any MAIL FROM and any From header. Mail
that claims one of this server's own domains but did not authenticate is what Exchange Online calls
intra-org spoofing: it fails composite authentication (`compauth=fail`, reason 6xx: "the sender domain
is one of your organization's accepted domains", learn.microsoft.com "Anti-spam message headers") and
is not internal mail (`X-MS-Exchange-Organization-AuthAs: Anonymous`, not `Internal`). Here it is:

- marked with those two headers (first after the `Received:` trace, visible in internetMessageHeaders);
- filed by the recipient tenant's policy (`Tenant.spoofed_mail`, tenant file `spoofedInternalMail`):
  `junk` (the default, as Exchange's spoof intelligence moves it to Junk Email), `inbox` (for test rigs
  that inject mail as a hosted user over plain SMTP), or `reject` (`SpoofedSenderError`: 550 5.7.1).

Whatever the policy, received headers that only this server may set (`X-MS-Exchange-Organization-*`,
and a client's own `Authentication-Results` for our authserv-id) are dropped from anonymous mail, as
Exchange's header firewall does: otherwise a client could write `AuthAs: Internal` itself.

Mail from domains we do not host, and authenticated submission, are not affected.
"""

from __future__ import annotations

from typing import Final, Literal

from mailgraph.domain.addresses import domain_of
from mailgraph.domain.errors import AccessDeniedError
from mailgraph.domain.model import InternetMessageHeader, Tenant
from mailgraph.domain.ports import Tx

SpoofPolicy = Literal["junk", "inbox", "reject"]
POLICIES: Final[tuple[SpoofPolicy, ...]] = ("junk", "inbox", "reject")
DEFAULT_POLICY: Final[SpoofPolicy] = "junk"
# compauth reason 601: implicit authentication failed and the sender domain is an accepted domain of
# the organization (intra-org spoofing; Exchange's 6xx class).
REASON: Final = "601"
_FIREWALLED: Final = "x-ms-exchange-organization-"


class SpoofedSenderError(AccessDeniedError):
    """Anonymous mail as a hosted domain, for a tenant whose policy is `reject` (550 5.7.1)."""

    def __init__(self, domain: str) -> None:
        super().__init__(
            f"Anonymous mail claiming the hosted domain '{domain}' is refused; "
            "authenticate (SMTP submission) to send as this domain."
        )
        self.domain = domain


def policy(tenant: Tenant | None) -> SpoofPolicy:
    """The tenant's policy (the default when the recipient's tenant is unknown)."""
    value = tenant.spoofed_mail if tenant is not None else DEFAULT_POLICY
    return value if value in POLICIES else DEFAULT_POLICY


async def hosted_claim(tx: Tx, envelope_from: str, header_from: str) -> str | None:
    """The hosted domain the message claims (From header first, then MAIL FROM), or None.

    Both count: Exchange checks the From header (the address a reader sees, DMARC's identifier) and
    the envelope sender (SPF's). The null reverse-path (`MAIL FROM:<>`, bounces) claims nothing.
    """
    for address in (header_from, envelope_from):
        if "@" not in address:
            continue
        domain = domain_of(address)
        if await tx.directory.tenant_for_domain(domain) is not None:
            return domain
    return None


def marks(
    authserv_id: str, client_ip: str, envelope_from: str, header_from: str
) -> list[InternetMessageHeader]:
    """The headers Exchange Online writes on anonymous mail that failed composite authentication.

    RFC 8601 `Authentication-Results`: no SPF record is published for a hosted domain here and the
    message is not signed, so SPF/DKIM/DMARC are `none` and the composite verdict is `fail`.
    """
    mail_domain = domain_of(envelope_from) if "@" in envelope_from else "none"
    from_domain = domain_of(header_from) if "@" in header_from else mail_domain
    results = (
        f"{authserv_id}; spf=none (sender IP is {client_ip}) smtp.mailfrom={mail_domain};"
        " dkim=none (message not signed) header.d=none;"
        f" dmarc=none action=none header.from={from_domain}; compauth=fail reason={REASON}"
    )
    return [
        InternetMessageHeader("Authentication-Results", results),
        InternetMessageHeader("X-MS-Exchange-Organization-AuthAs", "Anonymous"),
    ]


def firewall(headers: list[InternetMessageHeader], authserv_id: str) -> list[InternetMessageHeader]:
    """Received headers without those only this server may write (Exchange's header firewall)."""
    own = authserv_id.casefold()
    return [
        h
        for h in headers
        if not h.name.casefold().startswith(_FIREWALLED)
        and not (
            h.name.casefold() == "authentication-results"
            and h.value.strip().split(";", 1)[0].strip().casefold() == own
        )
    ]
