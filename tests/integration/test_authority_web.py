"""test_authority_web.py - the postal authority's web pages in a real browser.

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
