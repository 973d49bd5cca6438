"""Graph `user` JSON (issue 15): the default property set, `$select`, and the basic set.

Without `$select` Graph returns businessPhones, displayName, givenName, jobTitle, mail, mobilePhone,
officeLocation, preferredLanguage, surname, userPrincipalName and id (user-get.md, "default
properties"); unset values are null (`businessPhones` an empty list). With User.ReadBasic.All only,
another user's object carries the basic properties alone (id, displayName, givenName, surname, mail,
userPrincipalName; permissions reference): the rest is left out, never invented.
"""

from __future__ import annotations

from typing import Any

from mailgraph.domain.model import User

DEFAULT = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)
BASIC = frozenset({"id", "displayName", "givenName", "surname", "mail", "userPrincipalName"})


def user_json(u: User, select: tuple[str, ...] | None = None, basic_only: bool = False) -> dict[str, Any]:
    """A user as Graph returns it: the default set, or `select` (`id` always)."""
    p = u.profile
    values: dict[str, Any] = {
        "businessPhones": list(p.business_phones),
        "displayName": u.display_name,
        "givenName": p.given_name,
        "jobTitle": p.job_title,
        "mail": u.mail,
        "mobilePhone": p.mobile_phone,
        "officeLocation": p.office_location,
        "preferredLanguage": p.preferred_language,
        "surname": p.surname,
        "userPrincipalName": u.user_principal_name,
        "id": u.id,
        "accountEnabled": u.account_enabled,
    }
    names = DEFAULT if select is None else (*select, *(() if "id" in select else ("id",)))
    return {n: values[n] for n in names if not basic_only or n in BASIC}
