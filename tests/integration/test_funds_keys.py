"""test_funds_keys.py - a top-up's Idempotency-Key is a namespace of its own (schema v37;
docs/api.md, "Idempotency"). Until v37 a top-up under the key K was recorded among its
customer's purchase keys as "funds:" + K, so a purchase under "funds:K" and a top-up under K
refused each other (409 idempotency_key_reused). Through the real server: both kinds under
keys that collided before are sold; a store rewound to v36's records (the top-up's back
among the purchase keys) is migrated by `stampd migrate`, after which the retries of both
answer the same top-up and the same indicium, nothing charged twice, and the keys that
collided are free. SQLite, and PostgreSQL when STAMPD_TEST_PG_DSN_FILE names a cluster.
"""

import os
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

PG_DSN_FILE = os.environ.get("STAMPD_TEST_PG_DSN_FILE")
PAY = {"method": "card", "card": {"number": "4242424242424242", "exp_month": 12,
                                  "exp_year": 2031, "cvc": "123", "zip": "94107"}}
LETTER = {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
          "to_zip": "10001"}
# v36's records: a top-up's back among its customer's purchase keys, as "funds:" + its key.
REWIND = ("UPDATE idempotency SET owner_id = substr(owner_id, 7), key = 'funds:' || key "
          "WHERE substr(owner_id, 1, 6) = 'funds:'",
          "DELETE FROM schema_version WHERE version >= 37")
TOPUPS = "SELECT count(*) FROM idempotency WHERE substr(owner_id, 1, 6) = 'funds:'"
FUNDS_KEYS = "SELECT count(*) FROM idempotency WHERE substr(key, 1, 6) = 'funds:'"
# The top-up whose own key begins "funds:", where v37 puts it; and records moved twice.
K4 = ("SELECT count(*) FROM idempotency WHERE substr(owner_id, 1, 6) = 'funds:' AND "
      "key = 'funds:k4'")
TWICE = "SELECT count(*) FROM idempotency WHERE substr(owner_id, 1, 12) = 'funds:funds:'"


class FundsKeysBase:
    postgres = False

    def sql(self, srv, statements):
        return harness.store_sql(srv.db, statements)

    def top_up(self, srv, key, amount, idem):
        return srv.request("POST", "/v1/account/funds", key=key,
                           body={"amount": amount, "payment": PAY},
                           headers={"Idempotency-Key": idem})

    def sold(self, resp, replayed=False):
        st, h, j = resp
        self.assertEqual(st, 201, j)
        self.assertEqual(h.get("idempotent-replayed") == "true", replayed, h)
        return j

    def test_top_up_keys_apart_from_purchase_keys(self):
        srv = harness.Stampd("funds-keys")
        try:
            if self.postgres:
                srv.db = harness.pg_createdb(PG_DSN_FILE)
            srv.run("init", "--db", srv.db, "--license", harness.LICENSE, "--psds", "2",
                    "--keys-dir", os.path.join(srv.dir, "keys"), "--demo")
            key = srv.customer("funds-keys@example.com", 20)
            srv.start(processors=1)
            top = self.sold(self.top_up(srv, key, "10.00", "k1"))
            ind = self.sold(srv.buy(key, "funds:k2", LETTER))
            # A top-up whose own key begins "funds:" (v36 kept it as "funds:funds:k4").
            top4 = self.sold(self.top_up(srv, key, "3.00", "funds:k4"))
            balance = srv.balance(key)
            srv.stop()

            # The store as v36 kept it, then migrated: the top-ups' records move back.
            self.assertEqual(self.sql(srv, [TOPUPS]), 2)
            self.assertEqual(self.sql(srv, list(REWIND) + [TOPUPS]), 0)
            self.assertEqual(self.sql(srv, [FUNDS_KEYS]), 3)
            _, _, err = srv.run("migrate", "--db", srv.db)
            self.assertRegex(err, r"v36 -> v\d+")
            # The top-ups moved; the purchase under a "funds:..." key, and the top-up whose
            # own key is one, are under "funds:..." keys.
            self.assertEqual(self.sql(srv, [TOPUPS]), 2)
            self.assertEqual(self.sql(srv, [FUNDS_KEYS]), 2)
            self.assertEqual(self.sql(srv, [K4]), 1)
            # v37 again (a store rewound to v36 once more) moves nothing twice.
            self.sql(srv, [REWIND[1]])
            srv.run("migrate", "--db", srv.db)
            self.assertEqual(self.sql(srv, [TOPUPS]), 2)
            self.assertEqual(self.sql(srv, [K4]), 1)
            self.assertEqual(self.sql(srv, [TWICE]), 0)

            srv.start(processors=1)
            # Retries answer what was done, and charge nothing.
            again = self.sold(self.top_up(srv, key, "10.00", "k1"), replayed=True)
            self.assertEqual(again["id"], top["id"])
            again = self.sold(srv.buy(key, "funds:k2", LETTER), replayed=True)
            self.assertEqual(again["id"], ind["id"])
            again = self.sold(self.top_up(srv, key, "3.00", "funds:k4"), replayed=True)
            self.assertEqual(again["id"], top4["id"])
            self.assertEqual(srv.balance(key), balance)
            # Another request under a top-up's key is still its reuse.
            st, _, j = self.top_up(srv, key, "2.00", "k1")
            self.assertEqual((st, j["error"]["code"]), (409, "idempotency_key_reused"), j)
            # And the keys that collided with them before v37 are free.
            self.sold(srv.buy(key, "funds:k1", LETTER))
            self.sold(self.top_up(srv, key, "5.00", "k2"))
            srv.stop()
            _, out, _ = srv.run("ledger", "check", "--db", srv.db)
            self.assertIn("every journal balances", out)
        finally:
            srv.abandon()


class FundsKeys(FundsKeysBase, unittest.TestCase):
    pass


@unittest.skipUnless(PG_DSN_FILE, "no PostgreSQL cluster (STAMPD_TEST_PG_DSN_FILE)")
class FundsKeysPostgres(FundsKeysBase, unittest.TestCase):
    postgres = True


if __name__ == "__main__":
    harness.main()
