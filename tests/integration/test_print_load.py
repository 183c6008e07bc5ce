"""test_print_load.py - the work one sheet request may ask for is bounded
(issue 12 finding 7; docs/printing.md "How much work one request may ask for",
docs/api.md `POST /v1/sheets`).

Before the bound, a 500-label PDF sheet cost 1.4 s of CPU on an HTTP worker
(debug build with sanitizers), and eight at once kept GET /healthz waiting
8.6 s. Now a sheet takes at most 100 indicia, and at most two sheets render
at once per process; the rest are answered 503 unavailable with Retry-After
at once. These tests drive the real `stampd serve` (harness.Stampd) over HTTP:

* 101 indicia are refused with 400 invalid_request, field indicia; 100 print;
* twelve clients posting 100-label PDF sheets again and again while GET
  /healthz and GET /v1/account are timed: each is answered within
  CHEAP_BOUND seconds, every sheet is 200 or 503 unavailable with
  Retry-After, some are 503 and some 200, and a sheet sent alone afterwards
  prints (the slots were all given back).

Environment: STAMPD_BIN, STAMPD_TEST_TMP. Standard library only.
"""

import os
import sys
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SHEET_MAX = 100       # docs/api.md: indicia in one POST /v1/sheets
CLIENTS = 12          # concurrent sheet clients, three times the workers
THREADS = 4           # stampd serve --threads (the default)
LOAD_SECONDS = 6.0    # how long the sheets keep coming
CHEAP_BOUND = 1.5     # seconds a cheap request may take under that load (ASan build)

SRV = None
IND = None


def setUpModule():
    global SRV, IND
    srv = harness.Stampd("print-load")
    try:
        srv.init(psds=2, deposit="1000")
        srv.start(threads=THREADS)
        st, _, j = srv.buy(srv.customer_key, uuid.uuid4().hex,
                           {"mail_class": "postcard", "weight_oz": 1, "from_zip": "94107",
                            "to_zip": "10001"})
        if st != 201:
            raise AssertionError("purchase: %d %r" % (st, j))
    except BaseException:
        srv.abandon()
        raise
    SRV, IND = srv, j["id"]


def tearDownModule():
    if SRV is not None:
        SRV.stop()   # SIGTERM; asserts exit 0 and no sanitizer report


def sheet(n, fmt="pdf"):
    return SRV.request("POST", "/v1/sheets", key=SRV.customer_key,
                       body={"indicia": [IND] * n, "layout": "avery-5160", "format": fmt})


class SheetCap(unittest.TestCase):
    def test_over_cap_refused_with_field(self):
        st, _, j = sheet(SHEET_MAX + 1, "zpl")
        self.assertEqual(st, 400, "%d indicia in one sheet: %r" % (SHEET_MAX + 1, j))
        self.assertEqual(j["error"]["code"], "invalid_request")
        self.assertEqual(j["error"].get("field"), "indicia")
        self.assertIn("100", j["error"]["message"])
        st, _, _ = sheet(SHEET_MAX, "zpl")
        self.assertEqual(st, 200, "the documented most (100) must print")


class SheetsDoNotStallOthers(unittest.TestCase):
    def test_cheap_requests_answered_while_sheets_render(self):
        stop = threading.Event()
        results, lock = [], threading.Lock()

        def client():
            while not stop.is_set():
                st, hdrs, j = sheet(SHEET_MAX)
                with lock:
                    results.append((st, hdrs.get("retry-after"),
                                    (j or {}).get("error", {}).get("code")))
                if st == 503:   # back off less than Retry-After says, to keep the pressure on
                    time.sleep(0.1)

        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        waits = []
        try:
            time.sleep(0.5)   # let the sheets take the workers
            end = time.monotonic() + LOAD_SECONDS
            while time.monotonic() < end:
                for method, path, key in (("GET", "/healthz", None),
                                          ("GET", "/v1/account", SRV.customer_key)):
                    t0 = time.monotonic()
                    st, _, _ = SRV.request(method, path, key=key)
                    waits.append((time.monotonic() - t0, path))
                    self.assertEqual(st, 200, path)
                time.sleep(0.1)
        finally:
            stop.set()
            for t in threads:
                t.join()
        worst = max(waits)
        sys.stderr.write("\n  slowest cheap request: %s %.3f s; sheets 200: %d, 503: %d\n"
                         % (worst[1], worst[0], sum(r[0] == 200 for r in results),
                            sum(r[0] == 503 for r in results)))
        self.assertLess(worst[0], CHEAP_BOUND,
                        "%s took %.2f s while %d clients posted %d-label sheets"
                        % (worst[1], worst[0], CLIENTS, SHEET_MAX))
        statuses = {st for st, _, _ in results}
        self.assertLessEqual(statuses, {200, 503}, results)
        self.assertIn(200, statuses, "no sheet printed under load")
        self.assertIn(503, statuses, "no sheet was turned away: nothing bounds the renders")
        for st, retry, code in results:
            if st == 503:
                self.assertEqual(code, "unavailable")
                self.assertEqual(retry, "1")
        # Every slot was given back: a sheet alone prints.
        st, _, _ = sheet(SHEET_MAX)
        self.assertEqual(st, 200)


if __name__ == "__main__":
    harness.main()
