"""test_customer_rows.py - every customer has a balance row (schema v22, issue 15;
docs/internals/purchase-path.md): a purchase batch on PostgreSQL locks its customers'
rows in name order before anything else, and a customer without a row (no funds yet:
its first card purchase made the row inside its job) escaped that order, so two such
batches could deadlock. Customers made by `stampd customer create` with no balance and
by POST /v1/signup get their row at once; `stampd migrate` gives it to customers made
before v22. SQLite, and PostgreSQL when STAMPD_TEST_PG_DSN_FILE names a cluster.
"""

import os
import re
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

PG_DSN_FILE = os.environ.get("STAMPD_TEST_PG_DSN_FILE")
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123",
        "zip": "94107"}
LETTER = {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
          "to_zip": "10001", "payment": {"method": "card", "card": CARD}}
# Customers whose balance row is missing.
ROWLESS = ("SELECT count(*) FROM customers c WHERE NOT EXISTS "
           "(SELECT 1 FROM accounts a WHERE a.name = 'customer:' || c.id)")
# A store from before v22: the rows of customers that never had a journal line go.
REWIND = ("DELETE FROM accounts WHERE name LIKE 'customer:%' AND balance_mills = 0 "
          "AND NOT EXISTS (SELECT 1 FROM journal_lines l WHERE l.account = accounts.name)",
          "DELETE FROM schema_version WHERE version >= 22")


class CustomerRowsBase:
    postgres = False

    def sql(self, srv, statements):
        return harness.store_sql(srv.db, statements)

    def test_every_customer_has_its_row(self):
        srv = harness.Stampd("customer-rows")
        try:
            if self.postgres:
                srv.db = harness.pg_createdb(PG_DSN_FILE)
            _, out, _ = srv.run("init", "--db", srv.db, "--license", harness.LICENSE, "--psds",
                                "2", "--keys-dir", os.path.join(srv.dir, "keys"), "--demo")
            broke = srv.customer("broke@example.com", 0)
            srv.start(processors=2)
            new = srv.signup("new@example.com")
            # Made with no funds: the row is there, at 0, before any purchase.
            self.assertEqual(self.sql(srv, [ROWLESS]), 0)
            # The first card purchases of both (their rows already held by the batch lock).
            for i, key in enumerate((broke, new)):
                s, _, ind = srv.buy(key, "first-%d" % i, LETTER)
                self.assertEqual(s, 201, ind)
            srv.stop()
            _, out, _ = srv.run("ledger", "check", "--db", srv.db)
            self.assertIn("every journal balances", out)

            # A store from before v22, with a customer that never had a line: migrate
            # gives it its row, and the books still balance.
            srv.run("customer", "create", "--db", srv.db, "--email", "old@example.com",
                    "--balance", "0")
            self.assertEqual(self.sql(srv, list(REWIND) + [ROWLESS]), 1)
            _, _, err = srv.run("migrate", "--db", srv.db)
            self.assertGreater(int(re.search(r"v21 -> v(\d+)", err).group(1)), 21, err)
            self.assertEqual(self.sql(srv, [ROWLESS]), 0)
            _, out, _ = srv.run("ledger", "check", "--db", srv.db)
            self.assertIn("every journal balances", out)
        finally:
            srv.abandon()


class CustomerRows(CustomerRowsBase, unittest.TestCase):
    pass


@unittest.skipUnless(PG_DSN_FILE, "no PostgreSQL cluster (STAMPD_TEST_PG_DSN_FILE)")
class CustomerRowsPostgres(CustomerRowsBase, unittest.TestCase):
    postgres = True


if __name__ == "__main__":
    harness.main()
