"""test_web.py - the web UI in a real browser, and the API it adds.

Starts a real stampd (harness.py), then:

* checks the routes the UI needs over plain HTTP: the static files and
  their headers, GET /v1/rates/quote (validated like a purchase), the
  history filters of GET /v1/indicia with cursor pages, GET /v1/admin/stats;
* runs tests/e2e/web.mjs (playwright-core driving /usr/bin/chromium
  headless): sign-up, cards, funds, auto-refill, keys, buying, printing,
  history, refunds, the operator's registers, charts, servers and ledger,
  and media: affiliates, a batch, a serial's record, the customer paying
  for an unpaid sheet, the chart of labels remaining, a resupply shipped;
* decodes the label PDFs the browser downloaded (pdftoppm, then dmtxread on
  the page, and ZXingReader on the symbol's region) and checks the bytes are
  the indicium stampd issued and that POST /v1/verify calls it valid.

Screenshots and PDFs are kept under $STAMPD_TEST_TMP/../artifacts/web
(build/check/artifacts/web under CTest); their paths are printed.

Needs node, /usr/bin/chromium and tests/e2e/node_modules (scripts/deps.sh
test installs them); without them the browser part fails, it is not skipped.
"""

import base64
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True
import harness  # noqa: E402
import test_printing  # noqa: E402  (its decoding tools)

E2E = os.path.join(harness.SOURCE_DIR, "tests", "e2e")
ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(harness.TEST_TMP)), "artifacts", "web")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def run(args, timeout=120, **kw):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, **kw)
    return p.returncode, p.stdout, p.stderr


def decode_page(pdf, workdir):
    """The DataMatrix on page 1 of pdf: (bytes from dmtxread on the whole
    page, bytes from ZXingReader on the symbol's region or None), with
    test_printing.py's tools (zxing-cpp 1.4 misses symbols far from the
    centre of a big page, STACK.md)."""
    base = os.path.join(workdir, os.path.splitext(os.path.basename(pdf))[0])
    rc, _, err = run(["pdftoppm", "-r", "300", "-png", "-f", "1", "-l", "1", "-singlefile", pdf, base])
    if rc != 0:
        raise AssertionError("pdftoppm %s: %s" % (pdf, err.decode(errors="replace")))
    syms = test_printing.dmtx_scan(base + ".png", 1, 300)
    if len(syms) != 1:
        raise AssertionError("%s: %d symbols" % (pdf, len(syms)))
    test_printing.zxing_regions(base + ".png", syms)
    return syms[0].data, syms[0].zxing


class Web(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.Stampd("web")
        cls.srv.init()
        cls.srv.start()
        cls.base = "http://%s:%d" % (cls.srv.host, cls.srv.port)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def get(self, path, key=None, headers=None):
        return self.srv.request("GET", path, key=key, headers=headers)

    def get_raw(self, path, key):
        """(status, headers with lower-case names, body bytes) of a GET."""
        conn = http.client.HTTPConnection(self.srv.host, self.srv.port, timeout=60)
        try:
            conn.request("GET", path, headers={"Authorization": "Bearer " + key})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    # ---- over plain HTTP ----

    def test_static_files(self):
        s, h, _ = self.get("/")
        self.assertEqual(s, 200)
        self.assertEqual(h["content-type"], "text/html; charset=utf-8")
        self.assertIn("default-src 'none'", h["content-security-policy"])
        self.assertIn("frame-ancestors 'none'", h["content-security-policy"])
        self.assertEqual(h["x-frame-options"], "DENY")
        self.assertEqual(h["referrer-policy"], "no-referrer")
        self.assertEqual(h["cache-control"], "no-cache")
        for path, ctype in (("/app.js", "text/javascript; charset=utf-8"),
                            ("/style.css", "text/css; charset=utf-8"),
                            ("/favicon.svg", "image/svg+xml")):
            s, h, _ = self.get(path)
            self.assertEqual((s, h["content-type"]), (200, ctype), path)
            s2, h2, _ = self.get(path, headers={"If-None-Match": h["etag"]})
            self.assertEqual(s2, 304, path)
        # The API keeps no-store and gets the same protective headers.
        s, h, _ = self.get("/v1/layouts")
        self.assertEqual((s, h["cache-control"]), (200, "no-store"))
        self.assertEqual(h["x-frame-options"], "DENY")
        for path in ("/web/index.html", "/index.htm", "/%2e%2e/CMakeLists.txt", "/app.js/x"):
            self.assertEqual(self.get(path)[0], 404, path)
        s, _, j = self.srv.request("DELETE", "/app.js")
        self.assertEqual((s, j["error"]["code"]), (405, "method_not_allowed"))
        # No inline script or style anywhere: the CSP would block it.
        with open(os.path.join(harness.SOURCE_DIR, "web", "index.html"), encoding="utf-8") as f:
            html = f.read()
        self.assertNotRegex(html, r"<script(?![^>]*\bsrc=)")
        self.assertNotRegex(html, r"<style|\sstyle=|\son[a-z]+=")

    def test_quote(self):
        s, _, j = self.get("/v1/rates/quote?mail_class=first_class_letter&weight_oz=1")
        self.assertEqual(s, 200, j)
        self.assertEqual(set(j), {"object", "mail_class", "weight_oz", "mail_date", "postage",
                                  "postage_mills", "price", "extra_services", "non_machinable",
                                  "zone"})
        # The quote is what a purchase of the same piece charges.
        s, _, ind = self.srv.request("POST", "/v1/indicia", key=self.srv.customer_key,
                                     body={"mail_class": "first_class_letter", "weight_oz": 1,
                                           "from_zip": "94107", "to_zip": "10001"},
                                     headers={"Idempotency-Key": "quote-check"})
        self.assertEqual(s, 201, ind)
        self.assertEqual(ind["postage_mills"], j["postage_mills"])
        # Without a class: every class that takes the piece (docs/rates.md).
        s, _, j = self.get("/v1/rates/quote?weight_oz=1")
        self.assertEqual((s, j["object"]), (200, "quote_list"), j)
        for query, status, code, field in (
                ("mail_class=first_class_letter", 400, "missing_field", "weight_oz"),
                ("mail_class=parcel&weight_oz=1", 400, "unknown_mail_class", "mail_class"),
                ("mail_class=postcard&weight_oz=2", 400, "weight_out_of_range", "weight_oz"),
                ("mail_class=postcard&weight_oz=abc", 400, "invalid_type", "weight_oz"),
                ("mail_class=postcard&weight_oz=1.25", 400, "invalid_type", "weight_oz"),
                ("mail_class=postcard&weight_oz=1&mail_date=2020-01-01", 400,
                 "invalid_mail_date", "mail_date"),
                ("mail_class=postcard&weight_oz=1&mail_date=tomorrow", 400,
                 "invalid_mail_date", "mail_date")):
            s, _, e = self.get("/v1/rates/quote?" + query)
            self.assertEqual((s, e["error"]["code"], e["error"].get("field")),
                             (status, code, field), query)
        s, _, e = self.srv.request("POST", "/v1/rates/quote", raw="{}")
        self.assertEqual(s, 405)

    def test_history_filters_and_stats(self):
        srv = self.srv
        key = srv.customer_key
        ids = []
        for i, (cls, w, to) in enumerate((("postcard", 1, "60601"), ("first_class_letter", 2, "10001-1234"),
                                          ("large_envelope", 5, "60601"), ("postcard", 1, "94105"))):
            s, _, ind = srv.request("POST", "/v1/indicia", key=key,
                                    body={"mail_class": cls, "weight_oz": w, "from_zip": "94107",
                                          "to_zip": to},
                                    headers={"Idempotency-Key": "hist-%d" % i})
            self.assertEqual(s, 201, ind)
            ids.append(ind["id"])

        def listing(q):
            s, _, j = self.get("/v1/indicia?" + q, key=key)
            self.assertEqual(s, 200, (q, j))
            return j

        got = [x["id"] for x in listing("mail_class=postcard&limit=100")["data"]]
        self.assertEqual(got[:2], [ids[3], ids[0]])
        self.assertNotIn(ids[1], got)
        self.assertEqual([x["id"] for x in listing("q=60601")["data"]], [ids[2], ids[0]])
        self.assertEqual([x["id"] for x in listing("q=10001-1234")["data"]][0], ids[1])
        self.assertEqual([x["id"] for x in listing("q=" + ids[2])["data"]], [ids[2]])
        self.assertEqual(listing("mode=test")["data"], [])
        # Cursor pages under a filter: whole, in order, no repeats.
        page = listing("q=60601&limit=1")
        self.assertEqual(([x["id"] for x in page["data"]], page["has_more"]), ([ids[2]], True))
        page = listing("q=60601&limit=1&cursor=" + page["next_cursor"])
        self.assertEqual(([x["id"] for x in page["data"]], page["has_more"]), ([ids[0]], False))
        today = harness.datetime.datetime.now(harness.datetime.timezone.utc).date().isoformat()
        self.assertGreaterEqual(len(listing("from=%s&to=%s&limit=100" % (today, today))["data"]), 4)
        self.assertEqual(listing("to=2020-01-01")["data"], [])
        for q, code, field in (("from=2026-02-30", "invalid_request", "from"),
                               ("to=yesterday", "invalid_request", "to"),
                               ("from=2026-05-02&to=2026-05-01", "invalid_request", "to"),
                               ("mail_class=parcel", "unknown_mail_class", "mail_class"),
                               ("mode=sandbox", "invalid_request", "mode"),
                               ("refunded=yes", "invalid_request", "refunded"),
                               ("q=%27%20OR%201=1", "invalid_request", "q")):
            s, _, e = self.get("/v1/indicia?" + q, key=key)
            self.assertEqual((s, e["error"]["code"], e["error"].get("field")), (400, code, field), q)

        s, _, st = self.get("/v1/admin/stats?days=7", key=srv.operator_key)
        self.assertEqual(s, 200, st)
        self.assertEqual((st["days"], len(st["sales"])), (7, 7))
        self.assertEqual(st["sales"][-1]["date"], today)
        self.assertGreaterEqual(st["sales"][-1]["count"], 4)
        s, _, psds = self.get("/v1/psds", key=srv.operator_key)
        now = {p["id"]: p for p in psds["psds"]}
        for p in st["psds"]:
            self.assertEqual(len(p["days"]), 7)
            # Today's end is the register now; each day's start is the one before's end.
            self.assertEqual(p["days"][-1]["descending_mills"], now[p["psd_id"]]["descending_mills"])
            for a, b in zip(p["days"], p["days"][1:]):
                self.assertEqual(b["descending_mills"],
                                 a["descending_mills"] - b["dispensed_mills"] + b["refilled_mills"])
        live = sum(d["dispensed_mills"] for p in st["psds"] if not p["test"] for d in p["days"])
        self.assertEqual(live, sum(d["postage_mills"] for d in st["sales"]))
        for q in ("days=0", "days=367", "days=x"):
            s, _, e = self.get("/v1/admin/stats?" + q, key=srv.operator_key)
            self.assertEqual((s, e["error"]["code"], e["error"]["field"]), (400, "invalid_limit", "days"))
        s, _, e = self.get("/v1/admin/stats", key=key)
        self.assertEqual((s, e["error"]["code"]), (403, "forbidden"))

    def test_affiliate_supply(self):
        """GET /v1/admin/affiliates counts each affiliate's labels as its
        resupply rule does: the chart of labels remaining reads it."""
        srv = self.srv
        aff, batch = srv.media(sheets=2, payment="free", name="Supply count")
        per = batch["labels_per_sheet"]

        def supply():
            j = srv.get_ok("/v1/admin/affiliates", srv.operator_key)
            a = [x for x in j["affiliates"] if x["id"] == aff]
            self.assertEqual(len(a), 1, j)
            return a[0]["labels_total"], a[0]["labels_used"], a[0]["labels_remaining"]

        self.assertEqual(supply(), (2 * per, 0, 2 * per))
        label = batch["serials"][1]["serial"]
        s, _, ind = srv.buy(srv.customer_key, "supply-1",
                            {"mail_class": "first_class_letter", "weight_oz": 1,
                             "from_zip": "94107", "to_zip": "10001", "medium_serial": label})
        self.assertEqual(s, 201, ind)
        self.assertEqual(supply(), (2 * per, 1, 2 * per - 1))
        s, _, e = self.get("/v1/admin/affiliates", key=srv.customer_key)
        self.assertEqual((s, e["error"]["code"]), (403, "forbidden"))

    def test_batch_again(self):
        """GET /v1/admin/media/{serial}?format=csv|pdf: the serial's whole
        batch again, as its creation answered it (the batch page's downloads)."""
        srv = self.srv
        _, batch = srv.media(sheets=2, payment="unpaid", price="0.75", name="Downloads")
        label = batch["serials"][5]["serial"]
        s, h, csv = self.get_raw("/v1/admin/media/%s?format=csv" % label, srv.operator_key)
        self.assertEqual((s, h["content-type"].split(";")[0]), (200, "text/csv"))
        lines = csv.decode().strip().split("\n")
        self.assertEqual(lines[0], "serial,batch,sheet,position")
        self.assertEqual([x.split(",")[0] for x in lines[1:]],
                         [x["serial"] for x in batch["serials"]])
        self.assertIn("media-batch-%d.csv" % batch["batch"], h["content-disposition"])
        s, h, pdf = self.get_raw("/v1/admin/media/%s?format=pdf" % label, srv.operator_key)
        self.assertEqual((s, h["content-type"]), (200, "application/pdf"))
        self.assertTrue(pdf.startswith(b"%PDF-"))
        s, _, rec = self.get("/v1/admin/media/%s?format=json" % label, key=srv.operator_key)
        self.assertEqual((s, rec["batch"]["batch"], rec["payment"]), (200, batch["batch"], "unpaid"))
        s, _, e = self.get("/v1/admin/media/%s?format=xml" % label, key=srv.operator_key)
        self.assertEqual((s, e["error"]["code"], e["error"]["field"]), (400, "invalid_request", "format"))

    # ---- in a real browser ----

    def test_browser(self):
        node = shutil.which("node")
        self.assertTrue(node, "node is missing: scripts/deps.sh test installs nodejs")
        self.assertTrue(os.access(CHROMIUM, os.X_OK), CHROMIUM + " is missing: scripts/deps.sh test")
        self.assertTrue(os.path.isdir(os.path.join(E2E, "node_modules", "playwright-core")),
                        "tests/e2e/node_modules is missing: scripts/deps.sh test runs npm ci")
        shutil.rmtree(ARTIFACTS, ignore_errors=True)
        os.makedirs(ARTIFACTS)
        env = dict(os.environ, CHROMIUM=CHROMIUM)
        rc, out, err = run([node, os.path.join(E2E, "web.mjs"), self.base, ARTIFACTS], timeout=480,
                           env=env)
        sys.stderr.write(out.decode(errors="replace"))
        self.assertEqual(rc, 0, "web.mjs failed:\n" + err.decode(errors="replace")[-6000:])
        with open(os.path.join(ARTIFACTS, "result.json")) as f:
            result = json.load(f)
        self.assertGreaterEqual(len(result["screenshots"]), 10)
        for shot in result["screenshots"]:
            self.assertTrue(os.path.getsize(shot) > 1000, shot)

        # The labels the browser downloaded hold the indicium stampd issued, and it verifies.
        self.assertEqual(len(result["labels"]), 2)
        for label in result["labels"]:
            s, _, ind = self.get("/v1/indicia/" + label["indicium_id"], key=self.srv.operator_key)
            self.assertEqual(s, 200, ind)
            issued = base64.b64decode(ind["data"])
            dmtx, zx = decode_page(label["file"], ARTIFACTS)
            self.assertEqual(dmtx, issued, label["file"] + ": dmtxread")
            self.assertEqual(zx, issued, label["file"] + ": ZXingReader")
            s, _, v = self.srv.request("POST", "/v1/verify", key=self.srv.operator_key,
                                       body={"data": base64.b64encode(dmtx).decode()})
            self.assertEqual(s, 200, v)
            self.assertEqual((v["valid"], v["signature_valid"], v["known"]), (True, True, True), v)
            self.assertIn(v["status"], ("valid", "duplicate"))
        # The refunded one is refunded on the books too.
        s, _, r = self.get("/v1/indicia/" + result["indicium_ids"]["refunded"], key=self.srv.operator_key)
        self.assertEqual((s, r["refunded"]), (200, True))
        s, _, led = self.get("/v1/admin/ledger", key=self.srv.operator_key)
        self.assertTrue(led["ok"], led)
        sys.stderr.write("web artefacts in %s:\n  %s\n"
                         % (ARTIFACTS, "\n  ".join(result["screenshots"] +
                                                   [x["file"] for x in result["labels"]])))


if __name__ == "__main__":
    harness.main()
