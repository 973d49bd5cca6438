"""Secret hashing: scrypt round trips, random salts, and malformed stored hashes never raise."""

from __future__ import annotations

import time

import pytest

from mailgraph.auth.passwords import hash_secret, verify_secret


def test_round_trip() -> None:
    stored = hash_secret("correct horse battery staple")
    assert verify_secret("correct horse battery staple", stored)
    assert not verify_secret("correct horse battery stapler", stored)
    assert not verify_secret("", stored)


def test_format_is_self_describing_with_random_salt() -> None:
    a, b = hash_secret("same"), hash_secret("same")
    assert a != b
    scheme, n, r, p, salt, digest = a.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**14), "8", "1")
    assert salt and digest


@pytest.mark.parametrize("plain", ["", " leading and trailing ", "pässwörd ✓", "x" * 1000])
def test_unusual_secrets(plain: str) -> None:
    assert verify_secret(plain, hash_secret(plain))


def test_other_parameters_are_read_from_the_stored_form() -> None:
    import base64
    import hashlib

    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"pw", salt=salt, n=2**10, r=4, p=2, dklen=32)
    stored = f"scrypt${2**10}$4$2${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    assert verify_secret("pw", stored)
    assert not verify_secret("pw2", stored)


VALID = hash_secret("pw")


# ids by position: the cases hold a random salt, and pytest-xdist needs the same ids in every worker.
MALFORMED = [
    "",
    "pw",
    "$$$$$",
    "argon2$16384$8$1$AAAA$AAAA",
    VALID.replace("scrypt", "SCRYPT"),
    VALID + "$extra",
    VALID.rsplit("$", 1)[0],
    VALID.replace("$16384$", "$15000$"),  # N not a power of two
    VALID.replace("$16384$", "$0$"),
    VALID.replace("$16384$", "$x$"),
    VALID.replace("$8$1$", "$0$1$"),
    VALID.replace("$8$1$", "$8$0$"),
    VALID.replace("$8$1$", "$-8$1$"),
    VALID.rsplit("$", 1)[0] + "$not base64!",
    VALID.rsplit("$", 1)[0] + "$",
    VALID.rsplit("$", 2)[0] + "$$" + VALID.rsplit("$", 1)[1],  # empty salt
    VALID.rsplit("$", 1)[0] + "$QUFB",  # 3-byte hash: too short to be ours
]


@pytest.mark.parametrize("stored", MALFORMED, ids=[f"case{i}" for i in range(len(MALFORMED))])
def test_malformed_stored_hash_is_false(stored: str) -> None:
    assert verify_secret("pw", stored) is False


def test_huge_cost_parameters_are_refused_quickly() -> None:
    # A corrupt or hostile stored hash must not make one check allocate gigabytes or run for minutes.
    start = time.perf_counter()
    assert not verify_secret("pw", VALID.replace("$16384$", f"${2**24}$"))
    assert not verify_secret("pw", VALID.replace("$8$1$", "$8$1000$"))
    assert time.perf_counter() - start < 0.5


def test_surrogate_in_secret_is_false_not_error() -> None:
    assert verify_secret("\udcff", VALID) is False
