"""test_crash_loop.py - kill stampd again and again under card and balance load.

Issue 12 ("keep it closed"): on SQLite, `stampd serve` is killed with SIGKILL
five times while six clients buy postage paid from a balance, paid by card,
paid from a balance that auto-refills from a card, and top up a balance by
card. After each kill the server is started again and every request that got
no answer (or a 503 while it went down) is sent again with its
Idempotency-Key and body, as a client must. On PostgreSQL the same load runs
through a front and three processor processes while a processor and then the
front are killed.

After the loop, from the API, the database and the sandbox gateway's own
durable journal (docs/payments.md):
  * no acknowledged purchase or top-up is lost; every key has exactly one result;
  * no (PSD, serial) twice, registers balanced (harness.check_registers);
  * `stampd ledger check` is clean and every balance equals its journal;
  * no card was charged twice: one live (captured, not voided) gateway charge
    per stampd charge, and stampd's charges are exactly the live ones;
  * no gateway charge was left without its indicium / top-up or its void.
"""

import concurrent.futures
import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_scale_out  # noqa: E402

KILLS = 5
WORKERS = 6
# How long recovery may take to void the holds of requests that died with a
# process and were never retried (docs/payments.md, "Recovery").
RECOVERY_WAIT = float(os.environ.get("STAMPD_TEST_RECOVERY_WAIT", "60"))

BODIES = [("first_class_letter", 1), ("postcard", 1), ("first_class_letter", 2),
          ("large_envelope", 3)]


def body_for(n):
    cls, w = BODIES[n % len(BODIES)]
    return {"mail_class": cls, "weight_oz": w, "from_zip": "94107", "to_zip": "10001"}


def db_rows(dsn, sql):
    """Rows of one query, on SQLite (python's sqlite3) or PostgreSQL (psql)."""
    if dsn.startswith("sqlite:"):
        con = sqlite3.connect("file:%s?mode=ro" % dsn[len("sqlite:"):], uri=True, timeout=30)
        try:
            return [tuple(r) for r in con.execute(sql)]
        finally:
            con.close()
    psql = None
    for d in sorted(os.listdir("/usr/lib/postgresql"), reverse=True):
        p = os.path.join("/usr/lib/postgresql", d, "bin", "psql")
        if os.path.exists(p):
            psql = p
            break
    out = subprocess.run([psql, "-X", "-At", "-F", "\t", "-d", dsn, "-c", sql],
                         stdout=subprocess.PIPE, check=True, timeout=60).stdout.decode()
    rows = []
    for line in out.splitlines():
        rows.append(tuple(int(v) if v.lstrip("-").isdigit() else v for v in line.split("\t")))
    return rows


def read_journal(path):
    """The sandbox gateway's events, in order (one JSON object per line)."""
    events = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if line:
                try:
                    events.append(json.loads(line))
                except ValueError:
                    # A torn last line of a killed process is the only excuse.
                    raise AssertionError("journal %s line %d is not JSON: %r" % (path, n, line))
    return events


class Load:
    """Customers and the requests sent for them: one idempotency key each,
    with its body, the answers it got, and its final result."""

    OPS = ("balance", "card", "refill", "topup", "balance", "card")

    def __init__(self, srv, key_balance, key_card, key_refill, pm_card):
        self.srv = srv
        self.keys = {"balance": key_balance, "card": key_card, "refill": key_refill,
                     "topup": key_card}
        self.pm = pm_card
        self.lock = threading.Lock()
        self.sent = {}       # idem -> (op, body)
        self.done = {}       # idem -> final JSON answer (201)
        self.open = {}       # idem -> why it is not done yet (no answer, 503)
        self.seq = 0

    def request(self, op, idem, body):
        key = self.keys[op]
        if op == "topup":
            return self.srv.request("POST", "/v1/account/funds", body=body, key=key,
                                    headers={"Idempotency-Key": idem})
        return self.srv.buy(key, idem, body)

    def new_body(self, op, n):
        if op == "topup":
            return {"amount": "10.00", "payment": {"method": "card", "payment_method_id": self.pm}}
        b = body_for(n)
        if op == "card":
            b["payment"] = {"method": "card", "payment_method_id": self.pm}
        return b

    def settle(self, idem, status, j, tc):
        """Record one answer: 201 is final; 503 (the server going down) and
        no answer stay open; anything else fails the test."""
        with self.lock:
            if status == 201:
                if idem in self.done:
                    tc.assertEqual(j["id"], self.done[idem]["id"], "key %s answered two results"
                                   % idem)
                self.done[idem] = j
                self.open.pop(idem, None)
                return True
            code = j and j.get("error", {}).get("code")
            if status in (502, 503) and code in ("unavailable", "payment_processing_error"):
                self.open[idem] = "%d %s" % (status, code)
                return False
        raise AssertionError("%s: unexpected answer %d %r" % (idem, status, j))

    def run_until_killed(self, tc, kill, answers_before_kill):
        """WORKERS clients send new requests until answers_before_kill were
        answered in this round, then kill() runs while they go on."""
        enough = threading.Event()
        count = [0]
        stop = threading.Event()
        failures = []

        def worker(t):
            while not stop.is_set():
                with self.lock:
                    self.seq += 1
                    n = self.seq
                op = self.OPS[n % len(self.OPS)]
                idem = "cl-%05d-%s" % (n, op)
                body = self.new_body(op, n)
                with self.lock:
                    self.sent[idem] = (op, body)
                    self.open[idem] = "sent"
                try:
                    s, _, j = self.request(op, idem, body)
                except Exception:
                    # The server went away under this request. Back off
                    # until the round ends: the client retries after restart.
                    stop.wait(30)
                    continue
                try:
                    if self.settle(idem, s, j, tc):
                        with self.lock:
                            count[0] += 1
                            if count[0] >= answers_before_kill:
                                enough.set()
                except AssertionError as e:
                    failures.append(str(e))
                    enough.set()
                    return

        pool = [threading.Thread(target=worker, args=(t,)) for t in range(WORKERS)]
        for t in pool:
            t.start()
        try:
            tc.assertTrue(enough.wait(timeout=120), "the load reached only %d answers" % count[0])
        finally:
            kill()
            stop.set()
            for t in pool:
                t.join(timeout=harness.HTTP_TIMEOUT + 10)
        tc.assertFalse(any(t.is_alive() for t in pool))
        tc.assertEqual(failures, [])
        return count[0]

    def retry_open(self, tc, rounds=5):
        """Send every open request again with its key and body until each is
        answered 201 (a replay, or done now)."""
        for _ in range(rounds):
            todo = sorted(self.open)
            if not todo:
                return
            for idem in todo:
                op, body = self.sent[idem]
                try:
                    s, _, j = self.request(op, idem, body)
                except Exception as e:
                    self.open[idem] = "no answer: %r" % e
                    continue
                self.settle(idem, s, j, tc)
            if self.open:
                time.sleep(1)
        tc.assertEqual(self.open, {}, "requests never answered after retries")


class JournalCluster(test_scale_out.Cluster):
    """Processors and front sharing one sandbox journal (docs/payments.md): on
    PostgreSQL it is not beside a database file, so every process is told."""

    def processor_tls(self, pid):
        return super().processor_tls(pid) + ["--gateway-journal", self.journal]

    def front_tls(self):
        return super().front_tls() + ["--gateway-journal", self.journal]

    @property
    def journal(self):
        return os.path.join(self.srv.dir, "gateway.jsonl")


class CrashLoop(unittest.TestCase):
    def setUp(self):
        self.cleanups = []

    def tearDown(self):
        for f in reversed(self.cleanups):
            try:
                f()
            except Exception:
                pass

    # -- set-up shared by both databases --

    def customers(self, srv):
        """Three live customers: balance only, card (and top-ups), balance
        with auto-refill from a card. Returns the Load."""
        k_bal = srv.customer("crash-balance@example.test", "400")
        k_card = srv.customer("crash-card@example.test", "0")
        k_ref = srv.customer("crash-refill@example.test", "3")
        pms = {}
        for k in (k_card, k_ref):
            s, _, j = srv.request("POST", "/v1/payment-methods", key=k, body={"card": harness.CARD})
            self.assertEqual(s, 201, j)
            pms[k] = j["id"]
        s, _, j = srv.request("PUT", "/v1/account/auto-refill", key=k_ref,
                              body={"enabled": True, "trigger": "5.00", "amount": "20.00",
                                    "payment_method_id": pms[k_ref]})
        self.assertEqual(s, 200, j)
        return Load(srv, k_bal, k_card, k_ref, pms[k_card])

    # -- the checks --

    def check(self, srv, load, journal):
        keys = load.keys
        self.assertEqual(load.open, {})
        self.assertEqual(set(load.sent), set(load.done))
        by_customer = {}
        for op in ("balance", "card", "refill"):
            listed = srv.list_all(keys[op])
            ids = [i["id"] for i in listed]
            self.assertEqual(len(ids), len(set(ids)), "an indicium listed twice")
            by_customer[op] = {i["id"]: i for i in listed}
        # Every key of a purchase has exactly one indicium, and every indicium a key.
        for op in ("balance", "card", "refill"):
            mine = {idem: j for idem, j in load.done.items() if load.sent[idem][0] == op}
            answered_ids = [j["id"] for j in mine.values()]
            self.assertEqual(len(answered_ids), len(set(answered_ids)),
                             "two keys answered the same indicium (%s)" % op)
            self.assertEqual(set(answered_ids), set(by_customer[op]),
                             "%s: indicia and acknowledged keys differ" % op)
        all_indicia = [i for d in by_customer.values() for i in d.values()]
        psds = srv.psds()
        harness.check_registers(self, psds["psds"], all_indicia)

        # Top-ups: one per key.
        topups = [j for idem, j in load.done.items() if load.sent[idem][0] == "topup"]
        self.assertEqual(len({j["id"] for j in topups}), len(topups))

        # Balances equal their journals.
        txns = {}
        for op in ("balance", "card", "refill"):
            rows, cursor = [], None
            while True:
                path = "/v1/account/transactions?limit=100" + ("&cursor=" + cursor if cursor else "")
                page = srv.get_ok(path, keys[op])
                rows += page["data"]
                if not page["has_more"]:
                    break
                cursor = page["next_cursor"]
            txns[op] = rows
            self.assertEqual(srv.balance(keys[op]), sum(t["amount_mills"] for t in rows),
                             "%s: balance differs from its transactions" % op)
        self.assertEqual(srv.balance(keys["balance"]),
                         400000 - sum(i["postage_mills"] for i in by_customer["balance"].values()))
        self.assertEqual(srv.balance(keys["card"]), 10000 * len(topups))
        self.assertEqual(sorted(t["ref"] for t in txns["card"] if t["kind"] == "funds_added"),
                         sorted(j["id"] for j in topups))

        # stampd's charges: one per card purchase, per top-up, per refill.
        charges = db_rows(srv.db, "SELECT id, purpose, ref, amount_mills, refunded_mills "
                                  "FROM charges WHERE test = 0")
        by_purpose = {}
        for cid, purpose, ref, amount, refunded in charges:
            self.assertEqual(refunded, 0, cid)
            by_purpose.setdefault(purpose, []).append((cid, ref, amount))
        card_ind = by_customer["card"]
        self.assertEqual(sorted(r for _, r, _ in by_purpose.get("purchase", [])),
                         sorted(card_ind), "card purchases and their charges differ")
        for cid, ref, amount in by_purpose.get("purchase", []):
            self.assertEqual(amount, card_ind[ref]["postage_mills"], cid)
        self.assertEqual(sorted(r for _, r, _ in by_purpose.get("funds", [])),
                         sorted(j["id"] for j in topups))
        refills = [t for t in txns["refill"] if t["kind"] == "auto_refill"]
        self.assertEqual(sorted(r for _, r, _ in by_purpose.get("auto_refill", [])),
                         sorted(t["ref"] for t in refills))
        ids = [c[0] for c in charges]
        self.assertEqual(len(ids), len(set(ids)))

        if journal is None:
            return
        # The gateway's own record, once recovery has voided every hold that
        # lost its request (a kill between authorisation and commit, never retried).
        stampd_live = {c[0]: c[3] for c in charges}
        deadline = time.monotonic() + RECOVERY_WAIT
        while True:
            problems, live = self.gateway_state(journal, stampd_live)
            if not problems or time.monotonic() > deadline:
                break
            time.sleep(1)
        self.assertEqual(problems, [], "gateway journal %s" % journal)
        self.assertEqual(live, stampd_live, "the gateway's live charges are not stampd's charges")
        events = read_journal(journal)
        sys.stderr.write("\n  %d indicia, %d top-ups, %d charges; journal: %s ... "
                         % (len(all_indicia), len(topups), len(charges),
                            ", ".join("%d %s" % (sum(1 for e in events if e.get("op") == op), op)
                                      for op in ("authorize", "capture", "void"))))

    def gateway_state(self, path, stampd_live):
        """(problems, {charge id: amount} of live charges) from the journal."""
        problems = []
        auth, captured, voided, key_ids = {}, {}, set(), {}
        for e in read_journal(path):
            op, cid = e.get("op"), e.get("id")
            if op == "authorize":
                if e.get("result") != "approved":
                    continue
                key_ids.setdefault(e["key"], set()).add(cid)
                auth[cid] = e["amount"]
            elif op == "capture":
                captured[cid] = captured.get(cid, 0) + 1
            elif op == "void":
                voided.add(cid)
        for key, ids in key_ids.items():
            if len(ids) != 1:
                problems.append("key %s authorised %d charges %r" % (key, len(ids), sorted(ids)))
        live = {}
        for cid, amount in auth.items():
            if cid in captured and cid not in voided:
                live[cid] = amount
            elif cid not in captured and cid not in voided:
                problems.append("hold %s (%d mills) neither captured nor voided" % (cid, amount))
        for cid in captured:
            if cid not in auth:
                problems.append("capture of %s without its authorisation" % cid)
        return problems, live

    # -- SQLite: five kills of `stampd serve` --

    def test_sqlite_five_kills_under_card_and_balance_load(self):
        srv = harness.Stampd("crashloop")
        self.cleanups.append(srv.abandon)
        srv.init(psds=4, refill="20")
        # Each gateway call takes 30 ms, so that kills land between a card's
        # authorisation and the commit, or between the commit and the capture.
        extra = ["--gateway-latency", "30"]
        srv.start(processors=2, extra=extra)
        load = self.customers(srv)
        rng = random.Random(12)
        kills = []

        def kill():
            kills.append(time.time() * 1000)
            srv.kill9()

        for k in range(KILLS):
            n = load.run_until_killed(self, kill, rng.randint(10, 40))
            sys.stderr.write("\n  kill %d after %d answers, %d open ... " % (k + 1, n,
                                                                           len(load.open)))
            srv.start(processors=2, extra=extra)
            load.retry_open(self)
        journal = srv.db[len("sqlite:"):] + ".gateway.jsonl"
        self.assertTrue(os.path.exists(journal), "no sandbox gateway journal at " + journal)
        self.check(srv, load, journal)
        # The loop hit the window it is about: card payments held by the
        # gateway but not yet captured when the process died.
        held, caught = {}, 0
        for e in read_journal(journal):
            if e.get("op") == "authorize" and e.get("result") == "approved":
                held.setdefault(e["id"], e["t"])
            elif e.get("op") == "capture" and e["id"] in held:
                caught += any(held[e["id"]] <= k <= e["t"] for k in kills)
        sys.stderr.write("%d card payments caught between hold and capture by a kill ... "
                         % caught)
        self.assertGreater(caught, 0, "no kill landed inside a card payment")
        srv.stop()
        srv.run("ledger", "check", "--db", srv.db)

    # -- PostgreSQL: kill a processor, then the front --

    @unittest.skipUnless(test_scale_out.PG_DSN_FILE, "needs the CTest postgres fixture")
    def test_postgres_kill_processor_and_front(self):
        c = JournalCluster("crashpg", processors=3, lease_ms=1500)
        self.cleanups.append(c.stop)
        srv = c.srv
        load = self.customers(srv)

        runs = [0]

        def set_aside(name):
            # The harness finds a process's port in its stderr file: a new
            # process of the same name starts a new file.
            runs[0] += 1
            path = os.path.join(srv.dir, name + ".stderr")
            os.rename(path, "%s.%d" % (path, runs[0]))

        def kill_processor():
            c.kill9("p2")
            set_aside("p2")

        def kill_front():
            c.front[0].kill()
            c.front[0].wait()
            set_aside("front")

        # The front retries what p2 had in flight on another processor.
        load.run_until_killed(self, kill_processor, 30)
        load.retry_open(self)
        c.start_processor("p2")
        # The clients retry what the front had in flight.
        load.run_until_killed(self, kill_front, 30)
        c.start_front()
        load.retry_open(self)
        load.run_until_killed(self, kill_processor, 20)
        c.start_processor("p2")
        load.retry_open(self)
        load.run_until_killed(self, kill_front, 20)
        c.start_front()
        load.retry_open(self)
        self.check(srv, load, c.journal)
        self.cleanups.pop()
        c.stop()
        srv.run("ledger", "check", "--db", srv.db)


if __name__ == "__main__":
    harness.main()
