#!/usr/bin/python3
"""Certificates for the TLS tests, made with python3-cryptography (independent of Sluice's code).

Usage: tls_fixtures.py DIR [--only NAME SERIAL]
Writes into DIR: ca.pem/ca.key (the test CA); server.pem/key (localhost, 127.0.0.1) and
server2.pem/key (the same names, another serial); other.pem/key (other.test, for SNI);
expired.pem/key; wrongname.pem/key (wrong.test); client.pem/key (signed by the CA);
stranger-ca.pem and stranger.pem/key (a client certificate from another CA). Prints a JSON object
of the serials (upper-case hex, as OpenSSL prints them).
With --only NAME SERIAL: writes just NAME.pem/key (localhost, 127.0.0.1) with that serial.
"""

import datetime
import ipaddress
import json
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.timezone.utc)


def key():
    return ec.generate_private_key(ec.SECP256R1())


def write(directory, name, cert, private_key):
    with open(os.path.join(directory, name + ".pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    if private_key is not None:
        with open(os.path.join(directory, name + ".key"), "wb") as f:
            f.write(private_key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))


def ca(common_name):
    k = key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(k.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - datetime.timedelta(days=1))
            .not_valid_after(NOW + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(k, hashes.SHA256()))
    return cert, k


def leaf(issuer, issuer_key, names, serial=None, client=False, expired=False):
    k = key()
    sans = []
    for n in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    after = NOW - datetime.timedelta(days=1) if expired else NOW + datetime.timedelta(days=30)
    before = NOW - datetime.timedelta(days=10)
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(issuer.subject).public_key(k.public_key())
            .serial_number(serial or x509.random_serial_number())
            .not_valid_before(before).not_valid_after(after)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(issuer_key, hashes.SHA256()))
    return cert, k


def main():
    directory = sys.argv[1]
    os.makedirs(directory, exist_ok=True)
    if len(sys.argv) == 5 and sys.argv[2] == "--only":
        with open(os.path.join(directory, "ca.pem"), "rb") as f:
            ca_cert = x509.load_pem_x509_certificate(f.read())
        with open(os.path.join(directory, "ca.key"), "rb") as f:
            ca_key = serialization.load_pem_private_key(f.read(), None)
        cert, k = leaf(ca_cert, ca_key, ["localhost", "127.0.0.1"], serial=int(sys.argv[4], 16))
        write(directory, sys.argv[3], cert, k)
        return
    ca_cert, ca_key = ca("Sluice Test CA")
    write(directory, "ca", ca_cert, ca_key)
    serials = {}
    for name, names, kwargs in [
            ("server", ["localhost", "127.0.0.1"], {}),
            ("server2", ["localhost", "127.0.0.1"], {}),
            ("other", ["other.test"], {}),
            ("expired", ["localhost", "127.0.0.1"], {"expired": True}),
            ("wrongname", ["wrong.test"], {}),
            ("client", ["client.test"], {"client": True})]:
        cert, k = leaf(ca_cert, ca_key, names, **kwargs)
        write(directory, name, cert, k)
        serials[name] = format(cert.serial_number, "X")
    stranger_ca, stranger_key = ca("Stranger CA")
    write(directory, "stranger-ca", stranger_ca, None)
    cert, k = leaf(stranger_ca, stranger_key, ["stranger.test"], client=True)
    write(directory, "stranger", cert, k)
    print(json.dumps(serials))


if __name__ == "__main__":
    main()
