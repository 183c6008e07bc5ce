"""test_openapi_live.py - every operation of docs/openapi.yaml, live, against the document.

Drives every operation of docs/openapi.yaml through the real server (SQLite),
in the order of the table OPS below - one line per operation, more for some
answers worth seeing (errors) - and checks each answer with
harness.check_against_openapi (openapi_check.py): a documented status, a body
valid against the operation's response schema and naming no property the
schema does not, times as RFC 3339 UTC. It fails when an operation of the
document is not in the run, and when an answer does not match.

test_times walks every JSON answer of the run once more: no number in a field
named like a timestamp, and every such string RFC 3339 UTC (docs/api.md,
"Conventions").

Adding an operation: one line in OPS - (METHOD, path, who, body, status[, keep]):
the path is formatted with the run's context (ctx: ids kept from earlier
answers); who is None (no credentials), "cust", "op", "postal" (the demo
keys) or "session" (a web session, with its CSRF token); body a dict, a
function of ctx, or None; keep(ctx, body, headers) stores what later lines use.
"""

import datetime
import os
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import openapi_check  # noqa: E402

PW = "correct horse battery"
EMAIL = "openapi-live@example.test"
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123",
        "zip": "94107"}
LETTER = {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
          "to_zip": "10001"}
TODAY = datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def put(**kv):
    """keep: ctx[name] = a function of the answer's body."""
    def keep(ctx, body, headers):
        for name, f in kv.items():
            ctx[name] = f(body)
    return keep


def session(ctx, body, headers):
    ctx["cookie"] = headers.get("set-cookie", "").split(";")[0]
    ctx["csrf"] = body["csrf_token"]


OPS = [
    ("GET", "/healthz", None, None, 200),
    ("GET", "/readyz", None, None, 200),
    ("GET", "/v1/keys", None, None, 200),
    ("GET", "/v1/keys/crl", None, None, 200),
    ("GET", "/v1/layouts", None, None, 200),
    ("GET", "/v1/rates/quote?mail_class=postcard&weight_oz=1", None, None, 200),
    ("GET", "/v1/rates/quote?mail_class=airmail&weight_oz=1", None, None, 400),
    ("GET", "/v1/authority/key", None, None, 200),
    ("POST", "/v1/signup", None, {"email": EMAIL, "password": PW, "api_key": {"mode": "live"}}, 201),
    ("POST", "/v1/login", None, {"email": EMAIL, "password": PW}, 200, session),
    ("GET", "/v1/session", "session", None, 200),
    ("GET", "/v1/account/sessions", "session", None, 200),
    ("DELETE", "/v1/account/sessions/ses_none", "session", None, 404),
    ("GET", "/v1/account", "cust", None, 200),
    ("GET", "/v1/account", None, None, 401),
    ("POST", "/v1/indicia", "cust", dict(LETTER, metadata={"order": "1001"}), 201, put(ind=lambda b: b["id"], data=lambda b: b["data"])),
    ("POST", "/v1/indicia", "cust", dict(LETTER, to_zip="1", weight_oz="x", colour=1), 400),
    ("POST", "/v1/indicia", "cust", LETTER, 201, put(ind2=lambda b: b["id"])),
    ("GET", "/v1/indicia?metadata%5Border%5D=1001", "cust", None, 200),
    ("GET", "/v1/rates", None, None, 200),
    # The endpoint first, so that the batch's batch.completed is among the events read below.
    ("POST", "/v1/webhooks", "cust", {"url": "http://127.0.0.1:9/hooks", "enabled_events": ["*"]}, 201, put(we=lambda b: b["id"])),
    ("POST", "/v1/batches", "cust", {"items": [dict(LETTER, reference="o-1"), dict(LETTER, reference="o-2")]}, 202, put(bat=lambda b: b["id"])),
    ("GET", "/v1/batches", "cust", None, 200),
    ("GET", "/v1/batches/{bat}", "cust", None, 200),
    ("GET", "/v1/webhooks", "cust", None, 200),
    ("GET", "/v1/webhooks/{we}", "cust", None, 200),
    ("POST", "/v1/webhooks/{we}", "cust", {"description": "the shop"}, 200),
    ("POST", "/v1/webhooks/{we}/rotate-secret", "cust", None, 200),
    ("POST", "/v1/webhooks/{we}/test", "cust", None, 201),
    ("GET", "/v1/webhooks/{we}/deliveries", "cust", None, 200),
    ("GET", "/v1/events?type=webhook.test", "cust", None, 200, put(evt=lambda b: b["data"][0]["id"])),
    ("GET", "/v1/events/{evt}", "cust", None, 200),
    ("POST", "/v1/events/{evt}/redeliver", "cust", {}, 202),
    ("GET", "/v1/indicia/{ind}", "cust", None, 200),
    ("GET", "/v1/indicia/ind_none", "cust", None, 404),
    ("GET", "/v1/indicia/{ind}/label", "cust", None, 200),
    ("POST", "/v1/sheets", "cust", lambda c: {"indicia": [c["ind"]]}, 200),
    ("PUT", "/v1/account/printers/office", "cust", {"offset_x_mm": 0.5, "offset_y_mm": 0}, 200),
    ("GET", "/v1/account/printers", "cust", None, 200),
    ("GET", "/v1/account/printers/office", "cust", None, 200),
    ("DELETE", "/v1/account/printers/office", "cust", None, 200),
    ("GET", "/v1/account/api-keys", "cust", None, 200),
    ("POST", "/v1/account/api-keys", "cust", {"name": "ci"}, 201, put(key=lambda b: b["id"])),
    ("DELETE", "/v1/account/api-keys/{key}", "cust", None, 200),
    ("POST", "/v1/payment-methods", "cust", {"card": CARD}, 201, put(pm=lambda b: b["id"])),
    ("GET", "/v1/payment-methods", "cust", None, 200),
    ("POST", "/v1/account/funds", "cust", lambda c: {"amount": "20.00", "payment": {"method": "card", "payment_method_id": c["pm"]}}, 201),
    ("GET", "/v1/account/auto-refill", "cust", None, 200),
    ("PUT", "/v1/account/auto-refill", "cust", lambda c: {"enabled": True, "trigger": "5.00", "amount": "20.00", "payment_method_id": c["pm"]}, 200),
    ("POST", "/v1/account/auto-refill", "cust", {"enabled": False}, 200),
    ("DELETE", "/v1/payment-methods/{pm}", "cust", None, 200),
    ("GET", "/v1/account/transactions", "cust", None, 200),
    ("POST", "/v1/indicia/{ind2}/refund", "cust", None, 201),
    ("POST", "/v1/indicia/{ind2}/refund", "cust", None, 201),
    ("GET", "/v1/indicia/{ind2}/refund", "cust", None, 200),
    ("POST", "/v1/verify", "postal", lambda c: {"data": c["data"], "location": "NDC-TEST"}, 200),
    ("GET", "/v1/psds", "op", None, 200),
    ("GET", "/v1/admin/servers", "op", None, 200, put(server=lambda b: b["servers"][0]["id"])),
    ("POST", "/v1/admin/servers/{server}", "op", {"status": "active"}, 200),
    ("GET", "/v1/admin/ledger", "op", None, 200),
    ("GET", "/v1/admin/refund-claims", "op", None, 200),
    ("GET", "/v1/admin/deposit", "op", None, 200),
    ("GET", "/v1/admin/deposit/threshold", "op", None, 200),
    ("PUT", "/v1/admin/deposit/threshold", "op", {"threshold": "0.00"}, 200),
    ("GET", "/v1/admin/watchdog", "op", None, 200),
    ("PUT", "/v1/admin/watchdog", "op", {"deadline_days": 90}, 200),
    ("GET", "/v1/admin/stats", "op", None, 200),
    ("GET", "/v1/admin/psds/1/history", "op", None, 200),
    ("GET", "/v1/admin/psds/1/leases", "op", None, 200),
    ("GET", "/metrics", "op", None, 200),
    ("POST", "/v1/admin/affiliates", "op", {"name": "Corner Shop"}, 201, put(aff=lambda b: b["id"])),
    ("GET", "/v1/admin/affiliates", "op", None, 200),
    ("POST", "/v1/admin/media/batches", "op", lambda c: {"product": "avery-5160", "sheets": 1, "affiliate_id": c["aff"], "payment": "unpaid", "price": "1.50"}, 201, put(serial=lambda b: b["serials"][0]["serial"])),
    ("GET", "/v1/admin/media/{serial}", "op", None, 200),
    ("POST", "/v1/media/{serial}/purchase", "cust", None, 201),
    ("GET", "/v1/admin/resupply-orders", "op", None, 200),
    ("POST", "/v1/admin/resupply-orders/rso_none/ship", "op", {}, 404),
    ("GET", "/v1/authority/refund-claims", "postal", None, 200, put(claim=lambda b: b["data"][0]["id"])),
    ("GET", "/v1/authority/refund-claims/{claim}", "postal", None, 200),
    ("POST", "/v1/authority/refund-claims/{claim}", "postal", {"decision": "accept"}, 200),
    ("POST", "/v1/authority/holds", "postal", lambda c: {"customer_id": c["cus"], "reason": "audit"}, 201, put(hold=lambda b: b["id"])),
    ("GET", "/v1/authority/holds", "postal", None, 200),
    ("POST", "/v1/authority/holds/{hold}/lift", "postal", {"reason": "done"}, 200),
    ("GET", "/v1/authority/presentations", "postal", None, 200),
    ("GET", "/v1/authority/resets", "postal", None, 200),
    ("GET", "/v1/authority/reports", "postal", None, 200),
    ("GET", "/v1/authority/reports/" + TODAY, "postal", None, 404),
    ("GET", "/v1/authority/reports/" + TODAY + "/signatures", "postal", None, 404),
    ("GET", "/v1/authority/devices", "postal", None, 200),
    ("GET", "/v1/authority/devices/1", "postal", None, 200),
    ("GET", "/v1/authority/devices/1/history", "postal", None, 200),
    ("POST", "/v1/authority/devices/1/suspend", "postal", {"reason": "check"}, 200),
    ("POST", "/v1/authority/devices/1/resume", "postal", {"reason": "ok"}, 200),
    ("POST", "/v1/authority/resets/lock", "postal", {"reason": "audit"}, 200),
    ("POST", "/v1/authority/resets/unlock", "postal", {}, 200),
    ("GET", "/v1/authority/deposits", "postal", None, 200),
    ("POST", "/v1/authority/deposits", "postal", {"amount": "100.00", "reference": "wire-1"}, 201),
    ("POST", "/v1/admin/psds/2/suspend", "op", {"reason": "check"}, 200),
    ("POST", "/v1/admin/psds/2/resume", "op", {}, 200),
    ("POST", "/v1/admin/psds/2/withdraw", "op", {"reason": "retired", "confirm": True}, 200),
    # Every event so far, the batch's batch.completed and the pieces' indicium.created among them.
    ("GET", "/v1/events?limit=100", "cust", None, 200),
    ("GET", "/v1/batches/{bat}/labels?layout=label-4x6", "cust", None, 200),
    ("DELETE", "/v1/webhooks/{we}", "cust", None, 200),
    ("POST", "/v1/logout", "session", None, 200),
]


class OpenApiLive(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        srv = cls.srv = harness.Stampd("openapi-live")
        try:
            srv.init(psds=3)
            cls.cust = srv.customer("buyer@example.test", "500")
            srv.start(processors=1)
        except BaseException:
            srv.abandon()
            raise
        cls.answers = []  # (what, body) of every JSON answer
        cls.ran = False

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def run_table(self):
        if type(self).ran:
            return
        type(self).ran = True
        srv = self.srv
        me = srv.get_ok("/v1/account", self.cust)
        ctx = {"cus": me["id"]}
        keys = {"cust": self.cust, "op": srv.operator_key, "postal": srv.postal_key}
        problems = []
        for n, row in enumerate(OPS):
            method, path, who, body, want = row[:5]
            keep = row[5] if len(row) > 5 else None
            try:
                path = path.format(**ctx)
                if callable(body):
                    body = body(ctx)
            except KeyError as e:
                problems.append("OPS[%d] %s %s: no %s in the context (an earlier line failed)"
                                % (n, method, path, e))
                continue
            headers = {}
            if method != "GET":
                headers["Idempotency-Key"] = "live-%d" % n
            if who == "session":
                headers.update({"Cookie": ctx.get("cookie", ""), "X-CSRF-Token": ctx.get("csrf", "")})
            st, h, j, raw = self.request(method, path, body, keys.get(who), headers)
            what = "OPS[%d] %s %s" % (n, method, path)
            if st != want:
                problems.append("%s: %d, not %d: %r" % (what, st, want, (j or raw)[:300] if not j else j))
            ctype = h.get("content-type", "")
            try:
                harness.check_against_openapi(method, path, st, j if ctype.startswith("application/json") else None, ctype)
            except AssertionError as e:
                problems.append("%s: %s" % (what, e))
            if j is not None:
                type(self).answers.append((what, j))
            if keep and st == want:
                try:
                    keep(ctx, j, h)
                except (KeyError, IndexError, TypeError) as e:
                    problems.append("%s: keep: %r in %r" % (what, e, j))
        type(self).problems = problems

    def request(self, method, path, body, key, headers):
        import http.client
        import json
        srv = self.srv
        h = dict(headers)
        if key:
            h["Authorization"] = "Bearer " + key
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=harness.HTTP_TIMEOUT)
        try:
            conn.request(method, path, body=data, headers=h)
            resp = conn.getresponse()
            raw = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        try:
            j = json.loads(raw) if raw and hdrs.get("content-type", "").startswith("application/json") else None
        except ValueError:
            j = None
        return resp.status, hdrs, j, raw

    def test_every_operation_answers_as_documented(self):
        self.run_table()
        self.assertEqual(self.problems, [], "\n" + "\n".join(self.problems))

    def test_every_operation_exercised(self):
        self.run_table()
        missing = sorted(openapi_check.operations() - openapi_check.SEEN)
        self.assertEqual(missing, [], "operations of docs/openapi.yaml no line of OPS drives: "
                         "add one each")

    def test_times(self):
        self.run_table()
        problems = []
        for what, body in self.answers:
            problems += ["%s: %s" % (what, p) for p in openapi_check.unix_times(body)]
            problems += ["%s: %s" % (what, p) for p in openapi_check.time_strings(body)]
        self.assertGreater(len(self.answers), len(OPS) // 2)
        self.assertEqual(problems, [], "\n" + "\n".join(problems))


if __name__ == "__main__":
    unittest.main(verbosity=2)
