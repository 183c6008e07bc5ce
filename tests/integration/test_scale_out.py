"""test_scale_out.py - one front and several processor processes over one database.

The acceptance tests of docs/operations.md "Several processes, several hosts":
round-robin from the servers table (three processors serve 100 +- 1 of 300
purchases each), failover when a processor is killed -9 in the middle of a
concurrent run (every purchase completes exactly once, and the dead
processor's PSDs are taken over when its leases expire), and a lease stress
test (short leases moved back and forth: tenures of one PSD never overlap and
every indicium was signed by the holder of its PSD's lease at the time).

The database is PostgreSQL when STAMPD_TEST_PG_DSN_FILE names a file holding
a DSN of a running cluster (make test starts a throwaway one), else SQLite.

With STAMPD_TEST_CRYPTO=pkcs11 (CTest's integration/test_scale_out_pkcs11)
every processor signs with its own SoftHSM2 token holding its own PSDs (hsm.py;
the lease test's two processors share one token, as two processors on one
network HSM would). A PSD cannot move to another token, so after a kill -9 the
dead processor's PSDs stay unleased and the front's retries land on the
processors that own usable PSDs. In both modes every piece sold is checked with
the openssl command line against its certificate, and the certificate against
the CA (hsm.check_openssl).
"""

import concurrent.futures
import os
import re
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import hsm  # noqa: E402

PG_DSN_FILE = os.environ.get("STAMPD_TEST_PG_DSN_FILE")


def parse_time(text):
    """RFC 3339 "2026-11-22T01:02:03Z" -> unix seconds."""
    import calendar
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def fresh_dsn(srv):
    """A new empty database for srv: a PostgreSQL database, or srv's SQLite file."""
    if not PG_DSN_FILE:
        return srv.db
    p = subprocess.run(["sh", os.path.join(harness.SOURCE_DIR, "scripts", "pg-test.sh"),
                        "createdb", PG_DSN_FILE], stdout=subprocess.PIPE, check=True, timeout=60)
    return p.stdout.decode().strip()


class Cluster:
    """A database, N `stampd processor` processes and one `stampd front`."""

    def __init__(self, name, processors=3, psds=4, lease_ms=None, deposit="100000", refill="50",
                 shared_token=False):
        self.srv = harness.Stampd(name)
        self.srv.db = fresh_dsn(self.srv)
        self.lease_ms = lease_ms
        self.procs = {}
        self.front = None
        self.token_of = {}   # pkcs11 mode: processor id -> its token's label
        self.owned = {}      # pkcs11 mode: token label -> the live PSDs in it
        if hsm.MODE:
            # Each processor its own token with psds/processors PSDs (at least one),
            # or all of them on one token (shared_token).
            pids = ["p%d" % i for i in range(1, processors + 1)]
            labels = ["tok-shared"] if shared_token else ["tok-" + p for p in pids]
            per = psds if shared_token else max(1, -(-psds // processors))
            self.tokens, self.owned = hsm.provision(self.srv, labels, per, deposit, refill)
            self.token_of = {p: labels[0 if shared_token else n] for n, p in enumerate(pids)}
        else:
            _, out, _ = self.srv.run("init", "--db", self.srv.db, "--license", harness.LICENSE,
                                     "--psds", str(psds), "--deposit", deposit, "--refill",
                                     refill, "--keys-dir", os.path.join(self.srv.dir, "keys"),
                                     "--demo")
            keys = harness.Stampd._keys(out)
            self.srv.customer_key = keys["STAMP_KEY"]
            self.srv.operator_key = keys["STAMP_OPERATOR_KEY"]
        # The front-processor secret is each host's, never the database's.
        self.secret_file, self.secret = self.srv.internal_secret()
        for i in range(1, processors + 1):
            self.start_processor("p%d" % i)
        self.start_front()
        self.wait_for_leases(processors)

    def _spawn(self, name, args):
        path = os.path.join(self.srv.dir, name + ".stderr")
        with open(path, "ab") as errf:
            proc = subprocess.Popen([harness.STAMPD_BIN] + args, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=errf,
                                    env=harness.stampd_env())
        pat = re.compile(r"listening on https?://([0-9.]+):([0-9]+)(?![0-9])")
        deadline = time.monotonic() + harness.START_TIMEOUT
        while time.monotonic() < deadline:
            m = pat.search(self.srv.stderr_text(path))
            if m:
                return proc, path, m.group(1), int(m.group(2))
            if proc.poll() is not None:
                raise AssertionError("%s exited %d:\n%s" % (name, proc.returncode,
                                                             self.srv.stderr_text(path)))
            time.sleep(0.05)
        proc.kill()
        raise AssertionError("%s did not start:\n%s" % (name, self.srv.stderr_text(path)))

    # The channel is mutual TLS (harness.internal_tls); subclasses change the certificates.
    def processor_tls(self, pid):
        return harness.internal_tls_args(pid)

    def front_tls(self):
        return harness.internal_tls_args("front")

    def start_processor(self, pid):
        args = ["processor", "--db", self.srv.db, "--listen", "127.0.0.1:0", "--id", pid,
                "--internal-secret-file", self.secret_file] + self.processor_tls(pid)
        if pid in self.token_of:
            args += hsm.crypto_args(self.tokens, self.token_of[pid])
        if self.lease_ms:
            args += ["--lease-ms", str(self.lease_ms)]
        self.procs[pid] = self._spawn(pid, args)

    def start_front(self):
        proc, path, host, port = self._spawn("front", ["front", "--db", self.srv.db, "--listen",
                                                       "127.0.0.1:0", "--threads", "8",
                                                       "--internal-secret-file",
                                                       self.secret_file]
                                             + self.front_tls())
        self.front = (proc, path)
        self.srv.host, self.srv.port = host, port

    def servers(self):
        return self.srv.get_ok("/v1/admin/servers", self.srv.operator_key)["servers"]

    def wait_for_leases(self, nprocs, timeout=30):
        """Until every PSD is leased and every live processor holds at least one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                sv = [s for s in self.servers() if s["healthy"]]
                leased = sum(len(s["psd_leases"]) for s in sv)
                npsds = len([p for p in self.srv.psds()["psds"] if not p["test"]])
                if len(sv) == nprocs and all(s["psd_leases"] for s in sv) and leased == npsds:
                    return
            except Exception:  # front not up yet
                pass
            time.sleep(0.1)
        raise AssertionError("leases never settled: %r" % self.servers())

    def leases(self):
        """{healthy processor id: the PSDs it holds}."""
        return {s["id"]: s["psd_leases"] for s in self.servers() if s["healthy"]}

    def check_tokens(self, tc, pieces):
        """pkcs11 mode: each piece was signed by a PSD of its processor's token."""
        if not self.token_of:
            return
        test = {p["id"] for p in self.srv.psds()["psds"] if p["test"]}
        for p in pieces:
            owned = self.owned[self.token_of[p["server_id"]]]
            tc.assertTrue(p["psd_id"] in owned or p["psd_id"] in test,
                          "%s signed by PSD %d, not of its token %s (%r)"
                          % (p["server_id"], p["psd_id"], self.token_of[p["server_id"]], owned))

    def kill9(self, pid):
        proc = self.procs.pop(pid)[0]
        proc.kill()
        proc.wait()

    def stop(self):
        """SIGTERM everything; every process must exit 0 with a clean sanitizer report."""
        bad = []
        for name, (proc, path) in [("front", self.front)] + \
                [(k, (v[0], v[1])) for k, v in self.procs.items()]:
            proc.terminate()
            try:
                rc = proc.wait(timeout=harness.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = "timeout"
            text = self.srv.stderr_text(path)
            if rc != 0 or any(p in text for p in harness.SANITIZER_PATTERNS):
                bad.append((name, rc, text[-2000:]))
        if bad:
            raise AssertionError("processes did not stop cleanly: %r" % bad)

    def buy(self, key, idem, cls="postcard", weight=1):
        return self.srv.buy(key, idem, {"mail_class": cls, "weight_oz": weight,
                                        "from_zip": "94107", "to_zip": "10001"})


def all_indicia(c, keys):
    out = []
    for k in keys:
        out += c.srv.list_all(k)
    return out


class ScaleOut(unittest.TestCase):
    def test_round_robin_three_processors(self):
        c = Cluster("rr", processors=3)
        try:
            keys = [c.srv.customer_key] + [c.srv.customer("c%d@example.com" % i, 300)
                                           for i in range(3)]

            def client(n):
                key = keys[n % len(keys)]
                got = []
                for j in range(75):
                    s, _, body = c.buy(key, "rr-%d-%d" % (n, j))
                    got.append((s, body))
                return got

            with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
                results = [r for lst in ex.map(client, range(4)) for r in lst]
            self.assertEqual(len(results), 300)
            self.assertEqual([s for s, _ in results if s != 201], [], results[:3])
            served = {}
            for _, b in results:
                served[b["server_id"]] = served.get(b["server_id"], 0) + 1
            self.assertEqual(set(served), {"p1", "p2", "p3"}, served)
            for pid, n in served.items():
                self.assertLessEqual(abs(n - 100), 1, served)
            # Every indicium verifies, every PSD balances, postage == ascending.
            inds = all_indicia(c, keys)
            self.assertEqual(len(inds), 300)
            for ind in inds[::7]:
                s, _, v = c.srv.request("POST", "/v1/verify", {"data": ind["data"]},
                                        key=c.srv.operator_key)
                self.assertTrue(s == 200 and v["valid"] and v["known"], v)
            harness.check_registers(self, c.srv.psds()["psds"], inds)
            # The admin view agrees.
            shares = {s["id"]: s["indicia_total"] for s in c.servers()}
            self.assertEqual(shares, served)
            c.check_tokens(self, inds)
            hsm.check_openssl(self, c.srv, inds)
        finally:
            c.stop()

    def test_payments_across_processes(self):
        """Cards and auto-refill through a front and three processors (PostgreSQL
        row locks): 50 concurrent purchases refill exactly once, test keys land
        on the test PSD, and the books balance."""
        c = Cluster("pay", processors=3)
        try:
            srv = c.srv
            key = srv.signup("pay@example.com", "test")
            card = harness.CARD
            st, _, pm = srv.request("POST", "/v1/payment-methods", key=key, body={"card": card})
            self.assertEqual(st, 201, pm)
            st, _, j = srv.request("POST", "/v1/account/funds", key=key,
                                   headers={"Idempotency-Key": "f1"},
                                   body={"amount": "5.50", "payment": {
                                       "method": "card", "payment_method_id": pm["id"]}})
            self.assertEqual(st, 201, j)
            st, _, j = srv.request("PUT", "/v1/account/auto-refill", key=key, body={
                "enabled": True, "trigger": "5.00", "amount": "50.00",
                "payment_method_id": pm["id"]})
            self.assertEqual(st, 200, j)
            with concurrent.futures.ThreadPoolExecutor(max_workers=25) as ex:
                res = list(ex.map(lambda n: c.buy(key, "pay-%d" % n), range(50)))
            self.assertEqual([s for s, _, _ in res if s != 201], [], res[:2])
            self.assertGreater(len({b["server_id"] for _, _, b in res}), 1)
            refills = [b for _, _, b in res if "auto_refill" in b["payment"]]
            self.assertEqual(len(refills), 1, "auto-refill fired %d times" % len(refills))
            spent = sum(b["postage_mills"] for _, _, b in res)
            self.assertEqual(srv.balance(key), 5500 + 50000 - spent)
            test_psds = {p["id"] for p in srv.psds()["psds"] if p["test"]}
            self.assertEqual({b["psd_id"] for _, _, b in res}, test_psds)
            # A card purchase through a processor, and a decline that changes nothing.
            live = srv.customer_key
            st, _, b = srv.buy(live, "card-1", {"mail_class": "postcard", "weight_oz": 1,
                                                "from_zip": "94107", "to_zip": "10001",
                                                "payment": {"method": "card", "card": card}})
            self.assertEqual((st, b["payment"]["method"]), (201, "card"), b)
            # Refunded, then retried through the front: the processor's writer answers the
            # replay (no early read for a card since session 17), and says it was refunded.
            st, _, r = srv.request("POST", "/v1/indicia/%s/refund" % b["id"], key=live, body={})
            self.assertEqual((st, r.get("destination")), (201, "card"), r)
            st, h, again = srv.buy(live, "card-1", {"mail_class": "postcard", "weight_oz": 1,
                                                    "from_zip": "94107", "to_zip": "10001",
                                                    "payment": {"method": "card", "card": card}})
            self.assertEqual((st, h.get("idempotent-replayed"), again["id"], again["refunded"]),
                             (201, "true", b["id"], True), again)
            before = srv.balance(live)
            bad = dict(card, number="4000000000000002")
            st, _, b = srv.buy(live, "card-2", {"mail_class": "postcard", "weight_oz": 1,
                                                "from_zip": "94107", "to_zip": "10001",
                                                "payment": {"method": "card", "card": bad}})
            self.assertEqual((st, b["error"]["code"]), (402, "card_declined"), b)
            self.assertEqual(srv.balance(live), before)
            st, _, j = srv.request("GET", "/v1/admin/ledger", key=srv.operator_key)
            self.assertEqual((st, j["ok"]), (200, True), j)
            pieces = [b for _, _, b in res]
            c.check_tokens(self, pieces)
            hsm.check_openssl(self, srv, pieces + srv.list_all(live))
        finally:
            c.stop()

    def test_kill9_processor_mid_run(self):
        c = Cluster("kill", processors=3, lease_ms=1500)
        try:
            keys = [c.srv.customer_key] + [c.srv.customer("k%d@example.com" % i, 300)
                                           for i in range(2)]
            victim_psds = [s["psd_leases"] for s in c.servers() if s["id"] == "p2"][0]
            self.assertTrue(victim_psds)
            before = {k: c.srv.balance(k) for k in keys}
            done = []
            lock = threading.Lock()

            def client(n):
                key = keys[n % len(keys)]
                for j in range(40):
                    idem = "kill-%d-%d" % (n, j)
                    s, _, body = c.buy(key, idem)
                    with lock:
                        done.append((idem, key, s, body))

            with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
                futs = [ex.submit(client, n) for n in range(4)]
                while len(done) < 40:
                    time.sleep(0.01)
                c.kill9("p2")
                for f in futs:
                    f.result()
            # Every client purchase completed, exactly once.
            self.assertEqual(len(done), 160)
            self.assertEqual([d for d in done if d[2] != 201], [])
            ids = [d[3]["id"] for d in done]
            self.assertEqual(len(ids), len(set(ids)))
            inds = all_indicia(c, keys)
            self.assertEqual(sorted(i["id"] for i in inds), sorted(ids))
            pairs = [(i["psd_id"], i["serial"]) for i in inds]
            self.assertEqual(len(pairs), len(set(pairs)), "an indicium serial appears twice")
            harness.check_registers(self, c.srv.psds()["psds"], inds)
            # Each customer paid for exactly the pieces it has, and the books balance.
            for k in keys:
                spent = sum(i["postage_mills"] for i in c.srv.list_all(k))
                self.assertEqual(c.srv.balance(k), before[k] - spent)
            self.assertTrue(c.srv.get_ok("/v1/admin/ledger", c.srv.operator_key)["ok"])
            # Retrying every key gives the same indicium, never a second one.
            for idem, key, _, body in done[::10]:
                s, h, again = c.buy(key, idem)
                self.assertEqual((s, again["id"]), (201, body["id"]))
            if hsm.MODE:
                # Bound to p2's token, its PSDs cannot move: once their leases expire
                # nobody holds them, and p1 and p3 keep their own.
                time.sleep(c.lease_ms / 1000.0 * 2)
                holders = {p["id"]: p["lease_holder"] for p in c.srv.psds()["psds"]}
                for p in victim_psds:
                    self.assertIn(holders[p], (None, "p2"), holders)
                for pid in ("p1", "p3"):
                    self.assertEqual(sorted(c.leases()[pid]), c.owned[c.token_of[pid]])
            else:
                # The dead processor's PSDs are taken over once its leases expire.
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    holders = {p["id"]: p["lease_holder"] for p in c.srv.psds()["psds"]}
                    if all(holders[p] in ("p1", "p3") for p in victim_psds):
                        break
                    time.sleep(0.2)
                self.assertTrue(all(holders[p] in ("p1", "p3") for p in victim_psds), holders)
            after = []
            for n in range(6):
                s, _, body = c.buy(keys[0], "after-takeover-%d" % n)
                self.assertEqual(s, 201, body)
                self.assertIn(body["server_id"], ("p1", "p3"))
                after.append(body)
            c.check_tokens(self, inds + after)
            hsm.check_openssl(self, c.srv, inds + after)
        finally:
            c.stop()

    def test_short_leases_never_overlap(self):
        # pkcs11 mode: both processors on one token (a network HSM's), so leases move.
        c = Cluster("lease", processors=2, psds=2, lease_ms=300, shared_token=True)
        try:
            key = c.srv.customer("lease@example.com", 2000)
            stop = threading.Event()

            flips = [0]

            def flipper():
                # Drain one, then the other: leases move back and forth under load.
                n = 0
                while not stop.is_set():
                    flips[0] = n
                    a, b = ("p1", "p2") if n % 2 == 0 else ("p2", "p1")
                    c.srv.request("POST", "/v1/admin/servers/" + a, {"status": "draining"},
                                  key=c.srv.operator_key)
                    c.srv.request("POST", "/v1/admin/servers/" + b, {"status": "active"},
                                  key=c.srv.operator_key)
                    n += 1
                    stop.wait(0.4)

            t = threading.Thread(target=flipper)
            t.start()
            results = []
            count = [0]
            lock = threading.Lock()

            def client(n):
                got = []
                while flips[0] < 6 or count[0] < 120:
                    with lock:
                        count[0] += 1
                        j = count[0]
                    got.append(c.buy(key, "lease-%d" % j))
                return got

            try:
                with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
                    results = [r for lst in ex.map(client, range(4)) for r in lst]
            finally:
                stop.set()
                t.join()
            self.assertEqual([r for r in results if r[0] != 201], [])
            inds = c.srv.list_all(key)
            self.assertEqual(len(inds), len(results))
            harness.check_registers(self, c.srv.psds()["psds"], inds)
            for psd in (1, 2):
                tenures = c.srv.get_ok("/v1/admin/psds/%d/leases" % psd,
                                       c.srv.operator_key)["leases"]
                self.assertGreater(len(tenures), 2, "leases never moved")
                for tn in tenures:
                    tn["acquired_ms"] = harness.time_ms(tn["acquired_at"])
                    tn["expires_ms"] = harness.time_ms(tn["expires_at"])
                for prev, cur in zip(tenures, tenures[1:]):
                    self.assertGreaterEqual(cur["acquired_ms"], prev["expires_ms"],
                                            "PSD %d: two holders at once: %r %r"
                                            % (psd, prev, cur))
                # Every piece was signed by the holder of its PSD's lease at the time.
                for ind in (i for i in inds if i["psd_id"] == psd):
                    at = parse_time(ind["created"])
                    ok = any(tn["holder"] == ind["server_id"] and
                             tn["acquired_ms"] <= at * 1000 + 999 and tn["expires_ms"] >= at * 1000
                             for tn in tenures)
                    self.assertTrue(ok, "PSD %d serial %d by %s outside its lease" %
                                    (psd, ind["serial"], ind["server_id"]))
            hsm.check_openssl(self, c.srv, inds)
        finally:
            c.stop()

    def test_replay_with_no_processor(self):
        """A retry gets its stamp even when no processor can take it: a balance
        purchase's key is read by the writer, and again by the front when the
        job fails (h_indicia.c, pv_view_replay_late) - the same answers as the
        front's early read gave, a different body still refused."""
        c = Cluster("replay", processors=1)
        try:
            srv = c.srv
            s, _, first = c.buy(srv.customer_key, "once")
            self.assertEqual(s, 201, first)
            c.kill9("p1")
            s, h, again = c.buy(srv.customer_key, "once")
            self.assertEqual(s, 201, again)
            self.assertEqual(h.get("idempotent-replayed"), "true")
            self.assertEqual(again["id"], first["id"])
            self.assertEqual(again["data"], first["data"])
            self.assertNotIn("payment", again)   # a replay's payment was the first's
            s, _, j = c.buy(srv.customer_key, "once", cls="first_class_letter")
            self.assertEqual((s, j["error"]["code"], j["error"].get("field")),
                             (409, "idempotency_key_reused", "Idempotency-Key"), j)
            s, _, j = c.buy(srv.customer_key, "never-bought")
            self.assertGreaterEqual(s, 500, j)
        finally:
            c.procs.clear()   # p1 is gone: stop() checks the front
            c.stop()

    def test_media_through_the_front(self):
        """A medium's checks and answers cross the internal protocol (and run on
        PostgreSQL under ctest): the 402 price, the committed purchase, the
        resupply notice, and a race for one label between processors."""
        c = Cluster("media", processors=2)
        try:
            srv = c.srv
            me = srv.get_ok("/v1/account", srv.customer_key)["id"]
            _, batch = srv.media(product="stamp-1x2", sheets=3, payment="unpaid", price="0.25",
                                 customer_id=me, threshold=2, name="Self")
            labels = [x["serial"] for x in batch["serials"] if x["position"]]
            body = {"mail_class": "postcard", "weight_oz": 1, "from_zip": "94107",
                    "to_zip": "10001", "medium_serial": labels[0]}
            before = srv.balance(srv.customer_key)
            s, _, j = srv.buy(srv.customer_key, "m-1", body)
            self.assertEqual((s, j["error"]["code"], j["error"]["price_mills"]),
                             (402, "medium_payment_required", 250), j)
            self.assertEqual(srv.balance(srv.customer_key), before)
            s, _, j = srv.buy(srv.customer_key, "m-2", dict(body, commit_to_purchase_medium=True))
            self.assertEqual(s, 201, j)
            self.assertEqual((j["medium"]["serial"], j["medium"]["price_mills"]), (labels[0], 250))
            self.assertNotIn("resupply", j)   # 2 labels left: not under 2
            s, _, j = srv.buy(srv.customer_key, "m-3",
                              dict(body, medium_serial=labels[1], commit_to_purchase_medium=True))
            self.assertEqual(s, 201, j)
            self.assertEqual(j["resupply"]["labels_remaining"], 1)
            # Twenty purchases race for the last label across the processors.
            with concurrent.futures.ThreadPoolExecutor(max_workers=20) as ex:
                res = list(ex.map(lambda n: srv.buy(srv.customer_key, "race-%d" % n,
                                                    dict(body, medium_serial=labels[2],
                                                         commit_to_purchase_medium=True)),
                                  range(20)))
            self.assertEqual(sorted(r[0] for r in res), [201] + [409] * 19,
                             [r[2] for r in res])
            orders = srv.get_ok("/v1/admin/resupply-orders", srv.operator_key)["orders"]
            self.assertEqual(len(orders), 1)
            self.assertTrue(srv.get_ok("/v1/admin/ledger", srv.operator_key)["ok"])
            pieces = srv.list_all(srv.customer_key)
            self.assertEqual(len(pieces), 3)
            c.check_tokens(self, pieces)
            hsm.check_openssl(self, srv, pieces)
        finally:
            c.stop()


if __name__ == "__main__":
    harness.main()
