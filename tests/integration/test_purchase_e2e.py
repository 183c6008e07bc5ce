"""test_purchase_e2e.py - the purchase acceptance test.

Two customers (two user systems) buy stamps concurrently from several
threads each, every purchase with its own Idempotency-Key; a share of the
purchases is retried with the same key and body, sequentially and
concurrently (two threads sending one key at once). A third customer runs
out of money in the middle of a concurrent burst. Then every indicium is
checked against the lists, the published keys (POST /v1/verify and the
openssl command line), the PSD registers, the balances and the deposit.

The PSDs are initialised with a small refill amount ($25) so that refills
from the postal deposit happen during the concurrent load.

With STAMPD_TEST_CRYPTO=pkcs11 (CTest's integration/test_purchase_e2e_pkcs11)
the same suite runs against a front and two `stampd processor` processes, each
signing with the two PSDs of its own SoftHSM2 token (hsm.py, test_scale_out's
Cluster; PostgreSQL under CTest). In both modes every piece is also checked
with the openssl command line against its key's certificate and the
certificate against the vendor CA (hsm.check_openssl).
"""

import concurrent.futures
import os
import sys
import threading
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import hsm  # noqa: E402
import test_scale_out  # noqa: E402
from harness import price_mills  # noqa: E402

ITEMS = [("first_class_letter", 1), ("first_class_letter", 2), ("first_class_letter", 3.5),
         ("postcard", 1), ("large_envelope", 5)]
FROM_ZIPS = ["94107", "10001", "60601", "73301"]
TO_ZIPS = ["10001", "02139-4307", "981011234", "30301", "94107-0001"]

DEPOSIT_DOLLARS = 10000
REFILL_DOLLARS = 25
CUSTOMERS = {
    # name: (balance in dollars, purchases, threads)
    "alice": ("250", 125, 4),
    "bob": ("150", 80, 3),
}
# Carol runs dry: 13 letters of $0.74 fit in $10.27, a 14th does not; $6.50 remains.
# Conflicts: two threads send one key with two different bodies at the same moment.
CONFLICTS = 8
CAROL_BALANCE = "10.27"
CAROL_TRIES = 20
CAROL_FITS = 13


# Label serials of free media (harness.media), handed out one per purchase that
# names a medium; filled once the server runs.
MEDIA = {}


def body_for(cust, n):
    cls, w = ITEMS[n % len(ITEMS)]
    body = {"mail_class": cls, "weight_oz": w, "from_zip": FROM_ZIPS[n % len(FROM_ZIPS)],
            "to_zip": TO_ZIPS[(n // 2) % len(TO_ZIPS)]}
    if n % 3 == 0:
        body["payment"] = {"method": "balance"}
    if n % 11 == 0:
        body["medium_serial"] = MEDIA[cust][n // 11]
    return body


def mode_for(n):
    if n % 7 == 3:
        return "concurrent"
    if n % 5 == 1:
        return "sequential"
    return "once"


strip_volatile = harness.strip_volatile


class Job:
    def __init__(self, cust, key, idem, body, mode):
        self.cust, self.key, self.idem, self.body, self.mode = cust, key, idem, body, mode
        self.responses = []   # (status, replayed, json)
        self.error = None


def send_concurrently(srv, job, bodies=None):
    """Two threads send the same key (and body, unless bodies) at the same moment."""
    barrier = threading.Barrier(2)
    out = [None, None]
    bodies = bodies or [job.body, job.body]

    def go(i):
        try:
            barrier.wait(timeout=30)
            out[i] = srv.buy(job.key, job.idem, bodies[i])
        except Exception as e:  # reported below
            out[i] = e

    ts = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def run_jobs(srv, jobs):
    for job in jobs:
        try:
            if job.mode == "conflict":
                results = send_concurrently(srv, job, [job.body, job.alt_body])
                for r, body in zip(results, (job.body, job.alt_body)):
                    if isinstance(r, Exception):
                        raise r
                    status, hdrs, j = r
                    job.responses.append((status, hdrs.get("idempotent-replayed") == "true", j,
                                          body))
                continue
            if job.mode == "concurrent":
                results = send_concurrently(srv, job)
            else:
                results = [srv.buy(job.key, job.idem, job.body)]
                if job.mode == "sequential":
                    results.append(srv.buy(job.key, job.idem, job.body))
            for r in results:
                if isinstance(r, Exception):
                    raise r
                status, hdrs, j = r
                job.responses.append((status, hdrs.get("idempotent-replayed") == "true", j))
        except Exception as e:
            job.error = repr(e)


class PurchaseE2E(unittest.TestCase):
    cluster = None   # pkcs11 mode: the front and the processors on their tokens
    servers = ["proc-1", "proc-2"]

    @classmethod
    def setUpClass(cls):
        if hsm.MODE:
            cls.cluster = test_scale_out.Cluster("e2e-p11", processors=2, psds=4,
                                                 deposit=str(DEPOSIT_DOLLARS),
                                                 refill=str(REFILL_DOLLARS))
            cls.srv = cls.cluster.srv
            cls.servers = ["p1", "p2"]
        else:
            cls.srv = harness.Stampd("e2e")
        try:
            cls._setup()
        except BaseException:
            cls.abandon()
            raise

    @classmethod
    def abandon(cls):
        if cls.cluster:
            for proc, _ in [cls.cluster.front] + [v[:2] for v in cls.cluster.procs.values()]:
                proc.kill()
        else:
            cls.srv.abandon()

    @classmethod
    def _setup(cls):
        srv = cls.srv
        if not cls.cluster:
            srv.init(psds=4, deposit=DEPOSIT_DOLLARS, refill=REFILL_DOLLARS)
        cls.keys = {}
        cls.initial = {}
        for name, (bal, _, _) in CUSTOMERS.items():
            cls.keys[name] = srv.customer(name + "@example.test", bal)
            cls.initial[name] = int(round(float(bal) * 1000))
        cls.keys["carol"] = srv.customer("carol@example.test", CAROL_BALANCE)
        cls.initial["carol"] = int(round(float(CAROL_BALANCE) * 1000))
        if not cls.cluster:
            srv.start(processors=2)
        for name, (_, count, _) in CUSTOMERS.items():
            _, batch = srv.media(sheets=1, name=name)
            MEDIA[name] = [x["serial"] for x in batch["serials"] if x["position"]]
            assert len(MEDIA[name]) * 11 >= count

        # Plan the work: per customer, keys spread over its threads.
        cls.jobs = {}
        lanes = []
        for name, (_, count, threads) in CUSTOMERS.items():
            jobs = [Job(name, cls.keys[name], "%s-%04d" % (name, n), body_for(name, n), mode_for(n))
                    for n in range(count)]
            cls.jobs[name] = jobs
            lanes += [jobs[t::threads] for t in range(threads)]
        cls.lanes = list(lanes)
        cls.conflicts = []
        for n in range(CONFLICTS):
            job = Job("alice", cls.keys["alice"], "alice-conflict-%d" % n,
                      {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
                       "to_zip": "10001"}, "conflict")
            job.alt_body = {"mail_class": "large_envelope", "weight_oz": 5,
                            "from_zip": "94107", "to_zip": "10001"}
            cls.conflicts.append(job)
            lanes[n % 4].append(job)
        carol = [Job("carol", cls.keys["carol"], "carol-%02d" % n,
                     {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
                      "to_zip": "10001"}, "once") for n in range(CAROL_TRIES)]
        cls.jobs["carol"] = carol
        lanes += [carol[t::4] for t in range(4)]

        with concurrent.futures.ThreadPoolExecutor(max_workers=len(lanes)) as ex:
            for f in [ex.submit(run_jobs, srv, lane) for lane in lanes]:
                f.result()

        # Carol, afterwards and alone: a refused purchase changes nothing, and
        # its key is still free for another body (nothing was recorded).
        cls.carol_refusal = {}
        r = cls.carol_refusal
        r["before"] = cls.snapshot("carol")
        r["letter"] = srv.buy(cls.keys["carol"], "carol-final",
                              {"mail_class": "first_class_letter", "weight_oz": 1,
                               "from_zip": "94107", "to_zip": "10001"})
        r["after"] = cls.snapshot("carol")
        r["postcard"] = srv.buy(cls.keys["carol"], "carol-final",
                                {"mail_class": "postcard", "weight_oz": 1, "from_zip": "94107",
                                 "to_zip": "10001"})

    @classmethod
    def snapshot(cls, name):
        srv = cls.srv
        return {"balance": srv.balance(cls.keys[name]),
                "indicia": [strip_volatile(i) for i in srv.list_all(cls.keys[name])],
                "psds": srv.psds()}

    @classmethod
    def tearDownClass(cls):
        if cls.cluster:
            cls.cluster.stop()   # every process exits 0 with no sanitizer report
        else:
            cls.srv.stop()   # asserts exit 0 and no sanitizer report

    # ---- helpers ----

    def successes(self, name):
        """{idempotency key: indicium json} for the customer's answered purchases."""
        out = {}
        for job in self.jobs[name]:
            for status, _, j in job.responses:
                if status == 201:
                    out[job.idem] = j
        if name == "alice":
            for job in self.conflicts:
                for r in job.responses:
                    if r[0] == 201:
                        out[job.idem] = r[2]
        if name == "carol":
            status, _, j = self.carol_refusal["postcard"]
            if status == 201:
                out["carol-final"] = j
        return out

    def all_listed(self):
        if not hasattr(self.__class__, "_listed"):
            self.__class__._listed = {n: self.srv.list_all(k) for n, k in self.keys.items()}
        return self.__class__._listed

    # ---- the tests ----

    def test_01_every_purchase_answered_201(self):
        total = 0
        for name in CUSTOMERS:
            planned = sum(price_mills(j.body["mail_class"], j.body["weight_oz"])
                          for j in self.jobs[name])
            if name == "alice":
                planned += CONFLICTS * price_mills("large_envelope", 5)
            self.assertLess(planned, self.initial[name], "test plan exceeds %s's balance" % name)
            for job in self.jobs[name]:
                self.assertIsNone(job.error, "%s: %s" % (job.idem, job.error))
                want = 2 if job.mode != "once" else 1
                self.assertEqual(len(job.responses), want, job.idem)
                for status, _, j in job.responses:
                    self.assertEqual(status, 201, "%s: %r" % (job.idem, j))
                total += 1
        self.assertGreaterEqual(total, 200)

    def test_02_retries_return_the_same_indicium(self):
        nseq = nconc = 0
        for name in CUSTOMERS:
            for job in self.jobs[name]:
                if job.error or any(s != 201 for s, _, _ in job.responses):
                    self.fail("%s did not succeed: %s %r" % (job.idem, job.error, job.responses))
                ids = {j["id"] for _, _, j in job.responses}
                self.assertEqual(len(ids), 1, "%s answered different indicia: %r" % (job.idem, ids))
                originals = [r for _, r, _ in job.responses if not r]
                self.assertEqual(len(originals), 1,
                                 "%s: exactly one answer must be the original (no "
                                 "Idempotent-Replayed), got replayed flags %r"
                                 % (job.idem, [r for _, r, _ in job.responses]))
                if job.mode == "sequential":
                    nseq += 1
                    self.assertFalse(job.responses[0][1], job.idem)
                    self.assertTrue(job.responses[1][1], "%s: replay lacks Idempotent-Replayed: "
                                    "true" % job.idem)
                if job.mode == "concurrent":
                    nconc += 1
                first = strip_volatile(job.responses[0][2])
                for _, _, j in job.responses[1:]:
                    self.assertEqual(strip_volatile(j), first, job.idem)
        self.assertGreater(nseq, 10)
        self.assertGreater(nconc, 10)

    def test_02b_same_key_two_bodies_at_once(self):
        # One of the two wins (201, not a replay), the other is 409; one indicium.
        for job in self.conflicts:
            self.assertIsNone(job.error, "%s: %s" % (job.idem, job.error))
            statuses = sorted(r[0] for r in job.responses)
            self.assertEqual(statuses, [201, 409], "%s: %r" % (job.idem, job.responses))
            for status, replayed, j, body in job.responses:
                if status == 201:
                    self.assertFalse(replayed, job.idem)
                    self.assertEqual(j["postage_mills"],
                                     price_mills(body["mail_class"], body["weight_oz"]))
                    self.assertEqual(j["mail_class"], body["mail_class"])
                else:
                    self.assertEqual(j["error"]["code"], "idempotency_key_reused", j)

    def test_03_answers_match_the_request(self):
        for name in CUSTOMERS:
            for job in self.jobs[name]:
                for status, _, j in job.responses:
                    if status != 201:
                        continue
                    b = job.body
                    self.assertEqual(j["postage_mills"], price_mills(b["mail_class"], b["weight_oz"]),
                                     "%s: %r" % (job.idem, b))
                    self.assertEqual(j["mail_class"], b["mail_class"])
                    self.assertEqual(j["weight_oz"], float(b["weight_oz"]))
                    self.assertEqual(j["from_zip"], b["from_zip"])
                    to = b["to_zip"]
                    self.assertEqual(j["to_zip"], to if len(to) != 9 else to[:5] + "-" + to[5:])
                    self.assertEqual(j["medium_serial"], b.get("medium_serial"))
                    self.assertEqual(j["license"], harness.LICENSE)
                    self.assertEqual(j["object"], "indicium")
                    self.assertFalse(j["test"])
                    self.assertEqual(j["mail_date"], j["created"][:10])

    def test_04_lists_hold_exactly_the_answered_purchases(self):
        listed = self.all_listed()
        for name in list(CUSTOMERS) + ["carol"]:
            got = self.successes(name)
            by_id = {j["id"]: j for j in got.values()}
            ids = [i["id"] for i in listed[name]]
            self.assertEqual(len(ids), len(set(ids)), "%s: list repeats an indicium" % name)
            self.assertEqual(len(ids), len(got),
                             "%s: %d indicia listed, %d distinct keys succeeded"
                             % (name, len(ids), len(got)))
            self.assertEqual(set(ids), set(by_id), name)
            for ind in listed[name]:
                self.assertEqual(strip_volatile(ind), strip_volatile(by_id[ind["id"]]), ind["id"])
                one = self.srv.get_ok("/v1/indicia/" + ind["id"], self.keys[name])
                self.assertEqual(strip_volatile(one), strip_volatile(ind))
            stamps = [i["created"] for i in listed[name]]
            self.assertEqual(stamps, sorted(stamps, reverse=True), "%s: not newest first" % name)
        # Newest first: within one thread's sequence of purchases, a later purchase
        # is listed before an earlier one.
        pos = {i["id"]: n for lst in listed.values() for n, i in enumerate(lst)}
        for lane in self.lanes:
            order = [pos[j.responses[0][2]["id"]] for j in lane if j.mode != "conflict"]
            self.assertEqual(order, sorted(order, reverse=True), "list order is not newest first")
        # The demo customer bought nothing.
        self.assertEqual(self.srv.list_all(self.srv.customer_key), [])

    def test_05_insufficient_funds(self):
        carol = self.jobs["carol"]
        ok = [j for j in carol if j.responses and j.responses[0][0] == 201]
        refused = [j for j in carol if j.responses and j.responses[0][0] == 402]
        for j in carol:
            self.assertIsNone(j.error, j.error)
            self.assertEqual(len(j.responses), 1)
            self.assertIn(j.responses[0][0], (201, 402), j.responses)
        self.assertEqual(len(ok), CAROL_FITS)
        self.assertEqual(len(refused), CAROL_TRIES - CAROL_FITS)
        for j in refused:
            err = j.responses[0][2]["error"]
            self.assertEqual(err["code"], "insufficient_funds")
            self.assertTrue(err["message"])
        r = self.carol_refusal
        status, _, j = r["letter"]
        self.assertEqual((status, j["error"]["code"]), (402, "insufficient_funds"), j)
        self.assertEqual(r["before"], r["after"], "a refused purchase changed something")
        self.assertEqual(r["before"]["balance"], self.initial["carol"] - CAROL_FITS * 740)
        # The refused key recorded nothing: the same key with another body is a new purchase.
        status, hdrs, j = r["postcard"]
        self.assertEqual(status, 201, j)
        self.assertNotIn("idempotent-replayed", hdrs)
        self.assertEqual(j["postage_mills"], 610)
        self.assertEqual(j["balance_mills"], self.initial["carol"] - CAROL_FITS * 740 - 610)

    def test_06_balances(self):
        listed = self.all_listed()
        for name, key in self.keys.items():
            spent = sum(i["postage_mills"] for i in listed[name])
            acct = self.srv.get_ok("/v1/account", key)
            self.assertEqual(acct["role"], "customer")
            self.assertEqual(acct["balance_mills"], self.initial[name] - spent, name)
            self.assertEqual(acct["balance"], "%d.%02d" % divmod(acct["balance_mills"] // 10, 100))

    def test_07_registers_and_deposit(self):
        listed = self.all_listed()
        everything = [i for lst in listed.values() for i in lst]
        psds = self.srv.psds()
        # Four live PSDs; the test PSD (test keys only; one per token) has sold nothing.
        live = [p for p in psds["psds"] if not p["test"]]
        test = [p for p in psds["psds"] if p["test"]]
        self.assertEqual((len(live), len(test)), (4, 2 if self.cluster else 1))
        self.assertEqual([p["piece_count"] for p in test], [0] * len(test))
        psds["psds"] = live
        harness.check_registers(self, psds["psds"], everything)
        self.assertEqual(psds["deposit_mills"],
                         DEPOSIT_DOLLARS * 1000 - sum(p["control_total_mills"] for p in psds["psds"]))
        # The load needed several refills of $25 (a refill is at least that).
        for p in psds["psds"]:
            self.assertGreater(p["piece_count"], 0, "PSD %d never used" % p["id"])
            self.assertEqual(p["control_total_mills"] % (REFILL_DOLLARS * 1000), 0, p)
            self.assertIsNotNone(p["last_refill_at"], p)
        self.assertGreater(sum(p["control_total_mills"] for p in psds["psds"]),
                           4 * REFILL_DOLLARS * 1000)

    def test_08_both_processors_served(self):
        listed = self.all_listed()
        everything = [i for lst in listed.values() for i in lst]
        servers = {i["server_id"] for i in everything}
        self.assertEqual(servers, set(self.servers))
        # --processors 2: each holds the leases of 2 of the 4 PSDs, and only the
        # holder of a PSD's lease moves its registers (docs/operations.md).
        holders = {p["id"]: p["lease_holder"] for p in self.srv.psds()["psds"] if not p["test"]}
        self.assertEqual(sorted(holders.values()), sorted(self.servers * 2))
        for i in everything:
            self.assertEqual(i["server_id"], holders[i["psd_id"]],
                             "PSD %d served by %s" % (i["psd_id"], i["server_id"]))
        if self.cluster:   # and each signed only with the PSDs of its own token
            self.cluster.check_tokens(self, everything)

    def test_09_bytes_match_the_json(self):
        listed = self.all_listed()
        keys = self.srv.keys()
        for ind in (i for lst in listed.values() for i in lst):
            raw = harness.unb64(ind["data"])
            d = harness.decode_indicium(raw)
            self.assertEqual((d["version"], d["sig_alg"], d["flags"]), (2, 1, 0))
            self.assertEqual(d["license"], harness.LICENSE)
            self.assertEqual(d["psd_id"], ind["psd_id"])
            self.assertEqual(d["key_id"], ind["key_id"])
            self.assertEqual(keys[d["key_id"]]["psd_id"], d["psd_id"], "key of another PSD")
            self.assertEqual(d["serial"], ind["serial"])
            self.assertEqual(d["ascending_mills"], ind["ascending_mills"])
            self.assertEqual(d["postage_mills"], ind["postage_mills"])
            self.assertEqual(d["mail_date"], int(ind["mail_date"].replace("-", "")))
            self.assertEqual(d["mail_class"], harness.MAIL_CLASSES[ind["mail_class"]][0])
            self.assertEqual(d["weight_tenths"], int(round(ind["weight_oz"] * 10)))
            self.assertEqual(d["from_zip"], ind["from_zip"])
            self.assertEqual(d["to_zip"], ind["to_zip"].replace("-", ""))
            self.assertEqual(d["software_id"], "STAMPD01")
            self.assertEqual(d["medium_serial"], ind["medium_serial"] or "")

    def test_10_openssl_verifies_every_indicium(self):
        listed = self.all_listed()
        keys = self.srv.keys()
        for k in keys.values():
            self.assertEqual(k["algorithm"], "ecdsa-p256-sha256")
        everything = [i for lst in listed.values() for i in lst]

        def check(ind):
            d = harness.decode_indicium(harness.unb64(ind["data"]))
            key_id = d["key_id"]
            if key_id not in keys:
                return ind["id"], False, "key %d not published" % key_id
            ok, out = harness.openssl_verify(self.srv.dir, keys[key_id]["public_key_pem"],
                                             d["body"], d["signature"])
            return ind["id"], ok, out

        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
            results = list(ex.map(check, everything))
        bad = [(i, out) for i, ok, out in results if not ok]
        self.assertEqual(bad, [], "openssl does not verify these")
        self.assertEqual(len(results), len(everything))
        # Every piece against its key's certificate, the certificate against the CA,
        # with nothing but the openssl command line.
        self.assertEqual(hsm.check_openssl(self, self.srv, everything), 4)
        # And a tampered body does not verify.
        ind = everything[0]
        d = harness.decode_indicium(harness.unb64(ind["data"]))
        body = bytearray(d["body"])
        body[42] ^= 1   # postage value
        ok, out = harness.openssl_verify(self.srv.dir, keys[d["key_id"]]["public_key_pem"],
                                         bytes(body), d["signature"])
        self.assertFalse(ok, out)

    def test_11_verify_api_and_duplicates(self):
        # docs/api.md: only the postal authority's check (postal key) counts a
        # presentation; customers - the owner or anyone holding a copy - read the count.
        listed = self.all_listed()
        everything = [(n, i) for n, lst in listed.items() for i in lst]
        third_party = {"alice": self.keys["bob"], "bob": self.keys["carol"],
                       "carol": self.keys["alice"]}

        def ok_first(s, j):
            return s == 200 and j["valid"] and j["signature_valid"] and j["known"] and \
                not j["duplicate"] and j["presented_before"] == 0 and j["status"] == "valid" \
                and j["reason"] is None

        def ok_dup(s, j, before):
            return s == 200 and j["valid"] and j["signature_valid"] and j["known"] and \
                j["duplicate"] and j["presented_before"] == before and j["status"] == "duplicate"

        def check(item):
            name, ind = item
            problems = []
            body = {"data": ind["data"]}
            # Someone holding a copy (another customer) reads, and does not count.
            s, _, j = self.srv.request("POST", "/v1/verify", body, key=third_party[name])
            if not ok_first(s, j):
                problems.append(("another customer", s, j))
            # Nor does the vendor's operator: the count is the postal authority's.
            s, _, j = self.srv.request("POST", "/v1/verify", body, key=self.srv.operator_key)
            if not ok_first(s, j):
                problems.append(("operator", s, j))
            s, _, j = self.srv.request("POST", "/v1/verify", body, key=self.srv.postal_key)
            if not ok_first(s, j):
                problems.append(("first (postal)", s, j))
            elif (j["fields"]["serial"], j["fields"]["psd_id"], j["fields"]["postage_mills"]) != \
                    (ind["serial"], ind["psd_id"], ind["postage_mills"]):
                problems.append(("fields", j["fields"]))
            s, _, j = self.srv.request("POST", "/v1/verify", body, key=self.srv.postal_key)
            if not ok_dup(s, j, 1):
                problems.append(("second (postal)", s, j))
            for _ in range(2):   # the owner's checks report the count without raising it
                s, _, j = self.srv.request("POST", "/v1/verify", body, key=self.keys[name])
                if not ok_dup(s, j, 2):
                    problems.append(("owner", s, j))
            return ind["id"], problems

        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
            results = list(ex.map(check, everything))
        bad = [(i, p) for i, p in results if p]
        self.assertEqual(bad, [])
        # The presentations are counted on the indicium.
        for name, ind in everything[::20]:
            one = self.srv.get_ok("/v1/indicia/" + ind["id"], self.keys[name])
            self.assertEqual(one["presentations"], 2, ind["id"])

    def test_13_the_books_balance(self):
        # docs/api.md: GET /v1/admin/ledger proves every journal and account.
        rep = self.srv.get_ok("/v1/admin/ledger", self.srv.operator_key)
        self.assertTrue(rep["ok"], rep)
        self.assertEqual(rep["issues"], [])
        self.assertGreater(rep["journals"], 200)
        # /metrics (Prometheus text) agrees with the registers and the lists.
        import http.client
        conn = http.client.HTTPConnection(self.srv.host, self.srv.port, timeout=60)
        conn.request("GET", "/metrics",
                     headers={"Authorization": "Bearer " + self.srv.operator_key})
        resp = conn.getresponse()
        text = resp.read().decode()
        conn.close()
        self.assertEqual(resp.status, 200, text)
        self.assertTrue(resp.getheader("Content-Type").startswith("text/plain"))
        psds = self.srv.psds()["psds"]
        for p in psds:
            self.assertIn('stampd_psd_balanced{psd="%d"} 1\n' % p["id"], text)
            self.assertIn('stampd_psd_pieces_total{psd="%d"} %d\n' % (p["id"], p["piece_count"]),
                          text)
        signed = sum(int(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                     if line.startswith("stampd_indicia_total{"))
        self.assertEqual(signed, sum(p["piece_count"] for p in psds))
        # and so does the command on the server host, with its exit code
        rc, out, _ = self.srv.run("ledger", "check", "--db", self.srv.db, check=False)
        self.assertEqual(rc, 0, out)
        self.assertIn("every journal balances", out)

    def test_12_late_replays_change_nothing(self):
        before = {n: self.srv.balance(k) for n, k in self.keys.items()}
        psds = self.srv.psds()
        for name in CUSTOMERS:
            for job in self.jobs[name][::25]:
                status, hdrs, j = self.srv.buy(job.key, job.idem, job.body)
                self.assertEqual(status, 201, j)
                self.assertEqual(hdrs.get("idempotent-replayed"), "true")
                self.assertEqual(j["id"], job.responses[0][2]["id"])
                self.assertEqual(j["balance_mills"], before[name])
        self.assertEqual({n: self.srv.balance(k) for n, k in self.keys.items()}, before)
        self.assertEqual(self.srv.psds(), psds)


if __name__ == "__main__":
    harness.main()
