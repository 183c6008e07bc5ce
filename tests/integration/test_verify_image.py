"""test_verify_image.py - `stamp verify --image`: check a label from a picture of it.

Issue 13: a scanned or photographed label (PNG, JPEG) or the PDF stampd
printed is read by the real `stamp` binary, which finds the DataMatrix
(libdmtx), decodes the indicium and checks it online (POST /v1/verify) or
offline with the published keys. The pictures are made by independent tools:
stampd's own PNG and PDF labels, poppler's `pdftoppm` for a JPEG scan,
`rsvg-convert` for a "photograph" (the label turned, shrunk and on a grey
table), `dmtxwrite` for symbols that are forged or are not indicia at all.

Environment: STAMPD_BIN, STAMP_BIN, STAMPD_TEST_TMP (see harness.py).
"""

import base64
import http.client
import json
import os
import re
import struct
import subprocess
import sys
import unittest
import zlib

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

STAMP_BIN = os.environ.get("STAMP_BIN") or os.path.join(harness.SOURCE_DIR, "build", "stamp")
SRV = None
IND = []   # two indicia bought in setUpModule


def setUpModule():
    global SRV
    SRV = harness.Stampd("vimg")
    SRV.init()
    SRV.start(processors=1)
    for n, (cls, w) in enumerate((("first_class_letter", 1), ("large_envelope", 2))):
        s, _, j = SRV.buy(SRV.customer_key, "vimg-%d" % n,
                          {"mail_class": cls, "weight_oz": w, "from_zip": "94107",
                           "to_zip": "10001"})
        assert s == 201, j
        IND.append(j)


def tearDownModule():
    if SRV is not None:
        SRV.stop()


def fetch(method, path, body=None):
    conn = http.client.HTTPConnection(SRV.host, SRV.port, timeout=harness.HTTP_TIMEOUT)
    try:
        hdrs = {"Authorization": "Bearer " + SRV.customer_key}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        payload = r.read()
        if r.status != 200:
            raise AssertionError("%s %s: %d %r" % (method, path, r.status, payload[:300]))
        return payload
    finally:
        conn.close()


def stamp(*args, key=None, server=None):
    env = harness.stampd_env()
    env.pop("STAMP_KEY", None)
    env["STAMP_SERVER"] = server or "http://%s:%d" % (SRV.host, SRV.port)
    if key:
        env["STAMP_KEY"] = key
    p = subprocess.run([STAMP_BIN] + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=120)
    out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    harness.assert_no_sanitizer(err, "stamp " + " ".join(map(str, args)))
    return p.returncode, out, err


def field(text, label):
    m = re.search(r"^%s +(.*?)\s*$" % re.escape(label), text, re.M)
    return m.group(1) if m else None


def png(width, height, grey_rows):
    """A grey PNG from rows of bytes, written here so no imaging library is needed."""
    def chunk(t, b):
        return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b) & 0xffffffff)
    raw = b"".join(b"\x00" + bytes(r) for r in grey_rows)
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) +
            (chunk(b"IDAT", zlib.compress(raw)) if grey_rows else b"") + chunk(b"IEND", b""))


class VerifyImage(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.dir = os.path.join(SRV.dir, "pictures")
        os.makedirs(cls.dir, exist_ok=True)
        ind = IND[0]
        cls.files = {}
        for fmt in ("png", "pdf", "svg"):
            path = os.path.join(cls.dir, "label." + fmt)
            with open(path, "wb") as f:
                f.write(fetch("GET", "/v1/indicia/%s/label?format=%s" % (ind["id"], fmt)))
            cls.files[fmt] = path
        # A 150 dpi JPEG scan of the PDF, by poppler.
        subprocess.run(["pdftoppm", "-jpeg", "-r", "150", "-singlefile", cls.files["pdf"],
                        os.path.join(cls.dir, "scan")], check=True, timeout=60)
        cls.files["jpg"] = os.path.join(cls.dir, "scan.jpg")
        # A "photograph": the PNG label turned 12 degrees, at 70%, on a grey table.
        with open(cls.files["png"], "rb") as f:
            uri = "data:image/png;base64," + base64.b64encode(f.read()).decode()
        svg = ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
               ' width="1300" height="1600"><rect width="1300" height="1600" fill="#77776e"/>'
               '<g transform="translate(380,120) rotate(12) scale(0.7)">'
               '<image width="1200" height="1800" xlink:href="%s"/></g></svg>' % uri)
        with open(os.path.join(cls.dir, "photo.svg"), "w") as f:
            f.write(svg)
        cls.files["photo"] = os.path.join(cls.dir, "photo.png")
        subprocess.run(["rsvg-convert", "-o", cls.files["photo"],
                        os.path.join(cls.dir, "photo.svg")], check=True, timeout=60)
        # Both indicia on one sheet of Avery 5160 labels.
        with open(os.path.join(cls.dir, "sheet.pdf"), "wb") as f:
            f.write(fetch("POST", "/v1/sheets", {"indicia": [i["id"] for i in IND],
                                                  "layout": "avery-5160", "format": "pdf"}))
        cls.files["sheet"] = os.path.join(cls.dir, "sheet.pdf")
        cls.keys_file = os.path.join(cls.dir, "keys.json")
        rc, out, err = stamp("keys", "--out", cls.keys_file)
        assert rc == 0, (out, err)

    def path(self, name, content):
        p = os.path.join(self.dir, name)
        with open(p, "wb") as f:
            f.write(content)
        return p

    def symbol(self, name, data):
        """A DataMatrix of data (bytes), drawn by dmtxwrite (base 256)."""
        src = self.path(name + ".bin", data)
        out = os.path.join(self.dir, name + ".png")
        subprocess.run(["dmtxwrite", "-e", "b", "-o", out, src], check=True, timeout=60)
        return out

    def test_every_picture_verifies_online(self):
        for kind in ("png", "pdf", "jpg", "photo"):
            with self.subTest(picture=kind):
                rc, out, err = stamp("verify", "--image", self.files[kind], "--json",
                                     key=SRV.customer_key)
                self.assertEqual(rc, 0, (out, err))
                j = json.loads(out)
                self.assertIs(j["valid"], True, j)
                self.assertIs(j["signature_valid"], True, j)
                self.assertEqual(j["fields"]["serial"], IND[0]["serial"], j)
                self.assertEqual(j["fields"]["postage_mills"], IND[0]["postage_mills"], j)

    def test_offline_with_the_published_keys(self):
        dead = harness.closed_port_url()   # offline never contacts the server
        for kind in ("png", "photo"):
            with self.subTest(picture=kind):
                rc, out, err = stamp("verify", "--offline", "--keys", self.keys_file, "--image",
                                     self.files[kind], server=dead)
                self.assertEqual(rc, 0, (out, err))
                self.assertEqual(field(out, "signature"), "valid (checked offline)", out)
                self.assertEqual(field(out, "serial"), str(IND[0]["serial"]), out)

    def test_sheet_pdf(self):
        rc, out, err = stamp("verify", "--image", self.files["sheet"], "--json",
                             key=SRV.customer_key)
        self.assertEqual(rc, 0, (out, err))
        j = json.loads(out)
        self.assertIs(j["valid"], True, j)
        self.assertIn(j["fields"]["serial"], [i["serial"] for i in IND], j)

    def test_forged_symbol_is_invalid(self):
        raw = bytearray(base64.b64decode(IND[0]["data"]))
        raw[-3] ^= 1   # one bit of the signature
        forged = self.symbol("forged", bytes(raw))
        rc, out, err = stamp("verify", "--image", forged, key=SRV.customer_key)
        self.assertEqual(rc, 4, (out, err))
        self.assertEqual(field(out, "signature"), "INVALID", out)
        rc, out, err = stamp("verify", "--offline", "--keys", self.keys_file, "--image", forged,
                             server=harness.closed_port_url())
        self.assertEqual(rc, 4, (out, err))
        self.assertIn("indicium_signature_invalid", field(out, "verdict") or "", out)

    def test_symbol_that_is_not_an_indicium(self):
        other = self.symbol("other", b"https://example.test/not-postage")
        rc, out, err = stamp("verify", "--offline", "--keys", self.keys_file, "--image", other,
                             server=harness.closed_port_url())
        self.assertEqual(rc, 4, (out, err))
        self.assertIn("INVALID", field(out, "verdict") or "", out)

    def test_unusable_pictures(self):
        with open(self.files["jpg"], "rb") as f:
            jpeg = f.read()
        cases = [
            ("blank.png", png(64, 64, [[255] * 64] * 64), "no DataMatrix symbol found"),
            ("notes.txt", b"this is not a picture\n", "is not a PNG, JPEG or PDF file"),
            ("huge.png", png(60000, 60000, []), "image too large"),
            ("cut.jpg", jpeg[:200], "unreadable JPEG"),
            ("broken.pdf", b"%PDF-1.4\nnothing here\n", "unreadable PDF"),
        ]
        for name, content, message in cases:
            with self.subTest(picture=name):
                rc, out, err = stamp("verify", "--offline", "--keys", self.keys_file, "--image",
                                     self.path(name, content), server=harness.closed_port_url())
                self.assertEqual(rc, 2, (out, err))
                self.assertIn(message, err)
        rc, out, err = stamp("verify", "--image", os.path.join(self.dir, "missing.png"),
                             key=SRV.customer_key)
        self.assertEqual(rc, 2, (out, err))
        rc, out, err = stamp("verify", "--image", self.files["png"], "--data", IND[0]["data"],
                             key=SRV.customer_key)
        self.assertEqual(rc, 2, (out, err))
        self.assertIn("exactly one of", err)


if __name__ == "__main__":
    harness.main()
