#!/usr/bin/python3
"""Keys and tokens for auth_test, made by an implementation independent of Sluice's (PyJWT and
python3-cryptography, Debian packages).

Usage: jwt_fixtures.py OUT_DIR. Writes OUT_DIR/jwks.json (the public keys), OUT_DIR/rotated.json
(those plus a key the identity provider adds later) and prints a JSON object of named tokens.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import sys
import time

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(obj):
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def public_jwk(key, kid):
    jwk = json.loads(jwt.algorithms.get_default_algorithms()[ALG_OF_KID[kid]].to_jwk(key.public_key()))
    jwk["kid"] = kid
    return jwk


out = sys.argv[1]
now = int(time.time())
if len(sys.argv) == 5 and sys.argv[2] == "--verify":
    # Verifies a compact token with the public key set made earlier; prints its claims.
    with open(os.path.join(out, "jwks.json")) as f:
        keys = json.load(f)["keys"]
    token = sys.argv[4]
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWK(next(k for k in keys if k["kid"] == kid), algorithm=sys.argv[3])
    print(json.dumps(jwt.decode(token, key.key, algorithms=[sys.argv[3]],
                                options={"verify_aud": False})))
    sys.exit(0)
if len(sys.argv) == 4 and sys.argv[2] == "--expiring-in":
    # A token from the RSA key made earlier, expiring N seconds from now.
    with open(os.path.join(out, "rsa.pem"), "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    print(jwt.encode({"sub": "bob", "exp": now + int(sys.argv[3])}, key, algorithm="RS256",
                     headers={"kid": "rsa"}))
    sys.exit(0)
rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
rotated_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
with open(os.path.join(out, "rsa.pem"), "wb") as f:
    f.write(rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


def ec_key(curve, size):
    # PyJWT 2.6 writes coordinates without leading zero bytes and then refuses to read them
    # back: keep to keys whose coordinates have their full size.
    while True:
        key = ec.generate_private_key(curve)
        numbers = key.public_key().public_numbers()
        if numbers.x.bit_length() > 8 * (size - 1) and numbers.y.bit_length() > 8 * (size - 1):
            return key


ec_keys = {"ec256": ec_key(ec.SECP256R1(), 32), "ec384": ec_key(ec.SECP384R1(), 48),
           "ec521": ec_key(ec.SECP521R1(), 66)}
ed_key = ed25519.Ed25519PrivateKey.generate()
secret = os.urandom(32)

ALG_OF_KID = {"rsa": "RS256", "rotated": "RS256", "ec256": "ES256", "ec384": "ES384",
              "ec521": "ES512", "ed": "EdDSA"}
# A self-signed certificate for the RSA key: its JWK carries it in x5c (standard base64), so
# tokens may name the key by the certificate's thumbprint (x5t, x5t#S256).
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.test")])
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(rsa_key.public_key()).serial_number(1)
        .not_valid_before(datetime.datetime(2020, 1, 1))
        .not_valid_after(datetime.datetime(2040, 1, 1))
        .sign(rsa_key, hashes.SHA256()))
der = cert.public_bytes(serialization.Encoding.DER)
rsa_jwk = public_jwk(rsa_key, "rsa")
rsa_jwk["x5c"] = [base64.b64encode(der).decode()]
keys = [rsa_jwk] + [public_jwk(k, kid) for kid, k in ec_keys.items()]
ed_jwk = {"kty": "OKP", "crv": "Ed25519", "kid": "ed",
          "x": b64(ed_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                    serialization.PublicFormat.Raw))}
keys.append(ed_jwk)
keys.append({"kty": "oct", "kid": "hs", "k": b64(secret)})
with open(os.path.join(out, "jwks.json"), "w") as f:
    json.dump({"keys": keys}, f)
def private_jwk(key, alg, kid):
    jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key))
    jwk["kid"] = kid
    return jwk


with open(os.path.join(out, "private.json"), "w") as f:
    json.dump({"keys": [private_jwk(rsa_key, "RS256", "rsa"),
                        private_jwk(ec_keys["ec256"], "ES256", "ec256"),
                        private_jwk(ed_key, "EdDSA", "ed"),
                        {"kty": "oct", "kid": "hs", "k": b64(secret)}]}, f)
with open(os.path.join(out, "rotated.json"), "w") as f:
    json.dump({"keys": keys + [public_jwk(rotated_key, "rotated")]}, f)

claims = {"sub": "alice", "iss": "https://idp.test", "aud": ["api", "other"], "exp": now + 3600,
          "iat": now - 10, "roles": ["user"], "scope": "read write",
          "realm_access": {"roles": ["admin", "ops"]}, "http://example.com/tenant": "acme",
          "n": 42, "f": 1.5, "groups": ["a", "b"], "flag": True}
signers = {"HS": (secret, "hs"), "RS": (rsa_key, "rsa"), "PS": (rsa_key, "rsa")}
tokens = {}
for family in ("HS", "RS", "PS", "ES"):
    for bits in ("256", "384", "512"):
        alg = family + bits
        if family == "ES":
            kid = {"256": "ec256", "384": "ec384", "512": "ec521"}[bits]
            key = ec_keys[kid]
        else:
            key, kid = signers[family]
        tokens[alg] = jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})
tokens["EdDSA"] = jwt.encode(claims, ed_key, algorithm="EdDSA", headers={"kid": "ed"})


def rs256(extra=None, drop=(), kid="rsa", key=rsa_key):
    c = dict(claims)
    c.update(extra or {})
    for k in drop:
        c.pop(k, None)
    return jwt.encode(c, key, algorithm="RS256", headers={"kid": kid})


tokens["expired"] = rs256({"exp": now - 60})
tokens["expired_30s_ago"] = rs256({"exp": now - 30})
tokens["not_yet"] = rs256({"nbf": now + 600})
tokens["issued_in_future"] = rs256({"iat": now + 600})
tokens["no_exp"] = rs256(drop=("exp",))
tokens["exp_string"] = rs256({"exp": "tomorrow"})
tokens["wrong_issuer"] = rs256({"iss": "https://evil.test"})
tokens["wrong_audience"] = rs256({"aud": "other"})
tokens["audience_string"] = rs256({"aud": "api"})
tokens["not_admin"] = rs256({"realm_access": {"roles": ["user"]}})
tokens["read_only"] = rs256({"scope": "read"})
tokens["no_kid"] = jwt.encode(claims, rsa_key, algorithm="RS256")
tokens["rotated"] = rs256(kid="rotated", key=rotated_key)
tokens["wrong_key_same_kid"] = rs256(key=rotated_key)
# A valid token's signature over someone else's claims.
head, _, sig = tokens["RS256"].split(".")
tokens["tampered"] = ".".join([head, b64json(dict(claims, sub="mallory")), sig])
# alg none: no signature at all.
tokens["none"] = b64json({"alg": "none", "kid": "rsa"}) + "." + b64json(claims) + "."
# Algorithm confusion: HS256 keyed with the RSA public key's PEM, naming the RSA key.
pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
signing_input = b64json({"alg": "HS256", "typ": "JWT", "kid": "rsa"}) + "." + b64json(claims)
tokens["confusion"] = signing_input + "." + b64(
    hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())
# ES256 signed with the P-256 key but naming the P-384 key.
tokens["curve_mismatch"] = jwt.encode(claims, ec_keys["ec256"], algorithm="ES256",
                                      headers={"kid": "ec384"})
tokens["x5t"] = jwt.encode(claims, rsa_key, algorithm="RS256", headers={
    "kid": "not-a-kid", "x5t": b64(hashlib.sha1(der).digest())})
tokens["x5t_s256"] = jwt.encode(claims, rsa_key, algorithm="RS256", headers={
    "kid": "not-a-kid", "x5t#S256": b64(hashlib.sha256(der).digest())})
tokens["flood"] = [rs256(kid="random-%d" % i) for i in range(200)]
print(json.dumps(tokens))
