"""test_web_addresses.py - the buy form's addresses in a real browser (issue 17).

Prepares a customer with a web password and a balance, and a free Avery 5160
sheet; then runs tests/e2e/addresses.mjs (playwright-core driving
/usr/bin/chromium): the customer types a return and a delivery address into
the buy form's fields, meets field errors at the fields (the browser's own
checks, and the server's by address part), buys, sees the composed blocks and
the corrections, finds the return address remembered next time, and buys a
stamp on label 3 of the sheet and downloads its PDF on the sheet's layout.

Afterwards, on the server: the piece carries exactly the composed blocks;
the stamp on label 3 records it (medium.label 3, row 1, column 3), and in the
downloaded PDF laid over the blank sheet its symbol (dmtxread, read back by
ZXingReader) is inside label 3's cell. On main the form had no address
fields (the script fails at the first of them).

Screenshots go to $STAMPD_TEST_TMP/../artifacts/web-addresses. Needs node,
/usr/bin/chromium and tests/e2e/node_modules (scripts/deps.sh test).
"""

import base64
import http.client
import json
import os
import shutil
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_medium_position as mp  # noqa: E402  (pgm_pages, find_symbol, cell)

E2E = os.path.join(harness.SOURCE_DIR, "tests", "e2e")
ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(harness.TEST_TMP)), "artifacts",
                         "web-addresses")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
EMAIL = "addresses@example.test"
PASSWORD = "correct horse battery"


class WebAddresses(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        srv = cls.srv = harness.Stampd("web-addresses").init(psds=2)
        os.environ["STAMPD_PASSWORD"] = PASSWORD
        try:
            cls.key = srv.customer(EMAIL, "50")
        finally:
            os.environ.pop("STAMPD_PASSWORD", None)
        srv.start(processors=1)
        try:
            _, cls.batch = srv.media(product="avery-5160", sheets=1, payment="free")
        except BaseException:
            srv.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def serial(self, position):
        return [s["serial"] for s in self.batch["serials"] if s["position"] == position][0]

    def test_buy_form_addresses(self):
        srv = self.srv
        node = shutil.which("node")
        self.assertTrue(node, "node is missing: scripts/deps.sh test installs nodejs")
        self.assertTrue(os.access(CHROMIUM, os.X_OK), CHROMIUM + " is missing: scripts/deps.sh test")
        self.assertTrue(os.path.isdir(os.path.join(E2E, "node_modules", "playwright-core")),
                        "tests/e2e/node_modules is missing: scripts/deps.sh test runs npm ci")
        for tool in ("pdftoppm", "pdftotext", "dmtxread", "ZXingReader"):
            self.assertTrue(shutil.which(tool), tool + " is missing: scripts/deps.sh test")
        shutil.rmtree(ARTIFACTS, ignore_errors=True)
        os.makedirs(ARTIFACTS)
        setup = {"email": EMAIL, "password": PASSWORD, "label3": self.serial(3)}
        base = "http://%s:%d" % (srv.host, srv.port)
        p = subprocess.run([node, os.path.join(E2E, "addresses.mjs"), base, ARTIFACTS,
                            json.dumps(setup)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=dict(os.environ, CHROMIUM=CHROMIUM), timeout=300)
        sys.stderr.write(p.stdout.decode(errors="replace"))
        self.assertEqual(p.returncode, 0, "addresses.mjs failed:\n" +
                         p.stderr.decode(errors="replace")[-6000:])
        with open(os.path.join(ARTIFACTS, "result.json")) as f:
            result = json.load(f)

        # On the server: the composed blocks, as the browser sent them.
        ind = srv.get_ok("/v1/indicia/" + result["bought"]["addressed"], self.key)
        self.assertEqual(ind["from_address"],
                         "JANE SENDER\nSENDER GOODS LLC\n1 MAIN ST\nSTE 200\nSAN FRANCISCO CA 94107")
        self.assertEqual(ind["to_address"], "JOHN RECEIVER\n200 BROADWAY\nAPT 5\nNEW YORK NY 10001-1234")
        self.assertEqual((ind["from_zip"], ind["to_zip"]), ("94107", "10001-1234"))
        self.assertIsNone(ind["medium"])

        # The stamp on label 3: recorded, and printed on label 3 from the web UI.
        med = srv.get_ok("/v1/indicia/" + result["bought"]["medium"], self.key)
        self.assertEqual((med["medium"]["label"], med["medium"]["row"], med["medium"]["column"]),
                         (3, 1, 3))
        self.assertEqual(med["medium"]["serial"], self.serial(3))
        # The blank sheet's PDF (srv.request parses JSON: fetch the bytes here).
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=60)
        conn.request("GET", "/v1/admin/media/%s?format=pdf" % self.serial(0),
                     headers={"Authorization": "Bearer " + srv.operator_key})
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        blank_pdf = os.path.join(ARTIFACTS, "blank.pdf")
        with open(blank_pdf, "wb") as f:
            f.write(r.read())
        conn.close()
        blank = mp.pgm_pages(blank_pdf, os.path.join(ARTIFACTS, "blank"))[0]
        printed = mp.pgm_pages(os.path.join(ARTIFACTS, "medium-label3.pdf"),
                               os.path.join(ARTIFACTS, "printed"))[0]
        centre = mp.find_symbol(ARTIFACTS, "web-label3", mp.overlay(blank, printed),
                                base64.b64decode(med["data"]))
        self.assertEqual(mp.cell(*centre), (3, 1, 3), "web print: symbol at %r" % (centre,))


if __name__ == "__main__":
    harness.main()
