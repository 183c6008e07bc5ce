#!/usr/bin/env python3
"""test_media.py - media with identifier codes against the real stampd and stamp.

docs/media.md: a purchase with a medium serial is refused, in this order, when
the serial is not genuine (medium_invalid), was never issued (medium_unknown),
names a label printed already (medium_label_used), names an unpaid sheet
without a commitment to buy it (402 medium_payment_required, with its price),
or belongs to another customer's own media or a product that does not carry
this mail class (medium_group_not_allowed); and each refusal charges nothing
and moves no PSD register. A label prints once, a sheet serial takes the
sheet's next free label, an affiliate running low gets exactly one open
resupply order, also under concurrent purchases, and 50 purchases racing for
one label give one stamp.

Environment: STAMPD_BIN, STAMP_BIN, STAMPD_TEST_TMP (see harness.py).
"""

import concurrent.futures
import hashlib
import hmac
import itertools
import json
import os
import random
import re
import sqlite3
import struct
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

STAMP_BIN = os.environ.get("STAMP_BIN") or os.path.join(harness.SOURCE_DIR, "build", "stamp")
LETTER = {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
          "to_zip": "10001"}
LETTER_MILLS = 740
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def with_(**kw):
    b = dict(LETTER)
    b.update(kw)
    return b


# ---- the serial format (docs/serials.md, reference implementation) ----

def mul2(r):
    r <<= 1
    return r ^ 0x25 if r & 0x20 else r


def encode(secret, key, batch, product, group, sheet, position):
    msg = b"stampd serial\x00" + struct.pack(">BBIHHIB", 1, key, batch, product, group, sheet,
                                             position)
    code = hmac.new(secret, msg, hashlib.sha256).digest()[:5]
    n = 1
    for v, w in ((key, 4), (batch, 18), (product, 8), (group, 12), (sheet, 16), (position, 7)):
        n = (n << w) | v
    n = (n << 40) | int.from_bytes(code, "big")
    syms = [(n >> (5 * (21 - i))) & 31 for i in range(22)]
    r = 0
    for v in syms:
        r = mul2(r) ^ v
    syms.append(mul2(r))
    s = "".join(ALPHABET[v] for v in syms)
    return "-".join(s[i:i + 4] for i in range(0, 23, 4))


class Media(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.Stampd("media")
        try:
            srv = cls.srv
            srv.init()
            cls.x = srv.customer("xavier@example.test", "100")
            cls.y = srv.customer("yvonne@example.test", "100")
            cls.poor = srv.customer("poor@example.test", "1.00")
            cls.own = srv.customer("own@example.test", "100")
            srv.start(processors=2)
            cls.counter = itertools.count(1)
            cls.ids = {k: srv.get_ok("/v1/account", k)["id"]
                       for k in (cls.x, cls.y, cls.poor, cls.own)}
        except BaseException:
            cls.srv.abandon()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    # ---- helpers ----

    def buy(self, body, key=None, idem=None):
        return self.srv.buy(key or self.x, idem or "m-%d" % next(self.counter), body)

    def state(self):
        srv = self.srv
        return {"balances": [srv.balance(k) for k in (self.x, self.y, self.poor, self.own)],
                "psds": srv.psds()}

    def labels(self, batch, sheet=1):
        return [s["serial"] for s in batch["serials"] if s["sheet"] == sheet and s["position"]]

    def sheet_serial(self, batch, sheet=1):
        return [s["serial"] for s in batch["serials"]
                if s["sheet"] == sheet and s["position"] == 0][0]

    def refused(self, resp, status, code, what=""):
        s, _, j = resp
        self.assertEqual(s, status, "%s: %r" % (what, j))
        self.assertEqual(j["error"]["code"], code, "%s: %r" % (what, j))
        self.assertEqual(self.state(), self.base, "%s: a refused purchase changed state" % what)
        return j

    def setUp(self):
        self.base = self.state()

    def secret(self, key_id):
        db = sqlite3.connect(self.srv.db[len("sqlite:"):])
        try:
            row = db.execute("SELECT secret FROM media_keys WHERE key_id = ?",
                             (key_id,)).fetchone()
        finally:
            db.close()
        return bytes(row[0])

    # ---- the refusals, in order ----

    def test_invalid_serials_cost_nothing(self):
        _, batch = self.srv.media(sheets=1)
        good = self.labels(batch)[0]
        rnd = random.Random(4)
        bad = []
        for _ in range(100):
            bad.append("".join(rnd.choice(ALPHABET) for _ in range(23)))
        plain = good.replace("-", "")
        for _ in range(100):
            i = rnd.randrange(len(plain))
            c = rnd.choice([a for a in ALPHABET if a != plain[i]])
            bad.append(plain[:i] + c + plain[i + 1:])
        for serial in bad:
            s, _, j = self.buy(with_(medium_serial=serial))
            self.assertEqual((s, j["error"]["code"], j["error"].get("field")),
                             (400, "medium_invalid", "medium_serial"), serial)
        self.assertEqual(self.state(), self.base)

    def test_unknown_serial(self):
        key_id = self.srv.get_ok("/v1/admin/media/" + self.labels(
            self.srv.media(sheets=1)[1])[0], self.srv.operator_key)["batch"]["key_id"]
        self.base = self.state()
        forged = encode(self.secret(key_id), key_id, 262000, 1, 1, 1, 1)
        self.refused(self.buy(with_(medium_serial=forged)), 404, "medium_unknown", "batch 262000")

    def test_label_prints_once(self):
        _, batch = self.srv.media(sheets=1)
        label = self.labels(batch)[4]
        s, _, j = self.buy(with_(medium_serial=label))
        self.assertEqual(s, 201, j)
        self.assertEqual(j["medium"]["position"], 5)
        self.assertEqual(j["medium_serial"], label)
        self.base = self.state()
        for key in (self.x, self.y):
            self.refused(self.buy(with_(medium_serial=label), key=key), 409, "medium_label_used",
                         "second use")

    def test_payment_required_then_committed(self):
        _, batch = self.srv.media(sheets=2, payment="unpaid", price="1.50")
        labels = self.labels(batch)
        j = self.refused(self.buy(with_(medium_serial=labels[0])), 402,
                         "medium_payment_required", "unpaid sheet")
        self.assertEqual((j["error"]["price"], j["error"]["price_mills"]), ("1.50", 1500))
        # Committing to buy it: postage + the sheet, one journal each.
        before = self.srv.balance(self.x)
        s, _, j = self.buy(with_(medium_serial=labels[0], commit_to_purchase_medium=True))
        self.assertEqual(s, 201, j)
        self.assertEqual(j["medium"]["price_mills"], 1500)
        self.assertEqual(before - j["balance_mills"], LETTER_MILLS + 1500)
        self.assertEqual(self.srv.balance(self.x), before - LETTER_MILLS - 1500)
        # The sheet is paid: its next label costs postage only, for anyone.
        s, _, j = self.buy(with_(medium_serial=labels[1]), key=self.y)
        self.assertEqual(s, 201, j)
        self.assertEqual(j["medium"]["price_mills"], 0)
        # Buying a sheet outright.
        sheet2 = self.sheet_serial(batch, 2)
        before = self.srv.balance(self.y)
        s, _, j = self.srv.request("POST", "/v1/media/%s/purchase" % sheet2.lower(), {},
                                   key=self.y)
        self.assertEqual((s, j["price_mills"], j["serial"]), (201, 1500, sheet2), j)
        self.assertEqual(self.srv.balance(self.y), before - 1500)
        s, _, j = self.srv.request("POST", "/v1/media/%s/purchase" % sheet2, {}, key=self.y)
        self.assertEqual((s, j["error"]["code"]), (409, "already_exists"), j)
        self.assertEqual(self.srv.balance(self.y), before - 1500)
        rep = self.srv.get_ok("/v1/admin/ledger", self.srv.operator_key)
        self.assertTrue(rep["ok"], rep)

    def test_unpaid_at_no_price_needs_no_payment(self):
        _, batch = self.srv.media(sheets=1, payment="unpaid", price="0")
        label = self.labels(batch)[0]
        s, _, j = self.buy(with_(medium_serial=label))
        self.assertEqual((s, j["medium"]["price_mills"]), (201, 0), j)
        rec = self.srv.get_ok("/v1/admin/media/" + label, self.srv.operator_key)
        self.assertEqual((rec["payment"], rec["paid_by"]), ("paid", self.ids[self.x]))
        self.assertEqual(rec["label"]["indicium_id"], j["id"])

    def test_funds_must_cover_postage_and_medium(self):
        _, batch = self.srv.media(sheets=1, payment="unpaid", price="0.50")
        self.refused(self.buy(with_(medium_serial=self.labels(batch)[0],
                                    commit_to_purchase_medium=True), key=self.poor),
                     402, "insufficient_funds", "$1.00 < $0.74 + $0.50")
        # The sheet alone fits: bought outright from the balance.
        s, _, j = self.srv.request("POST", "/v1/media/%s/purchase" % self.labels(batch)[0], {},
                                   key=self.poor)
        self.assertEqual((s, j.get("balance_mills")), (201, 500), j)

    def test_group_not_allowed(self):
        _, own = self.srv.media(sheets=1, customer_id=self.ids[self.own], name="Own")
        self.refused(self.buy(with_(medium_serial=self.labels(own)[0]), key=self.y), 403,
                     "medium_group_not_allowed", "another customer's own media")
        s, _, j = self.buy(with_(medium_serial=self.labels(own)[0]), key=self.own)
        self.assertEqual(s, 201, j)
        _, env = self.srv.media(product="envelope-10", sheets=1)
        self.base = self.state()
        self.refused(self.buy(with_(medium_serial=self.labels(env)[0], mail_class="postcard")),
                     403, "medium_group_not_allowed", "a postcard on a #10 envelope")
        s, _, j = self.buy(with_(medium_serial=self.labels(env)[0]))
        self.assertEqual(s, 201, j)

    def test_order_of_checks(self):
        # Used and unpaid and another customer's: the label is used, that comes first.
        _, own = self.srv.media(sheets=1, customer_id=self.ids[self.own], name="Own2",
                                payment="unpaid", price="2")
        label = self.labels(own)[0]
        s, _, j = self.buy(with_(medium_serial=label, commit_to_purchase_medium=True),
                           key=self.own)
        self.assertEqual(s, 201, j)
        self.base = self.state()
        self.refused(self.buy(with_(medium_serial=label), key=self.y), 409, "medium_label_used")
        # Unpaid and another customer's: payment comes before the group.
        _, own2 = self.srv.media(sheets=1, customer_id=self.ids[self.own], name="Own3",
                                 payment="unpaid", price="2")
        self.base = self.state()
        self.refused(self.buy(with_(medium_serial=self.labels(own2)[0]), key=self.y), 402,
                     "medium_payment_required")

    # ---- sheets ----

    def test_sheet_serial_takes_the_next_label(self):
        _, batch = self.srv.media(product="netstamps-sheet", sheets=1)
        sheet = self.sheet_serial(batch)
        labels = self.labels(batch)
        self.assertEqual(len(labels), 20)
        # Label 3 used directly first: the sheet then skips it.
        s, _, j = self.buy(with_(medium_serial=labels[2]))
        self.assertEqual(s, 201, j)
        got = []
        for n in range(19):
            s, _, j = self.buy(with_(medium_serial=sheet))
            self.assertEqual(s, 201, j)
            got.append(j["medium"]["position"])
            self.assertEqual(j["medium_serial"], labels[j["medium"]["position"] - 1])
        self.assertEqual(got, [1, 2] + list(range(4, 21)))
        self.base = self.state()
        self.refused(self.buy(with_(medium_serial=sheet)), 409, "medium_label_used", "full sheet")
        rec = self.srv.get_ok("/v1/admin/media/" + sheet, self.srv.operator_key)
        self.assertEqual((rec["kind"], rec["labels_used"], rec["customers"]),
                         ("sheet", 20, [self.ids[self.x]]))
        self.assertIsNotNone(rec["first_use"])

    # ---- resupply ----

    def test_resupply_opens_once_at_the_threshold(self):
        aff, batch = self.srv.media(product="stamp-1x2", sheets=6, threshold=3,
                                    customer_id=self.ids[self.own], name="Self")
        labels = [s["serial"] for s in batch["serials"] if s["position"]]
        answers = []
        for label in labels:
            s, _, j = self.buy(with_(medium_serial=label), key=self.own)
            self.assertEqual(s, 201, j)
            answers.append(j.get("resupply"))
        # 6 labels, threshold 3: left after each use 5, 4, 3, 2, 1, 0.
        self.assertEqual(answers[:3], [None, None, None])
        self.assertEqual([a["labels_remaining"] for a in answers[3:]], [2, 1, 0])
        self.assertEqual(len({a["order_id"] for a in answers[3:]}), 1)
        orders = [o for o in self.srv.get_ok("/v1/admin/resupply-orders",
                                             self.srv.operator_key)["orders"]
                  if o["affiliate_id"] == aff]
        self.assertEqual(len(orders), 1)
        self.assertEqual((orders[0]["status"], orders[0]["labels_remaining"]), ("open", 2))
        # Shipping makes a batch for the affiliate and closes the order.
        s, _, j = self.srv.request("POST", "/v1/admin/resupply-orders/%s/ship" % orders[0]["id"],
                                   {"sheets": 10}, key=self.srv.operator_key)
        self.assertEqual(s, 200, j)
        self.assertEqual((j["order"]["status"], j["batch"]["affiliate_id"], j["batch"]["sheets"]),
                         ("shipped", aff, 10))
        s, _, j = self.srv.request("POST", "/v1/admin/resupply-orders/%s/ship" % orders[0]["id"],
                                   {}, key=self.srv.operator_key)
        self.assertEqual((s, j["error"]["code"]), (409, "already_exists"))

    def test_concurrent_purchases_open_one_order(self):
        aff, batch = self.srv.media(product="stamp-1x2", sheets=24, threshold=1000, name="Busy")
        labels = [s["serial"] for s in batch["serials"] if s["position"]]
        with concurrent.futures.ThreadPoolExecutor(max_workers=24) as ex:
            res = list(ex.map(lambda lab: self.buy(with_(medium_serial=lab), key=self.y), labels))
        self.assertEqual([r[0] for r in res], [201] * 24, [r[2] for r in res if r[0] != 201])
        orders = [o for o in self.srv.get_ok("/v1/admin/resupply-orders",
                                             self.srv.operator_key)["orders"]
                  if o["affiliate_id"] == aff]
        self.assertEqual(len(orders), 1, orders)
        # A reseller's customer is not told about its supply.
        self.assertTrue(all("resupply" not in r[2] for r in res))

    # ---- the race ----

    def test_fifty_purchases_race_for_one_label(self):
        _, batch = self.srv.media(sheets=1)
        label = self.labels(batch)[9]
        keys = [self.x, self.y] * 25
        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as ex:
            res = list(ex.map(lambda k: self.buy(with_(medium_serial=label), key=k), keys))
        ok = [r for r in res if r[0] == 201]
        self.assertEqual(len(ok), 1, [r[:1] + (r[2],) for r in res])
        self.assertTrue(all(r[0] == 409 and r[2]["error"]["code"] == "medium_label_used"
                            for r in res if r[0] != 201))
        after = self.state()
        self.assertEqual(sum(self.base["balances"]) - sum(after["balances"]), LETTER_MILLS)
        pieces = lambda st: sum(p["piece_count"] for p in st["psds"]["psds"])  # noqa: E731
        self.assertEqual(pieces(after) - pieces(self.base), 1)
        rep = self.srv.get_ok("/v1/admin/ledger", self.srv.operator_key)
        self.assertTrue(rep["ok"], rep)

    # ---- the operator's side ----

    def test_batch_formats_and_cli(self):
        env = harness.stampd_env()
        env["STAMP_SERVER"] = "http://%s:%d" % (self.srv.host, self.srv.port)
        env["STAMP_KEY"] = self.srv.operator_key

        def stamp(*args):
            p = subprocess.run([STAMP_BIN] + list(args), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env, timeout=120)
            harness.assert_no_sanitizer(p.stderr.decode(), "stamp")
            return p.returncode, p.stdout.decode(), p.stderr.decode()

        rc, out, err = stamp("--json", "admin", "affiliate", "create", "--name", "Shop",
                             "--threshold", "10")
        self.assertEqual(rc, 0, err)
        aff = json.loads(out)["id"]
        rc, out, err = stamp("admin", "media", "create-batch", "--product", "avery-5160",
                             "--sheets", "2", "--affiliate", aff, "--free", "--csv")
        self.assertEqual(rc, 0, err)
        rows = out.strip().split("\n")
        self.assertEqual(rows[0], "serial,batch,sheet,position")
        self.assertEqual(len(rows), 1 + 2 * 31)
        serial = rows[2].split(",")[0]
        pdf = os.path.join(self.srv.dir, "media.pdf")
        rc, out, err = stamp("admin", "media", "create-batch", "--product", "envelope-10",
                             "--sheets", "3", "--affiliate", aff, "--paid", "--pdf", pdf)
        self.assertEqual(rc, 0, err)
        with open(pdf, "rb") as f:
            body = f.read()
        self.assertTrue(body.startswith(b"%PDF"))
        self.assertEqual(len(re.findall(rb"/Type\s*/Page\b(?!s)", body)), 3)
        rc, out, err = stamp("admin", "media", "show", serial)
        self.assertEqual(rc, 0, err)
        self.assertIn("free", out)
        self.assertIn(aff, out)
        rc, out, err = stamp("admin", "affiliate", "list")
        self.assertEqual(rc, 0, err)
        self.assertIn("Shop", out)
        rc, out, err = stamp("admin", "resupply", "list")
        self.assertEqual(rc, 0, err)
        rc, out, err = stamp("admin", "resupply", "ship", "rso_nope")
        self.assertEqual(rc, 1, err)
        rc, out, err = stamp("admin", "media", "show", "1000-0000-0000-0000-0000-000")
        self.assertEqual(rc, 1, err)
        rc, out, err = stamp("admin", "media", "create-batch", "--sheets", "1")
        self.assertEqual(rc, 2, err)



class MediaSecrets(unittest.TestCase):
    """stampd migrate makes a secret for a database that has none (schema v4 or
    older); stampd media rotate-secret makes the next key id current while
    media made under the older one keep verifying."""

    def test_migrate_then_rotate(self):
        srv = harness.Stampd("media-secrets")
        try:
            srv.init()
            path = srv.db[len("sqlite:"):]
            # Back to schema v4 (payments, before media): no media tables, no secret,
            # and nothing of the later migrations (v6-v15: PSD key binding, payment
            # intents, the postal authority, signed resets, PSD key certificates, the PSD
            # status history, daily device reports and the watchdog's contacts, refund
            # claims and holds; the postal web login goes with postal_accounts).
            db = sqlite3.connect(path)
            try:
                for t in ("resupply_orders", "media_labels", "media_sheets", "media_batches",
                          "affiliates", "media_keys", "pay_intents", "postal_accounts",
                          "presentations", "deposit_credits", "device_reports", "psd_contact"):
                    db.execute("DROP TABLE %s" % t)
                db.execute("DROP INDEX refills_authorization")
                db.execute("DROP INDEX indicia_psd_created")  # v12
                # And the columns later migrations added (PSD keys bound to crypto modules, v6).
                for t in ("keys", "servers"):
                    db.execute("ALTER TABLE %s DROP COLUMN module_id" % t)
                # The resets' authority signatures (v9).
                db.execute("ALTER TABLE refills DROP COLUMN authority_sig")
                # And the key certificates, retirement and revocation (v10).
                for c in ("cert_pem", "retired_at", "revoked_at", "revoke_reason"):
                    db.execute("ALTER TABLE keys DROP COLUMN %s" % c)
                # And the PSD status history and who suspended a PSD (v11).
                db.execute("DROP TABLE psd_events")
                for c in ("suspended_by", "status_reason"):
                    db.execute("ALTER TABLE psds DROP COLUMN %s" % c)
                # Refund claims, the authority's holds, the index of pieces seen (v13).
                for t in ("refund_claims", "authority_holds"):
                    db.execute("DROP TABLE %s" % t)
                db.execute("DROP INDEX indicia_presented")
                # The medium position (v15), rate tables and a piece's price breakdown (v16).
                db.execute("DROP TABLE rate_tables")
                for c in ("medium_sheet", "medium_label", "services", "zone", "rate_version",
                          "surcharge_mills", "certified_mills", "return_receipt_mills"):
                    db.execute("ALTER TABLE indicia DROP COLUMN %s" % c)
                # A purchase's metadata (v17).
                db.execute("DROP TABLE indicium_metadata")
                db.execute("ALTER TABLE indicia DROP COLUMN metadata")
                # Bulk buying's batches and their items (v18).
                for t in ("buy_batch_items", "buy_batches"):
                    db.execute("DROP TABLE %s" % t)
                # Webhooks (v19).
                for t in ("webhook_attempts", "webhook_deliveries", "webhook_events",
                          "webhook_endpoints"):
                    db.execute("DROP TABLE %s" % t)
                # The index of journals by ref that v20 drops (issue 15).
                db.execute("CREATE INDEX journals_ref ON journals(ref)")
                # The shared totals' parts (v21), added back to their accounts' rows.
                db.execute("UPDATE accounts SET balance_mills = balance_mills + COALESCE("
                           "(SELECT SUM(p.balance_mills) FROM account_parts p "
                           "WHERE p.name = accounts.name), 0)")
                db.execute("DROP TABLE account_parts")
                db.execute("DELETE FROM schema_version WHERE version >= 5")
                db.commit()
            finally:
                db.close()
            rc, _, err = srv.run("serve", "--db", srv.db, "--listen", "127.0.0.1:0",
                                 check=False)
            self.assertNotEqual(rc, 0)
            self.assertIn("schema", err)
            _, _, err = srv.run("migrate", "--db", srv.db)
            self.assertRegex(err, r"v4 -> v[0-9]+")
            # v11 gives every PSD in service an "added" event with its registers.
            db = sqlite3.connect(path)
            try:
                added = db.execute("SELECT psd_id, event, actor, status_after FROM psd_events "
                                   "ORDER BY id").fetchall()
                psds = [r[0] for r in db.execute("SELECT id FROM psds ORDER BY id")]
                ref_index = db.execute("SELECT name FROM sqlite_master "
                                       "WHERE name = 'journals_ref'").fetchall()
            finally:
                db.close()
            self.assertEqual(added, [(p, "added", "system", 0) for p in psds])
            self.assertEqual(ref_index, [])  # v20: no statement used it
            srv.start()
            _, old = srv.media(sheets=1)
            self.assertEqual(old["key_id"], 0)
            _, out, _ = srv.run("media", "rotate-secret", "--db", srv.db)
            self.assertEqual(out.strip(), "key_id=1")
            _, new = srv.media(sheets=1, name="After")
            self.assertEqual(new["key_id"], 1)
            for batch, n in ((old, 1), (new, 2)):
                label = [s["serial"] for s in batch["serials"] if s["position"]][0]
                s, _, j = srv.buy(srv.customer_key, "rot-%d" % n,
                                  dict(LETTER, medium_serial=label))
                self.assertEqual(s, 201, j)
            # The server that did not make the batch learns the key too: restart
            # and use a fresh label of the new batch.
            srv.stop()
            srv.start()
            label = [s["serial"] for s in new["serials"] if s["position"]][1]
            s, _, j = srv.buy(srv.customer_key, "rot-3", dict(LETTER, medium_serial=label))
            self.assertEqual(s, 201, j)
        except BaseException:
            srv.abandon()
            raise
        srv.stop()


class MediaAndPayments(unittest.TestCase):
    """Where media meet payments: a card pays a medium bought with a stamp in
    the same charge; test keys check media but never use real labels."""

    def test_card_and_test_keys(self):
        srv = harness.Stampd("media-pay")
        try:
            srv.init(psds=1)
            srv.start(processors=1)
            _, batch = srv.media(sheets=1, payment="unpaid", price="1.50")
            labels = [x["serial"] for x in batch["serials"] if x["position"]]
            test_key = srv.signup("mp@example.com", "test")
            card = harness.CARD
            st, _, j = srv.request("POST", "/v1/account/funds", key=test_key,
                                   headers={"Idempotency-Key": "t1"},
                                   body={"amount": "5.00",
                                         "payment": {"method": "card", "card": card}})
            self.assertEqual(st, 201, j)
            # Test keys cannot buy real sheets with play money.
            s, _, j = srv.request("POST", "/v1/media/%s/purchase" % labels[0], key=test_key)
            self.assertEqual((s, j["error"]["code"]), (403, "forbidden"), j)
            # Test key: every check runs (unpaid -> 402 with the price) ...
            s, _, j = srv.buy(test_key, "mt-1", with_(medium_serial=labels[0]))
            self.assertEqual((s, j["error"]["code"]), (402, "medium_payment_required"), j)
            # ... and with the commitment the price is test money; the label stays unused.
            s, _, j = srv.buy(test_key, "mt-2", with_(medium_serial=labels[0],
                                                      commit_to_purchase_medium=True))
            self.assertEqual((s, j["test"]), (201, True), j)
            self.assertEqual(srv.balance(test_key), 5000 - LETTER_MILLS - 1500)
            rec = srv.get_ok("/v1/admin/media/" + labels[0], srv.operator_key)
            self.assertEqual(rec["payment"], "unpaid", rec)
            # Live key, paying by card: one charge for postage and the medium.
            live = srv.customer_key
            before = srv.balance(live)
            s, _, j = srv.buy(live, "ml-1", with_(medium_serial=labels[0],
                                                  commit_to_purchase_medium=True,
                                                  payment={"method": "card", "card": card}))
            self.assertEqual(s, 201, j)
            self.assertEqual(srv.balance(live), before, "the card, not the balance, paid")
            tx = srv.get_ok("/v1/account/transactions?limit=5", live)["data"]
            charge = [t for t in tx if t["kind"] == "card_charge"]
            self.assertEqual([t["amount_mills"] for t in charge], [LETTER_MILLS + 1500], tx)
            self.assertIn("medium_sale", [t["kind"] for t in tx])
            rec = srv.get_ok("/v1/admin/media/" + labels[0], srv.operator_key)
            self.assertEqual(rec["payment"], "paid", rec)
            # Auto-refill counts the medium's price: $1.00 covers the postage, not with the
            # $1.50 sheet, so the refill fires although postage alone would leave $0.26.
            key2 = srv.signup("mp2@example.com")
            st, _, pm = srv.request("POST", "/v1/payment-methods", key=key2, body={"card": card})
            self.assertEqual(st, 201, pm)
            st, _, j = srv.request("POST", "/v1/account/funds", key=key2,
                                   headers={"Idempotency-Key": "f2"},
                                   body={"amount": "1.00", "payment": {
                                       "method": "card", "payment_method_id": pm["id"]}})
            self.assertEqual(st, 201, j)
            st, _, j = srv.request("PUT", "/v1/account/auto-refill", key=key2, body={
                "enabled": True, "trigger": "0.10", "amount": "10.00",
                "payment_method_id": pm["id"]})
            self.assertEqual(st, 200, j)
            _, batch2 = srv.media(sheets=1, payment="unpaid", price="1.50", name="Other")
            label2 = [x["serial"] for x in batch2["serials"] if x["position"]][0]
            s, _, j = srv.buy(key2, "ar-1", with_(medium_serial=label2,
                                                  commit_to_purchase_medium=True))
            self.assertEqual(s, 201, j)
            self.assertEqual(j["payment"]["auto_refill"]["amount_mills"], 10000, j)
            self.assertEqual(srv.balance(key2), 1000 + 10000 - LETTER_MILLS - 1500)
            st, _, led = srv.request("GET", "/v1/admin/ledger", key=srv.operator_key)
            self.assertTrue(led["ok"], led)
            srv.stop()
        finally:
            srv.abandon()


if __name__ == "__main__":
    harness.main()
