"""test_api_errors.py - every refusal answers its documented code and changes nothing.

Each refused request is followed by a look at what a refusal must not touch:
the customers' balances (/v1/account), their indicia (/v1/indicia, including
presentation counts) and the PSD registers and deposit (/v1/psds). Error
bodies must always be {"error": {"code": ..., "message": ...}} with the
documented HTTP status, and "field" where docs/api.md names one.
"""

import base64
import datetime
import http.client
import itertools
import json
import os
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

VALID = {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
         "to_zip": "10001"}
ANY = object()   # "field" not checked


def with_(**kw):
    b = dict(VALID)
    b.update(kw)
    return b


def without(name):
    return {k: v for k, v in VALID.items() if k != name}


class ApiErrors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.Stampd("errors")
        try:
            srv = cls.srv
            srv.init()
            cls.x = srv.customer("xavier@example.test", "100")
            cls.y = srv.customer("yvonne@example.test", "100")
            cls.z = srv.customer("zed@example.test", "100")
            srv.start(processors=2)
            cls.counter = itertools.count(1)
            # One indicium each for X and Y to look at.
            s, _, cls.x_ind = srv.buy(cls.x, "fixture-x", VALID)
            assert s == 201, cls.x_ind
            s, _, cls.y_ind = srv.buy(cls.y, "fixture-y", with_(mail_class="postcard"))
            assert s == 201, cls.y_ind
        except BaseException:
            cls.srv.abandon()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    # ---- helpers ----

    def idem(self):
        return "idem-%d" % next(self.counter)

    def state(self):
        srv = self.srv
        return {"balances": [srv.balance(k) for k in (self.x, self.y, self.z)],
                "indicia": [srv.list_all(k) for k in (self.x, self.y, self.z)],
                "psds": srv.psds()}

    def setUp(self):
        self.base = self.state()

    def rebase(self):
        self.base = self.state()

    def assertErrorBody(self, resp, status, code, field=ANY, what=""):
        s, h, j = resp
        self.assertEqual(s, status, "%s: %r" % (what, j))
        self.assertIsInstance(j, dict, "%s: error body is not a JSON object" % what)
        self.assertIn("error", j, what)
        err = j["error"]
        self.assertIsInstance(err.get("code"), str, what)
        self.assertIsInstance(err.get("message"), str, what)
        self.assertTrue(err["message"], "%s: empty message" % what)
        self.assertEqual(err["code"], code, "%s: %r" % (what, j))
        if field is not ANY:
            self.assertEqual(err.get("field"), field, "%s: %r" % (what, j))
        self.assertTrue(h.get("content-type", "").startswith("application/json"), what)

    def refused(self, resp, status, code, field=ANY, what=""):
        """The answer is the documented error and nothing changed."""
        self.assertErrorBody(resp, status, code, field, what)
        self.assertEqual(self.state(), self.base, "%s: a refused request changed state" % what)

    def buy(self, body=None, key=None, idem=ANY, raw=None, headers=None):
        h = dict(headers or {})
        if idem is ANY:
            idem = self.idem()
        if idem is not None:
            h["Idempotency-Key"] = idem
        return self.srv.request("POST", "/v1/indicia", body=body, raw=raw,
                                key=self.x if key is None else key, headers=h)

    def chunked(self, chunks, key=None):
        """POST /v1/indicia with Transfer-Encoding: chunked."""
        conn = http.client.HTTPConnection(self.srv.host, self.srv.port,
                                          timeout=harness.HTTP_TIMEOUT)
        try:
            conn.request("POST", "/v1/indicia", body=iter(chunks), encode_chunked=True,
                         headers={"Authorization": "Bearer " + (key or self.x),
                                  "Idempotency-Key": self.idem(),
                                  "Content-Type": "application/json"})
            resp = conn.getresponse()
            payload = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, \
                json.loads(payload) if payload else None
        finally:
            conn.close()

    def bought(self, resp, what=""):
        s, h, j = resp
        self.assertEqual(s, 201, "%s: %r" % (what, j))
        self.rebase()
        return j

    # ---- authentication ----

    def test_auth(self):
        srv = self.srv
        r = srv.request("POST", "/v1/indicia", body=VALID, headers={"Idempotency-Key": self.idem()})
        self.refused(r, 401, "unauthorized", "Authorization", "no Authorization")
        wrong = "sk_live_" + "0" * 32
        self.refused(self.buy(VALID, key=wrong), 401, "unauthorized", "Authorization", "wrong key")
        malformed = ["Basic " + base64.b64encode(b"user:pass").decode(), "Bearer", "Bearer ",
                     "Token " + self.x, self.x, "Bearer  " + self.x, "Bearer " + self.x + " x",
                     "Bearer " + self.x[:7], "Bearer " + "k" * 300]
        for auth in malformed:
            r = srv.request("POST", "/v1/indicia", body=VALID,
                            headers={"Authorization": auth, "Idempotency-Key": self.idem()})
            self.refused(r, 401, "unauthorized", "Authorization", "Authorization: %.40s" % auth)
        for method, path in (("GET", "/v1/account"), ("GET", "/v1/indicia"), ("GET", "/v1/psds"),
                             ("GET", "/v1/indicia/" + self.x_ind["id"])):
            self.refused(srv.request(method, path), 401, "unauthorized", "Authorization", path)
            self.refused(srv.request(method, path, key=wrong), 401, "unauthorized",
                         "Authorization", path)
        r = srv.request("POST", "/v1/verify", body={"data": self.x_ind["data"]})
        self.refused(r, 401, "unauthorized", "Authorization", "verify without a key")
        # Header names are case-insensitive.
        s, _, j = srv.request("GET", "/v1/account", headers={"authorization": "Bearer " + self.x})
        self.assertEqual((s, j.get("role")), (200, "customer"), j)
        # /v1/keys and /healthz need no key.
        self.assertEqual(srv.request("GET", "/v1/keys")[0], 200)
        self.assertEqual(srv.request("GET", "/healthz")[0], 200)

    def test_forbidden(self):
        srv = self.srv
        self.refused(srv.request("GET", "/v1/psds", key=self.x), 403, "forbidden", what="psds")
        self.refused(self.buy(VALID, key=srv.operator_key), 403, "forbidden",
                     what="operator buys")
        self.refused(srv.request("GET", "/v1/indicia", key=srv.operator_key), 403, "forbidden",
                     what="operator lists")

    # ---- idempotency ----

    def test_idempotency_key(self):
        self.refused(self.buy(VALID, idem=None), 400, "idempotency_key_required",
                     "Idempotency-Key", "no Idempotency-Key")
        r = self.buy(VALID, idem="")
        self.assertIn(r[2]["error"]["code"], ("idempotency_key_required", "invalid_request"), r)
        self.refused(r, 400, r[2]["error"]["code"], "Idempotency-Key", "empty Idempotency-Key")
        self.refused(self.buy(VALID, idem="k" * 256), 400, "invalid_request", "Idempotency-Key",
                     "256-character Idempotency-Key")
        self.refused(self.buy(VALID, idem="caf\u00e9".encode("utf-8").decode("latin-1")), 400,
                     "invalid_request", "Idempotency-Key", "non-ASCII Idempotency-Key")
        self.bought(self.buy(VALID, idem="k" * 255), "255-character Idempotency-Key")

        key = self.idem()
        first = self.bought(self.buy(VALID, idem=key), "first")
        # Same key, different body: 409, nothing written.
        for body in (with_(weight_oz=2), with_(to_zip="10002"), with_(from_zip="94110")):
            self.refused(self.buy(body, idem=key), 409, "idempotency_key_reused",
                         what="reused key %r" % body)
        # Same key, same body written differently (order, spacing): the same indicium.
        raw = '{ "to_zip" : "10001",\n "from_zip": "94107", "weight_oz": 1, ' \
              '"mail_class": "first_class_letter" }'
        s, h, j = self.buy(raw=raw, idem=key)
        self.assertEqual(s, 201, j)
        self.assertEqual(h.get("idempotent-replayed"), "true")
        self.assertEqual(j["id"], first["id"])
        self.assertEqual(self.state(), self.base, "a replay changed state")

        # A refused purchase records nothing: its key is free for a valid body.
        key = self.idem()
        self.refused(self.buy(with_(weight_oz=0), idem=key), 400, "weight_out_of_range",
                     "weight_oz", "weight 0")
        s, h, j = self.buy(VALID, idem=key)
        self.assertEqual(s, 201, j)
        self.assertNotIn("idempotent-replayed", h)
        self.assertNotEqual(j["id"], first["id"])
        self.rebase()

        # Keys are scoped to the customer: Y may use X's key string.
        s, h, j = self.buy(VALID, key=self.y, idem=key)
        self.assertEqual(s, 201, j)
        self.assertNotIn("idempotent-replayed", h)
        self.rebase()

    # ---- the body ----

    def test_body_shape(self):
        cases = [
            ('{"mail_class": ', "invalid_json"),
            ("", "invalid_json"),
            ("{'mail_class': 'postcard'}", "invalid_json"),
            ('{"mail_class": "postcard"} x', "invalid_json"),
            ("[]", "invalid_type"),
            ('[{"mail_class": "postcard"}]', "invalid_type"),
            ('{"mail_class": "postcard", "weight_oz": 1, "from_zip": "94107", '
             '"to_zip": "10001", "mail_class": "postcard"}', "invalid_json"),
            ('{"mail_class": "postcard", "weight_oz": 1, "from_zip": "94107", '
             '"to_zip": "10001", "weight_oz": 1}', "invalid_json"),
        ]
        for raw, code in cases:
            self.refused(self.buy(raw=raw), 400, code, what="body %r" % raw)

    def test_body_scalar_is_invalid_type(self):
        # docs/api.md: invalid_type is "a field has the wrong type, or the body is
        # not an object". A JSON scalar is valid JSON (RFC 8259) but not an object.
        for raw in ('"x"', "1", "null", "true"):
            self.refused(self.buy(raw=raw), 400, "invalid_type", what="body %r" % raw)

    def test_unknown_and_missing_fields(self):
        self.refused(self.buy(with_(colour="red")), 400, "unknown_field", "colour", "unknown")
        self.refused(self.buy(with_(weight=1)), 400, "unknown_field", "weight", "unknown weight")
        for name in ("mail_class", "weight_oz", "from_zip", "to_zip"):
            self.refused(self.buy(without(name)), 400, "missing_field", name, "missing " + name)
        self.refused(self.buy({}), 400, "missing_field", what="empty object")

    # ---- every field error listed (issue 17) ----

    def assertErrors(self, resp, status, fields, what=""):
        """error is the first field's; errors lists exactly fields [(code, field)]."""
        s, _, j = resp
        self.assertEqual(s, status, "%s: %r" % (what, j))
        self.assertEqual((j["error"]["code"], j["error"]["field"]), fields[0], "%s: %r" % (what, j))
        got = [(e["code"], e["field"]) for e in j.get("errors", [])]
        self.assertEqual(sorted(got), sorted(fields), "%s: %r" % (what, j))
        for e in j["errors"]:
            self.assertEqual(set(e), {"code", "field", "message"}, what)
            self.assertTrue(e["message"], what)
        self.assertEqual(self.state(), self.base, "%s: a refused request changed state" % what)

    def test_every_field_error_listed(self):
        three = with_(mail_class="airmail", from_zip="9410", weight_oz="heavy")
        self.assertErrors(self.buy(three), 400, [
            ("unknown_mail_class", "mail_class"), ("invalid_zip", "from_zip"),
            ("invalid_type", "weight_oz")], "purchase, three bad fields")
        body = {"mail_class": "postcard", "colour": "red", "to_zip": "1",
                "mail_date": "tomorrow", "to_address": ""}
        self.assertErrors(self.buy(body), 400, [
            ("unknown_field", "colour"), ("missing_field", "weight_oz"),
            ("missing_field", "from_zip"), ("invalid_zip", "to_zip"),
            ("invalid_mail_date", "mail_date"), ("invalid_request", "to_address")],
            "purchase, unknown and missing fields too")
        # One bad field: errors lists just it.
        self.assertErrors(self.buy(with_(to_zip="x")), 400, [("invalid_zip", "to_zip")], "one")
        srv = self.srv
        r = srv.request("POST", "/v1/signup", body={"email": "a" * 300, "password": 5,
                                                    "api_key": {"mode": "both"}, "x": 1})
        self.assertErrors(r, 400, [("unknown_field", "x"), ("invalid_request", "api_key.mode"),
                                   ("invalid_type", "password"), ("invalid_email", "email")],
                          "signup")
        r = srv.request("POST", "/v1/account/api-keys", body={"name": 7, "mode": "both"},
                        key=self.x)
        self.assertErrors(r, 400, [("invalid_type", "name"), ("invalid_request", "mode")],
                          "api key")
        r = srv.request("POST", "/v1/account/funds", body={"amount": "x", "colour": 1},
                        key=self.x, headers={"Idempotency-Key": self.idem()})
        self.assertErrors(r, 400, [("unknown_field", "colour"), ("invalid_amount", "amount")],
                          "funds")
        r = srv.request("POST", "/v1/admin/media/batches", body={"product": "x", "sheets": 0},
                        key=srv.operator_key)
        self.assertErrors(r, 400, [("missing_field", "affiliate_id"),
                                   ("invalid_request", "product"),
                                   ("invalid_request", "sheets")], "media batch")
        r = srv.request("POST", "/v1/admin/affiliates", body={"name": "", "target_days": -1,
                                                              "resupply_sheets": "x"},
                        key=srv.operator_key)
        self.assertErrors(r, 400, [("invalid_request", "name"), ("invalid_request", "target_days"),
                                   ("invalid_request", "resupply_sheets")], "affiliate")
        r = srv.request("PUT", "/v1/account/printers/office", body={"offset_x_mm": 99},
                        key=self.x)
        self.assertErrors(r, 400, [("invalid_offset", "offset_x_mm"),
                                   ("missing_field", "offset_y_mm")], "printer")
        r = srv.request("POST", "/v1/sheets", body={"layout": "nope", "dpi": 0, "start": 1},
                        key=self.x)
        self.assertErrors(r, 400, [("unknown_layout", "layout"), ("missing_field", "indicia"),
                                   ("invalid_dpi", "dpi"), ("invalid_start_position", "start")],
                          "sheets")
        r = srv.request("PUT", "/v1/account/auto-refill", body={"enabled": "yes", "trigger": "x",
                                                                "amount": 5}, key=self.x)
        self.assertErrors(r, 400, [("invalid_type", "enabled"), ("invalid_amount", "trigger"),
                                   ("invalid_type", "amount")], "auto-refill")
        r = srv.request("POST", "/v1/verify", body={"data": 7, "presented_at": "noon",
                                                    "location": "\u00e9"},
                        key=srv.postal_key)
        self.assertErrors(r, 400, [("invalid_type", "data"), ("invalid_request", "presented_at"),
                                   ("invalid_request", "location")], "verify")
        r = srv.request("POST", "/v1/authority/holds", body={"serial": "1", "psd_id": -1, "x": 0},
                        key=srv.postal_key)
        self.assertErrors(r, 400, [("unknown_field", "x"), ("invalid_type", "serial"),
                                   ("invalid_request", "psd_id"), ("missing_field", "reason")],
                          "hold")
        r = srv.request("POST", "/v1/authority/refund-claims/clm_none",
                        body={"decision": "maybe", "reason": 5}, key=srv.postal_key)
        self.assertErrors(r, 400, [("invalid_request", "decision"), ("invalid_type", "reason")],
                          "claim decision")
        r = srv.request("POST", "/v1/admin/psds/1/withdraw", body={"reason": 5, "confirm": "yes"},
                        key=srv.operator_key)
        self.assertErrors(r, 400, [("invalid_type", "reason"), ("invalid_type", "confirm")],
                          "withdraw")
        r = srv.request("POST", "/v1/login", body={"email": 5, "password": 7, "x": 1})
        self.assertErrors(r, 400, [("unknown_field", "x"), ("invalid_type", "email"),
                                   ("invalid_type", "password")], "login")
        r = srv.request("POST", "/v1/payment-methods", body={"x": 1}, key=self.x)
        self.assertErrors(r, 400, [("unknown_field", "x"), ("missing_field", "card")],
                          "payment method")
        r = srv.request("PUT", "/v1/admin/watchdog", body={"deadline_days": 0, "x": 1},
                        key=srv.operator_key)
        self.assertErrors(r, 400, [("unknown_field", "x"), ("invalid_request", "deadline_days")],
                          "watchdog")

    def test_wrong_types(self):
        cases = [
            (with_(weight_oz="1"), "weight_oz"),
            (with_(weight_oz=True), "weight_oz"),
            (with_(weight_oz=[1]), "weight_oz"),
            (with_(from_zip=94107), "from_zip"),
            (with_(to_zip=10001), "to_zip"),
            (with_(mail_class=1), "mail_class"),
            (with_(mail_date=20261122), "mail_date"),
            (with_(medium_serial=5), "medium_serial"),
            (with_(payment="balance"), "payment"),
            (with_(weight_oz=1.25), "weight_oz"),
            (with_(weight_oz=1.05), "weight_oz"),
            (with_(weight_oz=2.999), "weight_oz"),
        ]
        for body, field in cases:
            self.refused(self.buy(body), 400, "invalid_type", field, "%s=%r" % (field, body[field]))

    def test_weights(self):
        cases = [
            with_(weight_oz=0), with_(weight_oz=0.0), with_(weight_oz=-1), with_(weight_oz=-0.5),
            with_(weight_oz=3.6), with_(weight_oz=4),
            with_(mail_class="large_envelope", weight_oz=13.1),
            with_(mail_class="large_envelope", weight_oz=14),
            with_(mail_class="postcard", weight_oz=1.1),
            with_(weight_oz=1000000),
        ]
        for body in cases:
            self.refused(self.buy(body), 400, "weight_out_of_range", "weight_oz",
                         "%s %r oz" % (body["mail_class"], body["weight_oz"]))
        # The limits themselves are fine, and the price step is the next whole ounce.
        for body, price in ((with_(weight_oz=3.5), 1610), (with_(weight_oz=1.1), 1030),
                            (with_(mail_class="large_envelope", weight_oz=13), 4870),
                            (with_(mail_class="postcard", weight_oz=0.1), 610)):
            j = self.bought(self.buy(body), repr(body))
            self.assertEqual(j["postage_mills"], price, body)

    def test_mail_class(self):
        for cls in ("parcel", "Postcard", "", "first_class_letter "):
            self.refused(self.buy(with_(mail_class=cls)), 400, "unknown_mail_class",
                         "mail_class", "mail_class %r" % cls)

    def test_zips(self):
        for field, value in (("from_zip", "9410"), ("from_zip", "9410A"), ("from_zip", "941070"),
                             ("from_zip", "94107-1234"), ("from_zip", "941071234"),
                             ("from_zip", ""), ("from_zip", " 94107"),
                             ("to_zip", "1000"), ("to_zip", "ABCDE"), ("to_zip", "10001-12"),
                             ("to_zip", "10001-123A"), ("to_zip", "10001 1234"),
                             ("to_zip", "1000112345"), ("to_zip", "10001-"),
                             ("to_zip", "1000-11234")):
            self.refused(self.buy(with_(**{field: value})), 400, "invalid_zip", field,
                         "%s %r" % (field, value))
        # ZIP+4 in both forms.
        for to in ("10001-1234", "100011234"):
            j = self.bought(self.buy(with_(to_zip=to)), "to_zip " + to)
            self.assertEqual(j["to_zip"], "10001-1234")
            d = harness.decode_indicium(harness.unb64(j["data"]))
            self.assertEqual(d["to_zip"], "100011234")

    def test_mail_date(self):
        today = harness.today_utc()
        in_window = today + datetime.timedelta(days=20)
        bad = ["%d/%02d/%02d" % (today.year, today.month, today.day),
               today.strftime("%Y%m%d"),
               "%04d-%02d-%03d" % (in_window.year, in_window.month, in_window.day),
               "%05d-%02d-%02d" % (in_window.year, in_window.month, in_window.day),
               " " + in_window.isoformat(), in_window.isoformat() + " ",
               "2026-02-30", "%04d-%02d-32" % (in_window.year, in_window.month),
               "%04d-%02d-00" % (in_window.year, in_window.month), "%04d-13-01" % today.year,
               today.isoformat() + "T00", "tomorrow", "",
               (today - datetime.timedelta(days=3)).isoformat(),
               (today - datetime.timedelta(days=400)).isoformat(),
               (today + datetime.timedelta(days=31)).isoformat(),
               (today + datetime.timedelta(days=365)).isoformat()]
        for d in bad:
            self.refused(self.buy(with_(mail_date=d)), 400, "invalid_mail_date", "mail_date",
                         "mail_date %r" % d)
        # Today, yesterday (US time zones) and today + 30 are accepted.
        for delta in (0, -1, 30):
            d = (today + datetime.timedelta(days=delta)).isoformat()
            j = self.bought(self.buy(with_(mail_date=d)), "mail_date " + d)
            self.assertEqual(j["mail_date"], d)

    def test_long_strings_get_their_own_code(self):
        # A string that is merely too long has the right type: it should get the
        # field's own code (docs/api.md), as a short bad value of that field does.
        today = harness.today_utc()
        cases = [("mail_date", today.isoformat() + "T00:00:00Z", "invalid_mail_date"),
                 ("to_zip", "10001-1234-5678901", "invalid_zip"),
                 ("from_zip", "94107941079410794", "invalid_zip"),
                 ("medium_serial", "A" * 65, "invalid_request"),
                 ("mail_class", "first_class_letter" * 4, "unknown_mail_class")]
        problems = []
        for field, value, code in cases:
            s, _, j = r = self.buy(with_(**{field: value}))
            self.assertEqual(s, 400, j)
            self.refused(r, 400, j["error"]["code"], field, "%s %r" % (field, value))
            if j["error"]["code"] != code:
                problems.append("%s of %d characters: %s, expected %s"
                                % (field, len(value), j["error"]["code"], code))
        self.assertEqual(problems, [])

    def test_payment_and_medium(self):
        self.refused(self.buy(with_(payment={"method": "card"})), 400, "invalid_request",
                     "payment.method", "payment card")
        for pay in ({}, {"method": 1}, {"method": "balance", "card": "4242"}, ["balance"]):
            s, _, j = r = self.buy(with_(payment=pay))
            self.assertEqual(s, 400, (pay, j))
            self.assertTrue(j["error"].get("field", "").startswith("payment"), (pay, j))
            self.refused(r, 400, j["error"]["code"], what="payment %r" % pay)
        for medium in ("abc_def", "", "A" * 33, "AB CD", "\u00c5BC"):
            self.refused(self.buy(with_(medium_serial=medium)), 400, "invalid_request",
                         "medium_serial", "medium_serial %r" % medium)
        # Well-formed but not a genuine serial (docs/media.md).
        self.refused(self.buy(with_(medium_serial="abcd-1234")), 400, "medium_invalid",
                     "medium_serial", "medium_serial abcd-1234")
        _, batch = self.srv.media(sheets=1)
        label = batch["serials"][1]["serial"]
        self.rebase()
        j = self.bought(self.buy(with_(payment={"method": "balance"}, medium_serial=label.lower())))
        self.assertEqual(j["medium_serial"], label)
        d = harness.decode_indicium(harness.unb64(j["data"]))
        self.assertEqual(d["medium_serial"], label)

    def test_body_too_large(self):
        pad = " " * (64 * 1024)
        raw = '{"mail_class": "postcard", "weight_oz": 1, "from_zip": "94107", "to_zip": "10001"}'
        self.refused(self.buy(raw=raw + pad), 413, "body_too_large", what="64 KiB + body")
        self.refused(self.buy(raw='{"x": "' + "a" * 200000 + '"}'), 413, "body_too_large",
                     what="200 kB body")
        # Chunked uploads (no Content-Length) are capped the same way.
        big = [raw.encode()] + [b" " * 8192] * 9
        self.refused(self.chunked(big), 413, "body_too_large", what="chunked 70 kB body")
        self.bought(self.chunked([raw[:20].encode(), raw[20:].encode()]), "small chunked body")
        # Exactly 64 KiB is not over the cap.
        exact = raw + " " * (64 * 1024 - len(raw))
        self.assertEqual(len(exact), 65536)
        self.bought(self.buy(raw=exact), "a body of exactly 64 KiB")

    # ---- reading ----

    def test_other_customers_indicium(self):
        srv = self.srv
        for path in ("/v1/indicia/" + self.x_ind["id"], "/v1/indicia/ind_doesnotexist",
                     "/v1/indicia/" + "x" * 300):
            self.refused(srv.request("GET", path, key=self.y), 404, "not_found", what=path)
        self.assertEqual(srv.get_ok("/v1/indicia/" + self.x_ind["id"], self.x)["id"],
                         self.x_ind["id"])
        self.assertNotIn(self.x_ind["id"], [i["id"] for i in srv.list_all(self.y)])
        self.refused(srv.request("GET", "/v1/indicia?cursor=" + self.x_ind["id"], key=self.y),
                     400, "invalid_cursor", "cursor", "another customer's id as cursor")

    def test_pagination(self):
        srv = self.srv
        ids = []
        for n in range(7):
            j = self.bought(self.buy(VALID, key=self.z), "zed %d" % n)
            ids.append(j["id"])
        newest_first = ids[::-1]
        for limit in ("0", "101", "x", "-1", "", "1.5", "3x", "99999999999999999999999"):
            self.refused(srv.request("GET", "/v1/indicia?limit=" + limit, key=self.z), 400,
                         "invalid_limit", "limit", "limit=%r" % limit)
        for cursor in ("ind_nope", "x" * 200, "cus_" + "0" * 20):
            self.refused(srv.request("GET", "/v1/indicia?cursor=" + cursor, key=self.z), 400,
                         "invalid_cursor", "cursor", "cursor=%r" % cursor)

        got, cursor, pages = [], None, []
        while True:
            path = "/v1/indicia?limit=3" + ("&cursor=" + cursor if cursor else "")
            page = srv.get_ok(path, self.z)
            self.assertEqual(page["object"], "list")
            pages.append((len(page["data"]), page["has_more"]))
            got += [i["id"] for i in page["data"]]
            if page["has_more"]:
                self.assertEqual(page["next_cursor"], page["data"][-1]["id"])
                cursor = page["next_cursor"]
            else:
                self.assertIsNone(page["next_cursor"])
                break
            self.assertLess(len(pages), 10)
        self.assertEqual(pages, [(3, True), (3, True), (1, False)])
        self.assertEqual(got, newest_first)

        page = srv.get_ok("/v1/indicia?limit=7", self.z)
        self.assertEqual(([i["id"] for i in page["data"]], page["has_more"], page["next_cursor"]),
                         (newest_first, False, None))
        page = srv.get_ok("/v1/indicia?limit=6", self.z)
        self.assertEqual(([i["id"] for i in page["data"]], page["has_more"], page["next_cursor"]),
                         (newest_first[:6], True, newest_first[5]))
        page = srv.get_ok("/v1/indicia", self.z)
        self.assertEqual([i["id"] for i in page["data"]], newest_first)
        page = srv.get_ok("/v1/indicia?limit=100&cursor=" + newest_first[-1], self.z)
        self.assertEqual((page["data"], page["has_more"], page["next_cursor"]), ([], False, None))
        page = srv.get_ok("/v1/indicia?limit=1&cursor=" + newest_first[2], self.z)
        self.assertEqual([i["id"] for i in page["data"]], [newest_first[3]])

    # ---- verify ----

    def test_verify_refusals(self):
        srv = self.srv
        raw = harness.unb64(self.x_ind["data"])

        def verify(data, key=None):
            return srv.request("POST", "/v1/verify", body={"data": data}, key=key or self.y)

        for text in ("!!!!", "QQ", "QR==", "QUJD\nREVG", self.x_ind["data"][:-1],
                     self.x_ind["data"] + "=", " " + self.x_ind["data"]):
            self.refused(verify(text), 400, "invalid_base64", "data", "base64 %.30r" % text)
        for data in (b"", raw[:1], raw[:72], raw[:-1]):
            self.refused(verify(harness.b64(data)), 400, "indicium_truncated", "data",
                         "%d bytes" % len(data))
        self.refused(verify(harness.b64(raw + b"\0")), 400, "indicium_too_long", "data", "+1 byte")
        for v in (0, 3, 255):  # 1 and 2 are formats (docs/indicium.md)
            bad = bytes([v]) + raw[1:]
            self.refused(verify(harness.b64(bad)), 400, "indicium_version_unsupported", "data",
                         "version %d" % v)
        bad = raw[:1] + b"\x02" + raw[2:]
        self.refused(verify(harness.b64(bad)), 400, "indicium_algorithm_unsupported", "data",
                     "algorithm 2")
        bad = raw[:2] + b"\x04" + raw[3:]
        self.refused(verify(harness.b64(bad)), 400, "indicium_malformed", "data", "flags 0x04")
        for body, code, field in (({}, "missing_field", "data"),
                                  ({"data": 5}, "invalid_type", "data"),
                                  ({"data": self.x_ind["data"], "x": 1}, "unknown_field", "x")):
            r = srv.request("POST", "/v1/verify", body=body, key=self.y)
            self.refused(r, 400, code, field, "verify %r" % list(body))

        # Well-formed but not valid: 200 with a reason, and not counted as a presentation.
        def invalid(data, reason, what):
            s, _, j = verify(harness.b64(data))
            self.assertEqual(s, 200, "%s: %r" % (what, j))
            self.assertFalse(j["valid"], what)
            self.assertFalse(j["known"], what)
            self.assertEqual(j["status"], "invalid", what)
            self.assertEqual(j["reason"], reason, "%s: %r" % (what, j))
            self.assertEqual(self.state(), self.base, what)
            return j

        flipped = bytearray(raw)
        flipped[-1] ^= 0x01
        j = invalid(bytes(flipped), "indicium_signature_invalid", "flipped signature bit")
        self.assertFalse(j["signature_valid"])
        flipped = bytearray(raw)
        flipped[30] ^= 0x01   # postage value (version 2, docs/indicium.md)
        j = invalid(bytes(flipped), "indicium_signature_invalid", "flipped postage bit")
        self.assertFalse(j["signature_valid"])
        other_key = raw[:9] + (99).to_bytes(4, "big") + raw[13:]  # version 2 key id
        invalid(other_key, "indicium_key_unknown", "key id 99")

        # The real one: customers (owner or not) and the vendor's operators read
        # the count, only the postal authority's check (postal key) raises it
        # (docs/api.md).
        for key, before in ((self.y, 0), (self.x, 0), (srv.operator_key, 0),
                            (srv.postal_key, 0), (self.y, 1), (self.x, 1),
                            (srv.operator_key, 1), (srv.postal_key, 1), (self.x, 2)):
            s, _, j = verify(self.x_ind["data"], key=key)
            self.assertEqual((s, j["valid"], j["presented_before"], j["duplicate"], j["status"]),
                             (200, True, before, before > 0, "valid" if before == 0 else
                              "duplicate"), j)

        # The same piece with its signature in the other valid form (r, n - s) is
        # still that piece: valid, known, and counted on it (docs/indicium.md).
        n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
        s_val = int.from_bytes(raw[-32:], "big")
        self.assertLessEqual(s_val, n // 2, "stampd signs with low S")
        twin = raw[:-32] + (n - s_val).to_bytes(32, "big")
        s, _, j = verify(harness.b64(twin), key=srv.postal_key)
        self.assertEqual((s, j["valid"], j["known"], j["presented_before"]), (200, True, True, 2), j)
        s, _, j = verify(self.x_ind["data"], key=self.x)
        self.assertEqual(j["presented_before"], 3, j)

    # ---- routing ----

    def test_routing(self):
        srv = self.srv
        s, _, j = srv.request("GET", "/healthz")
        self.assertEqual((s, j), (200, {"status": "ok"}))
        self.refused(srv.request("POST", "/healthz", raw="{}"), 405, "method_not_allowed",
                     what="POST /healthz")
        for path in ("/nope", "/v1", "/v2/indicia", "/index.html/", "/../index.html"):
            self.refused(srv.request("GET", path, key=self.x), 404, "not_found", what=path)
        # "/" is the web UI (docs/web.md); it is only ever read.
        s, h, _ = srv.request("GET", "/")
        self.assertEqual((s, h.get("content-type")), (200, "text/html; charset=utf-8"))
        self.refused(srv.request("POST", "/", raw="{}"), 405, "method_not_allowed", what="POST /")
        for path in ("/v1/nope", "/v1/indicia/a/b", "/v1/account/x"):
            self.refused(srv.request("GET", path, key=self.x), 404, "not_found", what=path)
        for method, path, key in (("DELETE", "/v1/indicia", self.x), ("PUT", "/v1/indicia", self.x),
                                  ("PUT", "/v1/account", self.x), ("POST", "/v1/keys", None),
                                  ("GET", "/v1/verify", self.x), ("POST", "/v1/psds", self.x),
                                  ("DELETE", "/v1/indicia/" + self.x_ind["id"], self.x),
                                  ("POST", "/v1/indicia/" + self.x_ind["id"], self.x),
                                  ("POST", "/v1/account", self.x)):
            r = srv.request(method, path, key=key, raw="{}",
                            headers={"Idempotency-Key": self.idem()})
            self.refused(r, 405, "method_not_allowed", what="%s %s" % (method, path))


if __name__ == "__main__":
    harness.main()
