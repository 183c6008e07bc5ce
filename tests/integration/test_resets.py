#!/usr/bin/env python3
"""Resets (PSD refills) against the postal deposit (issue 13, docs/authority.md,
docs/internals/leases.md "Reset sizing"):

* `stampd init --deposit 1000 --psds 4` with the default $1,000 refill and
  `stampd serve`'s two processors sells all of 40 concurrent letters: no reset
  drains the deposit for one processor, and a processor whose PSDs and the
  deposit fall short hands the piece to another (on main half were refused
  postal_deposit_insufficient while one PSD held $985).
* A deposit exhausted mid-run refuses cleanly: every book balances (the
  registers, `stampd ledger check`, deposit = credits - resets) and a refused
  letter moves nothing.
"""
import concurrent.futures
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def letter():
    return {"mail_class": "first_class_letter", "weight_oz": 1.0, "from_zip": "10001",
            "to_zip": "94105", "mail_date": harness.today_utc().isoformat()}


def buy_many(srv, key, n, prefix):
    def one(i):
        return srv.buy(key, "%s-%d" % (prefix, i), letter())
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as ex:
        return list(ex.map(one, range(n)))


def deposit_history(srv):
    out, cursor = [], None
    while True:
        page = srv.get_ok("/v1/admin/deposit?limit=100" + ("&cursor=" + cursor if cursor else ""),
                          srv.operator_key)
        out.extend(page["data"])
        if not page["has_more"]:
            return page["balance_mills"], out
        cursor = page["next_cursor"]


class ResetSizing(unittest.TestCase):
    def tearDown(self):
        self.srv.stop()

    def start(self, deposit, refill=None):
        srv = self.srv = harness.Stampd("resets").init(psds=4, deposit=deposit, refill=refill)
        self.key = srv.customer("resets@example.com", 200)
        srv.start(processors=2)
        return srv

    def books_balance(self, credits):
        srv = self.srv
        psds = srv.psds()
        led = srv.get_ok("/v1/admin/ledger", srv.operator_key)
        self.assertTrue(led["ok"], led)
        _, out, _ = srv.run("ledger", "check", "--db", srv.db)
        self.assertIn("every journal balances", out)
        live = [p for p in psds["psds"] if not p["test"]]
        for p in live:
            self.assertEqual(p["ascending_mills"] + p["descending_mills"],
                             p["control_total_mills"], p)
            self.assertGreaterEqual(p["descending_mills"], 0, p)
        bal, hist = deposit_history(srv)
        draws = sum(-e["amount_mills"] for e in hist if e["type"] == "draw")
        paid = sum(e["amount_mills"] for e in hist if e["type"] == "credit")
        self.assertEqual(paid, credits)
        # deposit = credits - resets, and every reset went into a PSD.
        self.assertEqual(bal, credits - draws)
        self.assertEqual(psds["deposit_mills"], bal)
        self.assertGreaterEqual(bal, 0)
        self.assertEqual(sum(p["control_total_mills"] for p in live), draws)
        return live, hist

    def test_forty_letters_on_a_thousand_dollar_deposit(self):
        srv = self.start(1000)
        before = srv.balance(self.key)
        res = buy_many(srv, self.key, 40, "l")
        codes = [s for s, _, _ in res]
        self.assertEqual(codes.count(201), 40, [j for s, _, j in res if s != 201][:3])
        price = harness.price_mills("first_class_letter", 1.0)
        self.assertEqual(srv.balance(self.key), before - 40 * price)
        live, hist = self.books_balance(1000 * 1000)
        self.assertEqual(sum(p["ascending_mills"] for p in live), 40 * price)
        # No reset took more than the deposit held at that moment.
        for e in hist:
            self.assertGreaterEqual(e["balance_mills"], 0, e)

    def test_deposit_exhausted_mid_run(self):
        # $5 for 40 letters: some sell, the rest are refused and move nothing.
        srv = self.start(5, refill=1)
        before = srv.balance(self.key)
        res = buy_many(srv, self.key, 40, "x")
        sold = [j for s, _, j in res if s == 201]
        refused = [j for s, _, j in res if s != 201]
        self.assertTrue(sold and refused, res[:2])
        for j in refused:
            self.assertEqual(j["error"]["code"], "postal_deposit_insufficient", j)
        price = harness.price_mills("first_class_letter", 1.0)
        self.assertEqual(srv.balance(self.key), before - len(sold) * price)
        live, _ = self.books_balance(5 * 1000)
        self.assertEqual(sum(p["ascending_mills"] for p in live), len(sold) * price)
        # Refused only when no PSD and not the deposit could cover a letter.
        bal = srv.psds()["deposit_mills"]
        self.assertTrue(all(p["descending_mills"] < price for p in live), live)
        self.assertLess(bal + max(p["descending_mills"] for p in live), price)
        # And again, one at a time: still refused, still nothing moves.
        s, _, j = srv.buy(self.key, "after", letter())
        self.assertEqual((s, j["error"]["code"]), (503, "postal_deposit_insufficient"), j)
        self.books_balance(5 * 1000)


if __name__ == "__main__":
    harness.main()
