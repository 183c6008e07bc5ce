"""test_payments.py - accounts, cards, balances, auto-refill, refunds and the
ledger, against the real stampd binary over HTTP (issue 5).

Every refusal is checked to change nothing: balance, PSD registers and the
number of indicia stay as they were. At the end the card numbers used are
searched for in every byte of the database files and the server's log.
"""

import concurrent.futures
import http.client
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

LETTER = {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
          "to_zip": "10001"}
PANS = ["4242424242424242", "5555555555554444", "378282246310005", "6011111111111117",
        "4000000000000002", "4000000000009995", "4000000000000127", "4000000000000119"]


def card(number="4242424242424242", cvc="123", exp_month=12, exp_year=2031, zip_code="94107"):
    return {"number": number, "exp_month": exp_month, "exp_year": exp_year, "cvc": cvc,
            "zip": zip_code}


SRV = None
COUNTER = [0]


def idem():
    COUNTER[0] += 1
    return "pay-%d-%d" % (os.getpid(), COUNTER[0])


def setUpModule():
    global SRV
    SRV = harness.Stampd("payments")
    SRV.init(psds=2, refill="5")
    # Many sign-ups from one address: far more than the default budget a minute.
    SRV.start(processors=2, extra=["--lockout", "2", "--signup-limit", "10000"])


def tearDownModule():
    if SRV is not None:
        SRV.abandon()


class PaymentTest(unittest.TestCase):
    def signup(self, email=None, password="correct horse battery"):
        """A new customer through the public sign-up; returns (live key, test key)."""
        COUNTER[0] += 1
        email = email or "c%d-%d@example.test" % (os.getpid(), COUNTER[0])
        st, h, j = SRV.request("POST", "/v1/signup", body={"email": email, "password": password})
        self.assertEqual(st, 201, j)
        cookie = h["set-cookie"].split(";")[0]
        hdr = {"Cookie": cookie, "X-CSRF-Token": j["csrf_token"]}
        keys = []
        for mode in ("live", "test"):
            st, _, k = SRV.request("POST", "/v1/account/api-keys", body={"mode": mode},
                                   headers=hdr)
            self.assertEqual(st, 201, k)
            self.assertTrue(k["key"].startswith("sk_%s_" % mode), k)
            keys.append(k["key"])
        return keys[0], keys[1]

    def snapshot(self, key):
        psds = [{k: p[k] for k in ("id", "ascending_mills", "descending_mills", "piece_count")}
                for p in SRV.psds()["psds"]]
        return {"balance": SRV.balance(key), "psds": psds,
                "indicia": len(SRV.list_all(key))}

    def refused(self, resp, status, code, field=None):
        st, _, j = resp
        self.assertEqual(st, status, j)
        self.assertEqual(j["error"]["code"], code, j)
        if field is not None:
            self.assertEqual(j["error"].get("field"), field, j)
        return j["error"]

    def buy(self, key, payment=None, body=None):
        b = dict(body or LETTER)
        if payment is not None:
            b["payment"] = payment
        return SRV.buy(key, idem(), b)

    def funds(self, key, amount, payment, idem_key=None):
        return SRV.request("POST", "/v1/account/funds", key=key,
                           body={"amount": amount, "payment": payment},
                           headers={"Idempotency-Key": idem_key or idem()})

    def save_card(self, key, **kw):
        st, _, j = SRV.request("POST", "/v1/payment-methods", key=key, body={"card": card(**kw)})
        self.assertEqual(st, 201, j)
        return j["id"]

    def txns(self, key, kind=None):
        out, cursor = [], None
        while True:
            path = "/v1/account/transactions?limit=7" + ("&cursor=" + cursor if cursor else "")
            page = SRV.get_ok(path, key)
            out += page["data"]
            if not page["has_more"]:
                break
            cursor = page["next_cursor"]
        return [t for t in out if kind is None or t["kind"] == kind]

    def stamp(self, *args, key=None, stdin="", password=None, code=0):
        env = dict(os.environ, STAMP_SERVER="http://%s:%d" % (SRV.host, SRV.port))
        env.pop("STAMP_KEY", None)
        if key:
            env["STAMP_KEY"] = key
        if password:
            env["STAMP_PASSWORD"] = password
        p = subprocess.run([os.environ.get("STAMP_BIN") or os.path.join(
            harness.SOURCE_DIR, "build", "stamp")] + list(args), input=stdin.encode(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=60)
        out, err = p.stdout.decode(), p.stderr.decode()
        harness.assert_no_sanitizer(err, "stamp " + " ".join(args))
        self.assertEqual(p.returncode, code, "stamp %s\n%s\n%s" % (" ".join(args), out, err))
        return out, err

    def verify(self, data):
        st, _, j = SRV.request("POST", "/v1/verify", key=SRV.postal_key, body={"data": data})
        self.assertEqual(st, 200, j)
        return j


class Cards(PaymentTest):
    def test_every_card_rule_refuses_before_anything_moves(self):
        live, _ = self.signup()
        before = self.snapshot(live)
        cases = [
            (card(number="4242424242424241"), "card.number"),       # Luhn
            (card(number="424242424242"), "card.number"),           # too short for Visa
            (card(number="3530111333300000"), "card.number"),       # JCB: not accepted
            (card(number="4242 4242 4242 424x"), "card.number"),    # characters
            (card(exp_month=13), "card.exp_month"),
            (card(exp_year=2020), "card.exp_year"),
            (card(exp_year=2026, exp_month=1), "card.exp_month"),   # this year, month over
            (card(cvc="12"), "card.cvc"),
            (card(number="378282246310005", cvc="123"), "card.cvc"),  # Amex needs 4
            (card(zip_code=""), "card.zip"),
            (card(zip_code="9410"), "card.zip"),
        ]
        for c, field in cases:
            with self.subTest(field=field, card=c):
                err = self.refused(self.buy(live, {"method": "card", "card": c}), 400,
                                   "card_invalid", field)
                self.assertNotIn(c["number"].replace(" ", ""), str(err))
        self.assertEqual(self.snapshot(live), before)

    def test_sandbox_cards(self):
        live, _ = self.signup()
        outcomes = {"4000000000000002": "card_declined", "4000000000009995": "insufficient_funds",
                    "4000000000000127": "incorrect_cvc"}
        before = self.snapshot(live)
        for number, decline in outcomes.items():
            with self.subTest(number=number):
                err = self.refused(self.buy(live, {"method": "card", "card": card(number)}), 402,
                                   "card_declined", "payment")
                self.assertEqual(err["decline_code"], decline)
                self.refused(self.funds(live, "10.00", {"method": "card", "card": card(number)}),
                             402, "card_declined")
        self.refused(self.buy(live, {"method": "card", "card": card("4000000000000119")}), 502,
                     "payment_processing_error")
        self.assertEqual(self.snapshot(live), before, "a declined card changed something")
        self.assertEqual(self.txns(live), [])

        for number, cvc in (("4242424242424242", "123"), ("5555555555554444", "123"),
                            ("378282246310005", "1234"), ("6011111111111117", "123")):
            with self.subTest(approved=number):
                st, _, j = self.buy(live, {"method": "card", "card": card(number, cvc=cvc)})
                self.assertEqual(st, 201, j)
                self.assertEqual(j["payment"]["method"], "card")
                self.assertEqual(j["payment"]["last4"], number[-4:])
                self.assertTrue(j["payment"]["charge_id"].startswith("ch_"))
                self.assertEqual(j["balance_mills"], 0)   # in and straight out again
                self.assertTrue(self.verify(j["data"])["valid"])
        kinds = [t["kind"] for t in self.txns(live)]
        self.assertEqual(kinds.count("card_charge"), 4)
        self.assertEqual(kinds.count("postage_sale"), 4)

    def test_saved_cards(self):
        live, test = self.signup()
        pm = self.save_card(live, number="5555555555554444")
        st, _, j = SRV.request("GET", "/v1/payment-methods", key=live)
        self.assertEqual([(m["id"], m["brand"], m["last4"], m["mode"]) for m in j["data"]],
                         [(pm, "mastercard", "4444", "live")])
        self.assertNotIn("5555555555554444", str(j))
        # A live card is not a test key's, and the other way round.
        self.refused(self.buy(test, {"method": "card", "payment_method_id": pm}), 404,
                     "not_found", "payment.payment_method_id")
        body = dict(LETTER, payment={"method": "card", "payment_method_id": pm})
        key = idem()
        st, _, j = SRV.buy(live, key, body)
        self.assertEqual(st, 201, j)
        self.assertEqual(j["payment"]["payment_method_id"], pm)
        first = j["id"]
        # A retry answers the same stamp, charges nothing, and tells no payment of its own.
        st, h, again = SRV.buy(live, key, body)
        self.assertEqual((st, h.get("idempotent-replayed"), again["id"]), (201, "true", j["id"]))
        self.assertNotIn("payment", again)
        self.assertEqual(len(self.txns(live, "card_charge")), 1)
        # On SQLite the card's intent is its key's record, no idempotency row of its own (issue
        # 15, session 25), and it keeps the key as the row did: the same key for a purchase
        # from the balance (none here: it would be refused insufficient_funds) is refused.
        con = sqlite3.connect("file:%s?mode=ro" % SRV.db[len("sqlite:"):], uri=True)
        try:
            rows = con.execute("SELECT COUNT(*) FROM idempotency WHERE key = ?", (key,))
            self.assertEqual(rows.fetchone()[0], 0)
        finally:
            con.close()
        self.refused(SRV.buy(live, key, LETTER), 409, "idempotency_key_reused")
        # Another customer cannot use or delete it.
        other, _ = self.signup()
        self.refused(self.buy(other, {"method": "card", "payment_method_id": pm}), 404,
                     "not_found")
        self.refused(SRV.request("DELETE", "/v1/payment-methods/" + pm, key=other), 404,
                     "not_found")
        # The test key of the same customer cannot see or delete a live card either.
        self.refused(SRV.request("DELETE", "/v1/payment-methods/" + pm, key=test), 404,
                     "not_found")
        st, _, j = SRV.request("DELETE", "/v1/payment-methods/" + pm, key=live)
        self.assertEqual(st, 200, j)
        self.assertEqual(SRV.get_ok("/v1/payment-methods", live)["data"], [])
        # A retry after the card was deleted still answers its stamp: the front reads the key
        # when the payment cannot be read (issue 15, session 17: no early read for a card).
        st, h, again = SRV.buy(live, key, body)
        self.assertEqual((st, h.get("idempotent-replayed"), again["id"]), (201, "true", first))
        self.assertEqual(len(self.txns(live, "card_charge")), 1)
        self.refused(self.buy(live, {"method": "card", "payment_method_id": pm}), 404,
                     "not_found")
        # Bad shapes.
        self.refused(self.buy(live, {"method": "cash"}), 400, "invalid_request", "payment.method")
        self.refused(self.buy(live, {"method": "card"}), 400, "invalid_request")
        self.refused(self.buy(live, {"method": "card", "card": card(), "payment_method_id": pm}),
                     400, "invalid_request")


class Funds(PaymentTest):
    def test_top_up_is_idempotent_and_validated(self):
        live, _ = self.signup()
        pay = {"method": "card", "card": card()}
        for amount in ("0.50", "10.005", "10001.00", "ten", ""):
            with self.subTest(amount=amount):
                self.refused(self.funds(live, amount, pay), 400, "invalid_amount", "amount")
        self.refused(SRV.request("POST", "/v1/account/funds", key=live,
                                 body={"amount": "10.00", "payment": pay}),
                     400, "idempotency_key_required")
        self.refused(self.funds(live, "10.00", {"method": "balance"}), 400, "invalid_request")
        self.refused(self.funds(live, "10.00", pay, "tab\tkey"), 400, "invalid_request",
                     "Idempotency-Key")
        key = idem()
        st, h, first = self.funds(live, "25.00", pay, key)
        self.assertEqual(st, 201, first)
        self.assertEqual((first["amount_mills"], first["balance_mills"]), (25000, 25000))
        st, h, again = self.funds(live, "25.00", pay, key)
        self.assertEqual((st, h.get("idempotent-replayed")), (201, "true"), again)
        self.assertEqual(again["id"], first["id"])
        self.assertEqual(SRV.balance(live), 25000, "a replay charged twice")
        self.refused(self.funds(live, "30.00", pay, key), 409, "idempotency_key_reused")
        # Retries sent at once charge once; the others are replays.
        key2 = idem()
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
            res = list(ex.map(lambda _: self.funds(live, "5.00", pay, key2), range(8)))
        self.assertEqual([r[0] for r in res], [201] * 8, [r[2] for r in res])
        self.assertEqual(len({r[2]["id"] for r in res}), 1)
        self.assertEqual(SRV.balance(live), 30000)
        # A malformed body never quotes what was typed into it (a card number, say).
        st, _, j = SRV.request("POST", "/v1/indicia", key=live, headers={"Idempotency-Key": idem()},
                               raw='{"payment":{"card":{"number":"4242424242424242\t"}}}')
        self.assertEqual((st, j["error"]["code"]), (400, "invalid_json"), j)
        self.assertNotIn("4242", json.dumps(j))
        self.assertEqual(sorted(t["amount_mills"] for t in self.txns(live)), [5000, 25000])
        st, _, j = self.buy(live)
        self.assertEqual((st, j["balance_mills"]), (201, 30000 - j["postage_mills"]), j)


class AutoRefill(PaymentTest):
    def test_fires_exactly_once_under_50_concurrent_purchases(self):
        live, _ = self.signup()
        pm = self.save_card(live)
        st, _, j = self.funds(live, "5.50", {"method": "card", "payment_method_id": pm})
        self.assertEqual(st, 201, j)
        for bad in ({"enabled": True, "trigger": "5.00", "amount": "1.00",
                     "payment_method_id": pm},
                    {"enabled": True, "trigger": "5.00", "amount": "50.00",
                     "payment_method_id": "pm_nope"},
                    {"enabled": "yes"}):
            st, _, j = SRV.request("PUT", "/v1/account/auto-refill", key=live, body=bad)
            self.assertIn(st, (400, 404), j)
        st, _, j = SRV.request("PUT", "/v1/account/auto-refill", key=live,
                               body={"enabled": True, "trigger": "5.00", "amount": "50.00",
                                     "payment_method_id": pm})
        self.assertEqual((st, j["enabled"], j["trigger_mills"]), (200, True, 5000), j)
        before = self.snapshot(live)

        with concurrent.futures.ThreadPoolExecutor(max_workers=25) as ex:
            results = list(ex.map(lambda _: self.buy(live), range(50)))
        self.assertEqual([r[0] for r in results], [201] * 50, [r[2] for r in results if r[0] != 201])
        refills = [r[2]["payment"]["auto_refill"] for r in results
                   if "auto_refill" in r[2]["payment"]]
        self.assertEqual(len(refills), 1, "auto-refill fired %d times" % len(refills))
        self.assertEqual(len(self.txns(live, "auto_refill")), 1)
        spent = sum(r[2]["postage_mills"] for r in results)
        self.assertEqual(SRV.balance(live), before["balance"] + 50000 - spent)
        self.assertEqual(self.snapshot(live)["indicia"], before["indicia"] + 50)

    def test_declined_refill_refuses_only_when_the_balance_cannot_pay(self):
        live, _ = self.signup()
        good = self.save_card(live)
        self.assertEqual(self.funds(live, "1.00", {"method": "card", "payment_method_id": good})[0],
                         201)
        bad = self.save_card(live, number="4000000000000002")
        st, _, j = SRV.request("PUT", "/v1/account/auto-refill", key=live,
                               body={"enabled": True, "trigger": "0.50", "amount": "20.00",
                                     "payment_method_id": bad})
        self.assertEqual(st, 200, j)
        st, _, j = self.buy(live)      # 1.00 covers it; the refill is tried and declined
        self.assertEqual(st, 201, j)
        self.assertNotIn("auto_refill", j["payment"])
        before = self.snapshot(live)
        self.refused(self.buy(live), 402, "card_declined")   # 0.26 left: refused
        self.assertEqual(self.snapshot(live), before)
        # Deleting the card turns auto-refill off.
        SRV.request("DELETE", "/v1/payment-methods/" + bad, key=live)
        self.assertFalse(SRV.get_ok("/v1/account/auto-refill", live)["enabled"])
        self.refused(self.buy(live), 402, "insufficient_funds")


class TestKeys(PaymentTest):
    def test_test_keys_never_make_valid_postage(self):
        live, test = self.signup()
        live_before = self.snapshot(live)
        live_psds = {p["id"]: p for p in SRV.psds()["psds"] if not p.get("test")}
        self.refused(self.buy(test), 402, "insufficient_funds")
        st, _, j = self.funds(test, "10.00", {"method": "card", "card": card()})
        self.assertEqual(st, 201, j)
        self.assertEqual(SRV.balance(live), live_before["balance"], "test money reached live")
        pieces = []
        for pay in (None, {"method": "card", "card": card("5555555555554444")}):
            st, _, ind = self.buy(test, pay)
            self.assertEqual(st, 201, ind)
            self.assertTrue(ind["test"], ind)
            pieces.append(ind)
            v = self.verify(ind["data"])
            self.assertEqual((v["valid"], v["status"], v["reason"], v["test"]),
                             (False, "test", "test_piece", True), v)
        psds = SRV.psds()["psds"]
        test_psds = {p["id"] for p in psds if p.get("test")}
        self.assertEqual(len(test_psds), 1, psds)
        self.assertEqual({i["psd_id"] for i in pieces}, test_psds)
        for p in psds:
            if p["id"] in live_psds:
                self.assertEqual(p["ascending_mills"], live_psds[p["id"]]["ascending_mills"],
                                 "a test piece moved a live PSD")
        # Test keys cannot mint keys; a test piece cannot be refunded.
        self.refused(SRV.request("POST", "/v1/account/api-keys", key=test, body={}), 403,
                     "forbidden")
        st, _, r = SRV.request("POST", "/v1/indicia/%s/refund" % pieces[0]["id"], key=test)
        self.assertEqual((st, r["status"], r["reason"]), (200, "denied", "test_piece"), r)
        self.assertEqual(SRV.get_ok("/v1/account", test)["mode"], "test")


class Refunds(PaymentTest):
    def test_refund_rules(self):
        live, _ = self.signup()
        self.assertEqual(self.funds(live, "20.00", {"method": "card", "card": card()})[0], 201)
        psds_before = None
        st, _, a = self.buy(live)
        st, _, b = self.buy(live)
        st, _, c = self.buy(live, {"method": "card", "card": card("6011111111111117")})
        self.assertEqual(st, 201, c)
        psds_before = SRV.psds()["psds"]
        bal = SRV.balance(live)

        st, _, r = SRV.request("POST", "/v1/indicia/%s/refund" % a["id"], key=live)
        self.assertEqual((st, r["status"], r["destination"], r["amount_mills"]),
                         (201, "approved", "balance", a["postage_mills"]), r)
        self.assertEqual(SRV.balance(live), bal + a["postage_mills"])
        v = self.verify(a["data"])
        self.assertEqual((v["valid"], v["status"], v["refunded"]), (False, "refunded", True), v)
        # A repeated request answers the original decision, same id and status code.
        st, _, r2 = SRV.request("POST", "/v1/indicia/%s/refund" % a["id"], key=live)
        self.assertEqual((st, r2), (201, r))
        st, _, r3 = SRV.request("GET", "/v1/indicia/%s/refund" % a["id"], key=live)
        self.assertEqual((st, r3), (200, r))
        self.assertEqual(SRV.get_ok("/v1/indicia/%s/refund" % a["id"], live)["status"],
                         "approved")
        self.assertEqual(SRV.balance(live), bal + a["postage_mills"])

        self.verify(b["data"])    # the postal authority scanned it
        st, _, r = SRV.request("POST", "/v1/indicia/%s/refund" % b["id"], key=live)
        self.assertEqual((r["status"], r["reason"]), ("denied", "already_scanned"), r)
        # A denial is final too: asked again, the same record, nothing new.
        st2, _, again = SRV.request("POST", "/v1/indicia/%s/refund" % b["id"], key=live)
        self.assertEqual((st2, again), (st, r))

        st, _, r = SRV.request("POST", "/v1/indicia/%s/refund" % c["id"], key=live)
        self.assertEqual((st, r["status"], r["destination"]), (201, "approved", "card"), r)
        self.assertEqual(SRV.balance(live), bal + a["postage_mills"], "card refund hit balance")
        kinds = [t["kind"] for t in self.txns(live)]
        self.assertEqual(kinds.count("refund"), 2)
        self.assertEqual(kinds.count("card_refund"), 1)

        # Registers never move back.
        after = {p["id"]: p for p in SRV.psds()["psds"]}
        for p in psds_before:
            self.assertEqual(after[p["id"]]["ascending_mills"], p["ascending_mills"])
        # Someone else's indicium does not exist for them.
        other, _ = self.signup()
        self.refused(SRV.request("POST", "/v1/indicia/%s/refund" % b["id"], key=other), 404,
                     "not_found")

    def test_window_expired(self):
        srv = harness.Stampd("refund-window")
        try:
            srv.init(psds=1)
            srv.start(processors=1, extra=["--refund-window-days", "0"])
            st, _, ind = srv.buy(srv.customer_key, "w1", LETTER)
            self.assertEqual(st, 201, ind)
            time.sleep(1.2)
            st, _, r = srv.request("POST", "/v1/indicia/%s/refund" % ind["id"],
                                   key=srv.customer_key)
            self.assertEqual((r["status"], r["reason"]), ("denied", "window_expired"), r)
            srv.stop()
        finally:
            srv.abandon()


class Accounts(PaymentTest):
    def test_signup_login_session_csrf_logout(self):
        email = "login-%d@example.test" % os.getpid()
        self.refused(SRV.request("POST", "/v1/signup",
                                 body={"email": email, "password": "short"}), 400,
                     "signup_refused", "password")
        self.refused(SRV.request("POST", "/v1/signup",
                                 body={"email": "not-an-email", "password": "long enough pw"}),
                     400, "invalid_email", "email")
        self.signup(email)
        self.refused(SRV.request("POST", "/v1/signup",
                                 body={"email": email.upper(), "password": "long enough pw"}),
                     400, "signup_refused", "password")
        st, h, j = SRV.request("POST", "/v1/login",
                               body={"email": email, "password": "correct horse battery"})
        self.assertEqual(st, 200, j)
        c = h["set-cookie"]
        for attr in ("HttpOnly", "SameSite=Strict", "Path=/"):
            self.assertIn(attr, c)
        self.assertNotIn("Secure", c)
        cookie = c.split(";")[0]
        me = SRV.request("GET", "/v1/session", headers={"Cookie": cookie})[2]
        self.assertEqual((me["email"], me["role"], me["csrf_token"]),
                         (email, "customer", j["csrf_token"]))
        # A state change without the CSRF token is refused.
        self.refused(SRV.request("POST", "/v1/account/api-keys", body={},
                                 headers={"Cookie": cookie}), 403, "csrf_failed")
        self.refused(SRV.request("POST", "/v1/account/api-keys", body={},
                                 headers={"Cookie": cookie, "X-CSRF-Token": "0" * 32}), 403,
                     "csrf_failed")
        hdr = {"Cookie": cookie, "X-CSRF-Token": j["csrf_token"]}
        st, _, k = SRV.request("POST", "/v1/account/api-keys", body={"name": "laptop"},
                               headers=hdr)
        self.assertEqual(st, 201, k)
        keys = SRV.get_ok("/v1/account/api-keys", k["key"])["data"]
        self.assertIn(k["id"], [x["id"] for x in keys])
        self.assertTrue(all("key" not in x for x in keys), "a listed key shows its secret")
        st, _, j2 = SRV.request("DELETE", "/v1/account/api-keys/" + k["id"], headers=hdr)
        self.assertEqual(st, 200, j2)
        self.refused(SRV.request("GET", "/v1/account", key=k["key"]), 401, "unauthorized")
        # Secure cookies behind a TLS proxy.
        st, h, _ = SRV.request("POST", "/v1/login", headers={"X-Forwarded-Proto": "https"},
                               body={"email": email, "password": "correct horse battery"})
        self.assertIn("; Secure", h["set-cookie"])
        st, h, j = SRV.request("POST", "/v1/logout", headers=hdr)
        self.assertEqual(st, 200, j)
        self.assertIn("Max-Age=0", h["set-cookie"])
        self.refused(SRV.request("GET", "/v1/session", headers={"Cookie": cookie}), 401,
                     "unauthorized")
        # Operators log in with role operator; the demo operator has the demo password.
        st, _, j = SRV.request("POST", "/v1/login", body={"email": "operator@stampd.test",
                                                           "password": "stampd-demo-password",
                                                           "role": "operator"})
        self.assertEqual((st, j.get("role")), (200, "operator"), j)

    def test_set_password_for_an_account_made_without_one(self):
        key = SRV.customer("nopw-%d@example.test" % os.getpid(), "0")
        email = SRV.get_ok("/v1/account", key)["email"]
        body = {"email": email, "password": "brand new password"}
        self.refused(SRV.request("POST", "/v1/login", body=body), 401, "invalid_credentials")
        p = subprocess.run([harness.STAMPD_BIN, "customer", "set-password", "--db", SRV.db,
                            "--email", email], input=b"brand new password\n",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                           env=harness.stampd_env())
        self.assertEqual(p.returncode, 0, p.stderr)
        st, _, j = SRV.request("POST", "/v1/login", body=body)
        self.assertEqual((st, j.get("id")), (200, SRV.get_ok("/v1/account", key)["id"]), j)
        code, _, err = SRV.run("customer", "set-password", "--db", SRV.db, "--email",
                               "nobody@example.test", check=False)
        self.assertNotEqual(code, 0, err)

    def test_parallel_guesses_do_not_slip_through(self):
        srv = harness.Stampd("ratelimit-burst")
        try:
            srv.init(psds=1)
            srv.start(processors=1, extra=["--lockout", "3"])
            body = {"email": "demo@stampd.test", "password": "wrong password!"}
            with concurrent.futures.ThreadPoolExecutor(max_workers=30) as ex:
                codes = list(ex.map(lambda _: srv.request("POST", "/v1/login", body=body)[0],
                                    range(30)))
            # Each attempt counts before its (slow) password check: 10 are tried, the rest wait.
            self.assertLessEqual(codes.count(401), 11, codes)
            self.assertEqual(codes.count(401) + codes.count(429), 30, codes)
            srv.stop()
        finally:
            srv.abandon()

    def test_failed_logins_are_slowed_then_refused(self):
        # Its own server, so the lockout does not reach the other tests.
        srv = harness.Stampd("ratelimit")
        try:
            srv.init(psds=1)
            srv.start(processors=1, extra=["--lockout", "3"])
            body = {"email": "demo@stampd.test", "password": "wrong password!"}
            for i in range(10):
                st, _, j = srv.request("POST", "/v1/login", body=body)
                self.assertEqual((st, j["error"]["code"]), (401, "invalid_credentials"), i)
            st, h, j = srv.request("POST", "/v1/login", body=body)
            self.assertEqual((st, j["error"]["code"]), (429, "rate_limited"), j)
            self.assertGreaterEqual(int(h["retry-after"]), 1)
            # The right password waits too: the source is slowed, not the account.
            good = {"email": "demo@stampd.test", "password": "stampd-demo-password"}
            self.assertEqual(srv.request("POST", "/v1/login", body=good)[0], 429)
            time.sleep(int(h["retry-after"]) + 0.2)
            self.assertEqual(srv.request("POST", "/v1/login", body=good)[0], 200)
            # Guessed API keys count the same way.
            for i in range(10):
                srv.request("GET", "/v1/account", key="sk_live_" + "%032d" % i)
            st, h, j = srv.request("GET", "/v1/account", key=srv.customer_key)
            self.assertEqual((st, j["error"]["code"]), (429, "rate_limited"), j)
            srv.stop()
            # Behind a trusted proxy, each client is counted on its own address.
            srv.start(processors=1, extra=["--lockout", "3", "--trusted-proxy", "127.0.0.1"])
            bad = {"X-Forwarded-For": "198.51.100.7, 10.0.0.1"}
            for i in range(10):
                srv.request("POST", "/v1/login", body=body, headers=bad)
            st, _, j = srv.request("POST", "/v1/login", body=good, headers=bad)
            self.assertEqual(st, 429, j)
            st, _, j = srv.request("POST", "/v1/login", body=good,
                                   headers={"X-Forwarded-For": "10.0.0.2"})
            self.assertEqual(st, 200, j)
            # Two X-Forwarded-For lines (one the client's own): counted on the peer.
            for i in range(10):
                conn = http.client.HTTPConnection(srv.host, srv.port, timeout=30)
                conn.putrequest("POST", "/v1/login")
                conn.putheader("X-Forwarded-For", "10.9.9.%d" % i)
                conn.putheader("X-Forwarded-For", "10.0.0.3")
                conn.putheader("Content-Type", "application/json")
                data = json.dumps(body).encode()
                conn.putheader("Content-Length", str(len(data)))
                conn.endheaders(data)
                self.assertEqual(conn.getresponse().status, 401)
                conn.close()
            self.assertEqual(srv.request("POST", "/v1/login", body=good)[0], 429)
            self.assertEqual(srv.request("POST", "/v1/login", body=good,
                                         headers={"X-Forwarded-For": "10.0.0.4"})[0], 200)
            srv.stop()
        finally:
            srv.abandon()


class Ledger(PaymentTest):
    def test_ledger_check_and_no_card_number_anywhere(self):
        # A mixed workload on the shared server: the other classes ran before
        # (unittest sorts classes by name: Accounts, AutoRefill, Cards, Funds,
        # Ledger, ...). Add purchases that force PSD refills ($5 policy).
        live, test = self.signup()
        self.assertEqual(self.funds(live, "40.00", {"method": "card", "card": card()})[0], 201)
        self.assertEqual(self.funds(test, "10.00", {"method": "card", "card": card()})[0], 201)
        ids = []
        for i in range(12):
            st, _, j = self.buy(live, body=dict(LETTER, weight_oz=3))
            self.assertEqual(st, 201, j)
            ids.append(j["id"])
        self.assertEqual(self.buy(test)[0], 201)
        SRV.request("POST", "/v1/indicia/%s/refund" % ids[0], key=live)
        st, _, j = SRV.request("GET", "/v1/admin/ledger", key=SRV.operator_key)
        self.assertEqual((st, j["ok"]), (200, True), j)
        out, _ = self.stamp("admin", "ledger", "check", key=SRV.operator_key)
        self.assertIn("every journal balances", out)

        SRV.stop()
        try:
            code, out, _ = SRV.run("ledger", "check", "--db", SRV.db)
            self.assertEqual(code, 0, out)
            db = SRV.db[len("sqlite:"):]
            files = [db] + [db + s for s in ("-wal", "-shm") if os.path.exists(db + s)]
            logs = list(SRV.stderr_paths)
            for path in files + logs:
                with open(path, "rb") as f:
                    blob = f.read()
                for pan in PANS:
                    self.assertNotIn(pan.encode(), blob, "%s holds a card number" % path)
                    spaced = " ".join(pan[i:i + 4] for i in range(0, len(pan), 4))
                    self.assertNotIn(spaced.encode(), blob)
            # A hand-corrupted copy fails the check, exit status 1.
            bad = os.path.join(SRV.dir, "corrupt.db")
            shutil.copy(db, bad)
            con = sqlite3.connect(bad)
            con.execute("UPDATE journal_lines SET amount_mills = amount_mills + 10 "
                        "WHERE journal_id = (SELECT max(journal_id) FROM journal_lines)")
            con.commit()
            con.close()
            code, out, _ = SRV.run("ledger", "check", "--db", "sqlite:" + bad, check=False)
            self.assertEqual(code, 1, out)
            self.assertIn("does not balance", out)
        finally:
            SRV.start(processors=2, extra=["--lockout", "2", "--signup-limit", "10000"])


class Cli(PaymentTest):
    """The stamp commands for the account, as a customer would type them."""

    def test_signup_cards_funds_buy_refund(self):
        email = "cli-%d@example.test" % os.getpid()
        out, _ = self.stamp("signup", "--email", email, password="correct horse battery")
        self.assertRegex(out, r"^export STAMP_KEY=sk_live_[a-z2-7]{32}\n$")
        key = out.strip().split("=", 1)[1]
        out, err = self.stamp("login", "--email", email, "--test", stdin="correct horse battery\n")
        self.assertTrue(out.startswith("export STAMP_KEY=sk_test_"), out)
        self.stamp("login", "--email", email, password="wrong password!", code=1)
        # The card number and CVC come from standard input, never the command line.
        out, _ = self.stamp("cards", "add", "--exp", "12/31", "--zip", "94107", key=key,
                            stdin="4242 4242 4242 4242\n123\n")
        self.assertIn("**** 4242", out)
        pm = out.split()[0]
        self.stamp("cards", "add", "--exp", "12/31", "--zip", "94107", key=key,
                   stdin="4242424242424241\n123\n", code=1)
        out, _ = self.stamp("funds", "12.50", key=key)
        self.assertIn("balance   $12.50", out)
        out, _ = self.stamp("buy", "--class", "postcard", "--weight", "1", "--from", "94107",
                            "--to", "10001", "--card", pm, key=key)
        ind = out.split()[1]
        self.assertTrue(ind.startswith("ind_"), out)
        out, _ = self.stamp("auto-refill", "set", "--trigger", "5", "--amount", "20", key=key)
        self.assertIn("auto-refill on", out)
        out, _ = self.stamp("transactions", key=key)
        for kind in ("funds_added", "card_charge", "postage_sale"):
            self.assertIn(kind, out)
        out, _ = self.stamp("refund", ind, key=key)
        self.assertIn("status    approved", out)
        self.assertIn("to        card", out)
        again, _ = self.stamp("refund", ind, key=key)
        self.assertEqual(again, out)  # the same decision, the same id
        out, _ = self.stamp("refund", ind, "--status", key=key)
        self.assertIn("approved", out)
        data = SRV.get_ok("/v1/indicia/" + ind, key)["data"]
        out, _ = self.stamp("verify", "--data", data, key=SRV.operator_key, code=4)
        self.assertIn("INVALID: the postage was refunded", out)
        out, _ = self.stamp("api-keys", key=key)
        self.assertEqual(len([ln for ln in out.splitlines() if ln.startswith("key_")]), 2)
        self.stamp("cards", "remove", pm, key=key)
        self.assertIn("no saved cards", self.stamp("cards", key=key)[0])


if __name__ == "__main__":
    harness.main()
