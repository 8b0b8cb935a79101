#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""An APK whose v2 and v3 signer certificate is a given certificate.

    apk_with_signer.py UNSIGNED.apk CERT.pem OUT.apk

Inserts an APK Signing Block (APK Signature Scheme v2 and v3 blocks, one
signer each: the certificate, its public key) before the central directory
of UNSIGNED.apk and moves the End of Central Directory's offset. The
digests and signatures in it are zeros: `smkey verify --apk` reads who the
signers are, not whether they signed (apksigner verify rejects this APK),
so the test can hold an APK whose signer is a key only the card can use.
"""
import struct
import sys

from cryptography import x509
from cryptography.hazmat.primitives import serialization

V2, V3 = 0x7109871A, 0xF05368C0


def lp(b):
    return struct.pack("<I", len(b)) + b


def signer(cert, spki, v3):
    digest = lp(struct.pack("<I", 0x0201) + lp(bytes(32)))
    signed = lp(lp(digest)) + lp(lp(cert))
    sdk = struct.pack("<II", 24, 0x7FFFFFFF) if v3 else b""
    signed += sdk + lp(b"")
    sig = lp(struct.pack("<I", 0x0201) + lp(bytes(64)))
    return lp(lp(signed) + sdk + lp(lp(sig)) + lp(spki))


def main():
    unsigned, cert_path, out = sys.argv[1:4]
    with open(cert_path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    der = cert.public_bytes(serialization.Encoding.DER)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pairs = b""
    for block_id, v3 in ((V2, False), (V3, True)):
        value = lp(signer(der, spki, v3))
        pairs += struct.pack("<QI", len(value) + 4, block_id) + value
    size = len(pairs) + 24
    block = struct.pack("<Q", size) + pairs + struct.pack("<Q", size) + b"APK Sig Block 42"
    with open(unsigned, "rb") as f:
        apk = f.read()
    eocd = apk.rindex(b"PK\x05\x06")
    (cd,) = struct.unpack_from("<I", apk, eocd + 16)
    new = bytearray(apk[:cd] + block + apk[cd:])
    struct.pack_into("<I", new, eocd + len(block) + 16, cd + len(block))
    with open(out, "wb") as f:
        f.write(new)


if __name__ == "__main__":
    main()
