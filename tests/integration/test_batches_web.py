"""test_batches_web.py - the Batches page (web/batches.js) in a real browser.

Signs a customer up over the API, funds it with a sandbox card, writes a CSV
of orders with a few bad rows, and runs tests/e2e/batches.mjs (playwright-
core driving /usr/bin/chromium): the customer uploads the file, watches the
batch finish, sees the failed rows and downloads the label file. Afterwards
it checks on the server what the browser did: one batch, the good rows
bought once, the bad ones failed and not charged, the PDF downloaded equal
to the API's.

Screenshots go to $STAMPD_TEST_TMP/../artifacts/batches-web. Needs node,
/usr/bin/chromium and tests/e2e/node_modules (scripts/deps.sh test).
"""

import json
import os
import shutil
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True
import harness  # noqa: E402

E2E = os.path.join(harness.SOURCE_DIR, "tests", "e2e")
ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(harness.TEST_TMP)), "artifacts",
                         "batches-web")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PASSWORD = "correct horse battery"
EMAIL = "shop@example.com"


class BatchesWeb(unittest.TestCase):
    def test_browser(self):
        node = shutil.which("node")
        self.assertTrue(node, "node is missing: scripts/deps.sh test installs nodejs")
        self.assertTrue(os.access(CHROMIUM, os.X_OK), CHROMIUM + " is missing")
        self.assertTrue(os.path.isdir(os.path.join(E2E, "node_modules", "playwright-core")),
                        "tests/e2e/node_modules is missing: scripts/deps.sh test runs npm ci")
        srv = harness.Stampd("batches-web").init(psds=2)
        try:
            srv.start(processors=1)
            key = srv.signup(EMAIL, password=PASSWORD)
            s, _, f = srv.request("POST", "/v1/account/funds", {
                "amount": "50.00", "payment": {"method": "card", "card": {
                    "number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2030,
                    "cvc": "123", "zip": "94107"}}}, key=key, headers={"Idempotency-Key": "f1"})
            self.assertEqual(s, 201, f)
            shutil.rmtree(ARTIFACTS, ignore_errors=True)
            os.makedirs(ARTIFACTS)
            lines = ["reference,mail_class,weight_oz,from_zip,to_zip,to_address"]
            bad = []
            for i in range(12):
                to = "941" if i in (3, 8) else "94105"
                if to == "941":
                    bad.append("W-%02d" % i)
                lines.append('W-%02d,first_class_letter,1,10001,%s,"Customer %d\n1 Main St"'
                             % (i, to, i))
            csv = os.path.join(ARTIFACTS, "orders.csv")
            with open(csv, "w") as fh:
                fh.write("\n".join(lines) + "\n")
            before = srv.balance(key)
            setup = {"email": EMAIL, "password": PASSWORD, "csv": csv, "orders": 12,
                     "bad": len(bad), "bad_ref": bad[0]}
            base = "http://%s:%d" % (srv.host, srv.port)
            p = subprocess.run([node, os.path.join(E2E, "batches.mjs"), base, ARTIFACTS,
                                json.dumps(setup)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=dict(os.environ, CHROMIUM=CHROMIUM),
                               timeout=600)
            sys.stderr.write(p.stdout.decode(errors="replace"))
            self.assertEqual(p.returncode, 0, "batches.mjs failed:\n" +
                             p.stderr.decode(errors="replace")[-6000:])
            with open(os.path.join(ARTIFACTS, "result.json")) as fh:
                result = json.load(fh)
            # On the server: one batch, the good rows bought once, the bad ones not charged.
            lst = srv.get_ok("/v1/batches", key)["data"]
            self.assertEqual([b["id"] for b in lst], [result["batch"]])
            b = srv.get_ok("/v1/batches/%s?limit=1000" % result["batch"], key)
            self.assertEqual(b["counts"], {"total": 12, "pending": 0, "bought": 10, "failed": 2})
            self.assertEqual(sorted(i["reference"] for i in b["items"]["data"]
                                    if i["status"] == "failed"), bad)
            self.assertEqual(before - srv.balance(key), 10 * 740)
            self.assertEqual(len(srv.list_all(key)), 10)
            ind = srv.get_ok("/v1/indicia/" + b["items"]["data"][0]["indicium_id"], key)
            self.assertEqual(ind["to_address"], "Customer 0\n1 Main St")
            self.assertEqual(len(result["downloads"]), 1)
            with open(result["downloads"][0], "rb") as fh:
                self.assertTrue(fh.read().startswith(b"%PDF-"))
            srv.stop()
        finally:
            srv.abandon()


if __name__ == "__main__":
    harness.main()
