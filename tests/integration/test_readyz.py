"""test_readyz.py - readiness apart from liveness (issue 16, "Observe";
docs/operations.md, "Readiness").

/healthz answers ok while nothing can be sold; /readyz must not: it is 503
not_ready with stable reasons when every processor is drained or disabled
(no_usable_psd), when every PSD is suspended (no_usable_psd), when no PSD can
sell a piece and the postal deposit cannot refill one
(postal_deposit_insufficient), and when the database does not answer
(store_unreachable) - and 200 again once that is fixed. Every answer has
the request id; no key is needed.
"""

import os
import sqlite3
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def reasons(srv):
    st, h, j = srv.request("GET", "/readyz")
    if st == 200:
        return []
    assert st == 503, (st, j)
    assert j["error"]["code"] == "not_ready", j
    assert j["error"]["request_id"] == h["x-request-id"], (j, h)
    return [r["code"] for r in j["error"]["reasons"]]


def wait_reasons(tc, srv, want, timeout=15):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = reasons(srv)
        if got == want:
            return
        time.sleep(0.1)
    tc.assertEqual(got, want)


class Readiness(unittest.TestCase):
    def setUp(self):
        self.srv = harness.Stampd("readyz").init(psds=2)
        self.srv.start(processors=2)

    def tearDown(self):
        try:
            self.srv.stop()
        finally:
            self.srv.abandon()

    def set_servers(self, status):
        for s in self.srv.get_ok("/v1/admin/servers", self.srv.operator_key)["servers"]:
            st, _, j = self.srv.request("POST", "/v1/admin/servers/" + s["id"],
                                        {"status": status}, key=self.srv.operator_key)
            self.assertEqual(st, 200, j)

    def test_ready_then_drained_then_ready(self):
        srv = self.srv
        wait_reasons(self, srv, [])
        st, _, j = srv.request("GET", "/readyz")
        self.assertEqual((st, j), (200, {"status": "ready"}))
        for status in ("draining", "disabled"):
            with self.subTest(status=status):
                self.set_servers(status)
                wait_reasons(self, srv, ["no_usable_psd"])
                # Liveness does not change: the process is fine.
                st, _, j = srv.request("GET", "/healthz")
                self.assertEqual((st, j), (200, {"status": "ok"}))
                self.set_servers("active")
                wait_reasons(self, srv, [])

    def test_every_psd_suspended(self):
        srv = self.srv
        wait_reasons(self, srv, [])
        ids = [p["id"] for p in srv.psds()["psds"] if not p["test"]]
        for i in ids:
            st, _, j = srv.request("POST", "/v1/admin/psds/%d/suspend" % i,
                                   {"reason": "audit"}, key=srv.operator_key)
            self.assertEqual(st, 200, j)
        wait_reasons(self, srv, ["no_usable_psd"])
        st, _, j = srv.request("POST", "/v1/admin/psds/%d/resume" % ids[0], {},
                               key=srv.operator_key)
        self.assertEqual(st, 200, j)
        wait_reasons(self, srv, [])

    def test_store_unreachable(self):
        srv = self.srv
        wait_reasons(self, srv, [])
        db = sqlite3.connect(srv.db[len("sqlite:"):], timeout=30)
        try:
            db.execute("ALTER TABLE servers RENAME TO servers_away")
            db.commit()
            wait_reasons(self, srv, ["store_unreachable"])
            db.execute("ALTER TABLE servers_away RENAME TO servers")
            db.commit()
        finally:
            db.close()
        wait_reasons(self, srv, [])


class Deposit(unittest.TestCase):
    def test_no_deposit_to_refill_an_empty_psd(self):
        srv = harness.Stampd("readyz-deposit").init(psds=1, deposit="0")
        srv.start(processors=1)
        try:
            wait_reasons(self, srv, ["postal_deposit_insufficient"])
            st, _, j = srv.request("POST", "/v1/authority/deposits",
                                   {"amount": "100.00", "reference": "credit-1"},
                                   key=srv.postal_key, headers={"Idempotency-Key": "dep-1"})
            self.assertEqual(st, 201, j)
            wait_reasons(self, srv, [])
            st, _, j = srv.buy(srv.customer_key, "rz-1", {
                "mail_class": "postcard", "weight_oz": 1, "from_zip": "94107",
                "to_zip": "10001"})
            self.assertEqual(st, 201, j)
            srv.stop()
        finally:
            srv.abandon()


if __name__ == "__main__":
    harness.main()
