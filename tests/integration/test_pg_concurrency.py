"""test_pg_concurrency.py - money moved from many sides at once on two processors (issue 15).

`stampd serve --processors 2` on PostgreSQL (SQLite when STAMPD_TEST_PG_DSN_FILE
is not set): while 4 customers buy letters through both processors, other
threads refund pieces already sold, add funds by card, and the postal authority
places a hold on one customer and lifts it again. Each of those serialises
against the purchases it affects (docs/internals/purchase-path.md), and the
purchases' writes go through libpq's pipeline (pv_store_defer). Afterwards the
books must say exactly what the answers said: every PSD balanced, `stampd
ledger check` passing, every customer's balance its start + funds - postage
sold + postage refunded, one indicium per piece answered 201 and none for a
refusal, and no refusal but the hold's.

Purchase batches of the two processors run at once (issue 15, schema v21):
each locks its customers' rows in name order first, so batches holding the
same customers in opposite orders never deadlock, and adds revenue and
dispensed postage to its processor's own part of those accounts.
"""

import concurrent.futures
import os
import sqlite3
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

from cardjournal import PAY  # noqa: E402
from harness import psql  # noqa: E402

PG_DSN_FILE = os.environ.get("STAMPD_TEST_PG_DSN_FILE")
LETTER = {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
          "to_zip": "10001"}
START = 200  # dollars each customer starts with
PER_CUSTOMER = 40


class Concurrency(unittest.TestCase):
    def setUp(self):
        self.srv = harness.Stampd("pgconc")
        if PG_DSN_FILE:
            p = subprocess.run(["sh", os.path.join(harness.SOURCE_DIR, "scripts", "pg-test.sh"),
                                "createdb", PG_DSN_FILE], stdout=subprocess.PIPE, check=True,
                               timeout=60)
            self.srv.db = p.stdout.decode().strip()
        _, out, _ = self.srv.run("init", "--db", self.srv.db, "--license", harness.LICENSE,
                                 "--psds", "4", "--deposit", "100000", "--demo", "--keys-dir",
                                 os.path.join(self.srv.dir, "keys"))
        keys = harness.Stampd._keys(out)
        self.srv.operator_key = keys["STAMP_OPERATOR_KEY"]
        self.srv.postal_key = keys["STAMP_POSTAL_KEY"]
        self.keys = [self.srv.customer("conc%d@example.com" % i, START) for i in range(4)]
        self.srv.start(processors=2, threads=16)

    def tearDown(self):
        self.srv.stop()

    def assert_books(self):
        """Every PSD balanced; the ledger checks."""
        for p in self.srv.psds()["psds"]:
            self.assertEqual(p["ascending_mills"] + p["descending_mills"],
                             p["control_total_mills"], p)
        st, _, j = self.srv.request("GET", "/v1/admin/ledger", key=self.srv.operator_key)
        self.assertEqual((st, j["ok"]), (200, True), j)

    def test_purchases_refunds_funds_holds_at_once(self):
        srv, keys = self.srv, self.keys
        held_key = keys[3]
        held_cus = srv.get_ok("/v1/account", held_key)["id"]
        pms = {}
        for k in keys[:2]:
            st, _, pm = srv.request("POST", "/v1/payment-methods", key=k,
                                    body={"card": harness.CARD})
            self.assertEqual(st, 201, pm)
            pms[k] = pm["id"]

        lock = threading.Lock()
        sold = []       # (key, piece) answered 201
        refused = []    # (key, status, code)
        refunds = []    # (key, amount_mills) approved to the balance
        funds = {k: 0 for k in keys}
        pending = []    # pieces to refund
        done = threading.Event()

        def buyer(k, n):
            st, _, b = srv.buy(k, "conc-%s-%d" % (k[-6:], n), LETTER)
            with lock:
                if st == 201:
                    sold.append((k, b))
                    if n % 3 == 0:
                        pending.append((k, b))
                else:
                    refused.append((k, st, b.get("error", {}).get("code")))

        def refunder():
            while not done.is_set() or pending:
                with lock:
                    job = pending.pop() if pending else None
                if job is None:
                    done.wait(0.02)
                    continue
                k, piece = job
                st, _, r = srv.request("POST", "/v1/indicia/%s/refund" % piece["id"], key=k)
                self.assertEqual(st, 201, r)
                self.assertEqual(r["destination"], "balance", r)
                with lock:
                    refunds.append((k, r["amount_mills"]))

        def funder(k, n):
            st, _, j = srv.request("POST", "/v1/account/funds", key=k,
                                   headers={"Idempotency-Key": "funds-%s-%d" % (k[-6:], n)},
                                   body={"amount": "2.50", "payment": {
                                       "method": "card", "payment_method_id": pms[k]}})
            self.assertEqual(st, 201, j)
            with lock:
                funds[k] += 2500

        def authority():
            st, _, hold = srv.request("POST", "/v1/authority/holds", key=srv.postal_key,
                                      body={"customer_id": held_cus, "reason": "conc test"})
            self.assertEqual(st, 201, hold)
            done.wait(0.3)
            st, _, lifted = srv.request("POST", "/v1/authority/holds/%s/lift" % hold["id"],
                                        key=srv.postal_key, body={"reason": "cleared"})
            self.assertEqual(st, 200, lifted)

        with concurrent.futures.ThreadPoolExecutor(max_workers=24) as ex:
            side = [ex.submit(refunder), ex.submit(refunder)]
            work = [ex.submit(buyer, k, n) for n in range(PER_CUSTOMER) for k in keys]
            work += [ex.submit(funder, k, n) for n in range(8) for k in keys[:2]]
            work.insert(len(work) // 3, ex.submit(authority))
            for f in work:
                f.result()
            done.set()
            for f in side:
                f.result()

        # No refusal but the hold's, and only for the held customer.
        self.assertEqual([r for r in refused if r[0] != held_key or r[2] != "customer_on_hold"],
                         [])
        # Both processors sold.
        self.assertEqual(len({b["server_id"] for _, b in sold}), 2)
        # Every PSD balanced; the ledger checks.
        self.assert_books()
        # Every customer's balance is what the answers said.
        for k in keys:
            spent = sum(b["postage_mills"] for kk, b in sold if kk == k)
            back = sum(a for kk, a in refunds if kk == k)
            self.assertEqual(srv.balance(k), START * 1000 + funds[k] - spent + back, k[-6:])
            listed = {i["id"] for i in srv.list_all(k)}
            self.assertEqual(listed, {b["id"] for kk, b in sold if kk == k})
        _, out, _ = srv.run("ledger", "check", "--db", srv.db)
        self.assertIn("every journal balances", out)

    def test_batches_sharing_customers_in_opposite_orders(self):
        """Every customer in every order on both processors at once: no refusal,
        no deadlock, the books exact, each processor's own part of the totals."""
        srv, keys = self.srv, self.keys
        lock = threading.Lock()
        answers = []

        def buyer(t, n):
            # Thread t goes through the customers forwards or backwards, from its own start.
            order = keys[t % 4:] + keys[:t % 4]
            if t % 2:
                order.reverse()
            for k in order:
                st, _, b = srv.buy(k, "opp-%d-%d-%s" % (t, n, k[-6:]), LETTER)
                with lock:
                    answers.append((k, st, b))

        with concurrent.futures.ThreadPoolExecutor(max_workers=32) as ex:
            for f in [ex.submit(buyer, t, n) for n in range(3) for t in range(32)]:
                f.result()

        self.assertEqual([(st, b) for _, st, b in answers if st != 201], [])
        self.assertEqual(len({b["server_id"] for _, _, b in answers}), 2)
        self.assert_books()
        for k in keys:
            spent = sum(b["postage_mills"] for kk, _, b in answers if kk == k)
            self.assertEqual(srv.balance(k), START * 1000 - spent, k[-6:])
        _, out, _ = srv.run("ledger", "check", "--db", srv.db)
        self.assertIn("every journal balances", out)
        if not PG_DSN_FILE:
            return
        srv.stop()  # the backends' statistics are written when they end
        q = ("SELECT (SELECT count(DISTINCT part) FROM account_parts "
             "WHERE name = 'revenue:postage'), (SELECT sum(balance_mills) FROM account_parts "
             "WHERE name = 'revenue:postage'), (SELECT deadlocks FROM pg_stat_database "
             "WHERE datname = current_database())")
        for attempt in range(20):
            p = subprocess.run([psql(), "-X", "-q", "-At", "-F", " ", "-d", srv.db, "-c", q],
                               stdout=subprocess.PIPE, check=True, timeout=60)
            parts, revenue, deadlocks = [int(v) for v in p.stdout.decode().split()]
            if deadlocks:
                break
            threading.Event().wait(0.1)
        self.assertEqual(deadlocks, 0)
        self.assertEqual(parts, 2)  # one per processor
        self.assertEqual(revenue, sum(b["postage_mills"] for _, _, b in answers))

    def same_key_at_once(self, k, prefix, body):
        """Eight keys (prefix-0..7), each bought 8 times at once with body by key k over both
        processors: every answer 201, one piece a key, the books balanced. The answers, as
        (key's number, status, body)."""
        lock = threading.Lock()
        answers = []

        def buyer(n):
            st, _, b = self.srv.buy(k, "%s-%d" % (prefix, n // 8), body)
            with lock:
                answers.append((n // 8, st, b))

        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as ex:
            for f in [ex.submit(buyer, n) for n in range(8 * 8)]:
                f.result()

        self.assertEqual([(st, b) for _, st, b in answers if st != 201], [])
        for key in range(8):
            ids = {b["id"] for kk, _, b in answers if kk == key}
            self.assertEqual(len(ids), 1, ids)
        self.assert_books()
        return answers

    def rows(self, q):
        """q's rows on the test's database, each a list of its columns as text."""
        if not PG_DSN_FILE:
            db = sqlite3.connect(self.srv.db[len("sqlite:"):])
            try:
                return [[str(v) for v in r] for r in db.execute(q)]
            finally:
                db.close()
        p = subprocess.run([psql(), "-X", "-q", "-At", "-F", " ", "-d", self.srv.db, "-c", q],
                           stdout=subprocess.PIPE, check=True, timeout=60)
        return [r.split() for r in p.stdout.decode().splitlines() if r.strip()]

    def test_one_key_on_both_processors_at_once(self):
        """The same purchase (one Idempotency-Key) sent many times at once goes to both
        processors: one piece is sold and every answer is that piece. A batch reads its
        jobs' keys once (issue 15, session 9); a key another batch stores after that read
        makes the job run again in its savepoint, reading it: a replay, never an error."""
        k = self.keys[0]
        answers = self.same_key_at_once(k, "same", LETTER)
        spent = sum({b["id"]: b["postage_mills"] for _, _, b in answers}.values())
        self.assertEqual(self.srv.balance(k), START * 1000 - spent)

    def test_one_key_by_card_on_both_processors_at_once(self):
        """The same card purchase sent many times at once: one piece, one charge. On
        PostgreSQL a card round reads its new cards' heads and writes their intents together
        (issue 15, session 14); a card whose key an earlier card of the round has goes after
        it and adopts its intent, and a key written by the other processor meanwhile makes the
        card open alone, adopting it: never a second hold."""
        self.same_key_at_once(self.keys[1], "card-same", dict(LETTER, payment=PAY))
        held = {r[0]: int(r[1]) for r in self.rows(
            "SELECT client_key, count(*) FROM pay_intents WHERE client_key LIKE 'card-same-%' "
            "AND state <> 'voided' GROUP BY client_key")}
        self.assertEqual(held, {"card-same-%d" % key: 1 for key in range(8)})
        charges = self.rows("SELECT count(*) FROM charges WHERE purpose = 'purchase' AND "
                            "customer_id IN (SELECT customer_id FROM pay_intents "
                            "WHERE client_key LIKE 'card-same-%')")
        self.assertEqual(int(charges[0][0]), 8)

if __name__ == "__main__":
    unittest.main()
