"""test_claims.py - the postal authority's orders, through `stampd serve`
(issue 13; docs/authority.md):

* Refund claims: an approved refund of unused postage is a claim the
  authority lists and decides once; accepting pays the postage back into the
  deposit, rejecting writes it off as the vendor's loss; the operator sees
  the same claims and what is owed (and /metrics); `stampd ledger check`
  stays green at every step. Refunds from before schema v13 get their
  claims from `stampd migrate` (SQLite, and PostgreSQL when
  STAMPD_TEST_PG_DSN_FILE names a cluster).
* Holds: the authority stops a customer (by id, or by a piece's serial):
  balance, card, test-key and web purchases are refused customer_on_hold,
  the card is never authorised (the sandbox gateway's journal has no new
  event) and nothing moves; lifting restores purchases; both are logged.
* Duplicates seen: GET /v1/authority/presentations?duplicates=true.
* Every new route: customer and operator keys get 403 on the authority's,
  a postal key 403 on the operator's.
"""

import os
import sqlite3
import subprocess
import sys
import threading
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

LETTER = {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
          "to_zip": "10001"}
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123",
        "zip": "94107"}
PAY = {"method": "card", "card": CARD}
N = [0]


def idem(prefix="k"):
    N[0] += 1
    return "%s-%d-%d" % (prefix, os.getpid(), N[0])


class Claims(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.Stampd("claims").init(psds=1)
        cls.srv.start(processors=1)
        cls.journal = os.path.join(cls.srv.dir, "stampd.db.gateway.jsonl")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    # -- helpers --

    def req(self, method, path, body=None, key=None, headers=None):
        return self.srv.request(method, path, body, key=key or self.srv.postal_key,
                                headers=headers)

    def buy(self, key=None, payment=None, headers=None):
        body = dict(LETTER, payment=payment) if payment else dict(LETTER)
        hdrs = {"Idempotency-Key": idem("buy")}
        hdrs.update(headers or {})
        return self.srv.request("POST", "/v1/indicia", body, key=key, headers=hdrs)

    def books(self):
        _, out, _ = self.srv.run("ledger", "check", "--db", self.srv.db)
        self.assertIn("every journal balances", out)

    def deposit(self):
        return self.srv.get_ok("/v1/authority/deposits?limit=1", self.srv.postal_key)

    def refunded(self):
        """A live letter bought from the demo customer's balance and refunded: its claim."""
        s, _, ind = self.buy(self.srv.customer_key)
        self.assertEqual(s, 201, ind)
        s, _, r = self.srv.request("POST", "/v1/indicia/%s/refund" % ind["id"],
                                   key=self.srv.customer_key)
        self.assertEqual((s, r["status"]), (201, "approved"), r)
        claims = self.srv.get_ok("/v1/authority/refund-claims?status=pending",
                                 self.srv.postal_key)["data"]
        mine = [c for c in claims if c["refund_id"] == r["id"]]
        self.assertEqual(len(mine), 1, claims)
        c = mine[0]
        self.assertEqual((c["object"], c["status"], c["amount_mills"], c["amount"], c["serial"],
                          c["psd_id"], c["indicium_id"], c["decided_at"]),
                         ("refund_claim", "pending", 740, "0.74", ind["serial"], ind["psd_id"],
                          ind["id"], None), c)
        # The authority sees pieces, not people.
        self.assertNotIn("customer_id", c)
        self.assertEqual(c["presentations"], 0, c)
        self.piece = ind
        return c

    def gateway_events(self):
        try:
            with open(self.journal) as f:
                return [line for line in f if line.strip()]
        except FileNotFoundError:
            return []

    # -- tests --

    def test_new_routes_both_ways(self):
        srv = self.srv
        authority = [("GET", "/v1/authority/refund-claims"),
                     ("GET", "/v1/authority/refund-claims/rcl_x"),
                     ("POST", "/v1/authority/refund-claims/rcl_x"),
                     ("GET", "/v1/authority/holds"), ("POST", "/v1/authority/holds"),
                     ("POST", "/v1/authority/holds/hld_x/lift"),
                     ("GET", "/v1/authority/presentations?duplicates=true")]
        for method, path in authority:
            for key in (srv.customer_key, srv.operator_key):
                s, _, j = srv.request(method, path, {} if method == "POST" else None, key=key)
                self.assertEqual((s, j["error"]["code"]), (403, "forbidden"), (path, j))
            s, _, j = srv.request(method, path, {} if method == "POST" else None,
                                  key=srv.postal_key)
            self.assertNotIn(s, (401, 403, 405), (method, path, j))
        s, _, j = srv.request("GET", "/v1/admin/refund-claims", key=srv.postal_key)
        self.assertEqual((s, j["error"]["code"]), (403, "forbidden"), j)
        s, _, j = srv.request("GET", "/v1/admin/refund-claims", key=srv.customer_key)
        self.assertEqual(s, 403, j)
        self.assertEqual(srv.get_ok("/v1/admin/refund-claims", srv.operator_key)["object"],
                         "list")

    def test_claim_accepted_once(self):
        c = self.refunded()
        owed = self.srv.get_ok("/v1/admin/refund-claims?status=pending", self.srv.operator_key)
        self.assertGreaterEqual(owed["owed_mills"], 740, owed)
        self.assertTrue(any(x["id"] == c["id"] for x in owed["data"]), owed)
        s, _, metrics = self.srv.request("GET", "/metrics", key=self.srv.operator_key)
        self.books()
        before = self.deposit()["balance_mills"]
        s, h, d = self.req("POST", "/v1/authority/refund-claims/" + c["id"],
                           {"decision": "accept"})
        self.assertEqual((s, d["status"], d["reason"]), (200, "accepted", None), d)
        self.assertIsNotNone(d["decided_at"])
        self.assertIsNone(h.get("idempotent-replayed"))
        dep = self.deposit()
        self.assertEqual(dep["balance_mills"], before + 740, dep)
        self.assertEqual((dep["data"][0]["type"], dep["data"][0]["ref"],
                          dep["data"][0]["amount_mills"]), ("refund_claim", c["id"], 740), dep)
        self.books()
        # Decided again, the other way: the first decision is the answer; nothing moves.
        s, h, again = self.req("POST", "/v1/authority/refund-claims/" + c["id"],
                               {"decision": "reject", "reason": "second thoughts"})
        self.assertEqual((s, again["status"], again["reason"]), (200, "accepted", None), again)
        self.assertEqual(h.get("idempotent-replayed"), "true", h)
        self.assertEqual(self.deposit()["balance_mills"], before + 740)
        self.assertEqual(self.srv.get_ok("/v1/authority/refund-claims/" + c["id"],
                                         self.srv.postal_key)["status"], "accepted")
        self.books()

    def test_claim_rejected_is_the_vendors_loss(self):
        c = self.refunded()
        # The refunded piece turns up in the mail stream: the claim shows it.
        s, _, v = self.srv.request("POST", "/v1/verify",
                                   {"data": self.piece["data"], "location": "NDC-DENVER"},
                                   key=self.srv.postal_key)
        self.assertEqual((s, v["status"], v["counted"]), (200, "refunded", True), v)
        self.assertEqual(self.req("GET", "/v1/authority/refund-claims/" + c["id"])[2]
                         ["presentations"], 1)
        before = self.deposit()["balance_mills"]
        owed = self.srv.get_ok("/v1/admin/refund-claims", self.srv.operator_key)["owed_mills"]
        s, _, e = self.req("POST", "/v1/authority/refund-claims/" + c["id"], {"decision": "reject"})
        self.assertEqual((s, e["error"]["code"], e["error"]["field"]),
                         (400, "missing_field", "reason"), e)
        s, _, e = self.req("POST", "/v1/authority/refund-claims/" + c["id"], {"decision": "maybe"})
        self.assertEqual((s, e["error"]["field"]), (400, "decision"), e)
        s, _, e = self.req("POST", "/v1/authority/refund-claims/rcl_nope", {"decision": "accept"})
        self.assertEqual(s, 404, e)
        s, _, d = self.req("POST", "/v1/authority/refund-claims/" + c["id"],
                           {"decision": "reject", "reason": "presented at NDC-DENVER"})
        self.assertEqual((s, d["status"], d["reason"]), (200, "rejected",
                                                         "presented at NDC-DENVER"), d)
        self.assertEqual(self.deposit()["balance_mills"], before)
        after = self.srv.get_ok("/v1/admin/refund-claims", self.srv.operator_key)["owed_mills"]
        self.assertEqual(after, owed - 740)
        rejected = self.srv.get_ok("/v1/authority/refund-claims?status=rejected",
                                   self.srv.postal_key)["data"]
        self.assertIn(c["id"], [x["id"] for x in rejected])
        s, _, e = self.req("GET", "/v1/authority/refund-claims?status=lost")
        self.assertEqual(s, 400, e)
        s, _, e = self.req("GET", "/v1/authority/refund-claims?cursor=rcl_unknown")
        self.assertEqual((s, e["error"]["code"]), (400, "invalid_cursor"), e)
        s, _, m = self.srv.request("GET", "/metrics", key=self.srv.operator_key)
        self.assertEqual(s, 200)
        self.books()

    def test_concurrent_decisions_one_wins(self):
        """Eight decisions of one claim at once, accepts and rejects: one is
        made, every answer is that one, and the deposit moves once or not."""
        c = self.refunded()
        before = self.deposit()["balance_mills"]
        answers = [None] * 8

        def decide(i):
            body = ({"decision": "accept"} if i % 2 else
                    {"decision": "reject", "reason": "race %d" % i})
            answers[i] = self.req("POST", "/v1/authority/refund-claims/" + c["id"], body)

        threads = [threading.Thread(target=decide, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual({a[0] for a in answers}, {200}, answers)
        decided = {(a[2]["status"], a[2]["reason"]) for a in answers}
        self.assertEqual(len(decided), 1, answers)
        self.assertEqual(sum(1 for a in answers if a[1].get("idempotent-replayed") is None), 1,
                         [a[1] for a in answers])
        status = decided.pop()[0]
        self.assertEqual(self.deposit()["balance_mills"],
                         before + (740 if status == "accepted" else 0))
        self.books()

    def test_hold_stops_every_purchase_then_lift(self):
        srv = self.srv
        # A customer of its own, with a session, a live and a test key and a balance.
        email = "held-%d@example.test" % os.getpid()
        s, h, me = srv.request("POST", "/v1/signup",
                               body={"email": email, "password": "correct horse battery"})
        self.assertEqual(s, 201, me)
        web = {"Cookie": h["set-cookie"].split(";")[0], "X-CSRF-Token": me["csrf_token"]}
        keys = {}
        for mode in ("live", "test"):
            s, _, k = srv.request("POST", "/v1/account/api-keys", body={"mode": mode},
                                  headers=web)
            self.assertEqual(s, 201, k)
            keys[mode] = k["key"]
        live, test = keys["live"], keys["test"]
        s, _, f = srv.request("POST", "/v1/account/funds", key=live,
                              body={"amount": "20.00", "payment": PAY},
                              headers={"Idempotency-Key": idem("funds")})
        self.assertEqual(s, 201, f)
        cus = srv.get_ok("/v1/account", live)["id"]
        s, _, piece = self.buy(live)
        self.assertEqual(s, 201, piece)

        # Placed by a piece's serial: the answer names the customer id, nothing else of it.
        s, _, hold = self.req("POST", "/v1/authority/holds",
                              {"serial": piece["serial"], "psd_id": piece["psd_id"],
                               "reason": "order 2026-17: postage fraud"})
        self.assertEqual(s, 201, hold)
        self.assertEqual((hold["object"], hold["customer_id"], hold["standing"],
                          hold["serial"], hold["lifted_at"]),
                         ("hold", cus, True, piece["serial"], None), hold)
        self.assertNotIn("email", hold)
        self.assertIn("placed hold %s on customer %s" % (hold["id"], cus), srv.stderr_text())
        # And a second by customer id.
        s, _, hold2 = self.req("POST", "/v1/authority/holds",
                               {"customer_id": cus, "reason": "second order"})
        self.assertEqual((s, hold2["serial"], hold2["psd_id"]), (201, None, None), hold2)

        balance = srv.balance(live)
        psds = srv.psds()["psds"]
        events = len(self.gateway_events())
        for key, payment, headers in ((live, None, None), (live, PAY, None), (test, None, None),
                                      (test, PAY, None), (None, None, web)):
            s, _, e = self.buy(key, payment, headers)
            self.assertEqual((s, e["error"]["code"]), (403, "customer_on_hold"), e)
            self.assertIn("postal authority", e["error"]["message"])
        # Nothing moved, and no card was ever authorised.
        self.assertEqual(srv.balance(live), balance)
        self.assertEqual(srv.psds()["psds"], psds)
        self.assertEqual(len(self.gateway_events()), events, self.gateway_events()[events:])
        standing = [x["id"] for x in self.req("GET", "/v1/authority/holds?standing=true")[2]["data"]]
        self.assertIn(hold["id"], standing)
        self.assertIn(hold2["id"], standing)
        self.books()

        # Lifted one: still held by the other.
        s, _, lifted = self.req("POST", "/v1/authority/holds/%s/lift" % hold["id"],
                                {"reason": "order withdrawn"})
        self.assertEqual((s, lifted["standing"], lifted["lift_reason"]),
                         (200, False, "order withdrawn"), lifted)
        self.assertEqual(self.buy(live)[0], 403)
        s, _, lifted2 = self.req("POST", "/v1/authority/holds/%s/lift" % hold2["id"])
        self.assertEqual((s, lifted2["standing"], lifted2["lift_reason"]), (200, False, None),
                         lifted2)
        # Lifting again answers the first lift.
        s, h, again = self.req("POST", "/v1/authority/holds/%s/lift" % hold["id"],
                               {"reason": "other"})
        self.assertEqual((s, again["lift_reason"], h.get("idempotent-replayed")),
                         (200, "order withdrawn", "true"), again)
        self.assertIn("lifted hold %s on customer %s" % (hold["id"], cus), srv.stderr_text())
        for key, payment, headers in ((live, None, None), (live, PAY, None), (None, None, web)):
            s, _, ind = self.buy(key, payment, headers)
            self.assertEqual(s, 201, ind)
        self.assertGreater(len(self.gateway_events()), events)
        self.books()

    def test_hold_errors(self):
        for body, code, field in (({"reason": "x"}, "missing_field", "customer_id"),
                                  ({"customer_id": "cus_x", "serial": 1, "reason": "x"},
                                   "invalid_request", "serial"),
                                  ({"customer_id": "cus_nobody", "reason": "x"}, "not_found",
                                   "customer_id"),
                                  ({"serial": 4000000000, "reason": "x"}, "not_found", "serial"),
                                  ({"serial": "1", "reason": "x"}, "invalid_type", "serial"),
                                  ({"customer_id": "cus_x", "reason": " x"}, "invalid_request",
                                   "reason"),
                                  ({"customer_id": "cus_x"}, "missing_field", "reason")):
            s, _, e = self.req("POST", "/v1/authority/holds", body)
            self.assertEqual((e["error"]["code"], e["error"].get("field")), (code, field),
                             (body, e))
        s, _, e = self.req("POST", "/v1/authority/holds/hld_nope/lift")
        self.assertEqual(s, 404, e)

    def test_duplicates_seen(self):
        srv = self.srv
        s, _, twice = self.buy(srv.customer_key)
        s, _, once = self.buy(srv.customer_key)
        for data, where in ((twice["data"], "NDC-DENVER"), (twice["data"], "P&DC-94105"),
                            (once["data"], "NDC-DENVER")):
            s, _, v = srv.request("POST", "/v1/verify", {"data": data, "location": where},
                                  key=srv.postal_key)
            self.assertEqual((s, v["counted"]), (200, True), v)
        # A customer's check does not count.
        srv.request("POST", "/v1/verify", {"data": once["data"]}, key=srv.customer_key)
        dups = self.req("GET", "/v1/authority/presentations?duplicates=true")[2]["data"]
        mine = [d for d in dups if (d["psd_id"], d["serial"]) == (twice["psd_id"],
                                                                  twice["serial"])]
        self.assertEqual(len(mine), 1, dups)
        self.assertEqual((mine[0]["object"], mine[0]["presentations"], mine[0]["duplicate"],
                          mine[0]["first_location"], mine[0]["last_location"]),
                         ("presentation", 2, True, "NDC-DENVER", "P&DC-94105"), mine[0])
        self.assertNotIn(once["serial"], [d["serial"] for d in dups if
                                          d["psd_id"] == once["psd_id"]])
        seen = self.req("GET", "/v1/authority/presentations?limit=1")[2]
        self.assertEqual(len(seen["data"]), 1)
        self.assertTrue(seen["has_more"], seen)
        nxt = self.req("GET", "/v1/authority/presentations?limit=100&cursor=" +
                       seen["next_cursor"])[2]["data"]
        both = seen["data"] + nxt
        ours = {(d["serial"], d["presentations"]) for d in both
                if d["psd_id"] == once["psd_id"]}
        self.assertIn((once["serial"], 1), ours)
        self.assertIn((twice["serial"], 2), ours)
        s, _, e = self.req("GET", "/v1/authority/presentations?duplicates=yes")
        self.assertEqual(s, 400, e)


PG_DSN_FILE = os.environ.get("STAMPD_TEST_PG_DSN_FILE")

# Back to schema v12: no claims, no holds, no books of them.
REWIND = ("DELETE FROM journal_lines WHERE journal_id IN "
          "(SELECT id FROM journals WHERE kind = 'refund_claim')",
          "DELETE FROM journals WHERE kind = 'refund_claim'",
          "DELETE FROM accounts WHERE name IN ('refund_claims', 'authority_receivable')",
          "DROP TABLE refund_claims", "DROP TABLE authority_holds",
          "DROP INDEX indicia_presented",
          # And the postal web login after it (v14).
          "ALTER TABLE postal_accounts DROP COLUMN password_hash",
          # And the medium position (v15).
          "ALTER TABLE indicia DROP COLUMN medium_sheet",
          "ALTER TABLE indicia DROP COLUMN medium_label",
          # And the rate tables, a piece's options and price breakdown (v16).
          "DROP TABLE rate_tables",
          "ALTER TABLE indicia DROP COLUMN services", "ALTER TABLE indicia DROP COLUMN zone",
          "ALTER TABLE indicia DROP COLUMN rate_version",
          "ALTER TABLE indicia DROP COLUMN surcharge_mills",
          "ALTER TABLE indicia DROP COLUMN certified_mills",
          "ALTER TABLE indicia DROP COLUMN return_receipt_mills",
          # And purchase metadata (v17).
          "DROP TABLE indicium_metadata", "ALTER TABLE indicia DROP COLUMN metadata",
          # And bulk buying's tables (v18).
          "DROP TABLE buy_batch_items", "DROP TABLE buy_batches",
          # And webhooks (v19).
          "DROP TABLE webhook_attempts", "DROP TABLE webhook_deliveries",
          "DROP TABLE webhook_events", "DROP TABLE webhook_endpoints",
          # And the shared totals' parts (v21), added back to their accounts' rows.
          "UPDATE accounts SET balance_mills = balance_mills + COALESCE((SELECT "
          "SUM(p.balance_mills) FROM account_parts p WHERE p.name = accounts.name), 0)",
          "DROP TABLE account_parts",
          "DELETE FROM schema_version WHERE version >= 13")


class MigratedRefundsBase:
    """A database from before schema v13 with an approved refund: `stampd
    migrate` opens its claim, pending, with its journal entry."""

    postgres = False

    def rewind(self, srv):
        if self.postgres:
            subprocess.run([harness.psql(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", srv.db,
                            "-c", "; ".join(REWIND)], check=True, timeout=60)
            return
        db = sqlite3.connect(srv.db[len("sqlite:"):])
        try:
            for sql in REWIND:
                db.execute(sql)
            db.commit()
        finally:
            db.close()

    def test_migrate_opens_claims(self):
        srv = harness.Stampd("claims-migrate")
        try:
            if self.postgres:
                srv.db = harness.pg_createdb(PG_DSN_FILE)
            _, out, _ = srv.run("init", "--db", srv.db, "--license", harness.LICENSE, "--psds",
                                "1", "--keys-dir", os.path.join(srv.dir, "keys"), "--demo")
            keys = harness.Stampd._keys(out)
            srv.customer_key, srv.postal_key = keys["STAMP_KEY"], keys["STAMP_POSTAL_KEY"]
            srv.start(processors=1)
            s, _, ind = srv.buy(srv.customer_key, "m-1", LETTER)
            self.assertEqual(s, 201, ind)
            s, _, r = srv.request("POST", "/v1/indicia/%s/refund" % ind["id"],
                                  key=srv.customer_key)
            self.assertEqual(r["status"], "approved", r)
            srv.stop()
            self.rewind(srv)
            _, _, err = srv.run("migrate", "--db", srv.db)
            self.assertRegex(err, r"v12 -> v(1[3-9]|[2-9][0-9])")
            _, out, _ = srv.run("ledger", "check", "--db", srv.db)
            self.assertIn("every journal balances", out)
            srv.start(processors=1)
            claims = srv.get_ok("/v1/authority/refund-claims", srv.postal_key)
            self.assertEqual([(c["id"], c["refund_id"], c["status"], c["amount_mills"],
                               c["serial"]) for c in claims["data"]],
                             [("rcl_" + r["id"][4:], r["id"], "pending", 740, ind["serial"])],
                             claims)
            self.assertEqual(claims["owed_mills"], 740)
            s, _, d = srv.request("POST", "/v1/authority/refund-claims/rcl_" + r["id"][4:],
                                  {"decision": "accept"}, key=srv.postal_key)
            self.assertEqual((s, d["status"]), (200, "accepted"), d)
            srv.stop()
            srv.run("ledger", "check", "--db", srv.db)
        finally:
            srv.abandon()


class MigratedRefunds(MigratedRefundsBase, unittest.TestCase):
    pass


@unittest.skipUnless(PG_DSN_FILE, "no PostgreSQL cluster (STAMPD_TEST_PG_DSN_FILE)")
class MigratedRefundsPostgres(MigratedRefundsBase, unittest.TestCase):
    postgres = True


if __name__ == "__main__":
    harness.main()
