"""test_cli.py - the `stamp` command line (docs/cli.md) against a real stampd.

One `stampd serve` on a fresh SQLite database serves the whole module
(harness.Stampd: init --demo, SIGTERM at the end with exit status 0 and a
sanitizer-clean stderr). Every `stamp` run is checked for its exit code
(docs/cli.md, "Exit codes"), its output, and a sanitizer-clean stderr.

Environment: STAMPD_BIN, STAMP_BIN (the binaries), STAMPD_TEST_TMP (scratch).
Standard library only; run as `python3 test_cli.py`.
"""

import base64
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402  (shared by the integration tests; not edited here)

STAMP_BIN = os.environ.get("STAMP_BIN") or os.path.join(harness.SOURCE_DIR, "build", "stamp")
STAMP_TIMEOUT = 60.0   # seconds per `stamp` run (the closed-port case takes ~3.5 s)

# (class, weight argument, postage in mills, human weight) per mail class.
CLASSES = [("first_class_letter", "1", 740, "1.0"),
           ("postcard", "0.3", 610, "0.3"),
           ("large_envelope", "2.5", 2170, "2.5")]

SRV = None          # the harness.Stampd of this module
SECOND_KEY = None   # a second customer, to present indicia as a third party
POOR_KEY = None     # a customer with $0.50
WORK = None         # scratch directory of this module
LABELS = None       # genuine label serials of free media (docs/media.md)


def setUpModule():
    global SRV, SECOND_KEY, POOR_KEY, WORK, LABELS
    srv = harness.Stampd("cli")
    try:
        srv.init(psds=4, deposit="10000")
        SECOND_KEY = srv.customer("x@example.com", 5)
        POOR_KEY = srv.customer("poor@example.com", "0.50")
        srv.start()
        _, batch = srv.media(sheets=1)
        LABELS = [x["serial"] for x in batch["serials"] if x["position"]]
    except BaseException:
        srv.abandon()
        raise
    SRV = srv
    WORK = os.path.join(srv.dir, "work")
    os.makedirs(WORK, exist_ok=True)


def tearDownModule():
    if SRV is not None:
        SRV.stop()   # SIGTERM; asserts exit 0 and no sanitizer report


def server_url():
    return "http://%s:%d" % (SRV.host, SRV.port)


closed_port_url = harness.closed_port_url


class FakeServer:
    """A scripted HTTP server: answers each request with the next (status,
    headers, body) of its script (the last one repeats) and records what came."""

    def __init__(self, script):
        self.script = list(script)
        self.requests = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def handle_one(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                fake.requests.append((self.command, self.path, dict(self.headers.items()), body))
                status, hdrs, payload = (fake.script.pop(0) if len(fake.script) > 1
                                         else fake.script[0])
                if isinstance(payload, (dict, list)):
                    payload = json.dumps(payload)
                if isinstance(payload, str):
                    payload = payload.encode()
                self.send_response(status)
                for k, v in hdrs.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = handle_one

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


class Run:
    """The result of one `stamp` run."""

    def __init__(self, args, rc, out, err):
        self.args, self.rc, self.out, self.err = args, rc, out, err

    def __repr__(self):
        return ("stamp %s\n  exit %d\n  stdout:\n%s\n  stderr:\n%s"
                % (" ".join(self.args), self.rc, self.out, self.err))

    def json(self):
        try:
            return json.loads(self.out)
        except ValueError as e:
            raise AssertionError("stdout is not JSON (%s): %r" % (e, self))


def stamp(*args, key="default", server="default", stdin=None, env_extra=None):
    """Run `stamp ARGS` with STAMP_SERVER/STAMP_KEY in the environment.
    key/server: "default" = the demo customer / the test server; None = unset."""
    env = harness.stampd_env()
    env.pop("STAMP_KEY", None)
    env.pop("STAMP_SERVER", None)
    if key == "default":
        key = SRV.customer_key
    if server == "default":
        server = server_url()
    if key is not None:
        env["STAMP_KEY"] = key
    if server is not None:
        env["STAMP_SERVER"] = server
    if env_extra:
        env.update(env_extra)
    args = [str(a) for a in args]
    p = subprocess.run([STAMP_BIN] + args, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=STAMP_TIMEOUT)
    r = Run(args, p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))
    harness.assert_no_sanitizer(r.err, "stamp " + " ".join(args))
    return r


def field(text, label):
    """The value of a `label   value` line of human output, or None."""
    m = re.search(r"^%s +(.*?)\s*$" % re.escape(label), text, re.M)
    return m.group(1) if m else None


def money(mills):
    return "$%d.%02d" % (mills // 1000, (mills % 1000) // 10)


def flip_bit(b64, offset_from_end=1, bit=0):
    raw = bytearray(base64.b64decode(b64))
    raw[len(raw) - offset_from_end] ^= 1 << bit
    return base64.b64encode(bytes(raw)).decode()


class CliTest(unittest.TestCase):
    maxDiff = None

    def expect(self, r, rc):
        self.assertEqual(r.rc, rc, "expected exit %d: %r" % (rc, r))
        return r

    def buy(self, cls="first_class_letter", weight="1", *extra, key="default", json_out=True):
        args = ["buy", "--class", cls, "--weight", weight, "--from", "94107", "--to", "10001"]
        args += list(extra)
        if json_out:
            args.append("--json")
        r = self.expect(stamp(*args, key=key), 0)
        return r.json() if json_out else r

    def balance_mills(self, key="default"):
        return self.expect(stamp("balance", "--json", key=key), 0).json()["balance_mills"]

    def tmp(self, name):
        return tempfile.mkdtemp(prefix=name + "-", dir=WORK)


class TestBuy(CliTest):

    def test_buy_each_class_human(self):
        for cls, weight, mills, oz in CLASSES:
            with self.subTest(mail_class=cls):
                before = self.balance_mills()
                r = self.buy(cls, weight, json_out=False)
                self.assertEqual(field(r.out, "postage"), money(mills), r)
                self.assertEqual(field(r.out, "class"), "%s, %s oz" % (cls, oz), r)
                self.assertRegex(field(r.out, "id") or "", r"^ind_[0-9a-z]+$", r)
                self.assertEqual(field(r.out, "from -> to"), "94107 -> 10001", r)
                self.assertRegex(field(r.out, "license") or "",
                                 r"^%s, key [0-9]+$" % harness.LICENSE, r)
                self.assertRegex(field(r.out, "PSD/serial") or "", r"^[1-4]/[0-9]+$", r)
                self.assertEqual(field(r.out, "mail date"),
                                 harness.today_utc().isoformat(), r)
                self.assertEqual(field(r.out, "balance"), money(before - mills) + " left", r)
                self.assertIsNone(field(r.out, "TEST"), r)
                self.assertIsNone(field(r.out, "medium"), r)
                self.assertEqual(self.balance_mills(), before - mills)

    def test_buy_json(self):
        for cls, weight, mills, oz in CLASSES:
            with self.subTest(mail_class=cls):
                ind = self.buy(cls, weight)
                for k in ("id", "data", "balance_mills"):
                    self.assertIn(k, ind)
                self.assertTrue(ind["id"].startswith("ind_"), ind)
                self.assertEqual(ind["postage_mills"], mills)
                self.assertEqual(ind["mail_class"], cls)
                self.assertEqual(ind["weight_oz"], float(weight))
                self.assertEqual(ind["balance_mills"], self.balance_mills())
                raw = harness.unb64(ind["data"])
                dec = harness.decode_indicium(raw)
                self.assertEqual(dec["postage_mills"], mills)
                self.assertEqual(dec["license"], harness.LICENSE)
                self.assertEqual(dec["serial"], ind["serial"])
                self.assertEqual(dec["psd_id"], ind["psd_id"])
                self.assertEqual(dec["weight_tenths"], int(round(float(weight) * 10)))

    def test_buy_options_zip4_medium_and_global_json_first(self):
        # --json before the command word; attached values; ZIP+4; medium serial folded.
        r = self.expect(stamp("--json", "buy", "--class=postcard", "--weight=1",
                              "--from=94107", "--to=10001-1234", "--medium", LABELS[0].lower()), 0)
        ind = r.json()
        self.assertEqual(ind["to_zip"], "10001-1234")
        self.assertEqual(ind["medium_serial"], LABELS[0])
        r = self.expect(stamp("show", ind["id"]), 0)
        self.assertEqual(field(r.out, "medium"), LABELS[0], r)
        self.assertEqual(field(r.out, "from -> to"), "94107 -> 10001-1234", r)

    def test_idempotency_key(self):
        key = "cli-test-order-%d" % os.getpid()
        before = self.balance_mills()
        args = ["buy", "--class", "first_class_letter", "--weight", "2", "--from", "94107",
                "--to", "10001", "--idempotency-key", key, "--json"]
        first = self.expect(stamp(*args), 0)
        second = self.expect(stamp(*args), 0)
        a, b = first.json(), second.json()
        self.assertEqual(a["id"], b["id"])
        self.assertEqual(a["data"], b["data"])
        self.assertNotIn("already completed", first.err, first)
        self.assertIn("already completed", second.err, second)
        self.assertEqual(self.balance_mills(), before - 1030, "charged more than once")
        # Same key, different purchase: refused, nothing charged.
        args[args.index("2")] = "3"
        r = self.expect(stamp(*args), 1)
        self.assertIn("error: idempotency_key_reused", r.err, r)
        self.assertEqual(r.json()["error"]["code"], "idempotency_key_reused", r)
        self.assertEqual(self.balance_mills(), before - 1030)


class TestShowList(CliTest):

    def test_show(self):
        ind = self.buy("postcard", "1")
        r = self.expect(stamp("show", ind["id"]), 0)
        self.assertEqual(field(r.out, "id"), ind["id"], r)
        self.assertEqual(field(r.out, "postage"), "$0.61", r)
        self.assertEqual(field(r.out, "class"), "postcard, 1.0 oz", r)
        self.assertEqual(field(r.out, "created"), ind["created"], r)
        self.assertEqual(field(r.out, "presented"), "0 times", r)
        self.assertIsNone(field(r.out, "balance"), r)
        j = self.expect(stamp("show", ind["id"], "--json"), 0).json()
        expected = dict(ind)
        del expected["balance_mills"]
        del expected["payment"]   # how it was paid is in the purchase answer only
        self.assertEqual(j, expected)
        # Unknown id, and another customer's id: 404.
        r = self.expect(stamp("show", "ind_doesnotexist"), 1)
        self.assertIn("error: not_found", r.err, r)
        r = self.expect(stamp("show", ind["id"], key=SECOND_KEY), 1)
        self.assertIn("error: not_found", r.err, r)

    def test_list(self):
        key = SRV.customer("lister-%d@example.com" % os.getpid(), 20)
        r = self.expect(stamp("list", key=key), 0)
        self.assertEqual(r.out.strip(), "No indicia.", r)
        ids = [self.buy(cls, w, key=key)["id"] for cls, w, _, _ in CLASSES]
        newest_first = ids[::-1]

        def rows(text):
            lines = text.splitlines()
            self.assertTrue(lines and lines[0].split()[:2] == ["ID", "CREATED"], text)
            return [l.split()[0] for l in lines[1:] if l.startswith("ind_")]

        r = self.expect(stamp("list", key=key), 0)
        self.assertEqual(rows(r.out), newest_first, r)
        self.assertNotIn("more:", r.out, r)
        self.assertIn("$0.61", r.out)

        r = self.expect(stamp("list", "--limit", "2", key=key), 0)
        self.assertEqual(rows(r.out), newest_first[:2], r)
        self.assertIn("more: stamp list --cursor %s --limit 2" % newest_first[1], r.out, r)

        r = self.expect(stamp("list", "--cursor", newest_first[1], "--limit", "2", key=key), 0)
        self.assertEqual(rows(r.out), newest_first[2:], r)
        self.assertNotIn("more:", r.out, r)

        r = self.expect(stamp("list", "--all", "--limit", "2", key=key), 0)
        self.assertEqual(rows(r.out), newest_first, r)
        self.assertNotIn("more:", r.out, r)

        page = self.expect(stamp("list", "--limit", "2", "--json", key=key), 0).json()
        self.assertEqual([i["id"] for i in page["data"]], newest_first[:2])
        self.assertTrue(page["has_more"])
        self.assertEqual(page["next_cursor"], newest_first[1])

        merged = self.expect(stamp("--json", "list", "--all", "--limit=1", key=key), 0).json()
        self.assertEqual([i["id"] for i in merged["data"]], newest_first)
        self.assertEqual(merged["object"], "list")
        self.assertIs(merged["has_more"], False)
        self.assertIsNone(merged["next_cursor"])


class TestBalanceKeys(CliTest):

    def test_balance(self):
        j = self.expect(stamp("balance", "--json", key=SECOND_KEY), 0).json()
        self.assertEqual(j["role"], "customer")
        self.assertEqual(j["email"], "x@example.com")
        r = self.expect(stamp("balance", key=SECOND_KEY), 0)
        self.assertEqual(field(r.out, "account"), j["id"], r)
        self.assertEqual(field(r.out, "email"), "x@example.com", r)
        self.assertEqual(field(r.out, "balance"), money(j["balance_mills"]), r)
        r = self.expect(stamp("balance", key=POOR_KEY), 0)
        self.assertEqual(field(r.out, "balance"), "$0.50", r)
        r = self.expect(stamp("balance", key=SRV.operator_key), 0)
        self.assertEqual(field(r.out, "role"), "operator", r)

    def test_flags_instead_of_environment(self):
        # --server/--key with nothing in the environment.
        r = self.expect(stamp("--server", server_url() + "/", "--key", SECOND_KEY, "balance",
                              key=None, server=None), 0)
        self.assertEqual(field(r.out, "email"), "x@example.com", r)
        # Given after the command, attached; the command line wins over the environment.
        r = self.expect(stamp("balance", "--server=" + server_url(), "--key=" + SECOND_KEY,
                              key="sk_live_wrongwrongwrongwrongwrongwrong",
                              server=closed_port_url()), 0)
        self.assertEqual(field(r.out, "email"), "x@example.com", r)

    def test_keys(self):
        path = os.path.join(self.tmp("keys"), "vendor-keys.json")
        r = self.expect(stamp("keys", "--out", path, key=None), 0)
        self.assertEqual(field(r.out, "license"), harness.LICENSE, r)
        self.assertIn("saved 5 keys to %s" % path, r.out, r)   # 4 PSDs and the test PSD
        with open(path) as f:
            doc = json.load(f)
        self.assertEqual(doc["license"], harness.LICENSE)
        self.assertEqual(sorted(k["key_id"] for k in doc["keys"]), [1, 2, 3, 4, 5])
        self.assertEqual([k["key_id"] for k in doc["keys"] if k["test"]], [5])
        for k in doc["keys"]:
            self.assertIn("-----BEGIN PUBLIC KEY-----", k["public_key_pem"])
        self.assertEqual([n for n in os.listdir(os.path.dirname(path))], ["vendor-keys.json"],
                         "temporary file left behind")


class TestVerify(CliTest):

    @classmethod
    def setUpClass(cls):
        cls.keys_dir = tempfile.mkdtemp(prefix="verify-", dir=WORK)
        cls.keys_file = os.path.join(cls.keys_dir, "keys.json")
        r = stamp("keys", "--out", cls.keys_file, key=None)
        if r.rc != 0:
            raise AssertionError("stamp keys --out: %r" % r)

    def test_online_presentations(self):
        ind = self.buy("first_class_letter", "1")
        # The owner checking their own stamp: valid, and not counted.
        for _ in range(2):
            r = self.expect(stamp("verify", "--id", ind["id"]), 0)
            self.assertEqual(field(r.out, "verdict"), "VALID", r)
            self.assertEqual(field(r.out, "signature"), "valid", r)
            self.assertEqual(field(r.out, "issued here"), "yes", r)
            self.assertEqual(field(r.out, "presented"), "0 times before", r)
            self.assertEqual(field(r.out, "serial"), str(ind["serial"]), r)
            self.assertEqual(field(r.out, "postage"), "$0.74", r)
        # A third party (another customer) reads the count but does not raise it:
        # holding a copy of a label must not make it look used.
        for _ in range(2):
            r = self.expect(stamp("verify", "--data", ind["data"], key=SECOND_KEY), 0)
            self.assertEqual(field(r.out, "verdict"), "VALID", r)
            self.assertEqual(field(r.out, "presented"), "0 times before", r)
        # Nor does the vendor's operator: the count is the postal authority's.
        r = self.expect(stamp("verify", "--data", ind["data"], key=SRV.operator_key), 0)
        self.assertEqual(field(r.out, "presented"), "0 times before", r)
        # The postal authority (postal key): first valid, then a duplicate; JSON output.
        r = self.expect(stamp("verify", "--data", ind["data"], key=SRV.postal_key), 0)
        self.assertEqual(field(r.out, "verdict"), "VALID", r)
        j = self.expect(stamp("verify", "--json", "--data", ind["data"],
                              key=SRV.postal_key), 5).json()
        self.assertIs(j["duplicate"], True, j)
        self.assertIs(j["signature_valid"], True, j)
        self.assertEqual(j["presented_before"], 1)
        self.assertEqual(j["status"], "duplicate")
        # The owner now sees the count (2) without raising it.
        for _ in range(2):
            j = self.expect(stamp("verify", "--id", ind["id"], "--json"), 5).json()
            self.assertEqual(j["presented_before"], 2, j)
        r = self.expect(stamp("show", ind["id"]), 0)
        self.assertEqual(field(r.out, "presented"), "2 times", r)

    def test_online_invalid(self):
        ind = self.buy("postcard", "0.5")
        # Bad signature: the server says invalid.
        r = self.expect(stamp("verify", "--data", flip_bit(ind["data"]), key=SECOND_KEY), 4)
        self.assertTrue((field(r.out, "verdict") or "").startswith("INVALID"), r)
        self.assertEqual(field(r.out, "signature"), "INVALID", r)
        # Malformed: reported as invalid (4), not as a refusal (1).
        r = self.expect(stamp("verify", "--data", "AQ==", key=SECOND_KEY), 4)
        self.assertIn("indicium_truncated", r.out, r)
        r = self.expect(stamp("verify", "--data", "not base64!", key=SECOND_KEY), 4)
        self.assertIn("invalid_base64", r.out, r)
        # A bad signature still is not a presentation of the real piece.
        r = self.expect(stamp("verify", "--data", ind["data"], key=SECOND_KEY), 0)
        self.assertEqual(field(r.out, "presented"), "0 times before", r)

    def test_offline(self):
        ind = self.buy("large_envelope", "1")
        dead = closed_port_url()   # offline must never contact the server
        r = self.expect(stamp("verify", "--offline", "--keys", self.keys_file,
                              "--data", ind["data"], key=None, server=dead), 0)
        self.assertEqual(field(r.out, "verdict"), "VALID (duplicates are not detected offline)", r)
        self.assertEqual(field(r.out, "signature"), "valid (checked offline)", r)
        self.assertEqual(field(r.out, "issued here"), "not checked (offline)", r)
        self.assertEqual(field(r.out, "postage"), "$1.63", r)
        self.assertEqual(field(r.out, "software"), "STAMPD01", r)
        self.assertEqual(field(r.out, "test piece"), "no", r)
        self.assertNotIn("retrying", r.err, r)
        # Line-wrapped base64 is fine.
        wrapped = "\n".join(ind["data"][i:i + 40] for i in range(0, len(ind["data"]), 40))
        self.expect(stamp("verify", "--offline", "--keys", self.keys_file, "--data", wrapped,
                          key=None, server=dead), 0)
        # One flipped bit in the signature, and in the body.
        for where, off in (("signature", 1), ("body", 100)):
            with self.subTest(flipped=where):
                r = self.expect(stamp("verify", "--offline", "--keys", self.keys_file, "--data",
                                      flip_bit(ind["data"], off), key=None, server=dead), 4)
                self.assertIn("indicium_signature_invalid", field(r.out, "verdict") or "", r)
                self.assertEqual(field(r.out, "signature"), "INVALID", r)
        # JSON shape.
        j = self.expect(stamp("verify", "--offline", "--keys", self.keys_file, "--json",
                              "--data", ind["data"], key=None, server=dead), 0).json()
        self.assertIs(j["valid"], True)
        self.assertIs(j["signature_valid"], True)
        self.assertIs(j["offline"], True)
        self.assertIsNone(j["known"])
        self.assertIsNone(j["duplicate"])
        self.assertIsNone(j["presented_before"])
        self.assertEqual(j["fields"]["serial"], ind["serial"])
        j = self.expect(stamp("verify", "--offline", "--keys", self.keys_file, "--json",
                              "--data", flip_bit(ind["data"]), key=None, server=dead), 4).json()
        self.assertIs(j["valid"], False)
        self.assertIs(j["signature_valid"], False)
        self.assertEqual(j["error"]["code"], "indicium_signature_invalid")
        # A single PEM key (text before BEGIN is ignored).
        with open(self.keys_file) as f:
            doc = json.load(f)
        pem = {k["key_id"]: k["public_key_pem"] for k in doc["keys"]}
        pem_path = os.path.join(self.tmp("pem"), "key.pem")
        with open(pem_path, "w") as f:
            f.write("the vendor's key %d\n" % ind["key_id"] + pem[ind["key_id"]])
        self.expect(stamp("verify", "--offline", "--keys", pem_path, "--data", ind["data"],
                          key=None, server=dead), 0)
        other = 1 if ind["key_id"] != 1 else 2
        with open(pem_path, "w") as f:
            f.write(pem[other])
        self.expect(stamp("verify", "--offline", "--keys", pem_path, "--data", ind["data"],
                          key=None, server=dead), 4)

    def test_file_raw_bytes(self):
        ind = self.buy("first_class_letter", "3.5")
        d = self.tmp("file")
        path = os.path.join(d, "label.bin")
        raw = harness.unb64(ind["data"])
        with open(path, "wb") as f:
            f.write(raw)
        r = self.expect(stamp("verify", "--file", path, "--keys", self.keys_file, "--offline",
                              key=None), 0)
        self.assertEqual(field(r.out, "postage"), "$1.61", r)
        self.assertEqual(field(r.out, "weight"), "3.5 oz", r)
        # Standard input.
        self.expect(stamp("verify", "--file", "-", "--keys", self.keys_file, "--offline",
                          key=None, stdin=raw), 0)
        # Online, from the file, by a third party.
        r = self.expect(stamp("verify", "--file", path, key=SECOND_KEY), 0)
        self.assertEqual(field(r.out, "verdict"), "VALID", r)
        # One flipped signature bit in the file.
        bad = bytearray(raw)
        bad[-1] ^= 0x80
        with open(path, "wb") as f:
            f.write(bytes(bad))
        self.expect(stamp("verify", "--file", path, "--keys", self.keys_file, "--offline",
                          key=None), 4)
        # Trailing byte: indicium_too_long.
        with open(path, "wb") as f:
            f.write(raw + b"\0")
        r = self.expect(stamp("verify", "--file", path, "--keys", self.keys_file, "--offline",
                              key=None), 4)
        self.assertIn("indicium_too_long", r.out, r)
        # A file that does not exist: usage error.
        self.expect(stamp("verify", "--file", os.path.join(d, "missing.bin"), "--keys",
                          self.keys_file, "--offline", key=None), 2)

    def openssl(self, d):
        p = subprocess.run(["openssl", "dgst", "-sha256", "-verify", os.path.join(d, "pub.pem"),
                            "-signature", os.path.join(d, "sig.der"),
                            os.path.join(d, "body.bin")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        return p.returncode, p.stdout.decode("utf-8", "replace")

    def test_export_dir(self):
        ind = self.buy("postcard", "1", "--medium", LABELS[1])
        raw = harness.unb64(ind["data"])
        dec = harness.decode_indicium(raw)
        # Offline with the key list; DIR does not exist yet.
        d = os.path.join(self.tmp("export"), "check")
        r = self.expect(stamp("verify", "--offline", "--keys", self.keys_file, "--data",
                              ind["data"], "--export-dir", d, key=None), 0)
        self.assertIn("wrote %s/body.bin" % d, r.out, r)
        rc, out = self.openssl(d)
        self.assertEqual(rc, 0, out)
        self.assertIn("Verified OK", out)
        with open(os.path.join(d, "body.bin"), "rb") as f:
            self.assertEqual(f.read(), dec["body"])
        with open(os.path.join(d, "sig.der"), "rb") as f:
            self.assertEqual(f.read(), harness.ecdsa_raw_to_der(dec["signature"]))
        # Online without --keys: pub.pem comes from GET /v1/keys.
        d2 = os.path.join(self.tmp("export"), "online")
        r = self.expect(stamp("verify", "--id", ind["id"], "--export-dir", d2), 0)
        rc, out = self.openssl(d2)
        self.assertIn("Verified OK", out)
        # A flipped signature bit: files still written, openssl disagrees too.
        d3 = os.path.join(self.tmp("export"), "bad")
        self.expect(stamp("verify", "--offline", "--keys", self.keys_file, "--data",
                          flip_bit(ind["data"], 5), "--export-dir", d3, key=None), 4)
        rc, out = self.openssl(d3)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("Verification failure", out)


class TestErrors(CliTest):

    def test_usage_errors(self):
        buy = ["buy", "--class", "first_class_letter", "--from", "94107", "--to", "10001"]
        cases = [
            ("no command", []),
            ("unknown command", ["frobnicate"]),
            ("unknown global option", ["--frob", "balance"]),
            ("buy without --weight", buy),
            ("--weight abc", buy + ["--weight", "abc"]),
            ("--weight 0", buy + ["--weight", "0"]),
            ("--weight 1.25", buy + ["--weight", "1.25"]),
            ("buy unknown option", buy + ["--weight", "1", "--colour", "red"]),
            ("empty idempotency key", buy + ["--weight", "1", "--idempotency-key", ""]),
            ("--limit 0", ["list", "--limit", "0"]),
            ("--limit abc", ["list", "--limit", "abc"]),
            ("--limit 10001", ["list", "--limit", "10001"]),
            ("show without id", ["show"]),
            ("verify without input", ["verify"]),
            ("verify two inputs", ["verify", "--data", "AQ==", "--id", "ind_x"]),
            ("--offline without --keys", ["verify", "--offline", "--data", "AQ=="]),
            ("--offline with --id", ["verify", "--offline", "--keys", "k", "--id", "ind_x"]),
            ("--keys missing file", ["verify", "--offline", "--keys", "/nonexistent/k.json",
                                     "--data", "AQ=="]),
            ("bad server scheme", ["--server", "ftp://127.0.0.1:1", "balance"]),
        ]
        for name, args in cases:
            with self.subTest(case=name):
                r = self.expect(stamp(*args), 2)
                self.assertTrue(r.err.strip(), "no message on stderr: %r" % r)
                self.assertEqual(r.out, "", r)
        r = stamp("buy", "--class", "postcard", "--from", "94107", "--to", "10001")
        self.assertIn("--weight", r.err, r)
        # No API key at all.
        r = self.expect(stamp("balance", key=None), 2)
        self.assertIn("STAMP_KEY", r.err, r)
        self.expect(stamp("buy", "--class", "postcard", "--weight", "1", "--from", "94107",
                          "--to", "10001", key=None), 2)
        # help is not an error.
        r = self.expect(stamp("help", "buy"), 0)
        self.assertIn("usage: stamp buy", r.out, r)
        r = self.expect(stamp("list", "--help"), 0)
        self.assertIn("usage: stamp list", r.out, r)

    def test_server_refusals(self):
        # Wrong key.
        r = self.expect(stamp("balance", key="sk_live_00000000000000000000000000000000"), 1)
        self.assertRegex(r.err, r"(?m)^error: unauthorized: ", r)
        # Too heavy for a letter.
        before = self.balance_mills()
        r = self.expect(stamp("buy", "--class", "first_class_letter", "--weight", "4",
                              "--from", "94107", "--to", "10001"), 1)
        self.assertRegex(r.err, r"(?m)^error: weight_out_of_range: ", r)
        self.assertEqual(r.out, "", r)
        # Same with --json: the error object on stdout too.
        r = self.expect(stamp("buy", "--class", "first_class_letter", "--weight", "4",
                              "--from", "94107", "--to", "10001", "--json"), 1)
        self.assertEqual(r.json()["error"]["code"], "weight_out_of_range", r)
        self.assertIn("error: weight_out_of_range", r.err, r)
        # Bad ZIP names the field.
        r = self.expect(stamp("buy", "--class", "postcard", "--weight", "1",
                              "--from", "94107", "--to", "1234"), 1)
        self.assertRegex(r.err, r"(?m)^error: invalid_zip: .*\(field: to_zip\) \[request req_\w+\]$", r)
        self.assertEqual(self.balance_mills(), before, "a refused purchase was charged")
        # $0.50 does not buy a $0.74 letter.
        r = self.expect(stamp("buy", "--class", "first_class_letter", "--weight", "1",
                              "--from", "94107", "--to", "10001", key=POOR_KEY), 1)
        self.assertRegex(r.err, r"(?m)^error: insufficient_funds: ", r)
        self.assertEqual(self.balance_mills(POOR_KEY), 500)
        # An unknown cursor.
        r = self.expect(stamp("list", "--cursor", "ind_nope"), 1)
        self.assertIn("error: invalid_cursor", r.err, r)

    def test_server_not_running(self):
        # Once only: the CLI retries with backoff (0.5 + 1 + 2 s).
        url = closed_port_url()
        t0 = time.monotonic()
        r = self.expect(stamp("balance", server=url), 3)
        elapsed = time.monotonic() - t0
        self.assertIn("error: cannot reach %s" % url, r.err, r)
        self.assertIn("retrying", r.err, r)
        self.assertEqual(r.out, "", r)
        self.assertLess(elapsed, 30, r)


class TestFakeServer(CliTest):
    """What only a misbehaving server can show: retries, and odd answers."""

    ERR_503 = (503, {"Content-Type": "application/json"},
               {"error": {"code": "unavailable", "message": "shutting down"}})

    def test_buy_retry_is_byte_for_byte(self):
        ind = {"id": "ind_fake1", "object": "indicium", "postage_mills": 740,
               "mail_class": "first_class_letter", "weight_oz": 1, "balance_mills": 1000}
        with FakeServer([self.ERR_503, (201, {}, ind)]) as fake:
            r = self.expect(stamp("buy", "--class", "first_class_letter", "--weight", "1",
                                  "--from", "94107", "--to", "10001", "--json",
                                  server=fake.url), 0)
        self.assertEqual(r.json()["id"], "ind_fake1")
        self.assertIn("retrying", r.err, r)
        self.assertEqual(len(fake.requests), 2, fake.requests)
        (m1, p1, h1, b1), (m2, p2, h2, b2) = fake.requests
        self.assertEqual((m1, p1), ("POST", "/v1/indicia"))
        self.assertEqual((m1, p1, b1), (m2, p2, b2))
        self.assertRegex(h1.get("Idempotency-Key", ""), r"^[0-9a-f]{32}$")
        self.assertEqual(h1.get("Idempotency-Key"), h2.get("Idempotency-Key"))
        self.assertEqual(h1.get("Authorization"), "Bearer " + SRV.customer_key)
        self.assertEqual(json.loads(b1), {"mail_class": "first_class_letter", "weight_oz": 1,
                                          "from_zip": "94107", "to_zip": "10001"})

    def test_verify_is_not_retried_after_it_arrived(self):
        with FakeServer([self.ERR_503]) as fake:
            r = self.expect(stamp("verify", "--data", "AQ==", server=fake.url), 3)
        self.assertEqual(len(fake.requests), 1, r)
        self.assertIn("error: unavailable", r.err, r)

    def test_unreadable_and_redirect_answers(self):
        with FakeServer([(200, {"Content-Type": "application/json"}, "not json")]) as fake:
            r = self.expect(stamp("balance", server=fake.url), 3)
        self.assertIn("not a JSON object", r.err, r)
        with FakeServer([(302, {"Location": closed_port_url() + "/v1/account"}, "")]) as fake:
            r = self.expect(stamp("balance", server=fake.url), 3)
        self.assertEqual(len(fake.requests), 1, r)
        self.assertEqual(r.out, "", r)

    def test_control_characters_from_the_server(self):
        err = {"error": {"code": "forbidden\x1b[2J", "message": "no\x07\r\nway"}}
        with FakeServer([(403, {"Content-Type": "application/json"}, err)]) as fake:
            r = self.expect(stamp("balance", server=fake.url), 1)
        self.assertNotIn("\x1b", r.err, r)
        self.assertNotIn("\x07", r.err, r)
        self.assertIn("error: forbidden?[2J: no???way", r.err, r)


if __name__ == "__main__":
    unittest.main(verbosity=2)
