"""test_ledger_index.py - the index of the journal lines by account holds only the lines of the
accounts read a page at a time by account: a customer's and the postal deposit's (schema v41 on
SQLite, v42 on PostgreSQL; issue 15). The lines of the accounts every purchase moves
(revenue:postage, postage_dispensed, a PSD's) cost the writer an entry each and were only ever
summed. Through the real server: the index's WHERE after `init` and after `stampd migrate` from
the whole index; a customer's transactions and the deposit's reads planned through it;
`stampd ledger check` still finds an account whose balance is not its lines, whichever kind, and
passes while the server sells; on PostgreSQL it sums every account in one pass of the lines,
not through the index once an account (session 35). SQLite, and PostgreSQL when
STAMPD_TEST_PG_DSN_FILE names a cluster.
"""

import os
import sqlite3
import sys
import threading
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

PG_DSN_FILE = os.environ.get("STAMPD_TEST_PG_DSN_FILE")
LETTER = {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
          "to_zip": "10001"}
LISTED = ("({c} GLOB 'customer:*' OR {c} GLOB 'test:customer:*' OR {c} = 'postal_deposit')")
LISTED_PG = ("({c} LIKE 'customer:%' OR {c} LIKE 'test:customer:%' OR {c} = 'postal_deposit')")
# ACCOUNT_LINES and ACCOUNT_BALANCE_BEFORE as the store runs them (copied from
# src/store/sql_ledger.h); {listed} the database's predicate, ?/$n its parameters.
PAGE = ("SELECT j.id, j.kind, COALESCE(j.ref, ''), CAST(SUM(l.amount_mills) AS BIGINT), j.at "
        "FROM journal_lines l JOIN journals j ON j.id = l.journal_id WHERE l.account = {p1} AND "
        "{listed} AND l.journal_id < {p2} GROUP BY j.id ORDER BY j.id DESC LIMIT {p3}")
BEFORE = ("SELECT CAST(COALESCE(SUM(l.amount_mills), 0) AS BIGINT) FROM journal_lines l "
          "JOIN journals j ON j.id = l.journal_id WHERE l.account = {p1} AND {listed} "
          "AND j.at < {p2}")
# DEPOSIT_HISTORY as PostgreSQL runs it: three reads of the lines by account, each naming the
# predicate for its own alias.
HISTORY_PG = ("SELECT j.id, j.kind, COALESCE(j.ref, ''), CAST((SELECT SUM(a.amount_mills) "
              "FROM journal_lines a WHERE a.account = $1 AND {a} AND a.journal_id = j.id) AS "
              "BIGINT), CAST((SELECT SUM(b.amount_mills) FROM journal_lines b WHERE "
              "b.account = $1 AND {b} AND b.journal_id <= j.id) AS BIGINT), j.at, "
              "COALESCE((SELECT d.reference FROM deposit_credits d WHERE d.id = j.ref), ''), "
              "COALESCE((SELECT MIN(r.psd_id) FROM refills r WHERE r.authorization_ref = j.ref), "
              "0) FROM journals j WHERE j.id IN (SELECT l.journal_id FROM journal_lines l "
              "WHERE l.account = $1 AND {l} AND l.journal_id < $2) ORDER BY j.id DESC LIMIT $3"
              ).format(**{t: LISTED_PG.format(c=t + ".account") for t in "abl"})
LITE_ARGS = {"p1": "?", "p2": "?", "p3": "?", "listed": LISTED.format(c="l.account")}
PG_ARGS = {"p1": "$1", "p2": "$2", "p3": "$3", "listed": LISTED_PG.format(c="l.account")}


class LedgerIndexBase:
    postgres = False

    def sql(self, srv, statements):
        return harness.store_sql(srv.db, statements)

    def check(self, srv):
        code, out, err = srv.run("ledger", "check", "--db", srv.db, check=False)
        return code, out + err

    def selling(self, srv, email):
        """srv (harness.Stampd, not started) initialised on this class's database with two
        PSDs and a customer of $50, and started; returns the customer's key."""
        if self.postgres:
            srv.db = harness.pg_createdb(PG_DSN_FILE)
        srv.init(psds=2, keys_dir=os.path.join(srv.dir, "keys"))
        key = srv.customer(email, 50)
        srv.start()
        return key

    def test_books_checked_whatever_the_account(self):
        srv = harness.Stampd("ledger-index")
        try:
            key = self.selling(srv, "ledger@example.com")
            for i in range(5):
                st, _, j = srv.buy(key, "li-%d" % i, LETTER)
                self.assertEqual(st, 201, j)
            page = srv.get_ok("/v1/account/transactions?limit=3", key)
            self.assertEqual([t["kind"] for t in page["data"]], ["postage_sale"] * 3, page)
            self.assertTrue(page["has_more"], page)
            srv.stop()
            code, out = self.check(srv)
            self.assertEqual(code, 0, out)
            # Each kind of account one mill off its lines: the check names every one.
            customer = "(SELECT min(name) FROM accounts WHERE name LIKE 'customer:%')"
            for name, said in ((customer, "customer:"), ("'revenue:postage'", "revenue:postage:"),
                               ("'postage_dispensed'", "postage_dispensed:"),
                               ("'psd:1'", "psd:1:"), ("'postal_deposit'", "postal_deposit:"),
                               ("'funding:manual'", "funding:manual:")):
                self.sql(srv, ["UPDATE accounts SET balance_mills = balance_mills + 1 "
                               "WHERE name = " + name])
                code, out = self.check(srv)
                self.assertNotEqual(code, 0, out)
                self.assertIn("account != its lines: " + said, out)
                self.sql(srv, ["UPDATE accounts SET balance_mills = balance_mills - 1 "
                               "WHERE name = " + name])
            code, out = self.check(srv)
            self.assertEqual(code, 0, out)
        finally:
            srv.abandon()


    def test_lines_checked_while_selling(self):
        """`stampd ledger check` on a store that sells (cron, the admin's ledger page) passes
        every time: it reads the accounts, their lines, the PSDs' registers and the totals in
        one snapshot, so a purchase that commits meanwhile cannot make two of them disagree.
        (Before, "PSD account != descending register" and "total does not add up" came up
        here on both databases; a race, so this can only fail, never prove, by chance.)"""
        srv = harness.Stampd("ledger-live")
        try:
            key = self.selling(srv, "live@example.com")
            refused = []

            def sell():
                for i in range(40):
                    st, _, j = srv.buy(key, "lv-%d" % i, LETTER)
                    if st != 201:
                        refused.append(j)

            seller = threading.Thread(target=sell)
            seller.start()
            checks = []
            while seller.is_alive() or not checks:
                checks.append(self.check(srv))
            seller.join()
            srv.stop()
            self.assertEqual(refused, [])
            for code, out in checks:
                self.assertEqual(code, 0, out)
            code, out = self.check(srv)
            self.assertEqual(code, 0, out)
        finally:
            srv.abandon()


class LedgerIndex(LedgerIndexBase, unittest.TestCase):
    def index_sql(self, srv):
        return self.sql(srv, ["SELECT sql FROM sqlite_master WHERE name = 'journal_lines_account'"])

    def test_index_and_plans(self):
        """The index's WHERE after init and after `stampd migrate` from v40's whole index; a
        customer's page and the deposit's balance before a time search it."""
        srv = harness.Stampd("ledger-index-plans").init(psds=1)
        try:
            self.assertIn("WHERE " + LISTED.format(c="account"), self.index_sql(srv))
            # The store as v40 kept it: every account's lines in the index.
            self.sql(srv, ["DROP INDEX journal_lines_account",
                           "CREATE INDEX journal_lines_account ON journal_lines(account, "
                           "journal_id)",
                           "DELETE FROM schema_version WHERE version >= 41"])
            self.assertNotIn("WHERE", self.index_sql(srv))
            _, _, err = srv.run("migrate", "--db", srv.db)
            self.assertRegex(err, r"v40 -> v\d+")
            self.assertIn("WHERE " + LISTED.format(c="account"), self.index_sql(srv))
            code, out = self.check(srv)
            self.assertEqual(code, 0, out)
            db = sqlite3.connect(srv.db[len("sqlite:"):])
            try:
                plan = harness.sqlite_plan(db, PAGE.format(**LITE_ARGS),
                                           ("customer:cus_x", 1 << 62, 20))
                self.assertRegex(plan, r"SEARCH l USING (COVERING )?INDEX journal_lines_account "
                                 r"\(account=\? AND journal_id<\?\)")
                plan = harness.sqlite_plan(db, BEFORE.format(**LITE_ARGS),
                                           ("postal_deposit", 1 << 40))
                self.assertRegex(plan, r"SEARCH l USING (COVERING )?INDEX journal_lines_account "
                                 r"\(account=\?\)")
            finally:
                db.close()
        finally:
            srv.abandon()


@unittest.skipUnless(PG_DSN_FILE, "no PostgreSQL cluster (STAMPD_TEST_PG_DSN_FILE)")
class LedgerIndexPostgres(LedgerIndexBase, unittest.TestCase):
    postgres = True

    def index_def(self, db):
        return harness.pg_text(db, "SELECT indexdef FROM pg_indexes "
                                   "WHERE indexname = 'journal_lines_account'")

    def plan(self, db, sql, types, args):
        """PostgreSQL's generic plan of sql (the one a kept statement runs whatever it binds),
        with sequential scans priced out: is the index usable for it at all?"""
        return harness.pg_text(db, "SET plan_cache_mode = force_generic_plan; "
                                   "SET enable_seqscan = off; SET enable_bitmapscan = off; "
                                   "PREPARE p(%s) AS %s; EXPLAIN EXECUTE p(%s)"
                                   % (types, sql, args))

    def test_index_and_plans(self):
        """v42: the index's WHERE after init and after `stampd migrate` from v41's whole index; a
        customer's page and the deposit's balance before a time search it in a generic plan."""
        srv = harness.Stampd("ledger-index-plans-pg")
        try:
            srv.db = harness.pg_createdb(PG_DSN_FILE)
            srv.init(psds=1, keys_dir=os.path.join(srv.dir, "keys"))
            want = ("WHERE ((account ~~ 'customer:%'::text) OR (account ~~ 'test:customer:%'::text)"
                    " OR (account = 'postal_deposit'::text))")
            self.assertIn(want, self.index_def(srv.db))
            self.sql(srv, ["DROP INDEX journal_lines_account",
                           "CREATE INDEX journal_lines_account ON journal_lines(account, "
                           "journal_id)",
                           "DELETE FROM schema_version WHERE version >= 42"])
            self.assertNotIn("WHERE", self.index_def(srv.db))
            _, _, err = srv.run("migrate", "--db", srv.db)
            self.assertRegex(err, r"v41 -> v\d+")
            self.assertIn(want, self.index_def(srv.db))
            code, out = self.check(srv)
            self.assertEqual(code, 0, out)
            plan = self.plan(srv.db, PAGE.format(**PG_ARGS), "text, bigint, bigint",
                             "'customer:cus_x', 4611686018427387904, 20")
            self.assertRegex(plan, r"Index (Only )?Scan (Backward )?using journal_lines_account on "
                                   r"journal_lines l")
            self.assertNotIn("Seq Scan on journal_lines", plan)
            plan = self.plan(srv.db, BEFORE.format(**PG_ARGS), "text, bigint",
                             "'postal_deposit', 1099511627776")
            self.assertRegex(plan, r"Index (Only )?Scan (Backward )?using journal_lines_account on "
                                   r"journal_lines l")
            self.assertNotIn("Seq Scan on journal_lines", plan)
            # The deposit's history: each of its three reads of the lines through the index.
            plan = self.plan(srv.db, HISTORY_PG, "text, bigint, bigint",
                             "'postal_deposit', 4611686018427387904, 20")
            for alias in "abl":
                self.assertRegex(plan, r"Index (Only )?Scan (Backward )?using "
                                       r"journal_lines_account on journal_lines " + alias + r"\b")
            self.assertNotIn("Seq Scan on journal_lines", plan)
        finally:
            srv.abandon()

    def index_scans(self, db):
        """journal_lines_account's index scans so far, once every other connection to the
        database has closed (a backend adds its counts as it exits, after its client)."""
        harness.pg_alone(db)
        return int(harness.pg_text(db, "SELECT idx_scan FROM pg_stat_user_indexes "
                                       "WHERE indexrelname = 'journal_lines_account'"))

    def test_check_sums_accounts_in_one_pass(self):
        """The check sums every account's lines in one hashed pass of the table (session 35):
        a customer's sum through journal_lines_account read its lines' pages one by one, spread
        over the table (7.3 of the check's 10.7 s at 2 million purchases, docs/performance.md). So a check reads the index
        not once an account: with six customers that bought, not at all."""
        srv = harness.Stampd("ledger-one-pass-pg")
        try:
            key = self.selling(srv, "pass0@example.com")
            keys = [key] + [srv.customer("pass%d@example.com" % i, 50) for i in range(1, 6)]
            for i, k in enumerate(keys):
                st, _, j = srv.buy(k, "op-%d" % i, LETTER)
                self.assertEqual(st, 201, j)
            srv.stop()
            before = self.index_scans(srv.db)
            code, out = self.check(srv)
            self.assertEqual(code, 0, out)
            self.assertEqual(self.index_scans(srv.db) - before, 0, out)
        finally:
            srv.abandon()


if __name__ == "__main__":
    harness.main()
