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
* Every reset carries the postal authority's signature (ECDSA P-256 over its
  canonical record), which verifies with the published authority key - also
  with the `openssl` command line; an altered or forged reset is flagged by
  `stampd ledger check` and `GET /v1/authority/resets`.
* The operator's low-deposit threshold (PUT /v1/admin/deposit/threshold):
  crossing it shows in /metrics (a gauge and a flag) and in GET /v1/psds.
"""
import concurrent.futures
import os
import sqlite3
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_scale_out  # noqa: E402


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


class HandOver(unittest.TestCase):
    """A processor whose PSDs and the deposit cannot cover a piece hands it to
    the processor whose PSD can (the dispatcher's round), instead of refusing
    it postal_deposit_insufficient."""

    def setUp(self):
        # $12 shared by serve's two processors, $100 refills: resets of $6, then $3.
        srv = self.srv = harness.Stampd("resets-handover").init(psds=4, deposit=12, refill=100)
        self.key = srv.customer("handover@example.com", 100)
        srv.start(processors=2)
        s, _, k = srv.request("POST", "/v1/account/api-keys", {"mode": "test"}, key=self.key)
        self.assertEqual(s, 201, k)
        self.test_key = k["key"]
        self.n = 0

    def tearDown(self):
        self.srv.stop()

    def buy(self, body):
        self.n += 1
        return self.srv.buy(self.key, "ho-%d" % self.n, body)

    def burn(self):
        """A test-mode purchase: it takes its turn in the round and moves no live PSD."""
        self.n += 1
        self.srv.buy(self.test_key, "burn-%d" % self.n, letter())

    def test_piece_goes_to_the_processor_that_can_cover_it(self):
        srv = self.srv
        # Round-robin: the 1st, 3rd, 5th purchase to one processor (A), the others to B.
        s, _, a = self.buy(letter())          # A: reset $6, holds 5.26
        self.assertEqual(s, 201, a)
        s, _, b = self.buy(letter())          # B: reset $3, holds 2.26
        self.assertEqual(s, 201, b)
        self.burn()                           # A
        s, _, b2 = self.buy(letter())         # B: holds 1.52
        self.assertEqual(s, 201, b2)
        self.burn()                           # A
        psds = {p["id"]: p for p in srv.psds()["psds"]}
        self.assertEqual(srv.psds()["deposit_mills"], 3000, psds)
        self.assertEqual(psds[a["psd_id"]]["descending_mills"], 5260, psds)
        self.assertEqual(psds[b["psd_id"]]["descending_mills"], 1520, psds)
        self.assertNotEqual(psds[a["psd_id"]]["lease_holder"], psds[b["psd_id"]]["lease_holder"])
        # B's turn: a $4.87 flat. B's PSD and the deposit hold 4.52, A's PSD 5.26.
        flat = {"mail_class": "large_envelope", "weight_oz": 13, "from_zip": "10001",
                "to_zip": "94105", "mail_date": harness.today_utc().isoformat()}
        s, _, f = self.buy(flat)
        self.assertEqual(s, 201, f)
        self.assertEqual(f["psd_id"], a["psd_id"], f)
        self.assertEqual(srv.psds()["deposit_mills"], 3000)
        _, out, _ = srv.run("ledger", "check", "--db", srv.db)
        self.assertIn("every journal balances", out)


class OverHttp(unittest.TestCase):
    """The same over `stampd front` and two `stampd processor` processes: a
    processor short of money hands the piece to the other over HTTP."""

    def test_forty_letters_on_a_thousand_dollars_across_processes(self):
        c = test_scale_out.Cluster("resets-http40", processors=2, psds=4, deposit="1000",
                                   refill="1000")
        try:
            srv = c.srv
            key = srv.customer("http40@example.com", 200)
            with concurrent.futures.ThreadPoolExecutor(max_workers=40) as ex:
                res = list(ex.map(lambda i: srv.buy(key, "h40-%d" % i, letter()), range(40)))
            self.assertEqual([s for s, _, _ in res].count(201), 40,
                             [j for s, _, j in res if s != 201][:3])
            live = [p for p in srv.psds()["psds"] if not p["test"]]
            self.assertEqual(srv.psds()["deposit_mills"] +
                             sum(p["control_total_mills"] for p in live), 1000 * 1000)
            _, out, _ = srv.run("ledger", "check", "--db", srv.db)
            self.assertIn("every journal balances", out)
        finally:
            c.stop()

    def test_deposit_exhausted_across_processes(self):
        c = test_scale_out.Cluster("resets-http", processors=2, psds=4, deposit="5")
        try:
            srv = c.srv
            price = harness.price_mills("postcard", 1)
            before = srv.balance(srv.customer_key)
            with concurrent.futures.ThreadPoolExecutor(max_workers=20) as ex:
                res = list(ex.map(lambda i: c.buy(srv.customer_key, "h-%d" % i), range(20)))
            sold = [j for s, _, j in res if s == 201]
            refused = [j for s, _, j in res if s != 201]
            self.assertTrue(sold and refused, res[:2])
            for j in refused:
                self.assertEqual(j["error"]["code"], "postal_deposit_insufficient", j)
            self.assertEqual(srv.balance(srv.customer_key), before - len(sold) * price)
            live = [p for p in srv.psds()["psds"] if not p["test"]]
            bal = srv.psds()["deposit_mills"]
            # Refused only when no PSD of any processor and not the deposit could cover it.
            self.assertLess(bal + max(p["descending_mills"] for p in live), price, live)
            self.assertEqual(bal + sum(p["control_total_mills"] for p in live), 5000)
            self.assertEqual(sum(p["ascending_mills"] for p in live), len(sold) * price)
            _, out, _ = srv.run("ledger", "check", "--db", srv.db)
            self.assertIn("every journal balances", out)
            self.assertIn("every one signed by the postal authority", out)
        finally:
            c.stop()


class SignedResets(unittest.TestCase):
    def setUp(self):
        srv = self.srv = harness.Stampd("resets-signed").init(psds=2, deposit=100, refill=1)
        srv.start(processors=1)
        for i in range(3):  # $1 resets: 0.74 letters need a reset every piece or so
            s, _, j = srv.buy(srv.customer_key, "s-%d" % i, letter())
            self.assertEqual(s, 201, j)

    def tearDown(self):
        self.srv.stop()

    def resets(self, limit=100):
        """Every reset, newest first, a page of limit at a time."""
        out, cursor = [], None
        while True:
            page = self.srv.get_ok("/v1/authority/resets?limit=%d" % limit
                                   + ("&cursor=" + cursor if cursor else ""), self.srv.postal_key)
            self.assertEqual(page["has_more"], page["next_cursor"] is not None, page)
            self.assertLessEqual(len(page["data"]), limit)
            out.extend(page["data"])
            if not page["has_more"]:
                return out
            self.assertEqual(len(page["data"]), limit)
            cursor = page["next_cursor"]

    def test_resets_are_paged_newest_first(self):
        srv = self.srv
        for r in buy_many(srv, srv.customer_key, 6, "p"):
            self.assertEqual(r[0], 201, r)
        srv.stop()
        con = sqlite3.connect(srv.db[len("sqlite:"):])
        with con:  # a test PSD's reset is play money: never the authority's
            test_psd = con.execute("SELECT id FROM psds WHERE test = 1").fetchone()[0]
            con.execute("INSERT INTO refills(psd_id, amount_mills, desc_before, asc_before, "
                        "ctl_before, desc_after, asc_after, ctl_after, authorization_ref, at, "
                        "authority_sig) VALUES (?, 1000, 0, 0, 0, 1000, 0, 1000, 'rfl_play', "
                        "1, '')", (test_psd,))
            live = [r[0] for r in con.execute(
                "SELECT authorization_ref FROM refills WHERE psd_id IN "
                "(SELECT id FROM psds WHERE test = 0) ORDER BY id DESC")]
        con.close()
        srv.start(processors=1)
        self.assertGreaterEqual(len(live), 5, live)
        # Pages of two, then one page: the same resets, the newest first, each once.
        paged = self.resets(limit=2)
        self.assertEqual([r["id"] for r in paged], live)
        self.assertEqual(self.resets(), paged)
        whens = [r["created"] for r in paged]
        self.assertEqual(whens, sorted(whens, reverse=True))
        # The default page is twenty.
        page = srv.get_ok("/v1/authority/resets", srv.postal_key)
        self.assertEqual(([r["id"] for r in page["data"]], page["has_more"]), (live[:20], False))
        first = srv.get_ok("/v1/authority/resets?limit=1", srv.postal_key)
        self.assertEqual(first["next_cursor"][:3], "rs_")
        for query, code in (("limit=0", "invalid_limit"), ("limit=101", "invalid_limit"),
                            ("cursor=rs_x", "invalid_cursor"), ("cursor=dj_5", "invalid_cursor"),
                            ("cursor=rs_0", "invalid_cursor")):
            s, _, j = srv.request("GET", "/v1/authority/resets?" + query, key=srv.postal_key)
            self.assertEqual((s, j["error"]["code"]), (400, code), (query, j))

    def test_resets_verify_with_the_authority_key(self):
        srv = self.srv
        # The key is public; the resets are the authority's alone.
        s, _, key = srv.request("GET", "/v1/authority/key")
        self.assertEqual(s, 200, key)
        self.assertEqual(key["algorithm"], "ecdsa-p256-sha256")
        pem = key["public_key_pem"]
        s, _, _ = srv.request("GET", "/v1/authority/resets", key=srv.operator_key)
        self.assertEqual(s, 403)
        s, _, _ = srv.request("GET", "/v1/authority/resets", key=srv.customer_key)
        self.assertEqual(s, 403)
        # The PSD keys are not the authority's key.
        self.assertNotIn(pem, [k["public_key_pem"] for k in srv.keys().values()])
        resets = self.resets()
        self.assertGreaterEqual(len(resets), 2, resets)
        for r in resets:
            a = r["authorisation"]
            self.assertTrue(a["verified"], r)
            rec = a["record"]
            self.assertTrue(rec.startswith("stampd-reset/1\nlicense=%s\npsd=%d\n"
                                           % (harness.LICENSE, r["psd_id"])), rec)
            self.assertIn("\namount=%d\n" % r["amount_mills"], rec)
            self.assertIn("\ndesc_before=%d\n" % r["before"]["descending_mills"], rec)
            self.assertIn("\nnonce=%s\n" % r["id"], rec)
            ok, out = harness.openssl_verify(srv.dir, pem, rec.encode(),
                                             bytes.fromhex(a["signature"]))
            self.assertTrue(ok, out)
            # Another record under the same signature does not verify.
            bad = rec.replace("amount=%d" % r["amount_mills"],
                              "amount=%d" % (r["amount_mills"] + 1000))
            ok, _ = harness.openssl_verify(srv.dir, pem, bad.encode(),
                                           bytes.fromhex(a["signature"]))
            self.assertFalse(ok)
        _, out, _ = srv.run("ledger", "check", "--db", srv.db)
        self.assertIn("%d resets: every one signed by the postal authority" % len(resets), out)

    def tamper(self, sql, *args):
        self.srv.stop()
        con = sqlite3.connect(self.srv.db[len("sqlite:"):])
        with con:
            con.execute(sql, args)
        con.close()

    def test_altered_reset_is_flagged(self):
        srv = self.srv
        first = self.resets()[0]
        # The vendor raises a reset's amount (and the registers after with it).
        self.tamper("UPDATE refills SET amount_mills = amount_mills + 1000, "
                    "desc_after = desc_after + 1000, ctl_after = ctl_after + 1000 "
                    "WHERE authorization_ref = ?", first["id"])
        code, out, _ = srv.run("ledger", "check", "--db", srv.db, check=False)
        self.assertEqual(code, 1, out)
        self.assertIn("reset %s of PSD %d: NOT AUTHORISED" % (first["id"], first["psd_id"]), out)
        srv.start(processors=1)
        flagged = [r for r in self.resets() if not r["authorisation"]["verified"]]
        self.assertEqual([r["id"] for r in flagged], [first["id"]])

    def test_forged_reset_is_refused(self):
        srv = self.srv
        first = self.resets()[0]
        # A signature the vendor made itself, with a key of its own, over the true record.
        d = os.path.join(srv.dir, "forger")
        os.makedirs(d)
        keyf = os.path.join(d, "k.pem")
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout",
                        "-out", keyf], check=True)
        rec = os.path.join(d, "rec")
        with open(rec, "w") as f:
            f.write(first["authorisation"]["record"])
        der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", keyf, rec],
                             stdout=subprocess.PIPE, check=True).stdout
        raw = der_to_raw(der)
        self.tamper("UPDATE refills SET authority_sig = ? WHERE authorization_ref = ?",
                    raw.hex(), first["id"])
        code, out, _ = srv.run("ledger", "check", "--db", srv.db, check=False)
        self.assertEqual(code, 1, out)
        self.assertIn("NOT AUTHORISED: the authority's signature does not verify", out)
        # And a reset with no signature at all.
        self.tamper("UPDATE refills SET authority_sig = '' WHERE authorization_ref = ?",
                    first["id"])
        code, out, _ = srv.run("ledger", "check", "--db", srv.db, check=False)
        self.assertEqual(code, 1, out)
        self.assertIn("NOT AUTHORISED: no authorisation from the authority", out)


class NoSigner(unittest.TestCase):
    """A database without the authority's reset signer (from before schema v9, or lost)."""

    def setUp(self):
        srv = self.srv = harness.Stampd("resets-nosigner").init(psds=2, deposit=100, refill=1)
        con = sqlite3.connect(srv.db[len("sqlite:"):])
        with con:
            con.execute("DELETE FROM config WHERE key LIKE 'authority_%'")
        con.close()
        srv.start(processors=1)

    def tearDown(self):
        self.srv.stop()

    def test_no_signer_no_reset(self):
        srv = self.srv
        # Without the authority's signer a reset is refused, and nothing moves.
        s, _, j = srv.request("GET", "/v1/authority/key")
        self.assertEqual((s, j["error"]["code"]), (404, "not_found"), j)
        before = srv.balance(srv.customer_key)
        s, _, j = srv.buy(srv.customer_key, "n-1", letter())
        self.assertEqual((s, j["error"]["code"]), (503, "reset_not_authorised"), j)
        self.assertEqual(srv.balance(srv.customer_key), before)
        self.assertEqual(sum(p["control_total_mills"] for p in srv.psds()["psds"]), 0)
        _, out, _ = srv.run("ledger", "check", "--db", srv.db)
        self.assertIn("no reset signer", out)
        # `stampd authority key` makes one (once), and resets resume, signed.
        srv.stop()
        adir = os.path.join(srv.dir, "authority2")
        _, pem, err = srv.run("authority", "key", "--db", srv.db, "--authority-dir", adir)
        self.assertIn("BEGIN PUBLIC KEY", pem)
        self.assertIn("reset signer is in", err)
        _, again, err = srv.run("authority", "key", "--db", srv.db)
        self.assertEqual(again, pem)
        self.assertIn("has the authority's reset signer already", err)
        srv.start(processors=1)
        self.assertEqual(srv.get_ok("/v1/authority/key")["public_key_pem"], pem)
        s, _, j = srv.buy(srv.customer_key, "n-1", letter())
        self.assertEqual(s, 201, j)
        _, out, _ = srv.run("ledger", "check", "--db", srv.db)
        self.assertIn("1 resets: every one signed by the postal authority", out)


class DepositThreshold(unittest.TestCase):
    def setUp(self):
        srv = self.srv = harness.Stampd("resets-low").init(psds=2, deposit=10, refill=1)
        srv.start(processors=1)

    def tearDown(self):
        self.srv.stop()

    def metric(self, name):
        import urllib.request
        req = urllib.request.Request("http://%s:%d/metrics" % (self.srv.host, self.srv.port),
                                     headers={"Authorization": "Bearer " + self.srv.operator_key})
        with urllib.request.urlopen(req, timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return int(line.split()[1])
        raise AssertionError("no metric " + name)

    def put(self, body, key=None):
        return self.srv.request("PUT", "/v1/admin/deposit/threshold", body,
                                key=key or self.srv.operator_key)

    def test_threshold_crossed(self):
        srv = self.srv
        j = srv.get_ok("/v1/admin/deposit/threshold", srv.operator_key)
        self.assertEqual((j["threshold_mills"], j["low"]), (0, False), j)
        self.assertEqual(self.metric("stampd_postal_deposit_low"), 0)
        for key in (srv.customer_key, srv.postal_key):
            s, _, _ = self.put({"threshold": "5.00"}, key=key)
            self.assertEqual(s, 403)
        for bad in ("-1.00", "ten", ""):
            s, _, e = self.put({"threshold": bad})
            self.assertEqual((s, e["error"]["code"]), (400, "invalid_amount"), (bad, e))
        s, _, e = self.put({"limit": "5.00"})
        self.assertEqual(s, 400, e)
        s, _, j = self.put({"threshold": "5.00"})
        self.assertEqual(s, 200, j)
        self.assertEqual((j["threshold_mills"], j["balance_mills"], j["low"]), (5000, 10000, False))
        self.assertEqual(self.metric("stampd_postal_deposit_low_threshold_mills"), 5000)
        self.assertEqual(self.metric("stampd_postal_deposit_low"), 0)
        # Sell until the deposit falls below $5: the flag goes up.
        i = 0
        while srv.psds()["deposit_mills"] >= 5000:
            s, _, ind = srv.buy(srv.customer_key, "low-%d" % i, letter())
            self.assertEqual(s, 201, ind)
            i += 1
        self.assertEqual(self.metric("stampd_postal_deposit_low"), 1)
        p = srv.psds()
        self.assertEqual((p["deposit_low"], p["deposit_low_threshold_mills"]), (True, 5000))
        self.assertTrue(srv.get_ok("/v1/admin/deposit/threshold", srv.operator_key)["low"])
        # The authority credits the deposit: above the threshold again.
        s, _, j = srv.request("POST", "/v1/authority/deposits",
                              {"amount": "20.00", "reference": "WIRE-LOW-1"},
                              key=srv.postal_key, headers={"Idempotency-Key": "low-credit"})
        self.assertEqual(s, 201, j)
        self.assertEqual(self.metric("stampd_postal_deposit_low"), 0)
        # 0.00 turns the threshold off.
        s, _, j = self.put({"threshold": "0.00"})
        self.assertEqual((s, j["threshold_mills"], j["low"]), (200, 0, False))


def der_to_raw(der):
    """DER ECDSA-Sig-Value to raw r||s (64 bytes)."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 3
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        v = der[i + 2:i + 2 + n].lstrip(b"\x00")
        out += v.rjust(32, b"\x00")
        i += 2 + n
    return out


if __name__ == "__main__":
    harness.main()
