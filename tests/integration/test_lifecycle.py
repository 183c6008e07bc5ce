#!/usr/bin/env python3
"""The PSD lifecycle through `stampd serve` (issue 13, docs/authority.md
"Device lifecycle"):

* A PSD suspended by the operator while concurrent sales run signs none of
  them after the suspension: every piece it signed was counted in the
  registers its suspension recorded, and all the sales still go through on
  the other PSDs.
* Its history (`GET /v1/authority/devices/{id}/history`, and the operator's
  `GET /v1/admin/psds/{id}/history`) lists the registers at each change:
  added, reset, suspended, resumed.
* The authority's suspension cannot be lifted by the operator (409
  psd_suspended_by_authority), only by the authority.
* The authority's reset lock: sales go on from what the PSDs still hold, then
  are refused resets_locked with nothing moved; after the unlock resets go on.
* A withdrawn PSD (`stampd psd withdraw`) never sells again, returns what it
  held to the deposit with `stampd ledger check` green, and its old pieces
  still verify online and with `stamp verify --offline`; the last usable PSD
  needs "confirm": true.
* Every new authority route refuses customer and operator keys, every new
  admin route a postal key.
"""
import concurrent.futures
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_certs import stamp  # noqa: E402

PRICE = harness.price_mills("first_class_letter", 1.0)


def letter():
    return {"mail_class": "first_class_letter", "weight_oz": 1.0, "from_zip": "10001",
            "to_zip": "94105", "mail_date": harness.today_utc().isoformat()}


class Base(unittest.TestCase):
    def setUp(self):
        self.srv = harness.Stampd("lifecycle")
        self.srv.init(psds=4, deposit=10000, refill=self.refill())
        self.key = self.srv.customer("life@example.com", 500)
        self.srv.start(processors=2)
        self.n = 0

    def refill(self):
        return None

    def tearDown(self):
        self.srv.stop()

    def buy(self, key=None):
        self.n += 1
        return self.srv.buy(key or self.key, "life-%d" % self.n, letter())

    def post(self, path, body=None, key=None):
        return self.srv.request("POST", path, body, key=key)

    def history(self, psd, key=None):
        out, cursor = [], None
        while True:
            page = self.srv.get_ok("/v1/authority/devices/%d/history?limit=2%s"
                                   % (psd, "&cursor=" + cursor if cursor else ""),
                                   key or self.srv.postal_key)
            out.extend(page["data"])
            if not page["has_more"]:
                return out
            cursor = page["next_cursor"]

    def device(self, psd):
        return self.srv.get_ok("/v1/authority/devices/%d" % psd, self.srv.postal_key)

    def ledger_green(self):
        _, out, _ = self.srv.run("ledger", "check", "--db", self.srv.db)
        self.assertIn("every journal balances", out)
        led = self.srv.get_ok("/v1/admin/ledger", self.srv.operator_key)
        self.assertTrue(led["ok"], led)

    def wait_tick(self):
        time.sleep(1.5)  # a processor's tick (at most 1 s) leases a resumed PSD


class Lifecycle(Base):
    def test_suspend_under_concurrent_sales(self):
        srv = self.srv
        s, _, first = self.buy()
        self.assertEqual(s, 201, first)
        victim = first["psd_id"]

        def sell(i):
            return self.srv.buy(self.key, "conc-%d" % i, letter())

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
            futs = [ex.submit(sell, i) for i in range(20)]
            time.sleep(0.05)
            s, _, d = self.post("/v1/admin/psds/%d/suspend" % victim, {"reason": "inspection"},
                                srv.operator_key)
            self.assertEqual(s, 200, d)
            self.assertEqual((d["status"], d["suspended_by"], d["reason"]),
                             ("suspended", "operator", "inspection"))
            futs += [ex.submit(sell, i) for i in range(20, 40)]
            results = [f.result() for f in futs]
        self.assertEqual([r[0] for r in results].count(201), 40,
                         [j for s, _, j in results if s != 201][:3])
        hist = self.history(victim)
        suspended = [e for e in hist if e["event"] == "suspended"]
        self.assertEqual(len(suspended), 1, hist)
        at = suspended[0]
        # None of its serials after the suspension: every piece it signed is in
        # the registers the suspension read, and they have not moved since.
        mine = [j for s, _, j in results if s == 201 and j["psd_id"] == victim] + [first]
        self.assertTrue(all(j["serial"] <= at["piece_count"] for j in mine), (mine, at))
        self.assertEqual(len(mine), at["piece_count"])
        dev = self.device(victim)
        self.assertEqual(dev["piece_count"], at["piece_count"])
        self.assertEqual(dev["ascending_mills"], at["ascending_mills"])
        self.assertEqual(at["ascending_mills"], at["piece_count"] * PRICE)
        self.assertEqual(at["descending_mills"] + at["ascending_mills"],
                         at["control_total_mills"])
        self.assertEqual((at["actor"], at["status_before"], at["status_after"]),
                         ("operator", "active", "suspended"))
        # The history: added at init, the reset, the suspension (registers at each).
        self.assertEqual([e["event"] for e in hist][:2], ["added", "reset"], hist)
        self.assertEqual(hist[0]["control_total_mills"], 0)
        self.assertEqual(hist[1]["descending_mills"], hist[1]["control_total_mills"])
        self.assertEqual(hist[1]["piece_count"], 0)
        self.assertTrue(hist[1]["ref"].startswith("rfl_"), hist[1])
        # The operator reads the same history.
        op = srv.get_ok("/v1/admin/psds/%d/history?limit=100" % victim, srv.operator_key)
        self.assertEqual(op["data"], hist)
        # Resumed: it sells again.
        s, _, d = self.post("/v1/admin/psds/%d/resume" % victim, None, srv.operator_key)
        self.assertEqual((s, d["status"], d["suspended_by"]), (200, "active", None), d)
        self.assertEqual(self.history(victim)[-1]["event"], "resumed")
        # With every other PSD suspended the sales come from it (once a tick leased it).
        for p in srv.psds()["psds"]:
            if not p["test"] and p["id"] != victim:
                s, _, d = self.post("/v1/admin/psds/%d/suspend" % p["id"], {}, srv.operator_key)
                self.assertEqual(s, 200, d)
        self.wait_tick()
        for _ in range(4):
            s, _, j = self.buy()
            self.assertEqual(s, 201, j)
            self.assertEqual(j["psd_id"], victim)
        self.ledger_green()

    def test_authority_suspension(self):
        srv = self.srv
        s, _, d = self.post("/v1/authority/devices/2/suspend", {"reason": "audit"},
                            srv.postal_key)
        self.assertEqual(s, 200, d)
        self.assertEqual((d["object"], d["status"], d["suspended_by"]),
                         ("device", "suspended", "authority"))
        # The operator can neither lift it (409) nor hide it under its own.
        s, _, e = self.post("/v1/admin/psds/2/resume", {}, srv.operator_key)
        self.assertEqual((s, e["error"]["code"]), (409, "psd_suspended_by_authority"), e)
        rc, _, err = srv.run("psd", "resume", "--db", srv.db, "--psd", "2", check=False)
        self.assertEqual(rc, 1)
        self.assertIn("psd_suspended_by_authority", err)
        self.assertEqual(self.device(2)["status"], "suspended")
        # The listing shows it.
        devs = srv.get_ok("/v1/authority/devices", srv.postal_key)
        self.assertEqual([d["id"] for d in devs["data"]], [1, 2, 3, 4])  # no test PSD
        self.assertEqual(devs["data"][1]["suspended_by"], "authority")
        self.assertFalse(devs["data"][0]["resets_locked"])
        page = srv.get_ok("/v1/authority/devices?limit=3", srv.postal_key)
        self.assertTrue(page["has_more"])
        rest = srv.get_ok("/v1/authority/devices?cursor=" + page["next_cursor"],
                          srv.postal_key)
        self.assertEqual([d["id"] for d in rest["data"]], [4])
        # Sales go on on the other PSDs, never on PSD 2.
        for _ in range(6):
            s, _, j = self.buy()
            self.assertEqual(s, 201, j)
            self.assertNotEqual(j["psd_id"], 2)
        s, _, d = self.post("/v1/authority/devices/2/resume", {"reason": "cleared"},
                            srv.postal_key)
        self.assertEqual((s, d["status"]), (200, "active"), d)
        s, _, e = self.post("/v1/authority/devices/2/resume", None, srv.postal_key)
        self.assertEqual((s, e["error"]["code"]), (409, "psd_status_conflict"), e)
        ev = [(e["event"], e["actor"], e["reason"]) for e in self.history(2)]
        self.assertEqual(ev, [("added", "operator", None), ("suspended", "authority", "audit"),
                              ("resumed", "authority", "cleared")])
        # The operator's CLI: suspend and resume with a reason.
        _, out, _ = srv.run("psd", "suspend", "--db", srv.db, "--psd", "3", "--reason", "move")
        self.assertEqual(out.strip(), "status=suspended")
        self.assertEqual(self.device(3)["reason"], "move")
        _, out, _ = srv.run("psd", "resume", "--db", srv.db, "--psd", "3")
        self.assertEqual(out.strip(), "status=active")
        # Unknown devices; bad bodies.
        s, _, e = self.post("/v1/authority/devices/99/suspend", {}, srv.postal_key)
        self.assertEqual(s, 404, e)
        s, _, e = self.post("/v1/admin/psds/1/suspend", {"why": "x"}, srv.operator_key)
        self.assertEqual((s, e["error"]["code"]), (400, "unknown_field"), e)
        s, _, e = self.post("/v1/admin/psds/1/withdraw", {"confirm": "yes"}, srv.operator_key)
        self.assertEqual((s, e["error"]["code"]), (400, "invalid_type"), e)

    def test_roles(self):
        srv = self.srv
        s, _, c = srv.request("GET", "/v1/account", key=self.key)
        authority = [("GET", "/v1/authority/devices"), ("GET", "/v1/authority/devices/1"),
                     ("GET", "/v1/authority/devices/1/history"),
                     ("POST", "/v1/authority/devices/1/suspend"),
                     ("POST", "/v1/authority/devices/1/resume"),
                     ("POST", "/v1/authority/resets/lock"),
                     ("POST", "/v1/authority/resets/unlock")]
        admin = [("GET", "/v1/admin/psds/1/history"), ("POST", "/v1/admin/psds/1/suspend"),
                 ("POST", "/v1/admin/psds/1/resume"), ("POST", "/v1/admin/psds/1/withdraw")]
        for method, path in authority:
            for key in (self.key, srv.operator_key):
                s, _, e = srv.request(method, path, {} if method == "POST" else None, key=key)
                self.assertEqual((s, e["error"]["code"]), (403, "forbidden"), (path, e))
        for method, path in admin:
            for key in (self.key, srv.postal_key):
                s, _, e = srv.request(method, path, {} if method == "POST" else None, key=key)
                self.assertEqual((s, e["error"]["code"]), (403, "forbidden"), (path, e))
        # And the postal key gets in (the GETs; the POSTs are tested above).
        for method, path in authority[:3]:
            s, _, j = srv.request(method, path, key=srv.postal_key)
            self.assertEqual(s, 200, (path, j))
        # Nothing changed on PSD 1.
        self.assertEqual(self.device(1)["status"], "active")

    def test_withdraw(self):
        srv = self.srv
        s, _, old = self.buy()
        self.assertEqual(s, 201, old)
        victim = old["psd_id"]
        deposit = srv.psds()["deposit_mills"]
        held = self.device(victim)["descending_mills"]
        rc, out, err = srv.run("psd", "withdraw", "--db", srv.db, "--psd", str(victim),
                               "--reason", "end of service")
        self.assertEqual(out.strip(), "status=withdrawn")
        dev = self.device(victim)
        self.assertEqual((dev["status"], dev["descending_mills"]), ("withdrawn", held))
        self.assertEqual(srv.psds()["deposit_mills"], deposit + held)
        ret = srv.get_ok("/v1/authority/deposits?limit=1", srv.postal_key)["data"][0]
        self.assertEqual((ret["type"], ret["ref"], ret["amount_mills"]),
                         ("return", "psd:%d" % victim, held))
        self.ledger_green()
        last = self.history(victim)[-1]
        self.assertEqual((last["event"], last["reason"], last["descending_mills"]),
                         ("withdrawn", "end of service", held))
        # It never sells again; the others do.
        for _ in range(6):
            s, _, j = self.buy()
            self.assertEqual(s, 201, j)
            self.assertNotEqual(j["psd_id"], victim)
        s, _, e = self.post("/v1/admin/psds/%d/resume" % victim, {}, srv.operator_key)
        self.assertEqual((s, e["error"]["code"]), (409, "psd_status_conflict"), e)
        # Its key is retired but published: the old piece verifies online and offline.
        keys = srv.keys()
        self.assertEqual(keys[old["key_id"]]["status"], "retired")
        s, _, v = srv.request("POST", "/v1/verify", {"data": old["data"]}, key=self.key)
        self.assertEqual(s, 200, v)
        self.assertTrue(v["valid"], v)
        keys_file = os.path.join(srv.dir, "keys.json")
        rc, out, err = stamp(srv, "keys", "--out", keys_file)
        self.assertEqual(rc, 0, err)
        rc, out, err = stamp(srv, "verify", "--offline", "--keys", keys_file, "--data",
                             old["data"])
        self.assertEqual(rc, 0, out + err)
        # Withdraw the others; the last usable one asks for confirmation.
        others = [p["id"] for p in srv.psds()["psds"]
                  if not p["test"] and p["status"] == "active"]
        for p in others[:-1]:
            s, _, d = self.post("/v1/admin/psds/%d/withdraw" % p, {}, srv.operator_key)
            self.assertEqual(s, 200, d)
            self.assertEqual(d["returned_mills"], d["descending_mills"])
        s, _, e = self.post("/v1/admin/psds/%d/withdraw" % others[-1], {}, srv.operator_key)
        self.assertEqual((s, e["error"]["code"], e["error"].get("field")),
                         (409, "last_usable_psd", "confirm"), e)
        rc, _, err = srv.run("psd", "withdraw", "--db", srv.db, "--psd", str(others[-1]),
                             check=False)
        self.assertEqual(rc, 1)
        self.assertIn("--force", err)
        s, _, d = self.post("/v1/admin/psds/%d/withdraw" % others[-1], {"confirm": True},
                            srv.operator_key)
        self.assertEqual((s, d["status"]), (200, "withdrawn"), d)
        s, _, e = self.buy()
        self.assertEqual((s, e["error"]["code"]), (503, "no_psd_available"), e)
        self.ledger_green()
        # Every PSD's value went back: the deposit holds what was paid in less what was sold.
        live = [p for p in srv.psds()["psds"] if not p["test"]]
        self.assertEqual(srv.psds()["deposit_mills"],
                         10000 * 1000 - sum(p["ascending_mills"] for p in live))


class ResetLock(Base):
    """$2 refills: a PSD holds two letters, so the lock shows quickly."""

    def refill(self):
        return 2

    def test_reset_lock(self):
        srv = self.srv
        s, _, a = self.buy()
        self.assertEqual(s, 201, a)  # a reset of $2 into one PSD: $1.26 left
        s, _, lk = self.post("/v1/authority/resets/lock", {"reason": "audit"}, srv.postal_key)
        self.assertEqual(s, 200, lk)
        self.assertEqual((lk["object"], lk["locked"], lk["reason"], lk["changed"]),
                         ("reset_lock", True, "audit", True))
        self.assertTrue(all(d["resets_locked"] for d in
                            srv.get_ok("/v1/authority/devices", srv.postal_key)["data"]))
        # Sales go on from what the PSD still holds (another processor hands it on)...
        s, _, b = self.buy()
        self.assertEqual(s, 201, b)
        self.assertEqual(b["psd_id"], a["psd_id"])
        # ...then refuse clearly, with nothing moved.
        before = (srv.psds(), srv.balance(self.key))
        s, _, e = self.buy()
        self.assertEqual((s, e["error"]["code"]), (503, "resets_locked"), e)
        self.assertEqual((srv.psds(), srv.balance(self.key)), before)
        resets = srv.get_ok("/v1/authority/resets", srv.postal_key)["data"]
        self.assertEqual(len(resets), 1)
        # Unlocked: resets go on.
        s, _, lk = self.post("/v1/authority/resets/unlock", {"reason": "done"}, srv.postal_key)
        self.assertEqual((s, lk["locked"]), (200, False), lk)
        s, _, c = self.buy()
        self.assertEqual(s, 201, c)
        self.assertEqual(len(srv.get_ok("/v1/authority/resets", srv.postal_key)["data"]), 2)
        ev = [(e["event"], e["reason"]) for e in self.history(a["psd_id"])]
        self.assertIn(("resets_locked", "audit"), ev)
        self.assertIn(("resets_unlocked", "done"), ev)
        self.ledger_green()


if __name__ == "__main__":
    harness.main()
