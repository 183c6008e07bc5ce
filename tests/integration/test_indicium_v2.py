"""test_indicium_v2.py - indicium format version 2 through the real server and CLI.

Issue 17: new pieces are signed as version 2 (docs/indicium.md): the
descending register, a device id of vendor, model and serial, the extra
services and a piece id, in compact fields. Checked here end to end:

* a piece bought over the API is version 2; its bytes, decoded by the
  independent Python decoder of harness.py (written from the byte table),
  agree with the JSON; its descending register is the PSD's; openssl verifies
  it with the published key;
* POST /v1/verify, `stamp verify --offline` and `stamp verify --image` of its
  printed label show the version 2 fields; the label's symbol reads back as
  exactly its bytes with two independent decoders (dmtxread, ZXingReader);
* a version 1 piece, made here with a version 1 encoder from a stored piece's
  facts and signed with its PSD's key (the openssl command line), still
  verifies through the server and offline, and its reprint carries its
  stored version 1 bytes unchanged.

Environment: STAMPD_BIN, STAMP_BIN, STAMPD_TEST_TMP (see harness.py).
"""

import base64
import http.client
import json
import os
import re
import sqlite3
import struct
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_printing  # noqa: E402  (its symbol readers; its tests do not run here)

STAMP_BIN = os.environ.get("STAMP_BIN") or os.path.join(harness.SOURCE_DIR, "build", "stamp")
SRV = None
PIECES = []   # bought in setUpModule: a letter, a ZIP+4 postcard, one to turn into version 1


def setUpModule():
    global SRV
    SRV = harness.Stampd("ind2")
    SRV.init(psds=1)
    SRV.start(processors=1)
    for n, (cls, w, to) in enumerate((("first_class_letter", 1, "10001"),
                                      ("postcard", 0.2, "60661-1234"),
                                      ("first_class_letter", 2, "94105"))):
        s, _, j = SRV.buy(SRV.customer_key, "ind2-%d" % n,
                          {"mail_class": cls, "weight_oz": w, "from_zip": "02134",
                           "to_zip": to})
        assert s == 201, j
        PIECES.append(j)


def tearDownModule():
    if SRV is not None:
        SRV.stop()


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


def label_png(ind_id, path):
    """The piece's label as stampd prints (and reprints) it, PNG."""
    conn = http.client.HTTPConnection(SRV.host, SRV.port, timeout=harness.HTTP_TIMEOUT)
    try:
        conn.request("GET", "/v1/indicia/%s/label?format=png" % ind_id,
                     headers={"Authorization": "Bearer " + SRV.customer_key})
        r = conn.getresponse()
        raw = r.read()
        assert r.status == 200, raw[:200]
    finally:
        conn.close()
    with open(path, "wb") as f:
        f.write(raw)
    return path


def read_symbols(png):
    """The label's DataMatrix, read by dmtxread on the page and by ZXingReader
    on the symbol's region (test_printing.py's readers): (bytes, bytes, size)."""
    syms = test_printing.dmtx_scan(png, 1, 300)
    assert len(syms) == 1, syms
    test_printing.zxing_regions(png, syms)
    return syms[0].data, syms[0].zxing, syms[0].size


def v1_body(f):
    """A version 1 body (docs/indicium.md, first byte table) of fields f."""
    return (bytes([1, 1, f["flags"]]) + f["license"].encode().ljust(16, b"\0") +
            struct.pack(">IIIQIIBH", f["psd_id"], f["key_id"], f["serial"], f["ascending"],
                        f["postage"], f["mail_date"], f["mail_class"], f["weight"]) +
            f["from_zip"].encode() + f["to_zip"].encode().ljust(9, b"\0") +
            f["software_id"].encode().ljust(8, b"\0") + bytes([len(f["medium"])]) +
            f["medium"].encode())


def der_to_raw(der):
    """DER ECDSA-Sig-Value -> 32-byte r || 32-byte s."""
    i, out = 2, b""
    for _ in range(2):
        n = der[i + 1]
        out += int.from_bytes(der[i + 2:i + 2 + n], "big").to_bytes(32, "big")
        i += 2 + n
    return out


class IndiciumV2(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.dir = os.path.join(SRV.dir, "ind2")
        os.makedirs(cls.dir, exist_ok=True)
        cls.keys_file = os.path.join(cls.dir, "keys.json")
        rc, out, err = stamp("keys", "--out", cls.keys_file)
        assert rc == 0, (out, err)
        cls.keys = SRV.keys()

    def test_1_new_pieces_are_version_2(self):
        psd = SRV.psds()["psds"]
        live = [p for p in psd if not p["test"]]
        for j in PIECES[:2]:
            raw = harness.unb64(j["data"])
            d = harness.decode_indicium_v2(raw)
            self.assertEqual((j["version"], d["version"], raw[0]), (2, 2, 2))
            self.assertEqual((j["vendor_id"], j["model_id"]), (254, 1))
            self.assertEqual((d["vendor_id"], d["model_id"]), (254, 1))
            for k in ("psd_id", "key_id", "serial", "ascending_mills", "descending_mills",
                      "postage_mills", "license", "from_zip", "medium_serial"):
                self.assertEqual(d[k], j[k] if j[k] is not None else "", k)
            self.assertEqual(d["to_zip"], j["to_zip"].replace("-", ""))
            self.assertEqual(d["mail_date"], int(j["mail_date"].replace("-", "")))
            self.assertEqual(j["services"], [])
            self.assertEqual(d["services"], [])
            # The piece id is the piece's own id: scanned, it leads to the record.
            self.assertEqual(j["piece_indicium_id"], j["id"])
            self.assertEqual(d["piece_id"], j["piece_id"])
            self.assertEqual(len(j["piece_id"]), 26)
            got = SRV.get_ok("/v1/indicia/" + j["piece_indicium_id"], SRV.customer_key)
            self.assertEqual(got["data"], j["data"])
            ok, out = harness.openssl_verify(self.dir, self.keys[d["key_id"]]["public_key_pem"],
                                             d["body"], d["signature"])
            self.assertTrue(ok, out)
        self.assertEqual(harness.decode_indicium(harness.unb64(PIECES[1]["data"]))["to_zip"],
                         "606611234")
        # The registers signed with the last piece are the PSD's registers now.
        last = harness.decode_indicium(harness.unb64(PIECES[-1]["data"]))
        p = [x for x in live if x["id"] == last["psd_id"]][0]
        self.assertEqual((last["ascending_mills"], last["descending_mills"]),
                         (p["ascending_mills"], p["descending_mills"]))

    def test_2_verify_online(self):
        for j in PIECES[:2]:
            s, _, v = SRV.request("POST", "/v1/verify", body={"data": j["data"]},
                                  key=SRV.customer_key)
            self.assertEqual(s, 200, v)
            self.assertTrue(v["valid"] and v["signature_valid"] and v["known"], v)
            f = v["fields"]
            self.assertEqual((f["version"], f["vendor_id"], f["model_id"]), (2, 254, 1))
            self.assertEqual(f["descending_mills"], j["descending_mills"])
            self.assertEqual((f["services"], f["piece_indicium_id"]), ([], j["id"]))

    def test_3_verify_offline_cli(self):
        j = PIECES[0]
        rc, out, err = stamp("verify", "--offline", "--keys", self.keys_file, "--data",
                             j["data"], server=harness.closed_port_url())
        self.assertEqual(rc, 0, (out, err))
        self.assertEqual(field(out, "signature"), "valid (checked offline)", out)
        self.assertEqual(field(out, "format"), "2", out)
        self.assertEqual(field(out, "device"), "vendor 254, model 1, serial %d" % j["psd_id"],
                         out)
        desc = field(out, "descending") or ""
        self.assertTrue(desc.startswith("$"), out)
        self.assertEqual(round(float(desc[1:].replace(",", "")) * 1000), j["descending_mills"])
        self.assertEqual(field(out, "services"), "none", out)
        self.assertEqual(field(out, "piece"), j["id"], out)
        rc, out, err = stamp("verify", "--offline", "--keys", self.keys_file, "--data",
                             j["data"], "--json", server=harness.closed_port_url())
        self.assertEqual(rc, 0, (out, err))
        self.assertEqual(json.loads(out)["fields"]["piece_indicium_id"], j["id"])

    def test_4_printed_label(self):
        j = PIECES[1]
        png = label_png(j["id"], os.path.join(self.dir, "v2.png"))
        dm, zx, size = read_symbols(png)
        self.assertEqual(dm, harness.unb64(j["data"]), "dmtxread")
        self.assertEqual(zx, harness.unb64(j["data"]), "ZXingReader")
        # 137 bytes here (license PV1000001, the piece id): the 44x44 symbol
        # of a version 1 piece (docs/indicium.md, "Symbol size").
        self.assertEqual((len(dm), size), (137, 44))
        rc, out, err = stamp("verify", "--image", png, "--json", key=SRV.customer_key)
        self.assertEqual(rc, 0, (out, err))
        v = json.loads(out)
        self.assertIs(v["valid"], True, v)
        self.assertEqual((v["fields"]["version"], v["fields"]["piece_indicium_id"]),
                         (2, j["id"]))
        rc, out, err = stamp("verify", "--offline", "--keys", self.keys_file, "--image", png,
                             server=harness.closed_port_url())
        self.assertEqual(rc, 0, (out, err))
        self.assertEqual(field(out, "format"), "2", out)

    def test_5_stored_version_1_piece(self):
        j = PIECES[2]
        db = sqlite3.connect(SRV.db[len("sqlite:"):])
        try:
            row = db.execute(
                "SELECT psd_id, key_id, serial, flags, license, ascending_mills, postage_mills,"
                " mail_date, mail_class, weight_tenth_oz, from_zip, to_zip, software_id,"
                " medium_serial FROM indicia WHERE id = ?", (j["id"],)).fetchone()
            names = ("psd_id", "key_id", "serial", "flags", "license", "ascending", "postage",
                     "mail_date", "mail_class", "weight", "from_zip", "to_zip", "software_id",
                     "medium")
            body = v1_body(dict(zip(names, row)))
            (key_ref,) = db.execute("SELECT key_ref FROM keys WHERE key_id = ?",
                                    (row[1],)).fetchone()
            body_path = os.path.join(self.dir, "v1-body.bin")
            with open(body_path, "wb") as f:
                f.write(body)
            der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key_ref, body_path],
                                 check=True, stdout=subprocess.PIPE, timeout=60).stdout
            v1 = body + der_to_raw(der)
            self.assertEqual(len(v1), 137)
            # The piece as a server before version 2 would have stored it.
            with db:
                db.execute("UPDATE indicia SET version = 1, data = ? WHERE id = ?", (v1, j["id"]))
        finally:
            db.close()
        data = base64.b64encode(v1).decode()

        s, _, v = SRV.request("POST", "/v1/verify", body={"data": data}, key=SRV.customer_key)
        self.assertEqual(s, 200, v)
        self.assertTrue(v["valid"] and v["signature_valid"] and v["known"], v)
        self.assertEqual(v["fields"]["version"], 1)
        for k in ("vendor_id", "model_id", "descending_mills", "services", "piece_id",
                  "piece_indicium_id"):
            self.assertIsNone(v["fields"][k], k)
        got = SRV.get_ok("/v1/indicia/" + j["id"], SRV.customer_key)
        self.assertEqual((got["version"], got["data"], got["services"]), (1, data, None))

        rc, out, err = stamp("verify", "--offline", "--keys", self.keys_file, "--data", data,
                             server=harness.closed_port_url())
        self.assertEqual(rc, 0, (out, err))
        self.assertEqual(field(out, "format"), "1", out)
        self.assertIsNone(field(out, "device"), out)

        # A reprint prints the stored version 1 bytes, unchanged.
        png = label_png(j["id"], os.path.join(self.dir, "v1.png"))
        dm, zx, size = read_symbols(png)
        self.assertEqual((dm, zx, size), (v1, v1, 44))
        rc, out, err = stamp("verify", "--image", png, "--json", key=SRV.customer_key)
        self.assertEqual(rc, 0, (out, err))
        self.assertEqual(json.loads(out)["fields"]["version"], 1)


if __name__ == "__main__":
    harness.main()
