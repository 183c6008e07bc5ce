"""test_modes.py - test keys never reach live data or money, and live keys
never act on test pieces (issue 12, finding 3), against the real stampd
binary over HTTP.

One customer holds a live key, a test key and a web session (live), and buys
one live and one test piece. Every path that names a piece - read, list and
search (and its cursor), label, sheet, refund (ask and status), verify - is
tried across the modes: a piece of the other mode answers exactly as an
unknown id does (404 not_found "no such indicium", or 400 invalid_cursor),
so its mode is not revealed, and nothing of either mode moves: balances,
transactions, prints, refunds and presentation counts stay as they were.
Cards, balances and transactions are checked to be per mode as well.
"""

import os
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

LETTER = {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
          "to_zip": "10001"}
UNKNOWN = "ind_doesnotexist0000000000"

SRV = None
COUNTER = [0]


def idem():
    COUNTER[0] += 1
    return "modes-%d-%d" % (os.getpid(), COUNTER[0])


def setUpModule():
    global SRV
    SRV = harness.Stampd("modes")
    SRV.init(psds=2)
    SRV.start(processors=2)


def tearDownModule():
    if SRV is not None:
        SRV.abandon()


class Modes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        """A customer with a session, a live and a test key, money in both
        modes, a saved card in each, and one piece of each mode."""
        st, h, j = SRV.request("POST", "/v1/signup", body={
            "email": "modes-%d@example.test" % os.getpid(), "password": "correct horse battery"})
        assert st == 201, j
        cls.session = {"Cookie": h["set-cookie"].split(";")[0], "X-CSRF-Token": j["csrf_token"]}
        keys = {}
        for mode in ("live", "test"):
            st, _, k = SRV.request("POST", "/v1/account/api-keys", body={"mode": mode},
                                   headers=cls.session)
            assert st == 201 and k["key"].startswith("sk_%s_" % mode), k
            keys[mode] = k["key"]
        cls.live, cls.test = keys["live"], keys["test"]
        cls.cards = {}
        for mode, key in (("live", cls.live), ("test", cls.test)):
            st, _, f = SRV.request("POST", "/v1/account/funds", key=key,
                                   body={"amount": "20.00", "payment": {"method": "card",
                                                                        "card": harness.CARD}},
                                   headers={"Idempotency-Key": idem()})
            assert st == 201, f
            st, _, pm = SRV.request("POST", "/v1/payment-methods", key=key,
                                    body={"card": harness.CARD})
            assert st == 201, pm
            cls.cards[mode] = pm["id"]
        st, _, cls.lp = SRV.buy(cls.live, idem(), LETTER)
        assert st == 201 and not cls.lp["test"], cls.lp
        st, _, cls.tp = SRV.buy(cls.test, idem(), LETTER)
        assert st == 201 and cls.tp["test"], cls.tp

    # -- helpers --

    def req(self, method, path, who, body=None):
        """who: "live", "test" or "session"."""
        if who == "session":
            return SRV.request(method, path, body=body, headers=self.session)
        return SRV.request(method, path, body=body, key=self.live if who == "live" else self.test)

    def piece(self, mode):
        return self.lp if mode == "live" else self.tp

    def txns(self, key):
        return SRV.get_ok("/v1/account/transactions?limit=100", key)["data"]

    def state(self):
        """Everything a refused attempt must leave alone, of both modes."""
        pieces = {m: SRV.get_ok("/v1/indicia/" + self.piece(m)["id"], SRV.operator_key)
                  for m in ("live", "test")}
        return {"balance": {"live": SRV.balance(self.live), "test": SRV.balance(self.test)},
                "txns": {"live": self.txns(self.live), "test": self.txns(self.test)},
                "pieces": {m: {k: p[k] for k in ("prints", "presentations", "refunded")}
                           for m, p in pieces.items()},
                "psds": SRV.psds()}

    def as_unknown(self, method, path_of, who, body_of=None):
        """method on the other mode's piece answers exactly what an unknown id does."""
        other = self.piece("live" if who == "test" else "test")["id"]
        got = self.req(method, path_of(other), who, body_of(other) if body_of else None)
        unknown = self.req(method, path_of(UNKNOWN), who, body_of(UNKNOWN) if body_of else None)
        self.assertEqual((got[0], harness.without_request_id(got[2])),
                         (unknown[0], harness.without_request_id(unknown[2])),
                         "%s %s as %s" % (method, path_of(other), who))
        return got

    def not_found(self, resp):
        st, _, j = resp
        self.assertEqual(st, 404, j)
        self.assertEqual((st, j["error"]["code"], j["error"]["message"]),
                         (404, "not_found", "no such indicium"), j)

    # -- the tests --

    def test_pieces_of_the_other_mode_are_unknown(self):
        before = self.state()
        for who in ("live", "test", "session"):
            for method, path_of, body_of in (
                    ("GET", lambda i: "/v1/indicia/" + i, None),
                    ("GET", lambda i: "/v1/indicia/%s/label" % i, None),
                    ("GET", lambda i: "/v1/indicia/%s/label?format=png" % i, None),
                    ("GET", lambda i: "/v1/indicia/%s/refund" % i, None),
                    ("POST", lambda i: "/v1/indicia/%s/refund" % i, None),
                    ("POST", lambda i: "/v1/sheets", lambda i: {"indicia": [i]})):
                self.not_found(self.as_unknown(method, path_of, who, body_of))
        # A sheet with one piece of the other mode among its own is refused whole.
        for who, own, other in (("test", self.tp, self.lp), ("live", self.lp, self.tp),
                                ("session", self.lp, self.tp)):
            self.not_found(self.req("POST", "/v1/sheets", who,
                                    {"indicia": [own["id"], other["id"]]}))
            self.not_found(self.req("POST", "/v1/sheets", who,
                                    {"indicia": [other["id"], own["id"]]}))
        self.assertEqual(self.state(), before, "a refused attempt moved something")
        # Each mode still reaches its own piece; the operator sees both.
        for who, own in (("live", self.lp), ("test", self.tp), ("session", self.lp)):
            st, _, j = self.req("GET", "/v1/indicia/" + own["id"], who)
            self.assertEqual((st, j["id"], j["test"]), (200, own["id"], own["test"]), j)
        st, _, _ = self.req("POST", "/v1/sheets", "test", {"indicia": [self.tp["id"]]})
        self.assertEqual(st, 200)
        for p in (self.lp, self.tp):
            self.assertEqual(SRV.get_ok("/v1/indicia/" + p["id"], SRV.operator_key)["id"], p["id"])

    def test_list_and_search_show_only_the_callers_mode(self):
        def ids(who, query=""):
            st, _, j = self.req("GET", "/v1/indicia?limit=100" + query, who)
            self.assertEqual(st, 200, j)
            return [x["id"] for x in j["data"]]

        lid, tid = self.lp["id"], self.tp["id"]
        self.assertEqual(ids("test"), [tid])
        self.assertEqual(ids("live"), [lid])
        self.assertEqual(ids("session"), [lid])
        # The mode filter keeps its meaning, within the caller's mode.
        self.assertEqual(ids("test", "&mode=test"), [tid])
        self.assertEqual(ids("test", "&mode=live"), [])
        self.assertEqual(ids("live", "&mode=live"), [lid])
        self.assertEqual(ids("live", "&mode=test"), [])
        self.assertEqual(ids("session", "&mode=test"), [])
        # Search by id or ZIP: the other mode's piece is not found.
        self.assertEqual(ids("test", "&q=" + lid), [])
        self.assertEqual(ids("live", "&q=" + tid), [])
        self.assertEqual(ids("test", "&q=10001"), [tid])
        # A cursor naming the other mode's piece is as unknown as any.
        for who in ("live", "test", "session"):
            self.as_unknown("GET", lambda i: "/v1/indicia?cursor=" + i, who)
            st, _, j = self.req("GET", "/v1/indicia?cursor=" + (tid if who != "test" else lid), who)
            self.assertEqual((st, j["error"]["code"]), (400, "invalid_cursor"), j)

    def test_refunds_never_cross_modes(self):
        before = self.state()
        # A test key cannot refund the live piece into the live balance.
        self.not_found(self.req("POST", "/v1/indicia/%s/refund" % self.lp["id"], "test"))
        # Nor a live key or session the test piece.
        for who in ("live", "session"):
            self.not_found(self.req("POST", "/v1/indicia/%s/refund" % self.tp["id"], who))
        self.assertEqual(self.state(), before, "a refused refund moved money")
        # The test key's own test piece: denied as play money, as documented.
        st, _, r = self.req("POST", "/v1/indicia/%s/refund" % self.tp["id"], "test")
        self.assertEqual((st, r["status"], r["reason"]), (200, "denied", "test_piece"), r)

    def test_verify_reads_any_piece_but_counts_only_its_own_mode(self):
        # A test key may verify (it reads; only the postal authority counts).
        for p in (self.lp, self.tp):
            for _ in range(2):
                st, _, v = self.req("POST", "/v1/verify", "test", {"data": p["data"]})
                self.assertEqual((st, v["known"], v["test"]), (200, True, p["test"]), v)
        # The postal authority (its keys are live) counts live pieces only:
        # scanning a test piece never moves its count.
        counts = []
        for _ in range(2):
            st, _, v = SRV.request("POST", "/v1/verify", key=SRV.postal_key,
                                   body={"data": self.tp["data"]})
            self.assertEqual((st, v["status"], v["valid"]), (200, "test", False), v)
            counts.append(v["presented_before"])
        self.assertEqual(counts, [0, 0])
        self.assertEqual(SRV.get_ok("/v1/indicia/" + self.tp["id"], self.test)["presentations"], 0)

    def test_cards_balances_and_transactions_are_per_mode(self):
        before = self.state()
        self.assertNotEqual(before["txns"]["live"], before["txns"]["test"])
        live_ids = {t["id"] for t in before["txns"]["live"]}
        self.assertFalse(live_ids & {t["id"] for t in before["txns"]["test"]})
        for who, own, other in (("live", "live", "test"), ("test", "test", "live")):
            st, _, j = self.req("GET", "/v1/payment-methods", who)
            self.assertEqual((st, [c["id"] for c in j["data"]]), (200, [self.cards[own]]), j)
            st, _, j = self.req("DELETE", "/v1/payment-methods/" + self.cards[other], who)
            self.assertEqual((st, j["error"]["code"]), (404, "not_found"), j)
            st, _, j = SRV.buy(self.live if who == "live" else self.test, idem(), dict(
                LETTER, payment={"method": "card", "payment_method_id": self.cards[other]}))
            self.assertEqual((st, j["error"]["code"]), (404, "not_found"), j)
            st, _, j = self.req("GET", "/v1/account", who)
            self.assertEqual((j["mode"], j["balance_mills"]), (own, before["balance"][own]), j)
        self.assertEqual(self.state(), before)

    def test_test_keys_buy_no_real_media(self):
        _, batch = SRV.media(payment="unpaid", price="1.00")
        sheet = batch["serials"][0]["serial"]
        before = self.state()
        st, _, j = self.req("POST", "/v1/media/%s/purchase" % sheet, "test")
        self.assertEqual((st, j["error"]["code"]), (403, "forbidden"), j)
        self.assertEqual(self.state(), before)


if __name__ == "__main__":
    harness.main()
