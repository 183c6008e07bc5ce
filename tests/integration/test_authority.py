"""test_authority.py - the postal authority as a party of its own (issue 13, part 1).

* The route table (src/server/routes.c, read here row by row) keeps the
  authority and the vendor's side apart both ways: every /v1/authority/...
  route refuses customer and operator keys with 403, and every customer,
  operator or vendor route refuses a postal key with 403; the routes any key
  may call let a postal key in.
* POST /v1/verify counts a presentation only for a postal key; from the
  second on the answer says duplicate and names when and where the first was.
  Customer and operator keys read the count without moving it, over the API
  and through `stamp verify`.
* The postal deposit is the authority's to credit: a tiny deposit runs out
  (postal_deposit_insufficient, nothing moves), the authority credits it over
  the API (once per Idempotency-Key, eight concurrent retries included) and with
  `stampd authority deposit`, sales resume, the deposit's history lists every credit and draw with a running
  balance to both the authority and the operator, and the books balance - on
  SQLite and, when STAMPD_TEST_PG_DSN_FILE names a cluster, on PostgreSQL.
* The authority logs in on the web by its account's name: the
  demo account with the demo password, an account made with STAMPD_PASSWORD,
  one given a password later (stampd authority set-password). Its session
  reaches /v1/authority/... with the CSRF token and nothing of the vendor's;
  an email instead of the name, a wrong password and a customer's email as
  the name are all refused the same way as any failed login.
"""

import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

PG_DSN_FILE = os.environ.get("STAMPD_TEST_PG_DSN_FILE")
STAMP_BIN = os.environ.get("STAMP_BIN") or os.path.join(harness.SOURCE_DIR, "build", "stamp")

POSTAL_WHY = "postal authority's key"
NOT_POSTAL_WHY = "the postal authority's key is for /v1/authority/"


def route_table():
    """The rows of api_routes in src/server/routes.c: (method, pattern, access)."""
    with open(os.path.join(harness.SOURCE_DIR, "src", "server", "routes.c")) as f:
        text = f.read()
    body = text[text.index("api_routes[] = {"):text.index("internal_routes[]")]
    rows = re.findall(r'\{\s*(NULL|"[A-Z]+"),\s*"(/[^"]*)",\s*([A-Z]+),', body)
    if len(rows) < 40:
        raise AssertionError("read only %d routes from routes.c" % len(rows))
    return [(m.strip('"') if m != "NULL" else "GET", p, a) for m, p, a in rows]


def concrete(pattern):
    return pattern.replace("{id}", "x1").replace("{any}", "x1").replace("*", "zz")


def letter(i=0):
    return {"mail_class": "first_class_letter", "weight_oz": 1.0, "from_zip": "10001",
            "to_zip": "94105", "mail_date": harness.today_utc().isoformat()}


class RoutesBothWays(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.Stampd("authority-routes").init(psds=1)
        cls.srv.start(processors=1)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_demo_prints_a_postal_key(self):
        self.assertTrue(self.srv.postal_key and self.srv.postal_key.startswith("sk_postal_"),
                        self.srv.postal_key)
        me = self.srv.get_ok("/v1/account", self.srv.postal_key)
        self.assertEqual(me["role"], "postal", me)
        # Nothing of a customer's: no email, no balance.
        self.assertNotIn("email", me)
        self.assertNotIn("balance", me)

    def test_every_route_by_key_kind(self):
        srv = self.srv
        keys = {"customer": srv.customer_key, "operator": srv.operator_key,
                "postal": srv.postal_key}
        checked = {"POSTAL": 0, "CUSTOMER": 0, "OPERATOR": 0, "VENDOR": 0, "ANY": 0}
        for method, pattern, access in route_table():
            if access in ("OPEN", "PUBLIC"):
                continue
            path = concrete(pattern)
            # A harmless body: the role is decided before the body is read.
            body = {} if method in ("POST", "PUT") else None
            for kind, key in keys.items():
                if access == "ANY" and method != "GET":
                    continue   # minting, revoking, logging out: not the question here
                with self.subTest(route="%s %s" % (method, pattern), key=kind):
                    s, _, j = srv.request(method, path, body=body, key=key)
                    msg = (j or {}).get("error", {}).get("message", "")
                    if access == "POSTAL":
                        if kind == "postal":
                            self.assertNotEqual(s, 403, j)
                        else:
                            self.assertEqual(s, 403, j)
                            self.assertEqual(j["error"]["code"], "forbidden", j)
                            self.assertIn(POSTAL_WHY, msg, j)
                    elif kind == "postal":
                        if access == "ANY":
                            self.assertNotEqual(s, 403, j)
                        else:
                            self.assertEqual(s, 403, j)
                            self.assertIn(NOT_POSTAL_WHY, msg, j)
                    elif (access, kind) in (("CUSTOMER", "operator"), ("OPERATOR", "customer")):
                        self.assertEqual(s, 403, j)
                    else:
                        self.assertNotEqual(s, 403, j)
            checked[access] += 1
        for access, n in checked.items():
            self.assertGreater(n, 0, "no %s route checked" % access)
        self.assertGreaterEqual(checked["POSTAL"], 3)

    def test_postal_keys_mint_postal_keys(self):
        s, _, j = self.srv.request("POST", "/v1/account/api-keys", {"name": "scanner 7"},
                                   key=self.srv.postal_key)
        self.assertEqual(s, 201, j)
        self.assertTrue(j["key"].startswith("sk_postal_"), j)
        self.assertEqual(self.srv.get_ok("/v1/account", j["key"])["role"], "postal")
        s, _, j = self.srv.request("POST", "/v1/account/api-keys", {"mode": "test"},
                                   key=self.srv.postal_key)
        self.assertEqual(s, 400, j)

    def test_postal_key_sees_no_piece_record(self):
        s, _, ind = self.srv.buy(self.srv.customer_key, "routes-1", letter())
        self.assertEqual(s, 201, ind)
        # The stored record carries the buyer's addresses: not the authority's to read.
        s, _, j = self.srv.request("GET", "/v1/indicia/" + ind["id"], key=self.srv.postal_key)
        self.assertEqual(s, 403, j)


class Presentations(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.Stampd("authority-verify").init(psds=1)
        cls.srv.start(processors=1)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def verify(self, data, key, **extra):
        body = {"data": data}
        body.update(extra)
        return self.srv.request("POST", "/v1/verify", body, key=key)

    def test_only_postal_keys_count(self):
        srv = self.srv
        s, _, ind = srv.buy(srv.customer_key, "pres-1", letter())
        self.assertEqual(s, 201, ind)
        # The buyer and the vendor's operator check the signature; the count stays.
        for key in (srv.customer_key, srv.operator_key, srv.customer_key):
            s, _, v = self.verify(ind["data"], key)
            self.assertEqual((s, v["valid"], v["presentations"], v["duplicate"], v["counted"],
                              v["status"]), (200, True, 0, False, False, "valid"), v)
            self.assertIsNone(v["first_presentation"], v)
        # Only the authority says when and where.
        s, _, v = self.verify(ind["data"], srv.operator_key, location="NDC-1")
        self.assertEqual(s, 400, v)
        self.assertEqual(v["error"]["field"], "location", v)

        s, _, v = self.verify(ind["data"], srv.postal_key, location="NDC-DENVER-80266",
                              presented_at="2026-01-02T03:04:05Z")
        self.assertEqual((s, v["presentations"], v["duplicate"], v["counted"], v["status"]),
                         (200, 1, False, True, "valid"), v)
        self.assertEqual(v["first_presentation"]["location"], "NDC-DENVER-80266", v)
        self.assertEqual(v["first_presentation"]["presented_at"], "2026-01-02T03:04:05Z", v)

        s, _, v = self.verify(ind["data"], srv.postal_key, location="P&DC-94105")
        self.assertEqual((s, v["presentations"], v["presented_before"], v["duplicate"],
                          v["status"], v["valid"]), (200, 2, 1, True, "duplicate", True), v)
        # The second names the first: when and where.
        self.assertEqual(v["first_presentation"]["location"], "NDC-DENVER-80266", v)
        self.assertEqual(v["first_presentation"]["presented_at"], "2026-01-02T03:04:05Z", v)

        # A customer's look afterwards still moves nothing and learns no location.
        s, _, v = self.verify(ind["data"], srv.customer_key)
        self.assertEqual((v["presentations"], v["duplicate"], v["counted"]), (2, True, False), v)
        self.assertIsNone(v["first_presentation"], v)

    def test_bad_when_and_where(self):
        srv = self.srv
        s, _, ind = srv.buy(srv.customer_key, "pres-2", letter())
        self.assertEqual(s, 201, ind)
        for extra, field in (({"presented_at": "2026-13-01T00:00:00Z"}, "presented_at"),
                             ({"presented_at": "2999-01-01T00:00:00Z"}, "presented_at"),
                             ({"presented_at": "yesterday"}, "presented_at"),
                             ({"location": ""}, "location"),
                             ({"location": "x" * 65}, "location"),
                             ({"location": "tab\there"}, "location")):
            s, _, v = self.verify(ind["data"], srv.postal_key, **extra)
            self.assertEqual((s, v["error"]["field"]), (400, field), (extra, v))
        # None of them counted.
        s, _, v = self.verify(ind["data"], srv.customer_key)
        self.assertEqual(v["presentations"], 0, v)

    def test_stamp_verify_with_a_postal_key(self):
        srv = self.srv
        s, _, ind = srv.buy(srv.customer_key, "pres-3", letter())
        self.assertEqual(s, 201, ind)

        def stamp(key, *extra):
            env = harness.stampd_env()
            env["STAMP_KEY"] = key
            env["STAMP_SERVER"] = "http://%s:%d" % (srv.host, srv.port)
            p = subprocess.run([STAMP_BIN, "verify", "--data", ind["data"]] + list(extra),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                               timeout=120)
            harness.assert_no_sanitizer(p.stderr.decode(), "stamp verify")
            return p.returncode, p.stdout.decode()

        # The operator's check is no presentation: valid (0) every time.
        self.assertEqual(stamp(srv.operator_key)[0], 0)
        self.assertEqual(stamp(srv.operator_key)[0], 0)
        # Nor may it say where (the server refuses: exit 1).
        self.assertEqual(stamp(srv.operator_key, "--location", "NDC-1")[0], 1)
        # The authority's first scan is valid, its second a duplicate (exit 5)
        # that names when and where the first was.
        self.assertEqual(stamp(srv.postal_key, "--location", "NDC-DENVER",
                               "--presented-at", "2026-03-04T05:06:07Z")[0], 0)
        rc, out = stamp(srv.postal_key, "--location", "P&DC-94105")
        self.assertEqual(rc, 5, out)
        self.assertRegex(out, r"first seen +2026-03-04T05:06:07Z at NDC-DENVER")


def fresh_dsn(srv):
    """A new empty PostgreSQL database (the CTest fixture's cluster) for srv."""
    p = subprocess.run(["sh", os.path.join(harness.SOURCE_DIR, "scripts", "pg-test.sh"),
                        "createdb", PG_DSN_FILE], stdout=subprocess.PIPE, check=True, timeout=60)
    return p.stdout.decode().strip()


class DepositBase:
    """The deposit end to end; PostgreSQL or SQLite by the subclass."""

    postgres = False

    def setUp(self):
        srv = self.srv = harness.Stampd("authority-deposit")
        if self.postgres:
            srv.db = fresh_dsn(srv)
        # A $1 deposit with $1 refills: the first refill takes all of it.
        _, out, _ = srv.run("init", "--db", srv.db, "--license", harness.LICENSE, "--psds", "2",
                            "--deposit", "1", "--refill", "1", "--keys-dir",
                            os.path.join(srv.dir, "keys"), "--demo")
        keys = harness.Stampd._keys(out)
        srv.customer_key = keys["STAMP_KEY"]
        srv.operator_key = keys["STAMP_OPERATOR_KEY"]
        srv.postal_key = keys["STAMP_POSTAL_KEY"]
        srv.start(processors=1)

    def tearDown(self):
        self.srv.stop()

    def credit(self, idem, amount, reference, key=None):
        hdrs = {"Idempotency-Key": idem} if idem else None
        return self.srv.request("POST", "/v1/authority/deposits",
                                {"amount": amount, "reference": reference},
                                key=key or self.srv.postal_key, headers=hdrs)

    def history(self, key):
        out, cursor = [], None
        path = "/v1/authority/deposits" if key == self.srv.postal_key else "/v1/admin/deposit"
        while True:
            page = self.srv.get_ok(path + "?limit=1" + ("&cursor=" + cursor if cursor else ""),
                                   key)
            out.extend(page["data"])
            if not page["has_more"]:
                return page["balance_mills"], out
            cursor = page["next_cursor"]

    def books_balance(self):
        led = self.srv.get_ok("/v1/admin/ledger", self.srv.operator_key)
        self.assertTrue(led["ok"], led)
        _, out, _ = self.srv.run("ledger", "check", "--db", self.srv.db)
        self.assertIn("every journal balances", out)

    def test_deposit_runs_out_and_the_authority_credits_it(self):
        srv = self.srv
        before = srv.balance(srv.customer_key)
        s, _, ind = srv.buy(srv.customer_key, "d-1", letter())
        self.assertEqual(s, 201, ind)
        spent = ind["postage_mills"]
        # PSD 1 holds $0.26, the deposit nothing: the next letter is refused, nothing moves.
        s, _, j = srv.buy(srv.customer_key, "d-2", letter())
        self.assertEqual((s, j["error"]["code"]), (503, "postal_deposit_insufficient"), j)
        self.assertEqual(srv.balance(srv.customer_key), before - spent)
        self.books_balance()

        # The operator cannot credit the deposit; the authority can, once per key.
        s, _, j = self.credit("c-1", "5.00", "WIRE-2026-0001", key=srv.operator_key)
        self.assertEqual(s, 403, j)
        s, _, j = self.credit(None, "5.00", "WIRE-2026-0001")
        self.assertEqual((s, j["error"]["code"]), (400, "idempotency_key_required"), j)
        for amount in ("0", "0.001", "-1.00", "ten", "1000000000001.00"):
            s, _, j = self.credit("c-bad", amount, "WIRE-2026-0001")
            self.assertEqual((s, j["error"]["field"]), (400, "amount"), (amount, j))
        for ref in ("", " padded", "x" * 129, "new\nline"):
            s, _, j = self.credit("c-bad", "5.00", ref)
            self.assertEqual(s, 400, (ref, j))
        s, h, c1 = self.credit("c-1", "5.00", "WIRE-2026-0001")
        self.assertEqual(s, 201, c1)
        self.assertEqual((c1["amount_mills"], c1["balance_mills"], c1["reference"]),
                         (5000, 5000, "WIRE-2026-0001"), c1)
        s, h, again = self.credit("c-1", "5.00", "WIRE-2026-0001")
        self.assertEqual((s, again["id"], h.get("idempotent-replayed")),
                         (201, c1["id"], "true"), (again, h))
        s, _, j = self.credit("c-1", "6.00", "WIRE-2026-0001")
        self.assertEqual((s, j["error"]["code"]), (409, "idempotency_key_reused"), j)

        # Sales resume.
        s, _, ind2 = srv.buy(srv.customer_key, "d-2", letter())
        self.assertEqual(s, 201, ind2)

        # The command line credits too (an authority without the API).
        _, out, _ = srv.run("authority", "deposit", "--db", srv.db, "--amount", "2.50",
                            "--reference", "CHEQUE 17")
        self.assertIn("deposit_credit=dep_", out)
        code, _, err = srv.run("authority", "deposit", "--db", srv.db, "--amount", "0.005",
                               "--reference", "x", check=False)
        self.assertEqual(code, 2, err)

        # Both sides read the same history: every credit and every draw, newest
        # first, each balance the one before it plus its amount.
        bal_p, hist_p = self.history(srv.postal_key)
        bal_o, hist_o = self.history(srv.operator_key)
        self.assertEqual((bal_p, hist_p), (bal_o, hist_o))
        types = [e["type"] for e in reversed(hist_p)]
        self.assertEqual(types, ["credit", "draw", "credit", "draw", "credit"], hist_p)
        run = 0
        for e in reversed(hist_p):
            run += e["amount_mills"]
            self.assertEqual(e["balance_mills"], run, e)
            if e["type"] == "draw":
                self.assertIn(e["psd_id"], (1, 2), e)
                self.assertTrue(e["ref"].startswith("rfl_"), e)
        self.assertEqual(run, bal_p)
        self.assertEqual(hist_p[0]["reference"], "CHEQUE 17")
        self.assertEqual(hist_p[2]["reference"], "WIRE-2026-0001")
        psd_sum = sum(p["control_total_mills"] for p in srv.psds()["psds"] if not p["test"])
        self.assertEqual(bal_p + psd_sum, 1000 + 5000 + 2500)
        self.assertEqual(srv.psds()["deposit_mills"], bal_p)
        # The history holds nothing of the customers'.
        self.assertNotIn("@", repr(hist_p))
        self.books_balance()

    def test_concurrent_retries_credit_once(self):
        import concurrent.futures
        srv = self.srv
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: self.credit("same", "7.00", "WIRE-RACE"),
                                    range(8)))
        self.assertEqual({(s, j["id"]) for s, _, j in answers},
                         {(201, answers[0][2]["id"])}, answers)
        bal, hist = self.history(srv.postal_key)
        self.assertEqual([e["reference"] for e in hist if e["type"] == "credit"],
                         ["WIRE-RACE", None], hist)
        self.assertEqual(bal, 1000 + 7000)
        self.books_balance()

    def test_authority_create(self):
        _, out, _ = self.srv.run("authority", "create", "--db", self.srv.db, "--name",
                                 "Inspection Service, Denver")
        key = dict(l.split("=", 1) for l in out.split())["STAMP_POSTAL_KEY"]
        self.assertTrue(key.startswith("sk_postal_"), key)
        me = self.srv.get_ok("/v1/account", key)
        self.assertEqual((me["role"], me["name"]), ("postal", "Inspection Service, Denver"))
        code, _, err = self.srv.run("authority", "create", "--db", self.srv.db, "--name",
                                    "Inspection Service, Denver", check=False)
        self.assertEqual(code, 1, err)
        code, _, err = self.srv.run("authority", "create", "--db", self.srv.db, "--name", "",
                                    check=False)
        self.assertEqual(code, 2, err)


class WebLogin(unittest.TestCase):
    """The postal authority's web login: by name and password, a session like
    the vendor's (cookie + CSRF token), limited to the authority's routes."""

    @classmethod
    def setUpClass(cls):
        cls.srv = harness.Stampd("authority-login").init(psds=1)
        cls.srv.start(processors=1)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def login(self, body):
        return self.srv.request("POST", "/v1/login", body)

    def session(self, name, password):
        s, h, j = self.login({"role": "postal", "name": name, "password": password})
        self.assertEqual(s, 200, j)
        self.assertEqual((j["role"], j["name"]), ("postal", name), j)
        self.assertNotIn("email", j)
        cookie = h["set-cookie"].split(";")[0]
        return cookie, j["csrf_token"]

    def test_demo_account_logs_in_and_reaches_only_the_authority(self):
        cookie, csrf = self.session("Demo postal authority", "stampd-demo-password")
        hdr = {"Cookie": cookie}
        s, _, j = self.srv.request("GET", "/v1/session", headers=hdr)
        self.assertEqual((s, j["role"], j["name"], j["csrf_token"]),
                         (200, "postal", "Demo postal authority", csrf), j)
        s, _, j = self.srv.request("GET", "/v1/authority/deposits", headers=hdr)
        self.assertEqual(s, 200, j)
        # The vendor's routes stay closed to the authority's session.
        for method, path in (("GET", "/v1/psds"), ("GET", "/v1/admin/ledger"),
                             ("GET", "/v1/indicia"), ("GET", "/v1/account/transactions")):
            s, _, j = self.srv.request(method, path, headers=hdr)
            self.assertEqual(s, 403, (path, j))
        # A state change needs the session's CSRF token.
        credit = {"amount": "5.00", "reference": "WEB-1"}
        s, _, j = self.srv.request("POST", "/v1/authority/deposits", credit,
                                   headers=dict(hdr, **{"Idempotency-Key": "web-1"}))
        self.assertEqual((s, j["error"]["code"]), (403, "csrf_failed"), j)
        s, _, j = self.srv.request("POST", "/v1/authority/deposits", credit,
                                   headers=dict(hdr, **{"Idempotency-Key": "web-1",
                                                        "X-CSRF-Token": csrf}))
        self.assertEqual(s, 201, j)
        # Its sessions are listed and ended like anyone's.
        s, _, j = self.srv.request("GET", "/v1/account/sessions", headers=hdr)
        self.assertEqual((s, len(j["data"])), (200, 1), j)
        s, _, j = self.srv.request("POST", "/v1/logout", {},
                                   headers=dict(hdr, **{"X-CSRF-Token": csrf}))
        self.assertEqual(s, 200, j)
        s, _, j = self.srv.request("GET", "/v1/authority/deposits", headers=hdr)
        self.assertEqual(s, 401, j)

    def test_refused_logins(self):
        bad = [
            # By email: a postal account has a name.
            ({"role": "postal", "email": "inspector@example.com", "password": "x" * 12},
             400, "invalid_request"),
            # A customer's or an operator's login by name.
            ({"role": "operator", "name": "Demo postal authority", "password": "x" * 12},
             400, "invalid_request"),
            # Wrong password; unknown name: the same answer.
            ({"role": "postal", "name": "Demo postal authority", "password": "wrong-password"},
             401, "invalid_credentials"),
            ({"role": "postal", "name": "Nobody at all", "password": "wrong-password"},
             401, "invalid_credentials"),
            # The demo customer's email and password as a postal name.
            ({"role": "postal", "name": "demo@example.com", "password": "stampd-demo-password"},
             401, "invalid_credentials"),
            ({"role": "inspector", "name": "Demo postal authority", "password": "x" * 12},
             400, "invalid_request"),
        ]
        for body, status, code in bad:
            with self.subTest(body=body):
                s, _, j = self.login(body)
                self.assertEqual((s, j["error"]["code"]), (status, code), j)

    def test_passwords_from_the_command_line(self):
        env = dict(os.environ, STAMPD_PASSWORD="denver-inspection-2026")
        p = subprocess.run([harness.STAMPD_BIN, "authority", "create", "--db", self.srv.db,
                            "--name", "Inspection Service, Denver"], env=env,
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.session("Inspection Service, Denver", "denver-inspection-2026")
        # Made without a password: API keys only, until one is set.
        self.srv.run("authority", "create", "--db", self.srv.db, "--name", "Keys only")
        s, _, j = self.login({"role": "postal", "name": "Keys only",
                              "password": "keys-only-password"})
        self.assertEqual(s, 401, j)
        p = subprocess.run([harness.STAMPD_BIN, "authority", "set-password", "--db", self.srv.db,
                            "--name", "Keys only"], input=b"keys-only-password\n",
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.session("Keys only", "keys-only-password")
        # A password that breaks the policy changes nothing.
        env["STAMPD_PASSWORD"] = "short"
        p = subprocess.run([harness.STAMPD_BIN, "authority", "create", "--db", self.srv.db,
                            "--name", "Too short"], env=env, capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stderr)
        p = subprocess.run([harness.STAMPD_BIN, "authority", "set-password", "--db", self.srv.db,
                            "--name", "Nobody"], input=b"a-good-long-password\n",
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stderr)


class DepositSQLite(DepositBase, unittest.TestCase):
    pass


@unittest.skipUnless(PG_DSN_FILE, "no PostgreSQL cluster (STAMPD_TEST_PG_DSN_FILE)")
class DepositPostgres(DepositBase, unittest.TestCase):
    postgres = True


if __name__ == "__main__":
    harness.main()
