"""test_webhooks.py - webhooks through the real server (issue 17, docs/webhooks.md).

A Python HTTP receiver on 127.0.0.1 (allowed by debug builds, see
hooks_worker.h) stands for an integrator's endpoint. Checked: endpoints
belong to an account and a mode and their secret is shown once; every event
type that exists here (indicium.created, refund.decided, funds.added,
auto_refill.failed, balance.low, and the test button's webhook.test;
batch.completed is wired by the bulk purchases) arrives signed with
Stampd-Signature and verifies with the secret; a receiver answering 500
gets retries, then success, all in the delivery log; an event left
undelivered when stampd is killed (-9) is delivered after the restart; a
receiver too slow to answer in time gets the event again with the same
Stampd-Event-Id, so de-duplicating by it leaves each event once; a failed
delivery can be sent again; test keys never see live endpoints or events;
private addresses and plain http elsewhere are refused.
"""

import hashlib
import hmac
import http.server
import json
import os
import socket
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

LETTER = {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
          "to_zip": "10001"}
HOOK_OPTS = ["--webhook-retry-base-ms", "200", "--webhook-retry-window", "6",
             "--webhook-timeout-ms", "1500"]
SRV = None
COUNTER = [0]


def idem():
    COUNTER[0] += 1
    return "hook-%d-%d" % (os.getpid(), COUNTER[0])


def card(number="4242424242424242"):
    return {"number": number, "exp_month": 12, "exp_year": 2031, "cvc": "123", "zip": "94107"}


def verify(secret, header, body, tolerance=300):
    """What an integrator does (docs/webhooks.md): t and v1 from the header,
    HMAC-SHA256 over "t.body" with the secret, compared in constant time."""
    parts = dict(p.split("=", 1) for p in header.split(","))
    t = int(parts["t"])
    mac = hmac.new(secret.encode(), b"%d." % t + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, parts["v1"]) and abs(time.time() - t) <= tolerance


class Receiver:
    """An endpoint: records every request; answers what self.answer(event) says."""

    def __init__(self, port=0):
        self.got = []
        self.lock = threading.Lock()
        self.answer = lambda ev, n: (200, 0)   # (status, seconds to sleep first)
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ev = json.loads(body)
                with outer.lock:
                    n = sum(1 for g in outer.got if g["event"]["id"] == ev["id"])
                    outer.got.append({"headers": {k.lower(): v for k, v in self.headers.items()},
                                      "body": body, "event": ev, "at": time.time()})
                status, sleep = outer.answer(ev, n)
                if sleep:
                    time.sleep(sleep)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.end_headers()
                    self.wfile.write(b"ok" if status < 300 else b"receiver says no")
                except OSError:
                    pass

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d/hooks" % self.port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def events(self, type_=None):
        with self.lock:
            return [g for g in self.got if type_ is None or g["event"]["type"] == type_]

    def wait(self, pred, timeout=30, what="webhook"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = pred()
            if r:
                return r
            time.sleep(0.05)
        raise AssertionError("no %s within %ds; got %r" % (what, timeout,
                                                           [g["event"] for g in self.got]))


def setUpModule():
    global SRV
    SRV = harness.Stampd("webhooks")
    SRV.init(psds=2, refill="5")
    SRV.start(processors=2, extra=["--signup-limit", "10000"] + HOOK_OPTS)


def tearDownModule():
    if SRV is not None:
        SRV.stop()


class HookTest(unittest.TestCase):
    def setUp(self):
        self.rx = Receiver()

    def tearDown(self):
        self.rx.close()

    def signup(self):
        COUNTER[0] += 1
        email = "h%d-%d@example.test" % (os.getpid(), COUNTER[0])
        return SRV.signup(email, "live"), None

    def keys(self):
        """A new customer's live and test keys."""
        COUNTER[0] += 1
        email = "h%d-%d@example.test" % (os.getpid(), COUNTER[0])
        st, h, j = SRV.request("POST", "/v1/signup", body={"email": email,
                                                           "password": "correct horse battery"})
        self.assertEqual(st, 201, j)
        hdr = {"Cookie": h["set-cookie"].split(";")[0], "X-CSRF-Token": j["csrf_token"]}
        out = []
        for mode in ("live", "test"):
            st, _, k = SRV.request("POST", "/v1/account/api-keys", body={"mode": mode},
                                   headers=hdr)
            self.assertEqual(st, 201, k)
            out.append(k["key"])
        return out

    def endpoint(self, key, events=("*",), url=None):
        st, _, j = SRV.request("POST", "/v1/webhooks", key=key,
                               body={"url": url or self.rx.url, "enabled_events": list(events),
                                     "description": "shop"})
        self.assertEqual(st, 201, j)
        self.assertTrue(j["secret"].startswith("whsec_"), j)
        return j

    def funds(self, key, amount, payment=None):
        return SRV.request("POST", "/v1/account/funds", key=key,
                           body={"amount": amount,
                                 "payment": payment or {"method": "card", "card": card()}},
                           headers={"Idempotency-Key": idem()})

    def buy(self, key, payment=None):
        b = dict(LETTER)
        if payment:
            b["payment"] = payment
        return SRV.buy(key, idem(), b)

    def check_signed(self, got, secret):
        h = got["headers"]
        self.assertTrue(verify(secret, h["stampd-signature"], got["body"]), h)
        self.assertEqual(h["stampd-event-id"], got["event"]["id"])
        self.assertEqual(h["content-type"], "application/json")
        ev = got["event"]
        self.assertTrue(ev["id"].startswith("evt_"), ev)
        self.assertEqual(ev["object"], "event")
        self.assertRegex(ev["created"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertIsInstance(ev["livemode"], bool)
        self.assertIsInstance(ev["data"]["object"], dict)


class Endpoints(HookTest):
    def test_crud_secret_once_and_modes(self):
        live, test = self.keys()
        ep = self.endpoint(live, ["indicium.created", "refund.decided", "indicium.created"])
        self.assertEqual(ep["enabled_events"], ["indicium.created", "refund.decided"])
        self.assertEqual((ep["status"], ep["livemode"], ep["description"]),
                         ("enabled", True, "shop"))
        got = SRV.get_ok("/v1/webhooks/" + ep["id"], live)
        self.assertNotIn("secret", got)
        self.assertEqual(got["url"], self.rx.url)
        lst = SRV.get_ok("/v1/webhooks", live)
        self.assertEqual([e["id"] for e in lst["data"]], [ep["id"]])
        self.assertFalse(lst["has_more"])
        for e in lst["data"]:
            self.assertNotIn("secret", e)
        # A test key neither sees nor changes the live endpoint.
        self.assertEqual(SRV.get_ok("/v1/webhooks", test)["data"], [])
        for method in ("GET", "DELETE"):
            st, _, j = SRV.request(method, "/v1/webhooks/" + ep["id"], key=test)
            self.assertEqual(st, 404, j)
        tep = self.endpoint(test)
        self.assertFalse(tep["livemode"])
        # Update: disable, other events.
        st, _, j = SRV.request("POST", "/v1/webhooks/" + ep["id"], key=live,
                               body={"disabled": True, "enabled_events": ["funds.added"]})
        self.assertEqual((st, j["status"], j["enabled_events"]),
                         (200, "disabled", ["funds.added"]), j)
        self.assertNotIn("secret", j)
        # Rotate: a new secret, once.
        st, _, j = SRV.request("POST", "/v1/webhooks/%s/rotate-secret" % ep["id"], key=live)
        self.assertEqual(st, 200, j)
        self.assertTrue(j["secret"].startswith("whsec_") and j["secret"] != ep["secret"], j)
        # Bad input: a field error each.
        for body, code, field in (
                ({"url": "ftp://example.com/x", "enabled_events": ["*"]},
                 "webhook_url_refused", "url"),
                ({"url": "https://10.1.2.3/x", "enabled_events": ["*"]},
                 "webhook_url_refused", "url"),
                ({"url": "https://[fd00::1]/x", "enabled_events": ["*"]},
                 "webhook_url_refused", "url"),
                ({"url": "http://example.com/x", "enabled_events": ["*"]},
                 "webhook_url_refused", "url"),
                ({"url": "https://user@example.com/x", "enabled_events": ["*"]},
                 "webhook_url_refused", "url"),
                ({"url": "https://example.com/x", "enabled_events": ["nope"]},
                 "invalid_request", "enabled_events"),
                ({"url": "https://example.com/x", "enabled_events": []},
                 "invalid_type", "enabled_events"),
                ({"url": "https://example.com/x"}, "missing_field", "enabled_events"),
                ({"url": "https://example.com/x", "enabled_events": ["*"], "x": 1},
                 "unknown_field", "x")):
            st, _, j = SRV.request("POST", "/v1/webhooks", key=live, body=body)
            self.assertEqual((st, j["error"]["code"], j["error"].get("field")),
                             (400, code, field), (body, j))
        # Operators have no webhooks of their own.
        st, _, j = SRV.request("GET", "/v1/webhooks", key=SRV.operator_key)
        self.assertEqual(st, 403, j)
        st, _, j = SRV.request("DELETE", "/v1/webhooks/" + ep["id"], key=live)
        self.assertEqual((st, j["deleted"]), (200, True), j)
        st, _, j = SRV.request("GET", "/v1/webhooks/" + ep["id"], key=live)
        self.assertEqual(st, 404, j)

    def test_no_endpoint_no_events(self):
        live, _ = self.keys()
        self.assertEqual(self.funds(live, "20.00")[0], 201)
        self.assertEqual(self.buy(live)[0], 201)
        self.assertEqual(SRV.get_ok("/v1/events", live)["data"], [])


class Delivery(HookTest):
    def test_every_event_type_arrives_signed(self):
        live, test = self.keys()
        ep = self.endpoint(live)
        secret = ep["secret"]
        # funds.added
        st, _, top = self.funds(live, "20.00")
        self.assertEqual(st, 201, top)
        # indicium.created
        st, _, ind = self.buy(live)
        self.assertEqual(st, 201, ind)
        # refund.decided
        st, _, rfd = SRV.request("POST", "/v1/indicia/%s/refund" % ind["id"], key=live)
        self.assertIn(st, (200, 201), rfd)
        # auto_refill.failed and balance.low: a declined card refills under 19.50.
        st, _, pm = SRV.request("POST", "/v1/payment-methods", key=live,
                                body={"card": card("4000000000000002")})
        self.assertEqual(st, 201, pm)
        st, _, j = SRV.request("PUT", "/v1/account/auto-refill", key=live,
                               body={"enabled": True, "trigger": "19.50", "amount": "20.00",
                                     "payment_method_id": pm["id"]})
        self.assertEqual(st, 200, j)
        st, _, ind2 = self.buy(live)
        self.assertEqual(st, 201, ind2)
        # webhook.test
        st, _, tev = SRV.request("POST", "/v1/webhooks/%s/test" % ep["id"], key=live)
        self.assertEqual((st, tev["type"]), (201, "webhook.test"), tev)
        want = {"funds.added", "indicium.created", "refund.decided", "auto_refill.failed",
                "balance.low", "webhook.test"}
        self.rx.wait(lambda: want <= {g["event"]["type"] for g in self.rx.events()},
                     what=", ".join(sorted(want)))
        for g in self.rx.events():
            self.check_signed(g, secret)
            self.assertTrue(g["event"]["livemode"])
            # The event as delivered is the event as GET /v1/events/{id} answers it.
            self.assertEqual(SRV.get_ok("/v1/events/" + g["event"]["id"], live), g["event"])
        by = {g["event"]["type"]: g["event"]["data"]["object"] for g in self.rx.events()}
        self.assertIn(by["indicium.created"]["id"], (ind["id"], ind2["id"]))
        self.assertEqual(by["refund.decided"]["id"], rfd["id"])
        self.assertEqual(by["refund.decided"]["status"], rfd["status"])
        self.assertEqual(by["funds.added"]["amount_mills"], 20000)
        self.assertEqual(by["funds.added"]["source"], "card")
        self.assertEqual(by["auto_refill.failed"]["decline_code"] is not None, True)
        self.assertEqual(by["balance.low"]["threshold_mills"], 19500)
        self.assertEqual(by["webhook.test"]["endpoint"], ep["id"])
        # GET /v1/events: newest first, through the cursor, filtered by type.
        ids, cursor = [], None
        while True:
            page = SRV.get_ok("/v1/events?limit=2" + ("&cursor=" + cursor if cursor else ""), live)
            ids += [e["id"] for e in page["data"]]
            if not page["has_more"]:
                break
            cursor = page["next_cursor"]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertEqual(set(ids), {g["event"]["id"] for g in self.rx.events()})
        only = SRV.get_ok("/v1/events?type=indicium.created", live)["data"]
        self.assertEqual({e["type"] for e in only}, {"indicium.created"})
        # The test key's world has none of them.
        self.assertEqual(SRV.get_ok("/v1/events", test)["data"], [])
        st, _, j = SRV.request("GET", "/v1/events/" + ids[0], key=test)
        self.assertEqual(st, 404, j)
        # The delivery log: one delivered attempt per event (recorded after the round's POSTs).
        def logged():
            rows = SRV.get_ok("/v1/webhooks/%s/deliveries?limit=100" % ep["id"], live)["data"]
            return rows if {a["event_id"] for a in rows} == set(ids) else None
        log = self.rx.wait(logged, what="every event in the delivery log")
        for a in log:
            self.assertEqual((a["outcome"], a["status_code"], a["error"]), ("delivered", 200, None))
            self.assertEqual(a["response"], "ok")
            self.assertGreaterEqual(a["latency_ms"], 0)

    def test_test_mode_endpoints_get_test_events_only(self):
        live, test = self.keys()
        rx_live = Receiver()
        try:
            self.endpoint(live, ["indicium.created"], url=rx_live.url)
            tep = self.endpoint(test, ["indicium.created", "funds.added"])
            self.assertEqual(self.funds(test, "10.00")[0], 201)
            st, _, ind = self.buy(test)
            self.assertEqual(st, 201, ind)
            self.rx.wait(lambda: len(self.rx.events()) >= 2)
            for g in self.rx.events():
                self.check_signed(g, tep["secret"])
                self.assertFalse(g["event"]["livemode"])
            time.sleep(1)
            self.assertEqual(rx_live.events(), [])
        finally:
            rx_live.close()

    def test_500_gets_retries_then_success(self):
        live, _ = self.keys()
        ep = self.endpoint(live, ["funds.added"])
        self.rx.answer = lambda ev, n: (500, 0) if n < 2 else (200, 0)
        self.assertEqual(self.funds(live, "5.00")[0], 201)
        self.rx.wait(lambda: len(self.rx.events()) >= 3)
        got = self.rx.events()
        self.assertEqual(len({g["event"]["id"] for g in got}), 1)
        for g in got:
            self.check_signed(g, ep["secret"])
        # Backoff: the gaps grow (200 ms base, doubling, 80-120 % jitter).
        gaps = [b["at"] - a["at"] for a, b in zip(got, got[1:])]
        self.assertGreater(gaps[0], 0.1, gaps)
        self.assertGreater(gaps[1], gaps[0] * 1.2, gaps)

        def log():
            rows = SRV.get_ok("/v1/webhooks/%s/deliveries" % ep["id"], live)["data"]
            return rows if len(rows) == 3 else None
        rows = self.rx.wait(log, what="three attempts in the log")
        self.assertEqual([(a["attempt"], a["status_code"], a["outcome"]) for a in rows],
                         [(3, 200, "delivered"), (2, 500, "retrying"), (1, 500, "retrying")])
        self.assertEqual(rows[1]["error"], "HTTP 500")
        self.assertEqual(rows[1]["response"], "receiver says no")
        time.sleep(1)
        self.assertEqual(len(self.rx.events()), 3, "delivered, then sent again")

    def test_slow_receiver_gets_it_again_deduplicated_by_event_id(self):
        live, _ = self.keys()
        ep = self.endpoint(live, ["indicium.created", "funds.added"])
        # The first try of each event outlasts the 1.5 s timeout: stampd sends it again.
        self.rx.answer = lambda ev, n: (200, 2.5) if n == 0 else (200, 0)
        self.assertEqual(self.funds(live, "10.00")[0], 201)
        ids = set()
        for _ in range(3):
            st, _, ind = self.buy(live)
            self.assertEqual(st, 201, ind)
            ids.add(ind["id"])
        events = SRV.get_ok("/v1/events", live)["data"]
        self.assertEqual(len(events), 4)
        self.rx.wait(lambda: len(self.rx.events()) >= 8, what="every event twice")
        seen, unique = set(), []
        for g in self.rx.events():
            self.check_signed(g, ep["secret"])
            eid = g["headers"]["stampd-event-id"]
            if eid not in seen:
                seen.add(eid)
                unique.append(g["event"])
        self.assertEqual(seen, {e["id"] for e in events})
        self.assertEqual({u["data"]["object"]["id"] for u in unique
                          if u["type"] == "indicium.created"}, ids)
        def logged():
            rows = SRV.get_ok("/v1/webhooks/%s/deliveries?limit=100" % ep["id"], live)["data"]
            return rows if len(rows) >= 8 else None
        rows = self.rx.wait(logged, what="8 attempts in the delivery log")
        timeouts = [a for a in rows if a["outcome"] == "retrying"]
        self.assertEqual(len(timeouts), 4, rows)
        for a in timeouts:
            self.assertIsNone(a["status_code"])
            self.assertIn("timed out", a["error"])

    def test_failed_then_redelivered(self):
        live, _ = self.keys()
        ep = self.endpoint(live, ["funds.added"])
        self.rx.answer = lambda ev, n: (500, 0)
        self.assertEqual(self.funds(live, "5.00")[0], 201)
        ev = SRV.get_ok("/v1/events", live)["data"][0]

        def failed():
            rows = SRV.get_ok("/v1/webhooks/%s/deliveries" % ep["id"], live)["data"]
            return rows and rows[0]["outcome"] == "failed"
        self.rx.wait(failed, timeout=60, what="a failed delivery (6 s window)")
        n = len(self.rx.events())
        self.assertGreaterEqual(n, 3)
        time.sleep(1)
        self.assertEqual(len(self.rx.events()), n, "sent after it failed")
        self.rx.answer = lambda ev, n: (200, 0)
        st, _, j = SRV.request("POST", "/v1/events/%s/redeliver" % ev["id"], key=live)
        self.assertEqual((st, j["deliveries"]), (202, 1), j)
        self.rx.wait(lambda: len(self.rx.events()) > n)
        rows = self.rx.wait(
            lambda: [a for a in SRV.get_ok("/v1/webhooks/%s/deliveries" % ep["id"], live)["data"]
                     if a["outcome"] == "delivered"])
        self.assertEqual(rows[0]["event_id"], ev["id"])
        # Nothing failed now: nothing to redeliver, unless all.
        st, _, j = SRV.request("POST", "/v1/events/%s/redeliver" % ev["id"], key=live)
        self.assertEqual((st, j["deliveries"]), (202, 0), j)
        st, _, j = SRV.request("POST", "/v1/events/evt_nope/redeliver", key=live)
        self.assertEqual(st, 404, j)

    def test_disabled_endpoint_gets_nothing(self):
        live, _ = self.keys()
        ep = self.endpoint(live, ["funds.added"])
        st, _, j = SRV.request("POST", "/v1/webhooks/" + ep["id"], key=live,
                               body={"disabled": True})
        self.assertEqual(st, 200, j)
        self.assertEqual(self.funds(live, "5.00")[0], 201)
        self.assertEqual(SRV.get_ok("/v1/events", live)["data"], [])
        time.sleep(0.5)
        self.assertEqual(self.rx.events(), [])


class Restart(unittest.TestCase):
    def test_undelivered_events_survive_kill9(self):
        srv = harness.Stampd("webhooks-restart")
        srv.init(psds=1)
        rx = Receiver()
        try:
            srv.start(processors=1, extra=["--webhook-retry-base-ms", "200",
                                           "--webhook-timeout-ms", "1500"])
            st, _, ep = srv.request("POST", "/v1/webhooks", key=srv.customer_key,
                                    body={"url": rx.url, "enabled_events": ["indicium.created"]})
            self.assertEqual(st, 201, ep)
            rx.answer = lambda ev, n: (503, 0)     # the shop is down
            ids = []
            for i in range(3):
                st, _, ind = srv.buy(srv.customer_key, "r-%d" % i, LETTER)
                self.assertEqual(st, 201, ind)
                ids.append(ind["id"])
            rx.wait(lambda: len({g["event"]["id"] for g in rx.events()}) == 3)
            srv.kill9()
            rx.answer = lambda ev, n: (200, 0)     # the shop is back
            before = len(rx.events())
            srv.start(processors=1, extra=["--webhook-retry-base-ms", "200",
                                           "--webhook-timeout-ms", "1500"])

            def all_delivered():
                ok = {g["event"]["data"]["object"]["id"] for g in rx.events()[before:]}
                return ok >= set(ids)
            # A delivery in flight at the kill waits for its lease (2 x 1.5 s + 5 s).
            rx.wait(all_delivered, timeout=60, what="the 3 events after the restart")
            for g in rx.events():
                self.assertTrue(verify(ep["secret"], g["headers"]["stampd-signature"],
                                       g["body"]))
            srv.stop()
        finally:
            srv.abandon()
            rx.close()


if __name__ == "__main__":
    harness.main()
