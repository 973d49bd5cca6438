"""The identity platform: signing keys, access/id tokens, client and user secrets, Graph permissions.

Modelled on the Microsoft identity platform (spec §4): `oauth` is the token endpoint's logic without
transport, `tokens` issues and verifies the JWTs Graph requests carry, `keys` keeps the RSA signing keys
published as JWKS, `passwords` hashes secrets, `permissions` maps Graph permission names to operations.
This package may import `mailgraph.domain` only.
"""
