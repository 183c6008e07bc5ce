"""test_pg_late.py - two processors racing to overspend one customer (issue 15, session 10).

On PostgreSQL a purchase batch reads its customers' balances without a lock,
decides its jobs against them and locks the rows only at its end, in name
order, where it checks every decision again against the balance locked: a
decision that no longer holds (another processor's batch spent the money
first) sends the batch back to before its jobs, and it runs them again locking
first (docs/internals/purchase-path.md). Nothing is answered before the commit,
so the client never sees the first run. /metrics counts those batches
(stampd_batch_retries_total).

A key another transaction stores while a batch locking late runs sends that batch
back too, and its job is answered as the stored key says.

Here many purchases of one customer whose balance covers only a few go through
both processors at once, customer after customer until a batch was sent back:
exactly as many pieces are sold as the balance covers, every other answer is
insufficient_funds, the balance is what is left and never below zero, every PSD
balanced, the ledger checks, no deadlock. On SQLite (no STAMPD_TEST_PG_DSN_FILE)
the same race runs and no batch is ever sent back.
"""

import concurrent.futures
import http.client
import os
import re
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import psql  # noqa: E402

PG_DSN_FILE = os.environ.get("STAMPD_TEST_PG_DSN_FILE")
LETTER = {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
          "to_zip": "10001"}
START = 5       # dollars: a few letters
TRIES = 48      # purchases sent at once for one customer
CUSTOMERS = 12  # at most this many rounds until a batch was sent back


class Late(unittest.TestCase):
    def setUp(self):
        self.srv = harness.Stampd("pglate")
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
        self.keys = [self.srv.customer("late%d@example.com" % i, START)
                     for i in range(CUSTOMERS)]
        self.rich = self.srv.customer("rich@example.com", 100)
        self.srv.start(processors=2, threads=16)

    def tearDown(self):
        self.srv.stop()

    def retries(self):
        conn = http.client.HTTPConnection(self.srv.host, self.srv.port, timeout=30)
        try:
            conn.request("GET", "/metrics",
                         headers={"Authorization": "Bearer " + self.srv.operator_key})
            resp = conn.getresponse()
            text = resp.read().decode()
            self.assertEqual(resp.status, 200, text)
        finally:
            conn.close()
        m = re.search(r"^stampd_batch_retries_total (\d+)$", text, re.M)
        self.assertIsNotNone(m, "no stampd_batch_retries_total in /metrics")
        return int(m.group(1))

    def test_overspending_one_customer_on_both_processors(self):
        srv = self.srv
        # Each processor's first batch refills a PSD, which also sends a batch back (the
        # postal deposit is locked after the customers): done before the count is taken.
        for n in range(8):
            st, _, b = srv.buy(self.rich, "warm-%d" % n, LETTER)
            self.assertEqual(st, 201, b)
        warm = self.retries()
        rounds = 0
        servers = set()
        for k in self.keys:
            rounds += 1
            lock = threading.Lock()
            answers = []
            go = threading.Barrier(TRIES)

            def buyer(n, k=k, answers=answers, lock=lock, go=go):
                go.wait()
                st, _, b = srv.buy(k, "late-%d" % n, LETTER)
                with lock:
                    answers.append((st, b))

            with concurrent.futures.ThreadPoolExecutor(max_workers=TRIES) as ex:
                for f in [ex.submit(buyer, n) for n in range(TRIES)]:
                    f.result()

            sold = [b for st, b in answers if st == 201]
            refused = [(st, b.get("error", {}).get("code") if isinstance(b, dict) else b)
                       for st, b in answers if st != 201]
            self.assertTrue(sold)
            postage = sold[0]["postage_mills"]
            servers |= {b["server_id"] for b in sold}
            # Exactly what the balance covers, every other one refused for funds.
            self.assertEqual(len(sold), START * 1000 // postage, refused)
            self.assertEqual(set(refused), {(402, "insufficient_funds")})
            left = srv.balance(k)
            self.assertEqual(left, START * 1000 - len(sold) * postage)
            self.assertGreaterEqual(left, 0)
            # Each answer's balance is one the customer went through, from the start down.
            afters = sorted((b["balance_mills"] for b in sold), reverse=True)
            self.assertEqual(afters, [START * 1000 - (i + 1) * postage
                                      for i in range(len(sold))])
            if PG_DSN_FILE and self.retries() > warm:
                break
        if PG_DSN_FILE:
            self.assertGreater(self.retries(), warm, "no batch sent back in %d rounds" % rounds)
        else:
            self.assertEqual(self.retries(), 0)
        for p in srv.psds()["psds"]:
            self.assertEqual(p["ascending_mills"] + p["descending_mills"],
                             p["control_total_mills"], p)
        st, _, j = srv.request("GET", "/v1/admin/ledger", key=srv.operator_key)
        self.assertEqual((st, j["ok"]), (200, True), j)
        _, out, _ = srv.run("ledger", "check", "--db", srv.db)
        self.assertIn("every journal balances", out)
        if not PG_DSN_FILE:
            return
        srv.stop()  # the backends' statistics are written when they end
        q = ("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        p = subprocess.run([psql(), "-X", "-q", "-At", "-d", srv.db, "-c", q],
                           stdout=subprocess.PIPE, check=True, timeout=60)
        self.assertEqual(int(p.stdout.decode().strip()), 0)

    def test_key_stored_meanwhile_sends_the_batch_back(self):
        """A batch locking late writes its jobs' idempotency rows at its end. A key another
        transaction stores while the batch runs (after its read found none) sends the
        batch back: locking first, every job reads its key again, so that job is answered
        as the stored key says - 409 for another request, the stored piece for the same -
        and the batch's other jobs are sold once (session 11, the review after the merge).
        The batch is held behind the writer lock while the key's insert is open, then let
        go, and the key committed once the batch waits for it at its end."""
        if not PG_DSN_FILE:
            self.skipTest("PostgreSQL only: SQLite's batches lock first")
        srv = self.srv
        srv.stop()
        srv.start(processors=1, threads=16)  # the jobs queue behind one writer: one batch
        k = self.rich
        for i in range(3):  # the first batches refill PSDs (a batch sent back of its own)
            st, _, body = srv.buy(k, "warm-%d" % i, LETTER)
            self.assertEqual(st, 201, body)

        def sql(q):
            return subprocess.run([psql(), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d",
                                   srv.db, "-c", q], stdout=subprocess.PIPE, check=True,
                                  timeout=60).stdout.decode().strip()

        def soon(q, what):
            deadline = time.monotonic() + 30
            while int(sql(q) or 0) < 1:
                self.assertLess(time.monotonic(), deadline, "never: " + what)
                time.sleep(0.05)

        def session():
            return subprocess.Popen([psql(), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d",
                                     srv.db], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT)

        def send(sess, q):
            sess.stdin.write((q + "\n").encode())
            sess.stdin.flush()

        cus, stored_hash, stored_ind = sql("SELECT owner_id, req_hash, indicium_id FROM "
                                           "idempotency WHERE key = 'warm-0'").split("|")
        for variant, req_hash in (("other", "f" * 64), ("same", stored_hash)):
            before, bal = self.retries(), srv.balance(k)
            holder, keeper = session(), session()
            try:
                send(holder, "BEGIN; SELECT pg_advisory_xact_lock(8319381534325100610);")
                send(keeper, "BEGIN; INSERT INTO idempotency(owner_id, key, req_hash, "
                             "indicium_id, created) VALUES ('%s', 'kc-%s', '%s', '%s', 0);"
                             % (cus, variant, req_hash, stored_ind))
                soon("SELECT (count(*) >= 2)::int FROM pg_stat_activity WHERE state = "
                     "'idle in transaction' AND datname = current_database()",
                     "the writer lock held and the key's insert open")
                answers = {}

                def buy(idem):
                    answers[idem] = srv.buy(k, idem, LETTER)

                threads = [threading.Thread(target=buy, args=("p0-" + variant,))]
                threads[0].start()
                soon("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory' AND "
                     "datname = current_database()", "a batch waiting for the writer lock")
                for idem in ["kc-" + variant] + ["p%d-%s" % (i, variant) for i in range(1, 6)]:
                    threads.append(threading.Thread(target=buy, args=(idem,)))
                    threads[-1].start()
                time.sleep(1.5)  # the six queued behind that batch: the next one
                send(holder, "COMMIT;")
                soon("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'transactionid' "
                     "AND query LIKE '%idempotency%' AND datname = current_database()",
                     "the batch's keys waiting for the open insert")
                send(keeper, "COMMIT;")
                for t in threads:
                    t.join(timeout=60)
            finally:
                for sess in (holder, keeper):
                    sess.stdin.close()
                    sess.wait(timeout=60)
                    sess.stdout.close()
            self.assertEqual(self.retries(), before + 1, answers)
            st, hdrs, body = answers["kc-" + variant]
            if variant == "other":
                self.assertEqual(st, 409, body)
                self.assertEqual(body["error"]["code"], "idempotency_key_reused")
            else:
                self.assertEqual(st, 201, body)
                self.assertEqual(hdrs.get("idempotent-replayed"), "true")
                self.assertEqual(body["id"], stored_ind)
            sold = 0
            for i in range(6):
                st, hdrs, body = answers["p%d-%s" % (i, variant)]
                self.assertEqual(st, 201, body)
                self.assertIsNone(hdrs.get("idempotent-replayed"))
                sold += body["postage_mills"]
            self.assertEqual(srv.balance(k), bal - sold)
        _, out, _ = srv.run("ledger", "check", "--db", srv.db)
        self.assertIn("every journal balances", out)

    def test_one_auto_refill_on_both_processors(self):
        """Fifty purchases of one customer under its auto-refill trigger, on both
        processors at once: one refill charged, not one a processor (a batch that
        decides a refill with no row locked sends itself back and locks first)."""
        srv = self.srv
        k = srv.customer("refill@example.com", 1)
        st, _, pm = srv.request("POST", "/v1/payment-methods", key=k,
                                body={"card": {"number": "4242424242424242", "exp_month": 12,
                                               "exp_year": 2031, "cvc": "123", "zip": "94107"}})
        self.assertEqual(st, 201, pm)
        st, _, j = srv.request("PUT", "/v1/account/auto-refill", key=k,
                               body={"enabled": True, "trigger": "5.00", "amount": "50.00",
                                     "payment_method_id": pm["id"]})
        self.assertEqual(st, 200, j)
        go = threading.Barrier(25)

        def buyer(n):
            if n < 25:
                go.wait()
            return srv.buy(k, "refill-%d" % n, LETTER)

        with concurrent.futures.ThreadPoolExecutor(max_workers=25) as ex:
            results = list(ex.map(buyer, range(50)))
        self.assertEqual([st for st, _, _ in results], [201] * 50,
                         [b for st, _, b in results if st != 201])
        refills = [b["payment"]["auto_refill"] for _, _, b in results
                   if "auto_refill" in b.get("payment", {})]
        self.assertEqual(len(refills), 1, "auto-refill fired %d times" % len(refills))
        spent = sum(b["postage_mills"] for _, _, b in results)
        self.assertEqual(srv.balance(k), 1000 + 50000 - spent)
        _, out, _ = srv.run("ledger", "check", "--db", srv.db)
        self.assertIn("every journal balances", out)

    def test_journal_lines_name_their_accounts(self):
        """Schema v25 checks the journal lines' accounts and journals once a statement
        instead of by foreign keys (PostgreSQL): as strict as the keys were."""
        if not PG_DSN_FILE:
            self.skipTest("PostgreSQL only: SQLite keeps its foreign keys")
        st, _, b = self.srv.buy(self.rich, "fk-1", LETTER)
        self.assertEqual(st, 201, b)

        def sql(q):
            return subprocess.run([psql(), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d",
                                   self.srv.db, "-c", q], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, timeout=60)

        refused = [
            "INSERT INTO journal_lines(journal_id, line, account, amount_mills) "
            "SELECT max(id), 9, 'no-such-account', 0 FROM journals",
            "INSERT INTO journal_lines(journal_id, line, account, amount_mills) "
            "SELECT max(id) + 1000, 9, 'revenue:postage', 0 FROM journals",
            "DELETE FROM accounts WHERE name = 'revenue:postage'",
            "UPDATE accounts SET name = 'renamed' WHERE name = 'revenue:postage'",
            "DELETE FROM journals WHERE id = (SELECT max(journal_id) FROM journal_lines)",
        ]
        for q in refused:
            p = sql(q)
            self.assertNotEqual(p.returncode, 0, q)
            self.assertIn(b"journal", p.stderr, q)
        # What the lines do not name may still go, as with the keys.
        p = sql("INSERT INTO accounts(name, balance_mills) VALUES ('unused', 0); "
                "DELETE FROM accounts WHERE name = 'unused'")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = sql("INSERT INTO journal_lines(journal_id, line, account, amount_mills) "
                "SELECT max(id), 9, 'revenue:postage', 0 FROM journals")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_indicia_name_their_refs(self):
        """Schema v26 checks the indicia's customer, PSD and key once a statement instead of
        by foreign keys (PostgreSQL): as strict as the keys were."""
        if not PG_DSN_FILE:
            self.skipTest("PostgreSQL only: SQLite keeps its foreign keys")
        st, _, b = self.srv.buy(self.rich, "fk-ind-1", LETTER)
        self.assertEqual(st, 201, b)

        def sql(q):
            return subprocess.run([psql(), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d",
                                   self.srv.db, "-c", q], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, timeout=60)

        # A copy of the piece with one reference changed (and a new id and serial).
        copy = ("CREATE TEMP TABLE c AS SELECT * FROM indicia WHERE id = '%s'; "
                "ALTER TABLE c DROP COLUMN seq; UPDATE c SET id = 'ind_copy', "
                "serial = serial + 100000, %s; "
                "INSERT INTO indicia(%s) SELECT * FROM c")
        cols = sql("SELECT string_agg(column_name, ', ' ORDER BY ordinal_position) "
                   "FROM information_schema.columns WHERE table_name = 'indicia' "
                   "AND column_name <> 'seq'").stdout.decode().strip()
        refused = [
            copy % (b["id"], "customer_id = 'cus_none'", cols),
            copy % (b["id"], "psd_id = 999999", cols),
            copy % (b["id"], "key_id = 999999", cols),
            "UPDATE indicia SET customer_id = 'cus_none' WHERE id = '%s'" % b["id"],
            "UPDATE indicia SET key_id = 999999 WHERE id = '%s'" % b["id"],
            "DELETE FROM keys WHERE key_id = (SELECT key_id FROM indicia WHERE id = '%s')"
            % b["id"],
            "UPDATE keys SET key_id = 999999 "
            "WHERE key_id = (SELECT key_id FROM indicia WHERE id = '%s')" % b["id"],
        ]
        for q in refused:
            p = sql(q)
            self.assertNotEqual(p.returncode, 0, q)
            self.assertIn(b"indici", p.stderr, q)
        # What no indicium names may still go, and a piece naming what exists is stored.
        p = sql("CREATE TEMP TABLE k AS SELECT * FROM keys LIMIT 1; "
                "UPDATE k SET key_id = 4000000; INSERT INTO keys SELECT * FROM k; "
                "DELETE FROM keys WHERE key_id = 4000000")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = sql(copy % (b["id"], "created = created", cols))
        self.assertEqual(p.returncode, 0, p.stderr)


if __name__ == "__main__":
    unittest.main()
