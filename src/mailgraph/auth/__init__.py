"""The identity platform: signing keys, access/id/refresh tokens, client and user secrets, Graph permissions.

Modelled on the Microsoft identity platform (spec §4): `oauth` is the token endpoint's logic without
transport (errors in `oauth_errors`, the `scope` parameter in `scopes`), `interactive` and `flows` the
sign-in and device-code halves, `assertions` certificate credentials, `tokens` issues and verifies the
JWTs Graph requests carry (`claims` says what they must contain), `external` accepts another issuer's
tokens, `keys` keeps the RSA signing keys published as JWKS, `passwords` hashes secrets, `permissions`
maps Graph permission names to operations. This package may import `mailgraph.domain` only.
"""
