#!/usr/bin/env python3
"""make-v2-vectors.py - the version 2 test vectors, from the byte table alone.

An encoder written from docs/indicium.md independently of src/domain/indicium.c,
so that the C encoder is checked against a second reading of the table. Signs
each body with the TEST-ONLY key (openssl command line) and prints the vector
blocks of tests/vectors/indicium-v2-vectors.txt. ECDSA is randomised: running
it again gives other (equally valid) signatures and the same bodies.
Python 3 standard library and openssl only.
"""
import datetime
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = os.path.join(HERE, "indicium-test-key.pem")
B40 = "\0ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"
CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"

VECTORS = [
    dict(name="v2-first-class-letter", flags=0, vendor=0xFE, model=1, device_id=1001,
         key_id=7, serial=1, ascending=730, descending=499270, postage=730,
         mail_date="20250714", mail_class=1, services=0, weight=10, from_zip="10001",
         to_zip="94105", license="PV-TEST-0001", software_id="STAMPD01", medium_serial="",
         piece="ind_0123456789abcdefghjk"),
    dict(name="v2-zip4-medium-certified-postcard", flags=0, vendor=0xFE, model=1,
         device_id=1002, key_id=8, serial=4242, ascending=3093260, descending=6906740,
         postage=560, mail_date="20251103", mail_class=2, services=3, weight=2,
         from_zip="02134", to_zip="606611234", license="PV-TEST-0001", software_id="STAMPD01",
         medium_serial="B00042-S000017-L03-7KQ2", piece=""),
    dict(name="v2-test-piece-edges", flags=1, vendor=0, model=0xFF, device_id=4294967294,
         key_id=16909060, serial=4294967295, ascending=2**48 - 1, descending=2**40 - 1,
         postage=2**24 - 1, mail_date="20991231", mail_class=3, services=7, weight=65535,
         from_zip="00601", to_zip="99950", license="Z9-Z9-Z9-Z9-Z9-Z", software_id="TEST-SW",
         medium_serial="M" * 31 + "-", piece="ff" * 16),
]


def packed(text):
    out = bytes([len(text)])
    codes = [B40.index(c) for c in text]
    while len(codes) % 3:
        codes.append(0)
    for i in range(0, len(codes), 3):
        out += (codes[i] * 1600 + codes[i + 1] * 40 + codes[i + 2]).to_bytes(2, "big")
    return out


def piece_bytes(p):
    if p.startswith("ind_"):
        n = 0
        for c in p[4:]:
            n = n * 32 + CROCKFORD.index(c)
        return n.to_bytes(13, "big")
    return bytes.fromhex(p)


def body(v):
    d = datetime.date(int(v["mail_date"][:4]), int(v["mail_date"][4:6]), int(v["mail_date"][6:]))
    days = (d - datetime.date(2000, 1, 1)).days
    zip4 = len(v["to_zip"]) == 9
    piece = piece_bytes(v["piece"])
    b = bytes([2, 1, v["flags"] | (2 if zip4 else 0), v["vendor"], v["model"]])
    b += v["device_id"].to_bytes(4, "big") + v["key_id"].to_bytes(4, "big")
    b += v["serial"].to_bytes(4, "big") + v["ascending"].to_bytes(6, "big")
    b += v["descending"].to_bytes(5, "big") + v["postage"].to_bytes(3, "big")
    b += days.to_bytes(2, "big") + bytes([v["mail_class"], v["services"]])
    b += v["weight"].to_bytes(2, "big") + int(v["from_zip"]).to_bytes(3, "big")
    b += int(v["to_zip"]).to_bytes(4, "big")
    b += packed(v["license"]) + packed(v["software_id"]) + packed(v["medium_serial"])
    return b + bytes([len(piece)]) + piece


def sign(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "body.bin")
        with open(path, "wb") as f:
            f.write(data)
        der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", KEY, path],
                             check=True, capture_output=True).stdout
    # DER SEQUENCE { INTEGER r, INTEGER s } -> 32-byte r || 32-byte s.
    i, ints = 2 if der[1] < 0x80 else 3, []
    while len(ints) < 2:
        n = der[i + 1]
        ints.append(int.from_bytes(der[i + 2:i + 2 + n], "big").to_bytes(32, "big"))
        i += 2 + n
    return ints[0] + ints[1]


def main():
    keys = ["flags", "vendor", "model", "device_id", "key_id", "serial", "ascending",
            "descending", "postage", "mail_date", "mail_class", "services", "weight",
            "from_zip", "to_zip", "license", "software_id", "medium_serial", "piece"]
    for v in VECTORS:
        b = body(v)
        s = sign(b)
        print("name=" + v["name"])
        for k in keys:
            print("%s=%s" % (k, v[k]))
        print("body=" + b.hex())
        print("signature=" + s.hex())
        print("indicium=" + (b + s).hex())
        print("end\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
