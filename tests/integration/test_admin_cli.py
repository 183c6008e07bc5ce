"""test_admin_cli.py - the operator's `stamp admin` commands (docs/cli.md,
"Operators: stamp admin") against a real scale-out topology.

One fresh SQLite database (harness.Stampd: init --demo, 4 PSDs), two
`stampd processor` processes (p1, p2) and one `stampd front` serve the whole
module; 12 stamps are bought through the front first. The tests then check
`stamp admin servers` (table and --json: both processors, their addresses and
PSD leases, shares of the traffic summing to 100%), `stamp admin psds`
(deposit, registers in dollars, lease holders), drain / disable / enable
(status, leases handed over, purchases served only by the other processor
while one is drained), and the failures: an unknown id (not_found, exit 1), a
customer key (forbidden, exit 1) and usage errors (exit 2, nothing sent).
Every process is stopped with SIGTERM at the end and must exit 0 with a
sanitizer-clean stderr; every `stamp` run must be sanitizer-clean too.

Environment: STAMPD_BIN, STAMP_BIN (the binaries), STAMPD_TEST_TMP (scratch).
Standard library only; run as `python3 test_admin_cli.py`.
"""

import json
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402  (shared by the integration tests; not edited here)

STAMP_BIN = os.environ.get("STAMP_BIN") or os.path.join(harness.SOURCE_DIR, "build", "stamp")
STAMP_TIMEOUT = 60.0     # seconds per `stamp` run
SETTLE_TIMEOUT = 30.0    # seconds for leases to move after a status change
FRONT_RELOAD = 1.5       # a front rereads the servers table at most every second
POSTCARD_MILLS = 610     # postcard, 0.3 oz (docs/api.md prices)
PSDS = 4

SRV = None     # the harness.Stampd: database, keys, and the front's host and port
PROCS = {}     # name -> (Popen, stderr path, URL it listens on)


def spawn(name, args):
    """Start `stampd ARGS`; wait for its "listening on URL" line. Returns (proc, path, url).
    The front-processor secret comes from the environment here (test_scale_out
    gives it as a file)."""
    path = os.path.join(SRV.dir, name + ".stderr")
    env = harness.stampd_env()
    env["STAMPD_INTERNAL_SECRET"] = SRV.internal_secret()[1]
    with open(path, "ab") as errf:
        proc = subprocess.Popen([harness.STAMPD_BIN] + args, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=errf, env=env)
    PROCS[name] = (proc, path, None)
    pat = re.compile(r"listening on (https?://[0-9.]+:[0-9]+)(?![0-9])")
    deadline = time.monotonic() + harness.START_TIMEOUT
    while time.monotonic() < deadline:
        m = pat.search(SRV.stderr_text(path))
        if m:
            PROCS[name] = (proc, path, m.group(1))
            return m.group(1)
        if proc.poll() is not None:
            raise AssertionError("%s exited %d:\n%s" % (name, proc.returncode,
                                                         SRV.stderr_text(path)))
        time.sleep(0.05)
    raise AssertionError("%s did not listen within %ds:\n%s"
                         % (name, harness.START_TIMEOUT, SRV.stderr_text(path)))


def stop_all():
    """SIGTERM every process; each must exit 0 with no sanitizer report."""
    bad = []
    for name, (proc, path, _) in list(PROCS.items()):
        proc.terminate()
        try:
            rc = proc.wait(timeout=harness.STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            rc = "no exit within %ds" % harness.STOP_TIMEOUT
        text = SRV.stderr_text(path)
        if rc != 0 or any(p in text for p in harness.SANITIZER_PATTERNS):
            bad.append("%s: exit %s\n%s" % (name, rc, text[-4000:]))
        del PROCS[name]
    if bad:
        raise AssertionError("processes did not stop cleanly:\n" + "\n".join(bad))


def abandon():
    """Best-effort cleanup after a failed start: never leaves a process behind."""
    for name, (proc, _, _) in list(PROCS.items()):
        proc.kill()
        proc.wait()
        del PROCS[name]


def admin_json():
    """GET /v1/admin/servers over HTTP (not through the CLI under test), by id."""
    return {s["id"]: s for s in SRV.get_ok("/v1/admin/servers", SRV.operator_key)["servers"]}


def wait_until(what, cond, timeout=SETTLE_TIMEOUT):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = admin_json()
            if cond(last):
                return last
        except (AssertionError, OSError):
            pass   # the front may not answer yet
        time.sleep(0.1)
    raise AssertionError("%s: not reached within %ds: %r" % (what, timeout, last))


def leases_settled(want):
    """cond: the servers in want are healthy and hold want[id] leases; all PSDs leased."""
    def cond(sv):
        return (all(i in sv and sv[i]["status"] == "active" and sv[i]["healthy"]
                    and len(sv[i]["psd_leases"]) == n for i, n in want.items() if n)
                and sum(len(s["psd_leases"]) for s in sv.values()) == PSDS)
    return cond


def setUpModule():
    global SRV
    SRV = harness.Stampd("admin-cli")
    try:
        SRV.init(psds=PSDS)
        for name in ("p1", "p2"):
            spawn(name, ["processor", "--db", SRV.db, "--listen", "127.0.0.1:0", "--id", name]
                  + harness.internal_tls_args(name))
        url = spawn("front", ["front", "--db", SRV.db, "--listen", "127.0.0.1:0"]
                    + harness.internal_tls_args("front"))
        m = re.match(r"http://([0-9.]+):([0-9]+)$", url)
        SRV.host, SRV.port = m.group(1), int(m.group(2))
        wait_until("both processors lease 2 PSDs", leases_settled({"p1": 2, "p2": 2}))
        time.sleep(FRONT_RELOAD)
        for i in range(12):
            s, _, body = SRV.buy(SRV.customer_key, "setup-%d" % i,
                                 {"mail_class": "postcard", "weight_oz": 0.3,
                                  "from_zip": "94107", "to_zip": "10001"})
            if s != 201:
                raise AssertionError("purchase %d: %d %r" % (i, s, body))
    except BaseException:
        abandon()
        raise


def tearDownModule():
    if SRV is not None:
        stop_all()


class Run:
    """The result of one `stamp` run."""

    def __init__(self, args, rc, out, err):
        self.args, self.rc, self.out, self.err = args, rc, out, err

    def __repr__(self):
        return ("stamp %s\n  exit %d\n  stdout:\n%s\n  stderr:\n%s"
                % (" ".join(self.args), self.rc, self.out, self.err))


def stamp(*args, key="operator", server=None):
    """Run `stamp ARGS`. key: "operator", "customer", None (unset) or a key.
    server: None = the front."""
    env = harness.stampd_env()
    env.pop("STAMP_KEY", None)
    env["STAMP_SERVER"] = server or "http://%s:%d" % (SRV.host, SRV.port)
    key = {"operator": SRV.operator_key, "customer": SRV.customer_key}.get(key, key)
    if key is not None:
        env["STAMP_KEY"] = key
    args = [str(a) for a in args]
    p = subprocess.run([STAMP_BIN] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=STAMP_TIMEOUT)
    r = Run(args, p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))
    harness.assert_no_sanitizer(r.err, "stamp " + " ".join(args))
    return r


closed_port_url = harness.closed_port_url


SERVER_ROW = re.compile(r"^(\S+)\s+(\S+)\s+(active|draining|disabled)\s+(ok|STALE \S+)\s+(\S+)"
                        r"\s+(\d+)\s+([0-9.]+)%\s+(\d+)\s+([0-9.]+)%\s*$")
PSD_ROW = re.compile(r"^\s*(\d+)\s+(\S+)\s+(\d+)\s+(\$[0-9.]+)\s+(\$[0-9.]+)\s+(\$[0-9.]+)"
                     r"\s+(\d+)\s+(\S+)\s+(yes|NO)\s+(.*?)\s*$")


def server_rows(text):
    """The rows of `stamp admin servers` by id: a dict of the columns."""
    lines = text.splitlines()
    if not lines or not re.match(r"^ID\s+ADDRESS\s+STATUS\s+HEALTH\s+PSDS\s+LAST HOUR\s+TOTAL$",
                                 lines[0]):
        raise AssertionError("no servers table header:\n" + text)
    rows = {}
    for line in lines[1:]:
        m = SERVER_ROW.match(line)
        if not m:
            raise AssertionError("unreadable servers row %r in:\n%s" % (line, text))
        g = m.groups()
        rows[g[0]] = {"address": g[1], "status": g[2], "health": g[3],
                      "psds": [] if g[4] == "-" else [int(x) for x in g[4].split(",")],
                      "hour": int(g[5]), "hour_pct": float(g[6]),
                      "total": int(g[7]), "total_pct": float(g[8])}
    return rows


def dollars(mills):
    """cli_money for whole cents: "$7.32"."""
    return "$%d.%02d" % (mills // 1000, (mills % 1000) // 10)


class AdminTest(unittest.TestCase):
    maxDiff = None

    def expect(self, r, rc):
        self.assertEqual(r.rc, rc, "expected exit %d: %r" % (rc, r))
        return r

    def buy_served_by(self, n, tag):
        """Buy n postcards through the front; the server_id of each."""
        out = []
        for i in range(n):
            s, _, body = SRV.buy(SRV.customer_key, "%s-%d" % (tag, i),
                                 {"mail_class": "postcard", "weight_oz": 0.3,
                                  "from_zip": "94107", "to_zip": "10001"})
            self.assertEqual(s, 201, body)
            out.append(body["server_id"])
        return out

    def total_sold(self):
        return sum(s["indicia_total"] for s in admin_json().values())

    # ---- reading ----

    def test_01_servers_table(self):
        r = self.expect(stamp("admin", "servers"), 0)
        self.assertEqual(r.err, "", r)
        rows = server_rows(r.out)
        sv = admin_json()
        self.assertEqual(set(rows), {"p1", "p2"}, r)
        for pid, row in rows.items():
            self.assertEqual(row["address"], PROCS[pid][2], r)
            self.assertEqual(row["status"], "active", r)
            self.assertEqual(row["health"], "ok", r)
            self.assertEqual(len(row["psds"]), 2, r)
            self.assertEqual(row["psds"], sorted(sv[pid]["psd_leases"]), (r, sv))
            self.assertEqual(row["total"], sv[pid]["indicia_total"], (r, sv))
        self.assertEqual(sorted(rows["p1"]["psds"] + rows["p2"]["psds"]), [1, 2, 3, 4], r)
        self.assertEqual(sum(row["hour"] for row in rows.values()), 12, r)
        self.assertEqual(sum(row["total"] for row in rows.values()), 12, r)
        # Round-robin over two processors: about 6 each.
        self.assertLessEqual(abs(rows["p1"]["total"] - 6), 1, r)
        for col in ("hour_pct", "total_pct"):
            self.assertAlmostEqual(sum(row[col] for row in rows.values()), 100.0, delta=0.2,
                                   msg=repr(r))
        # `stamp admin servers list` is the same command.
        r2 = self.expect(stamp("admin", "servers", "list"), 0)
        self.assertEqual(set(server_rows(r2.out)), {"p1", "p2"}, r2)

    def test_01_servers_json(self):
        r = self.expect(stamp("admin", "servers", "--json"), 0)
        doc = json.loads(r.out)
        sv = {s["id"]: s for s in doc["servers"]}
        self.assertEqual(set(sv), {"p1", "p2"}, r)
        for s in sv.values():
            for k in ("address", "status", "healthy", "heartbeat_age_ms", "started", "key_ids",
                      "psd_leases", "indicia_last_hour", "indicia_total", "share_last_hour",
                      "share_total"):
                self.assertIn(k, s, r)
        self.assertEqual(sum(s["indicia_total"] for s in sv.values()), 12, r)
        self.assertAlmostEqual(sum(s["share_total"] for s in sv.values()), 1.0, places=6)
        self.assertAlmostEqual(sum(s["share_last_hour"] for s in sv.values()), 1.0, places=6)
        # --json before the command word is the same.
        r2 = self.expect(stamp("--json", "admin", "servers"), 0)
        self.assertEqual(set(s["id"] for s in json.loads(r2.out)["servers"]),
                         {"p1", "p2"})

    def test_02_psds_table(self):
        r = self.expect(stamp("admin", "psds"), 0)
        doc = SRV.psds()
        lines = r.out.splitlines()
        self.assertEqual(lines[0], "postal deposit  $%.2f" % (doc["deposit_mills"] / 1000.0), r)
        self.assertEqual(lines[1], "", r)
        self.assertRegex(lines[2], r"^\s*PSD\s+STATUS\s+KEY\s+DESCENDING\s+ASCENDING\s+"
                                   r"CONTROL TOTAL\s+PIECES\s+LAST REFILL\s+BALANCED\s+LEASE$")
        rows = {}
        for line in lines[3:]:
            m = PSD_ROW.match(line)
            self.assertIsNotNone(m, "unreadable PSD row %r: %r" % (line, r))
            rows[int(m.group(1))] = m.groups()
        # Four live PSDs and the test PSD that signs pieces bought with test keys.
        self.assertEqual(sorted(rows), [1, 2, 3, 4, 5], r)
        holders = {p["id"]: p["lease_holder"] for p in doc["psds"]}
        sold = sum(p["ascending_mills"] for p in doc["psds"])
        self.assertEqual(sold, self.total_sold() * POSTCARD_MILLS)
        for p in doc["psds"]:
            g = rows[p["id"]]
            self.assertEqual(g[1], p["status"], r)
            self.assertEqual(g[2], str(p["key_id"]), r)
            self.assertEqual(g[3], dollars(p["descending_mills"]), r)
            self.assertEqual(g[4], dollars(p["ascending_mills"]), r)
            self.assertEqual(g[5], dollars(p["control_total_mills"]), r)
            self.assertEqual(g[6], str(p["piece_count"]), r)
            self.assertEqual(g[7], p["last_refill_at"] or "-", r)
            self.assertEqual(g[8], "yes", r)
            if p["test"]:
                self.assertEqual((g[9], holders[p["id"]]), ("test PSD (no lease)", None), r)
                continue
            self.assertRegex(g[9], r"^%s \([0-9.]+s left\)$" % re.escape(holders[p["id"]]), r)
        self.assertEqual(set(holders.values()), {"p1", "p2", None}, doc)
        # --json: the server's document.
        j = json.loads(self.expect(stamp("admin", "psds", "--json"), 0).out)
        self.assertEqual(j["deposit_mills"], doc["deposit_mills"])
        self.assertEqual([p["id"] for p in j["psds"]], [1, 2, 3, 4, 5])

    # ---- steering ----

    def test_03_drain_then_enable(self):
        r = self.expect(stamp("admin", "servers", "drain", "p1"), 0)
        self.assertEqual(r.out, "server p1: draining (no new purchases; its PSD leases pass to "
                                "the other servers)\n", r)
        self.assertEqual(r.err, "", r)
        wait_until("p2 leases every PSD",
                   lambda sv: sv["p1"]["psd_leases"] == [] and len(sv["p2"]["psd_leases"]) == 4)
        rows = server_rows(self.expect(stamp("admin", "servers"), 0).out)
        self.assertEqual(rows["p1"]["status"], "draining", rows)
        self.assertEqual(rows["p1"]["psds"], [], rows)
        # Drained, not dead: it still heartbeats, though the JSON says healthy: false.
        self.assertEqual(rows["p1"]["health"], "ok", rows)
        self.assertFalse(admin_json()["p1"]["healthy"])
        self.assertEqual(rows["p2"]["psds"], [1, 2, 3, 4], rows)
        psds = self.expect(stamp("admin", "psds"), 0).out
        self.assertEqual(len(re.findall(r" p2 \([0-9.]+s left\)$", psds, re.M)), 4, psds)

        time.sleep(FRONT_RELOAD)
        p2_before = admin_json()["p2"]["indicia_total"]
        served = self.buy_served_by(6, "drained")
        self.assertEqual(served, ["p2"] * 6)
        self.assertEqual(admin_json()["p2"]["indicia_total"], p2_before + 6)

        r = self.expect(stamp("admin", "servers", "enable", "p1"), 0)
        self.assertEqual(r.out, "server p1: active (takes purchases and its share of the PSD "
                                "leases)\n", r)
        wait_until("leases shared again", leases_settled({"p1": 2, "p2": 2}))
        rows = server_rows(self.expect(stamp("admin", "servers"), 0).out)
        self.assertEqual((rows["p1"]["status"], rows["p1"]["health"]), ("active", "ok"), rows)
        self.assertEqual(len(rows["p1"]["psds"]), 2, rows)
        time.sleep(FRONT_RELOAD)
        self.assertEqual(set(self.buy_served_by(4, "enabled")), {"p1", "p2"})

    def test_04_disable_then_enable(self):
        r = self.expect(stamp("admin", "servers", "disable", "p2", "--json"), 0)
        self.assertEqual(json.loads(r.out), {"id": "p2", "status": "disabled"}, r)
        wait_until("p1 leases every PSD",
                   lambda sv: sv["p2"]["psd_leases"] == [] and len(sv["p1"]["psd_leases"]) == 4)
        rows = server_rows(self.expect(stamp("admin", "servers"), 0).out)
        self.assertEqual((rows["p2"]["status"], rows["p2"]["psds"]), ("disabled", []), rows)
        time.sleep(FRONT_RELOAD)
        self.assertEqual(self.buy_served_by(3, "disabled"), ["p1"] * 3)
        # Enabling an active server, or enabling twice, is fine: a status is set, not toggled.
        for _ in range(2):
            r = self.expect(stamp("admin", "servers", "enable", "p2"), 0)
            self.assertTrue(r.out.startswith("server p2: active"), r)
        wait_until("leases shared again", leases_settled({"p1": 2, "p2": 2}))

    # ---- refusals ----

    def test_05_unknown_id(self):
        before = admin_json()
        for verb in ("drain", "disable", "enable"):
            r = self.expect(stamp("admin", "servers", verb, "p9"), 1)
            self.assertEqual(r.out, "", r)
            self.assertIn("error: not_found: no such server", r.err, r)
        r = self.expect(stamp("admin", "servers", "drain", "p9", "--json"), 1)
        self.assertEqual(json.loads(r.out)["error"]["code"], "not_found", r)
        # The longest id the CLI allows reaches the server (and is unknown there).
        r = self.expect(stamp("admin", "servers", "drain", "x" * 39), 1)
        self.assertIn("not_found", r.err, r)
        self.assertEqual({k: v["status"] for k, v in admin_json().items()},
                         {k: v["status"] for k, v in before.items()})

    def test_06_customer_key_forbidden(self):
        for args in (["admin", "servers"], ["admin", "psds"], ["admin", "servers", "drain", "p1"],
                     ["admin", "servers", "enable", "p1"]):
            r = self.expect(stamp(*args, key="customer"), 1)
            self.assertEqual(r.out, "", r)
            self.assertRegex(r.err, r"^error: forbidden: ", r)
        r = self.expect(stamp("admin", "servers", "--json", key="customer"), 1)
        self.assertEqual(json.loads(r.out)["error"]["code"], "forbidden", r)
        self.assertEqual(admin_json()["p1"]["status"], "active")

    def test_07_usage_errors(self):
        # Sent to a closed port: any request that went out would be exit 3, not 2.
        dead = closed_port_url()
        cases = [[], ["bogus"], ["servers", "bogus"], ["servers", "drain"], ["servers", "enable"],
                 ["servers", "disable"], ["servers", "drain", "x" * 40],
                 ["servers", "drain", "p/1"], ["servers", "drain", "p 1"],
                 ["servers", "drain", "p1?x"], ["servers", "drain", "\u00fc"],
                 ["servers", "drain", ""], ["servers", "drain", "p1", "p2"],
                 ["servers", "list", "x"], ["servers", "--bogus"], ["psds", "x"],
                 ["psds", "--limit", "3"]]
        for args in cases:
            r = self.expect(stamp("admin", *args, server=dead), 2)
            self.assertEqual(r.out, "", r)
            self.assertTrue(r.err.startswith("stamp admin: "), r)
            self.assertIn("Try 'stamp admin --help'.", r.err, r)
        for args in (["servers"], ["psds"], ["servers", "drain", "p1"]):
            r = self.expect(stamp("admin", *args, key=None, server=dead), 2)
            self.assertIn("no API key", r.err, r)

    def test_08_help(self):
        r = self.expect(stamp("help", "admin", key=None), 0)
        for text in ("stamp admin servers [list]", "stamp admin psds", "operator key",
                     "stamp admin servers (drain | disable | enable) ID"):
            self.assertIn(text, r.out, r)
        self.assertEqual(self.expect(stamp("admin", "--help", key=None), 0).out, r.out)
        r = self.expect(stamp("--help", key=None), 0)
        self.assertRegex(r.out, r"\n  admin +operators: ", r)


if __name__ == "__main__":
    harness.main()
