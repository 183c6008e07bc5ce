#!/usr/bin/env python3
"""Bulk buying through the real server (issue 17, docs/api.md "Batches").

* a 300-item batch with bad items: the good ones bought once, the bad ones
  reported with their error and never charged (balance and ledger checked);
  the same batch again answers the same results and buys nothing new, and
  the same key with another body is refused;
* a batch whose balance runs out: the items the processors refuse are
  reported, and only the bought ones are charged;
* a restart mid-batch (SIGKILL): what was bought stays bought and reported,
  the rest is resumed by retrying the batch with the same key, and no piece
  is bought twice;
* a SIGTERM mid-batch: exit 0, what the processors answered is recorded,
  the retry finishes the rest;
* the label file of a batch decodes (pdftoppm + dmtxread) to its pieces;
* on PostgreSQL (the CTest cluster): the batch API again, and a batch
  through `stampd front` to two processor processes;
* `stamp buy --csv`: a bad row reported with its row number (exit 1), the
  label file, a rerun that buys nothing, usage errors (exit 2), and the
  progress bar when stderr is a terminal.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Stampd  # noqa: E402

LETTER_1OZ = 740


def item(i, **over):
    it = {"reference": "order-%04d" % i, "mail_class": "first_class_letter", "weight_oz": 1,
          "from_zip": "10001", "to_zip": "94105",
          "to_address": "Customer %d\n1 Main St\nSan Francisco CA 94105" % i}
    it.update(over)
    return it


def bad_items(n):
    """n items, some invalid: {index: expected error code}."""
    items, bad = [], {}
    for i in range(n):
        it = item(i)
        if i % 37 == 5:
            it["to_zip"] = "941"
            bad[i] = "invalid_zip"
        elif i % 53 == 7:
            it["mail_class"] = "parcel_post"
            bad[i] = "unknown_mail_class"
        elif i == 100:
            it["colour"] = "red"
            bad[i] = "unknown_field"
        elif i == 101:
            it["weight_oz"] = 99
            bad[i] = "weight_out_of_range"
        elif i == 102:
            it["payment"] = {"method": "card", "card": {"number": "4242424242424242",
                                                        "exp_month": 12, "exp_year": 2030,
                                                        "cvc": "123"}}
            bad[i] = "invalid_request"
        items.append(it)
    return items, bad


def post_batch(srv, key, idem, items, **kw):
    return srv.request("POST", "/v1/batches", body={"items": items}, key=key,
                       headers={"Idempotency-Key": idem}, **kw)


def wait_done(tc, srv, key, bid, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        b = srv.get_ok("/v1/batches/%s?limit=1" % bid, key)
        if b["status"] == "completed":
            return b
        time.sleep(0.3)
    tc.fail("batch %s not completed in %ds: %r" % (bid, timeout, b))


def all_items(srv, key, bid):
    items, cursor = [], None
    while True:
        path = "/v1/batches/%s?limit=1000" % bid + ("&cursor=" + cursor if cursor else "")
        b = srv.get_ok(path, key)
        items += b["items"]["data"]
        if not b["items"]["has_more"]:
            return b, items
        cursor = b["items"]["next_cursor"]


def transactions(srv, key):
    out, cursor = [], None
    while True:
        path = "/v1/account/transactions?limit=100" + ("&cursor=" + cursor if cursor else "")
        page = srv.get_ok(path, key)
        out += page["data"]
        if not page["has_more"]:
            return out
        cursor = page["next_cursor"]


PG_DSN_FILE = os.environ.get("STAMPD_TEST_PG_DSN_FILE")


def fresh_dsn():
    """A new empty PostgreSQL database (the CTest fixture's cluster)."""
    p = subprocess.run(["sh", os.path.join(harness.SOURCE_DIR, "scripts", "pg-test.sh"),
                        "createdb", PG_DSN_FILE], stdout=subprocess.PIPE, check=True, timeout=60)
    return p.stdout.decode().strip()


class BatchBase:
    """The batch API end to end; SQLite or PostgreSQL by the subclass."""

    postgres = False

    @classmethod
    def setUpClass(cls):
        srv = cls.srv = Stampd("batches")
        if cls.postgres:
            srv.db = fresh_dsn()
            _, out, _ = srv.run("init", "--db", srv.db, "--license", harness.LICENSE, "--psds",
                                "4", "--deposit", "100000", "--keys-dir",
                                os.path.join(srv.dir, "keys"), "--demo")
            keys = Stampd._keys(out)
            srv.customer_key = keys["STAMP_KEY"]
            srv.operator_key = keys["STAMP_OPERATOR_KEY"]
        else:
            srv.init(psds=4, deposit="100000")
        srv.start(processors=2)

    @classmethod
    def tearDownClass(cls):
        cls.srv.abandon()

    def check_ledger(self, key, items, balance_before):
        """The balance fell by the bought items' postage exactly; one
        postage_sale per bought item, none for a failed one."""
        bought = [i for i in items if i["status"] == "bought"]
        spent = sum(i["postage_mills"] for i in bought)
        self.assertEqual(self.srv.balance(key), balance_before - spent)
        sales = [t for t in transactions(self.srv, key) if t["kind"] == "postage_sale"]
        self.assertEqual(sorted(t["ref"] for t in sales),
                         sorted(i["indicium_id"] for i in bought))
        self.assertEqual(-sum(t["amount_mills"] for t in sales), spent)
        ids = [i["id"] for i in self.srv.list_all(key)]
        self.assertEqual(sorted(ids), sorted(i["indicium_id"] for i in bought),
                         "every bought item is exactly one indicium")

    def test_300_items_some_bad_bought_once(self):
        key = self.srv.customer("bulk300@example.com", 1000)
        before = self.srv.balance(key)
        items, bad = bad_items(300)
        status, hdrs, b = post_batch(self.srv, key, "batch-300", items)
        self.assertEqual(status, 202, b)
        self.assertEqual(b["object"], "batch")
        self.assertEqual(b["counts"]["total"], 300)
        # The invalid items are decided at once, never sent.
        self.assertGreaterEqual(b["counts"]["failed"], len(bad))
        done = wait_done(self, self.srv, key, b["id"])
        self.assertEqual(done["counts"], {"total": 300, "pending": 0, "bought": 300 - len(bad),
                                          "failed": len(bad)})
        self.assertRegex(done["completed"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        _, got = all_items(self.srv, key, b["id"])
        self.assertEqual([i["reference"] for i in got], [i["reference"] for i in items])
        for n, it in enumerate(got):
            if n in bad:
                self.assertEqual(it["status"], "failed", it)
                self.assertEqual(it["error"]["code"], bad[n], it)
                self.assertIsNone(it["indicium_id"])
            else:
                self.assertEqual(it["status"], "bought", it)
                self.assertEqual(it["postage_mills"], LETTER_1OZ)
                self.assertTrue(it["indicium_id"].startswith("ind_"))
        self.assertEqual(got[100]["error"]["field"], "colour")
        self.assertEqual(got[102]["error"]["field"], "payment.card")
        self.assertEqual(done["postage_mills"], LETTER_1OZ * (300 - len(bad)))
        self.check_ledger(key, got, before)
        # ?status= pages only one outcome.
        failed = self.srv.get_ok("/v1/batches/%s?status=failed&limit=1000" % b["id"], key)
        self.assertEqual(sorted(i["index"] for i in failed["items"]["data"]), sorted(bad))

        # The same batch again: the same answer, nothing bought.
        after = self.srv.balance(key)
        status, hdrs, again = post_batch(self.srv, key, "batch-300", items)
        self.assertEqual(status, 200, again)
        self.assertEqual(hdrs.get("idempotent-replayed"), "true")
        self.assertEqual(again["id"], b["id"])
        _, got2 = all_items(self.srv, key, b["id"])
        self.assertEqual(got2, got)
        self.assertEqual(self.srv.balance(key), after)
        self.assertEqual(len(self.srv.list_all(key)), 300 - len(bad))
        # The key with another body is refused.
        status, _, err = post_batch(self.srv, key, "batch-300", items[:10])
        self.assertEqual((status, err["error"]["code"]), (409, "idempotency_key_reused"))
        # One item retried by hand under the item's key replays its stamp.
        item_key = "batch:" + hashlib.sha256(b"batch-300\n" + items[0]["reference"].encode()
                                             ).hexdigest()
        body = {k: v for k, v in items[0].items() if k != "reference"}
        status, hdrs, ind = self.srv.buy(key, item_key, body)
        self.assertEqual(status, 201, ind)
        self.assertEqual(hdrs.get("idempotent-replayed"), "true")
        self.assertEqual(ind["id"], got[0]["indicium_id"])
        self.assertEqual(self.srv.balance(key), after)
        # The list shows the batch.
        lst = self.srv.get_ok("/v1/batches", key)
        self.assertEqual(lst["data"][0]["id"], b["id"])
        self.assertNotIn("items", lst["data"][0])
        # Another customer cannot see it.
        other = self.srv.customer("bulk-other@example.com", 1)
        status, _, err = self.srv.request("GET", "/v1/batches/" + b["id"], key=other)
        self.assertEqual((status, err["error"]["code"]), (404, "not_found"))

    def test_completed_batch_is_an_event(self):
        # An endpoint taking batch.completed (nothing listens: the outbox keeps the event).
        key = self.srv.customer("bulkhook@example.com", 100)
        st, _, ep = self.srv.request("POST", "/v1/webhooks", key=key,
                                     body={"url": "http://127.0.0.1:9/hooks",
                                           "enabled_events": ["batch.completed"]})
        self.assertEqual(st, 201, ep)
        status, _, b = post_batch(self.srv, key, "batch-hook", [item(i) for i in range(3)])
        self.assertEqual(status, 202, b)
        done = wait_done(self, self.srv, key, b["id"])
        evs = self.srv.get_ok("/v1/events?type=batch.completed", key)["data"]
        self.assertEqual(len(evs), 1, evs)
        obj = evs[0]["data"]["object"]
        self.assertEqual(obj["id"], b["id"])
        self.assertEqual(obj["status"], "completed")
        self.assertEqual(obj["counts"], done["counts"])
        self.assertEqual(obj["completed"], done["completed"])
        # Another customer's batch is not this endpoint's business.
        other = self.srv.customer("bulknohook@example.com", 100)
        status, _, b2 = post_batch(self.srv, other, "batch-nohook", [item(9)])
        wait_done(self, self.srv, other, b2["id"])
        self.assertEqual(len(self.srv.get_ok("/v1/events?type=batch.completed", key)["data"]), 1)
        self.assertEqual(self.srv.get_ok("/v1/events", other)["data"], [])

    def test_balance_runs_out(self):
        key = self.srv.customer("bulk-poor@example.com", 3)  # $3: four 1 oz letters
        before = self.srv.balance(key)
        items = [item(i) for i in range(10)]
        status, _, b = post_batch(self.srv, key, "poor-1", items)
        self.assertEqual(status, 202, b)
        done = wait_done(self, self.srv, key, b["id"])
        self.assertEqual(done["counts"]["bought"], 4, done)
        self.assertEqual(done["counts"]["failed"], 6, done)
        _, got = all_items(self.srv, key, b["id"])
        for it in got:
            if it["status"] == "failed":
                self.assertEqual(it["error"]["code"], "insufficient_funds")
        self.check_ledger(key, got, before)

    def test_refused_batches(self):
        key = self.srv.customer("bulk-refused@example.com", 10)
        cases = [
            ({"items": []}, "items", "invalid_request"),
            ({"items": "x"}, "items", "invalid_type"),
            ({}, "items", "missing_field"),
            ({"items": [item(0), item(0)]}, "items[1].reference", "invalid_request"),
            ({"items": [dict(item(0), reference="")]}, "items[0].reference", "invalid_request"),
            ({"items": [{k: v for k, v in item(0).items() if k != "reference"}]},
             "items[0].reference", "missing_field"),
            ({"items": [item(i) for i in range(1001)]}, "items", "invalid_request"),
        ]
        for body, field, code in cases:
            status, _, err = self.srv.request("POST", "/v1/batches", body=body, key=key,
                                              headers={"Idempotency-Key": "r-%s" % field})
            self.assertEqual(status, 400, (body if len(str(body)) < 300 else field, err))
            self.assertEqual((err["error"]["code"], err["error"].get("field")), (code, field))
        status, _, err = self.srv.request("POST", "/v1/batches", body={"items": [item(0)]},
                                          key=key)
        self.assertEqual((status, err["error"]["code"]), (400, "idempotency_key_required"))
        status, _, err = self.srv.request("POST", "/v1/batches", body={"items": [item(0)]},
                                          key=self.srv.operator_key,
                                          headers={"Idempotency-Key": "op"})
        self.assertEqual(status, 403)
        self.assertEqual(self.srv.get_ok("/v1/batches", key)["data"], [])

    def test_labels_decode(self):
        if not (shutil.which("pdftoppm") and shutil.which("dmtxread")):
            self.skipTest("pdftoppm and dmtxread are needed")
        key = self.srv.customer("bulk-labels@example.com", 20)
        items = [item(i) for i in range(4)] + [item(4, to_zip="1")]
        status, _, b = post_batch(self.srv, key, "labels-1", items)
        self.assertEqual(status, 202, b)
        wait_done(self, self.srv, key, b["id"])
        _, got = all_items(self.srv, key, b["id"])
        want = {}
        for it in got[:4]:
            ind = self.srv.get_ok("/v1/indicia/" + it["indicium_id"], key)
            want[harness.unb64(ind["data"])] = it["reference"]
        status, hdrs, _ = self.srv.request("GET", "/v1/batches/%s/labels?layout=label-4x6"
                                           % b["id"], key=key)
        raw = self.raw_get("/v1/batches/%s/labels?layout=label-4x6&format=pdf" % b["id"], key)
        self.assertTrue(raw.startswith(b"%PDF"))
        work = os.path.join(self.srv.dir, "labels")
        os.makedirs(work, exist_ok=True)
        with open(os.path.join(work, "b.pdf"), "wb") as f:
            f.write(raw)
        subprocess.run(["pdftoppm", "-r", "200", "-png", os.path.join(work, "b.pdf"),
                        os.path.join(work, "p")], check=True)
        pages = sorted(p for p in os.listdir(work) if p.endswith(".png"))
        self.assertEqual(len(pages), 4, "one 4x6 page per bought piece, none for the failed")
        found = set()
        for p in pages:
            out = subprocess.run(["dmtxread", "-N1", os.path.join(work, p)],
                                 stdout=subprocess.PIPE, check=True, timeout=120).stdout
            self.assertIn(out, want, "page %s decodes to a piece of the batch" % p)
            found.add(out)
        self.assertEqual(len(found), 4)
        # A sheet layout holds them all on one page.
        raw = self.raw_get("/v1/batches/%s/labels?layout=avery-5160" % b["id"], key)
        self.assertTrue(raw.startswith(b"%PDF"))
        # Not another customer's.
        other = self.srv.customer("bulk-labels-other@example.com", 1)
        status, _, err = self.srv.request("GET", "/v1/batches/%s/labels" % b["id"], key=other)
        self.assertEqual(status, 404)
        status, _, err = self.srv.request("GET", "/v1/batches/%s/labels?layout=nope" % b["id"],
                                          key=key)
        self.assertEqual((status, err["error"]["code"]), (400, "unknown_layout"))

    def raw_get(self, path, key):
        import http.client
        conn = http.client.HTTPConnection(self.srv.host, self.srv.port, timeout=120)
        try:
            conn.request("GET", path, headers={"Authorization": "Bearer " + key})
            resp = conn.getresponse()
            body = resp.read()
            self.assertEqual(resp.status, 200, body[:300])
            return body
        finally:
            conn.close()


class BatchTest(BatchBase, unittest.TestCase):
    pass


@unittest.skipUnless(PG_DSN_FILE, "no PostgreSQL cluster (STAMPD_TEST_PG_DSN_FILE)")
class BatchPostgres(BatchBase, unittest.TestCase):
    postgres = True


class RestartTest(unittest.TestCase):
    def test_restart_mid_batch(self):
        srv = Stampd("batch-restart").init(psds=4, deposit="100000")
        try:
            srv.start(processors=1)
            key = srv.customer("bulk-restart@example.com", 1000)
            before = srv.balance(key)
            items = [item(i) for i in range(300)]
            status, _, b = post_batch(srv, key, "restart-1", items)
            self.assertEqual(status, 202, b)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                cur = srv.get_ok("/v1/batches/%s?limit=1" % b["id"], key)
                if cur["counts"]["bought"] >= 10:
                    break
                time.sleep(0.02)
            srv.kill9()
            srv.start(processors=1)
            mid = srv.get_ok("/v1/batches/%s?limit=1" % b["id"], key)
            if mid["counts"]["pending"] == 0:
                self.skipTest("the batch finished before the kill")
            self.assertEqual(mid["status"], "interrupted", mid)
            self.assertGreaterEqual(mid["counts"]["bought"], 10)
            # Bought stays bought; nothing moves until the client retries.
            time.sleep(1)
            self.assertEqual(srv.get_ok("/v1/batches/%s?limit=1" % b["id"], key)["counts"],
                             mid["counts"])
            status, hdrs, again = post_batch(srv, key, "restart-1", items)
            self.assertEqual(status, 202, again)
            self.assertEqual(again["id"], b["id"])
            done = wait_done(self, srv, key, b["id"])
            self.assertEqual(done["counts"], {"total": 300, "pending": 0, "bought": 300,
                                              "failed": 0})
            _, got = all_items(srv, key, b["id"])
            ids = [i["indicium_id"] for i in got]
            self.assertEqual(len(set(ids)), 300)
            all_ids = [i["id"] for i in srv.list_all(key)]
            self.assertEqual(sorted(all_ids), sorted(ids), "no piece bought twice")
            self.assertEqual(srv.balance(key), before - 300 * LETTER_1OZ)
            srv.stop()
        finally:
            srv.abandon()

    def test_sigterm_mid_batch(self):
        """A stopping server records what its processors answered, leaves the
        rest pending (exit 0, no leak), and the retry finishes the batch."""
        srv = Stampd("batch-sigterm").init(psds=4, deposit="100000")
        try:
            srv.start(processors=1)
            key = srv.customer("bulk-term@example.com", 1000)
            before = srv.balance(key)
            items = [item(i) for i in range(300)]
            status, _, b = post_batch(srv, key, "term-1", items)
            self.assertEqual(status, 202, b)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if srv.get_ok("/v1/batches/%s?limit=1" % b["id"], key)["counts"]["bought"] >= 5:
                    break
                time.sleep(0.02)
            err = srv.stop()  # exit 0, sanitizer-clean: the runner stopped cleanly
            self.assertIn("signal 15, shutting down", err)
            srv.start(processors=1)
            mid = srv.get_ok("/v1/batches/%s?limit=1" % b["id"], key)
            bought = [i["indicium_id"] for i in all_items(srv, key, b["id"])[1]
                      if i["status"] == "bought"]
            # Everything recorded as bought is a piece, and every piece is recorded.
            self.assertEqual(sorted(i["id"] for i in srv.list_all(key)), sorted(bought))
            if mid["counts"]["pending"]:
                self.assertEqual(mid["status"], "interrupted", mid)
                status, _, again = post_batch(srv, key, "term-1", items)
                self.assertEqual(status, 202, again)
            done = wait_done(self, srv, key, b["id"])
            self.assertEqual(done["counts"]["bought"], 300, done)
            self.assertEqual(len(srv.list_all(key)), 300)
            self.assertEqual(srv.balance(key), before - 300 * LETTER_1OZ)
            srv.stop()
        finally:
            srv.abandon()


@unittest.skipUnless(PG_DSN_FILE, "no PostgreSQL cluster (STAMPD_TEST_PG_DSN_FILE)")
class FrontTest(unittest.TestCase):
    def test_batch_through_a_front(self):
        """stampd front's runner sends the items over the internal protocol to
        two processor processes: every item bought once, by both."""
        import test_scale_out
        c = test_scale_out.Cluster("batch-front", processors=2)
        try:
            srv = c.srv
            key = srv.customer_key
            before = srv.balance(key)
            items = [item(i) for i in range(60)] + [item(60, to_zip="9")]
            status, _, b = post_batch(srv, key, "front-1", items)
            self.assertEqual(status, 202, b)
            done = wait_done(self, srv, key, b["id"])
            self.assertEqual(done["counts"], {"total": 61, "pending": 0, "bought": 60,
                                              "failed": 1})
            _, got = all_items(srv, key, b["id"])
            ids = sorted(i["indicium_id"] for i in got if i["status"] == "bought")
            pieces = srv.list_all(key)
            self.assertEqual(sorted(p["id"] for p in pieces), ids)
            self.assertEqual({p["server_id"] for p in pieces}, {"p1", "p2"})
            self.assertEqual(srv.balance(key), before - 60 * LETTER_1OZ)
            status, _, again = post_batch(srv, key, "front-1", items)
            self.assertEqual((status, again["counts"]), (200, done["counts"]))
            self.assertEqual(len(srv.list_all(key)), 60)
            c.stop()
        except BaseException:
            for proc, _ in [c.front] + [(v[0], v[1]) for v in c.procs.values()]:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            raise


STAMP_BIN = os.environ.get("STAMP_BIN") or os.path.join(harness.SOURCE_DIR, "build", "stamp")


def stamp(srv, key, *args, cwd=None):
    env = harness.stampd_env()
    env.pop("STAMP_KEY", None)
    env["STAMP_KEY"] = key
    env["STAMP_SERVER"] = "http://%s:%d" % (srv.host, srv.port)
    p = subprocess.run([STAMP_BIN] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=env, cwd=cwd, timeout=600)
    out, err = p.stdout.decode(), p.stderr.decode("utf-8", "replace")
    harness.assert_no_sanitizer(err, "stamp " + " ".join(args))
    return p.returncode, out, err


CSV = ("reference,mail_class,weight_oz,from_zip,to_zip,to_address\r\n"
       "A-1,first_class_letter,1,10001,94105,\"Ada Lovelace\n1 Main St\nSan Francisco CA\"\r\n"
       "A-2,postcard,0.5,10001,60601,\"Grace Hopper, Jr.\\n2 Elm St\"\r\n"
       "A-3,first_class_letter,heavy,10001,94105,\r\n"
       "A-4,first_class_letter,2,10001,941,\r\n"
       "A-5,large_envelope,3,10001,10002,\r\n")


class CliTest(unittest.TestCase):
    """stamp buy --csv: per-row errors with the row number, exit code 0 only
    when every row was bought, the label file, and a rerun buys nothing."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Stampd("batch-cli").init(psds=2, deposit="10000")
        cls.srv.start(processors=1)

    @classmethod
    def tearDownClass(cls):
        cls.srv.abandon()

    def test_csv_with_a_bad_row(self):
        key = self.srv.customer("csv@example.com", 50)
        before = self.srv.balance(key)
        work = os.path.join(self.srv.dir, "csv")
        os.makedirs(work, exist_ok=True)
        with open(os.path.join(work, "orders.csv"), "w", newline="") as f:
            f.write(CSV)
        rc, out, err = stamp(self.srv, key, "buy", "--csv", "orders.csv", "--print", "sheet.pdf",
                             "--layout", "avery-5160", cwd=work)
        self.assertEqual(rc, 1, (out, err))
        self.assertIn("row 4 (line 6, A-3): invalid_type:", err)
        self.assertIn("(field weight_oz)", err)
        self.assertIn("row 5 (line 7, A-4): invalid_zip:", err)
        self.assertIn("(field to_zip)", err)
        self.assertNotIn("row 2 ", err)
        self.assertRegex(out, r"bought\s+3 of 5")
        self.assertRegex(err, r"progress: 5/5 done, 3 bought, 2 failed")
        with open(os.path.join(work, "sheet.pdf"), "rb") as f:
            self.assertTrue(f.read(5).startswith(b"%PDF"))
        spent = before - self.srv.balance(key)
        # 1 oz letter + postcard + 3 oz large envelope.
        self.assertEqual(spent, 740 + 610 + (1630 + 2 * 270))
        lst = self.srv.get_ok("/v1/batches", key)["data"]
        self.assertEqual(len(lst), 1)
        b = self.srv.get_ok("/v1/batches/%s" % lst[0]["id"], key)
        self.assertEqual(b["items"]["data"][1]["reference"], "A-2")
        ind = self.srv.get_ok("/v1/indicia/" + b["items"]["data"][0]["indicium_id"], key)
        self.assertEqual(ind["to_address"], "Ada Lovelace\n1 Main St\nSan Francisco CA")
        ind = self.srv.get_ok("/v1/indicia/" + b["items"]["data"][1]["indicium_id"], key)
        self.assertEqual(ind["to_address"], "Grace Hopper, Jr.\n2 Elm St")
        # The same file again: the same batch, nothing bought.
        rc, out, err = stamp(self.srv, key, "buy", "--csv", "orders.csv", cwd=work)
        self.assertEqual(rc, 1, (out, err))
        self.assertIn("row 4 (line 6, A-3)", err)
        self.assertEqual(before - self.srv.balance(key), spent)
        self.assertEqual(len(self.srv.get_ok("/v1/batches", key)["data"]), 1)
        # Only the good rows: exit 0 (a new file, a new batch).
        with open(os.path.join(work, "good.csv"), "w") as f:
            f.write("reference,mail_class,weight_oz,from_zip,to_zip\n"
                    "B-1,postcard,1,10001,60601\n")
        rc, out, err = stamp(self.srv, key, "buy", "--csv", "good.csv", cwd=work)
        self.assertEqual(rc, 0, (out, err))

    def test_progress_bar_on_a_terminal(self):
        """stderr a terminal: a bar redrawn in place (\\r), ending on its own line."""
        import pty
        key = self.srv.customer("csv-tty@example.com", 20)
        work = os.path.join(self.srv.dir, "csv-tty")
        os.makedirs(work, exist_ok=True)
        with open(os.path.join(work, "o.csv"), "w") as f:
            f.write("reference,mail_class,weight_oz,from_zip,to_zip\n" +
                    "".join("T-%d,postcard,1,10001,60601\n" % i for i in range(8)))
        master, slave = pty.openpty()
        env = dict(harness.stampd_env(), STAMP_KEY=key,
                   STAMP_SERVER="http://%s:%d" % (self.srv.host, self.srv.port))
        p = subprocess.Popen([STAMP_BIN, "buy", "--csv", "o.csv"], stdout=subprocess.PIPE,
                             stderr=slave, env=env, cwd=work)
        os.close(slave)
        err = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            err += chunk
        out, _ = p.communicate(timeout=120)
        os.close(master)
        text = err.decode("utf-8", "replace")
        harness.assert_no_sanitizer(text, "stamp buy --csv (tty)")
        self.assertEqual(p.returncode, 0, text)
        self.assertIn("\r[##############################] 8/8  bought 8  failed 0", text)
        self.assertNotIn("progress:", text)
        self.assertRegex(out.decode(), r"bought\s+8 of 8")

    def test_csv_usage_errors(self):
        key = self.srv.customer("csv-usage@example.com", 5)
        work = os.path.join(self.srv.dir, "csv-usage")
        os.makedirs(work, exist_ok=True)
        cases = {
            "nocol.csv": ("mail_class,weight_oz\npostcard,1\n", "no 'reference' column"),
            "unknown.csv": ("reference,colour\nA,red\n", "unknown column 'colour'"),
            "short.csv": ("reference,mail_class\nA,postcard\nB\n", "row 3 (line 3) has 1 fields"),
            "quote.csv": ('reference,mail_class\n"A,postcard\n', "line 2: a quoted field"),
            "empty.csv": ("reference\n", "at least one order"),
        }
        for name, (text, want) in cases.items():
            with open(os.path.join(work, name), "w") as f:
                f.write(text)
            rc, out, err = stamp(self.srv, key, "buy", "--csv", name, cwd=work)
            self.assertEqual(rc, 2, (name, out, err))
            self.assertIn(want, err, name)
        rc, out, err = stamp(self.srv, key, "buy", "--csv", "empty.csv", "--class", "postcard",
                             cwd=work)
        self.assertEqual(rc, 2)
        self.assertIn("--csv takes every piece from the file", err)
        self.assertEqual(self.srv.get_ok("/v1/batches", key)["data"], [])


if __name__ == "__main__":
    harness.main()
