"""test_authority_web.py - the postal authority's web pages in a real browser,
and the same work from the command line (`stamp authority`).

Prepares a vendor over the real API, as it would be after a day of trade:
pieces sold, two refunded (two refund claims), one presented twice by the
authority's scanner (a duplicate), and that day reported (stampd restarted
with the test clock a day on, STAMPD_TEST_CLOCK_OFFSET_S, so the processors
report the day that is over). Then runs tests/e2e/authority.mjs (playwright-
core driving /usr/bin/chromium): the authority logs in by name and works
every page. While the hold it ordered in the browser stands, this test buys
as the customer and is refused customer_on_hold; afterwards it checks on the
server what the browser did: the claims' decisions and books, the device's
history, the credit, the report files it downloaded against the API's.

test_cli then does the authority's work with the real `stamp` binary: every
subcommand against the same server, its tables and --json, its exit codes
(refused keys 1, usage 2), a credit retried with the same key counted once,
the report files equal to the API's bytes, a claim decided twice, a hold the
customer meets.

Screenshots go to $STAMPD_TEST_TMP/../artifacts/authority-web. Needs node,
/usr/bin/chromium and tests/e2e/node_modules (scripts/deps.sh test).
"""

import json
import os
import shutil
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
import harness  # noqa: E402

E2E = os.path.join(harness.SOURCE_DIR, "tests", "e2e")
ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(harness.TEST_TMP)), "artifacts",
                         "authority-web")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
OFFSET_ENV = "STAMPD_TEST_CLOCK_OFFSET_S"
STAMP_BIN = os.environ.get("STAMP_BIN") or os.path.join(harness.SOURCE_DIR, "build", "stamp")
POSTAL_NAME = "Demo postal authority"
PASSWORD = "stampd-demo-password"


def letter():
    return {"mail_class": "first_class_letter", "weight_oz": 1.0, "from_zip": "10001",
            "to_zip": "94105", "mail_date": harness.today_utc().isoformat()}


class AuthorityWeb(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        srv = cls.srv = harness.Stampd("authority-web").init(psds=2)
        srv.start(processors=1)
        try:
            cls.pieces = []
            for i in range(6):
                s, _, ind = srv.buy(srv.customer_key, "aw-%d" % i, letter())
                assert s == 201, ind
                cls.pieces.append(ind)
            for ind in cls.pieces[:2]:
                s, _, r = srv.request("POST", "/v1/indicia/%s/refund" % ind["id"], {},
                                      key=srv.customer_key)
                assert s == 201 and r["status"] == "approved", r
            dup = cls.pieces[2]
            for where in ("NDC-DENVER", "P&DC-94105"):
                s, _, v = srv.request("POST", "/v1/verify", {"data": dup["data"],
                                                             "location": where},
                                      key=srv.postal_key)
                assert s == 200, v
            cls.duplicate = "%d-%d" % (dup["psd_id"], dup["serial"])
            cls.report_date = harness.today_utc().isoformat()
        finally:
            srv.stop()
        # A day on: the processors report the day that is over.
        os.environ[OFFSET_ENV] = str(86400 + 600)
        try:
            srv.start(processors=1)
        finally:
            os.environ.pop(OFFSET_ENV, None)
        deadline = time.time() + 60
        while True:
            s, _, j = srv.request("GET", "/v1/authority/reports", key=srv.postal_key)
            if s == 200 and any(r["date"] == cls.report_date for r in j["data"]):
                break
            if time.time() > deadline:
                raise AssertionError("no report of %s: %s" % (cls.report_date, j))
            time.sleep(0.5)
        cls.base = "http://%s:%d" % (srv.host, srv.port)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_browser(self):
        srv = self.srv
        node = shutil.which("node")
        self.assertTrue(node, "node is missing: scripts/deps.sh test installs nodejs")
        self.assertTrue(os.access(CHROMIUM, os.X_OK), CHROMIUM + " is missing: scripts/deps.sh test")
        self.assertTrue(os.path.isdir(os.path.join(E2E, "node_modules", "playwright-core")),
                        "tests/e2e/node_modules is missing: scripts/deps.sh test runs npm ci")
        shutil.rmtree(ARTIFACTS, ignore_errors=True)
        os.makedirs(ARTIFACTS)
        s, _, devices = srv.request("GET", "/v1/authority/devices", key=srv.postal_key)
        self.assertEqual(s, 200, devices)
        held = self.pieces[4]
        setup = {"name": POSTAL_NAME, "password": PASSWORD, "devices": len(devices["data"]),
                 "duplicate": self.duplicate, "hold_serial": held["serial"],
                 "hold_psd": held["psd_id"], "claims": 2, "report_date": self.report_date}
        p = subprocess.Popen([node, os.path.join(E2E, "authority.mjs"), self.base, ARTIFACTS,
                              json.dumps(setup)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=dict(os.environ, CHROMIUM=CHROMIUM))
        try:
            # While the hold ordered in the browser stands, the customer buys nothing.
            hold_file = os.path.join(ARTIFACTS, "hold.json")
            deadline = time.time() + 300
            while not os.path.exists(hold_file) and p.poll() is None and time.time() < deadline:
                time.sleep(0.2)
            if os.path.exists(hold_file):
                s, _, j = srv.buy(srv.customer_key, "aw-held", letter())
                self.assertEqual((s, j["error"]["code"]), (403, "customer_on_hold"), j)
                with open(os.path.join(ARTIFACTS, "hold-checked"), "w") as f:
                    f.write("ok")
            out, err = p.communicate(timeout=300)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        sys.stderr.write(out.decode(errors="replace"))
        self.assertEqual(p.returncode, 0, "authority.mjs failed:\n" +
                         err.decode(errors="replace")[-6000:])
        with open(os.path.join(ARTIFACTS, "result.json")) as f:
            result = json.load(f)
        self.assertGreaterEqual(len(result["screenshots"]), 7)

        # What the browser did, on the server: the claims decided, the books balanced.
        for cid, status in ((result["claims"]["accepted"], "accepted"),
                            (result["claims"]["rejected"], "rejected")):
            s, _, c = srv.request("GET", "/v1/authority/refund-claims/" + cid, key=srv.postal_key)
            self.assertEqual((s, c["status"]), (200, status), c)
        s, _, c = srv.request("GET", "/v1/authority/refund-claims/" + result["claims"]["rejected"],
                              key=srv.postal_key)
        self.assertEqual(c["reason"], "piece was presented at Denver P&DC", c)
        s, _, led = srv.request("GET", "/v1/admin/ledger", key=srv.operator_key)
        self.assertTrue(led["ok"], led)
        # The hold was lifted: the customer buys again.
        s, _, j = srv.buy(srv.customer_key, "aw-after", letter())
        self.assertEqual(s, 201, j)
        # The credit made in the browser, once.
        s, _, d = srv.request("GET", "/v1/authority/deposits", key=srv.postal_key)
        self.assertEqual([e["reference"] for e in d["data"]].count("WIRE-WEB-1"), 1, d)
        # The reports downloaded are the API's, byte for byte.
        for ext, fmt in (("jsonl", "jsonl"), ("csv", "csv")):
            path = os.path.join(ARTIFACTS, "report-%s.%s" % (self.report_date, ext))
            s, _, _ = srv.request("GET", "/v1/authority/reports/%s?format=%s"
                                  % (self.report_date, fmt), key=srv.postal_key)
            self.assertEqual(s, 200)
            with open(path, "rb") as f:
                self.assertEqual(f.read(), self.raw("/v1/authority/reports/%s?format=%s"
                                                    % (self.report_date, fmt)))
        sys.stderr.write("authority web artefacts in %s\n" % ARTIFACTS)

    def stamp(self, *args, key=None):
        env = dict(harness.stampd_env(), STAMP_SERVER=self.base,
                   STAMP_KEY=key or self.srv.postal_key)
        p = subprocess.run([STAMP_BIN] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env, timeout=60)
        err = p.stderr.decode("utf-8", "replace")
        harness.assert_no_sanitizer(err, "stamp " + " ".join(args))
        return p.returncode, p.stdout.decode("utf-8", "replace"), err

    def test_cli(self):
        srv = self.srv
        # Devices: the table, --json equal to the API, one device, its history.
        rc, out, err = self.stamp("authority", "devices")
        self.assertEqual(rc, 0, err)
        self.assertIn("DESCENDING", out)
        rc, out, err = self.stamp("--json", "authority", "devices")
        self.assertEqual(rc, 0, err)
        _, _, api = srv.request("GET", "/v1/authority/devices", key=srv.postal_key)
        self.assertEqual([d["id"] for d in json.loads(out)["data"]], [d["id"] for d in api["data"]])
        dev = str(api["data"][-1]["id"])
        rc, out, err = self.stamp("authority", "suspend", dev)
        self.assertEqual(rc, 2, err)   # a reason is required
        rc, out, err = self.stamp("authority", "suspend", dev, "--reason", "cli seal check")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"STATUS\s+suspended")
        rc, out, err = self.stamp("authority", "history", dev)
        self.assertEqual(rc, 0, err)
        self.assertIn("cli seal check", out)
        rc, out, err = self.stamp("authority", "resume", dev)
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"STATUS\s+active")
        rc, _, err = self.stamp("authority", "device", "no such/id")
        self.assertEqual(rc, 2, err)
        rc, _, err = self.stamp("authority", "device", "999")
        self.assertEqual(rc, 1, err)
        self.assertIn("not_found", err)
        self.assertRegex(err, r"\[request [!-~]+\]")   # what a complaint quotes
        # The reset lock, and the resets with their signatures.
        rc, out, err = self.stamp("authority", "resets", "lock", "--reason", "cli audit")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"resets locked\s+yes")
        rc, out, err = self.stamp("authority", "resets", "unlock")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"resets locked\s+no")
        rc, out, err = self.stamp("authority", "resets")
        self.assertEqual(rc, 0, err)
        self.assertIn("SIGNED", out)
        self.assertNotRegex(out, r"\bno\s*$")
        # A credit retried with the same key counts once.
        _, _, before = srv.request("GET", "/v1/authority/deposits", key=srv.postal_key)
        for _ in range(2):
            rc, out, err = self.stamp("authority", "deposit", "3.21", "--reference", "CLI-WIRE",
                                      "--idempotency-key", "cli-credit-1")
            self.assertEqual(rc, 0, err)
        _, _, after = srv.request("GET", "/v1/authority/deposits", key=srv.postal_key)
        self.assertEqual(after["balance_mills"] - before["balance_mills"], 3210)
        rc, out, err = self.stamp("authority", "deposits", "--limit", "1")
        self.assertEqual(rc, 0, err)
        self.assertIn("CLI-WIRE", out)
        self.assertIn("--cursor", out)
        # Reports: the days, and a day's files equal to the API's bytes.
        rc, out, err = self.stamp("authority", "reports")
        self.assertEqual(rc, 0, err)
        self.assertIn(self.report_date, out)
        tmp = os.path.join(harness.TEST_TMP, "authority-cli")
        os.makedirs(tmp, exist_ok=True)
        for extra, query in (((), "format=jsonl"), (("--csv",), "format=csv"),
                             (("--psd", "1"), "format=jsonl&psd=1")):
            path = os.path.join(tmp, "report-%s" % query.replace("&", "-").replace("=", "-"))
            rc, _, err = self.stamp("authority", "report", self.report_date, "--out", path, *extra)
            self.assertEqual(rc, 0, err)
            with open(path, "rb") as f:
                self.assertEqual(f.read(), self.raw("/v1/authority/reports/%s?%s"
                                                    % (self.report_date, query)), query)
        rc, _, err = self.stamp("authority", "report", "yesterday")
        self.assertEqual(rc, 2, err)
        # A refund claim: listed pending, accepted, accepted again answers the same.
        s, _, ind = srv.buy(srv.customer_key, "aw-cli-claim", letter())
        self.assertEqual(s, 201, ind)
        s, _, r = srv.request("POST", "/v1/indicia/%s/refund" % ind["id"], {},
                              key=srv.customer_key)
        self.assertEqual((s, r["status"]), (201, "approved"), r)
        rc, out, err = self.stamp("--json", "authority", "claims", "--status", "pending")
        self.assertEqual(rc, 0, err)
        claim = [c for c in json.loads(out)["data"] if c["serial"] == ind["serial"] and
                 c["psd_id"] == ind["psd_id"]][0]
        for _ in range(2):
            rc, out, err = self.stamp("authority", "claim", claim["id"], "accept")
            self.assertEqual(rc, 0, err)
            self.assertRegex(out, r"STATUS\s+accepted")
        rc, _, err = self.stamp("authority", "claim", claim["id"], "reject")
        self.assertEqual(rc, 2, err)   # a reason is required to reject
        # A hold by a piece: the customer is refused until it is lifted.
        rc, out, err = self.stamp("--json", "authority", "hold", "--serial", str(ind["serial"]),
                                  "--psd", str(ind["psd_id"]), "--reason", "cli case 9")
        self.assertEqual(rc, 0, err)
        hold = json.loads(out)
        s, _, j = srv.buy(srv.customer_key, "aw-cli-held", letter())
        self.assertEqual((s, j["error"]["code"]), (403, "customer_on_hold"), j)
        rc, out, err = self.stamp("authority", "holds", "--status", "standing")
        self.assertEqual(rc, 0, err)
        self.assertIn(hold["id"], out)
        rc, out, err = self.stamp("authority", "lift", hold["id"], "--reason", "cleared")
        self.assertEqual(rc, 0, err)
        s, _, j = srv.buy(srv.customer_key, "aw-cli-free", letter())
        self.assertEqual(s, 201, j)
        rc, _, err = self.stamp("authority", "hold", "--reason", "nobody named")
        self.assertEqual(rc, 2, err)
        # The duplicate the scanner found.
        rc, out, err = self.stamp("authority", "duplicates")
        self.assertEqual(rc, 0, err)
        psd, serial = self.duplicate.split("-")
        self.assertRegex(out, r"(?m)^\s*%s\s+%s\s+2\b" % (psd, serial))
        # The vendor's keys are refused, and the postal key is refused the vendor's commands.
        for key in (srv.customer_key, srv.operator_key):
            rc, _, err = self.stamp("authority", "devices", key=key)
            self.assertEqual(rc, 1, err)
            self.assertIn("forbidden", err)
        rc, _, err = self.stamp("admin", "psds")
        self.assertEqual(rc, 1, err)
        s, _, led = srv.request("GET", "/v1/admin/ledger", key=srv.operator_key)
        self.assertTrue(led["ok"], led)

    def raw(self, path):
        import http.client
        conn = http.client.HTTPConnection(self.srv.host, self.srv.port, timeout=60)
        try:
            conn.request("GET", path, headers={"Authorization": "Bearer " + self.srv.postal_key})
            return conn.getresponse().read()
        finally:
            conn.close()


if __name__ == "__main__":
    harness.main()
