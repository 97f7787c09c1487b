"""The tests' own phone-key secret and an HMAC computed here, independently of the app's PhoneKeyer:
an expectation about a keyed marker never comes from the code that writes it."""

from __future__ import annotations

import hashlib
import hmac

# Every service the tests build through conftest gets this secret, as Azure's get theirs from Key Vault.
TEST_PHONE_KEY_SECRET = "tests-only phone key secret, 40 bytes!!"
# Development's published key (shared/core/phone.py), written out again here rather than imported.
DEVELOPMENT_PHONE_KEY_SECRET = "gruppstart-development-phone-key-not-for-production"


def hmac_key(e164: str, secret: str = TEST_PHONE_KEY_SECRET) -> str:
    """HMAC-SHA256 of the E.164 number under `secret`, hex: what a keyed marker must be."""
    return hmac.new(secret.encode("utf-8"), e164.encode("utf-8"), hashlib.sha256).hexdigest()
