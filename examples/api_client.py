"""What an API client keeps and does for OAuth 2.0 client credentials with private_key_jwt
(RFC 7523): its own Ed25519 key pair, whose public half it registers with Mandate as a JWK,
and, for each token request, a short-lived assertion signed with the private half.

    .venv/bin/python examples/api_client.py new-key KEY_FILE KID
        writes the private key (PEM) to KEY_FILE and prints the public key as a JWK Set
    .venv/bin/python examples/api_client.py assertion KEY_FILE KID CLIENT_ID TOKEN_ENDPOINT
        prints a signed client assertion: iss and sub the client id, aud the token endpoint
        (as the authorization server's metadata names it), valid 60 seconds, a fresh jti

Only cryptography and PyJWT (both in .venv). Mandate never sees the private key.
"""

from __future__ import annotations

import base64
import json
import secrets
import sys
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# An assertion is signed for one token request: Mandate refuses one valid for over 5 minutes.
LIFETIME_SECONDS = 60


def new_key(key_file: Path, kid: str) -> dict[str, object]:
    """Make the key pair, keep the private key (readable by its owner only), and answer the
    public key as the JWK Set to register (RFC 8037: kty OKP, crv Ed25519)."""
    private = Ed25519PrivateKey.generate()
    key_file.touch(mode=0o600)
    key_file.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA"}]}


def assertion(key_file: Path, kid: str, client_id: str, token_endpoint: str) -> str:
    """A client assertion (RFC 7523 section 3), its header naming the key that signed it."""
    private = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_endpoint,
        "iat": now,
        "exp": now + LIFETIME_SECONDS,
        # Single use: Mandate keeps each jti until the assertion expires and refuses it again.
        "jti": secrets.token_urlsafe(16),
    }
    return jwt.encode(claims, private, algorithm="EdDSA", headers={"kid": kid})  # type: ignore[arg-type]


def main(argv: list[str]) -> int:
    match argv:
        case ["new-key", key_file, kid]:
            print(json.dumps(new_key(Path(key_file), kid)))
        case ["assertion", key_file, kid, client_id, token_endpoint]:
            print(assertion(Path(key_file), kid, client_id, token_endpoint))
        case _:
            print(__doc__, file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
