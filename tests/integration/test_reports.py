#!/usr/bin/env python3
"""Signed daily per-device reports and the watchdog (issue 13, docs/authority.md
"Daily reports" and "The watchdog"), against the real stampd on SQLite and,
when STAMPD_TEST_PG_DSN_FILE names a cluster, on PostgreSQL:

* `stampd authority report --date D --out DIR` writes each live device's
  report of day D (JSON Lines and CSV) with DER signatures that the `openssl`
  command line verifies with the PSD's key, whose certificate chains to the
  vendor CA; a changed byte fails. A day not over yet is refused. The report's
  totals equal the registers' movement that day and the sum of its pieces; a
  refunded piece is marked, a test piece is in no report.
* The processors report completed days themselves (a timer on the writer
  thread); GET /v1/authority/reports lists the days, GET .../reports/{date}
  serves JSON Lines or CSV (?psd=N: one device's signed bytes) and
  .../signatures what openssl needs. Customer and operator keys get 403 there,
  a postal key gets 403 on the operator's /v1/admin/watchdog.
* The watchdog, with the test clock (STAMPD_TEST_CLOCK_OFFSET_S) 91 days
  ahead and the processors' reports off: every PSD locks (a log line), a
  sale is refused psd_contact_overdue; a report of one device unlocks it and
  sales go to it while the other stays locked; GET /v1/psds shows
  last_contact_at, contact_deadline_at and overdue, /metrics
  stampd_psd_overdue. With reports on again, the processor catches up on the
  missing days itself, which unlocks the other.
"""
import base64
import datetime
import json
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

PG_DSN_FILE = os.environ.get("STAMPD_TEST_PG_DSN_FILE")
DAY = 86400
OFFSET_ENV = "STAMPD_TEST_CLOCK_OFFSET_S"


def letter(weight=1.0):
    return {"mail_class": "first_class_letter", "weight_oz": weight, "from_zip": "10001",
            "to_zip": "941051234", "mail_date": harness.today_utc().isoformat()}


def fresh_dsn():
    p = subprocess.run(["sh", os.path.join(harness.SOURCE_DIR, "scripts", "pg-test.sh"),
                        "createdb", PG_DSN_FILE], stdout=subprocess.PIPE, check=True, timeout=60)
    return p.stdout.decode().strip()


class Clock:
    """STAMPD_TEST_CLOCK_OFFSET_S for the stampd processes started inside."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __enter__(self):
        os.environ[OFFSET_ENV] = str(self.seconds)

    def __exit__(self, *exc):
        os.environ.pop(OFFSET_ENV, None)


def openssl(*args):
    p = subprocess.run(["openssl"] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def day_of(created):
    return created[:10]


def offset_after(day):
    """Seconds to add to now so that `day` (YYYY-MM-DD) ended 10 minutes ago."""
    end = datetime.datetime.fromisoformat(day + "T00:00:00+00:00") + datetime.timedelta(days=1)
    return int(end.timestamp() - time.time()) + 600


class Base:
    postgres = False

    def raw_as(self, key, path):
        """The body of a 200 answer to GET path, as bytes."""
        import http.client
        srv = self.srv
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=60)
        try:
            conn.request("GET", path, headers={"Authorization": "Bearer " + key})
            resp = conn.getresponse()
            body = resp.read()
            self.assertEqual(resp.status, 200, body)
            return body
        finally:
            conn.close()

    def setUp(self):
        srv = self.srv = harness.Stampd("reports")
        if self.postgres:
            srv.db = fresh_dsn()
        _, out, _ = srv.run("init", "--db", srv.db, "--license", harness.LICENSE, "--psds", "2",
                            "--deposit", "10000", "--keys-dir", os.path.join(srv.dir, "keys"),
                            "--demo")
        keys = harness.Stampd._keys(out)
        srv.customer_key = keys["STAMP_KEY"]
        srv.operator_key = keys["STAMP_OPERATOR_KEY"]
        srv.postal_key = keys["STAMP_POSTAL_KEY"]

    def tearDown(self):
        os.environ.pop(OFFSET_ENV, None)
        self.srv.abandon()

    def report_cli(self, day, out, *extra):
        return self.srv.run("authority", "report", "--db", self.srv.db, "--date", day,
                            "--out", out, *extra, check=False)


class ReportsBase(Base):
    def test_daily_report(self):
        srv = self.srv
        srv.start(processors=1)
        pieces = []
        for i, w in enumerate([1.0, 2.0, 1.0, 3.0, 1.0]):
            st, _, r = srv.buy(srv.customer_key, "rep-%d" % i, letter(w))
            self.assertEqual(st, 201, r)
            pieces.append(r)
        # One piece refunded: listed, marked refunded.
        st, _, rf = srv.request("POST", "/v1/indicia/%s/refund" % pieces[1]["id"],
                                key=srv.customer_key)
        self.assertEqual((st, rf["status"]), (201, "approved"), rf)
        # A test piece: play money, in no report.
        test_key = srv.signup("test-buyer@example.com", mode="test")
        st, _, r = srv.request("POST", "/v1/account/funds", key=test_key,
                               body={"amount": "5.00", "payment": {"method": "card", "card": {
                                   "number": "4242424242424242", "exp_month": 12,
                                   "exp_year": 2031, "cvc": "123", "zip": "94107"}}},
                               headers={"Idempotency-Key": "rep-funds"})
        self.assertEqual(st, 201, r)
        st, _, tp = srv.buy(test_key, "rep-test", letter())
        self.assertEqual(st, 201, tp)
        psds_now = {p["id"]: p for p in srv.psds()["psds"]}
        live_ids = sorted(i for i, p in psds_now.items() if not p["test"])
        self.assertEqual(len(live_ids), 2)
        self.assertIn("last_contact_at", psds_now[live_ids[0]])
        self.assertIsNotNone(psds_now[live_ids[0]]["last_contact_at"])
        self.assertFalse(psds_now[live_ids[0]]["overdue"])
        srv.stop()
        days = sorted({day_of(p["created"]) for p in pieces})
        self.assertLessEqual(len(days), 2, "pieces across more than a midnight")
        day = days[0]
        out = os.path.join(srv.dir, "out")

        # A day before the devices' reports began: nothing to report.
        rc, _, err = self.report_cli("2001-01-01", out)
        self.assertEqual(rc, 0, err)
        self.assertIn("its reports begin later", err)
        # The day is not over: refused, nothing made.
        rc, _, err = self.report_cli(day, out)
        self.assertEqual(rc, 1, err)
        self.assertIn("not over", err)

        # Ten minutes after the day ended (the test clock): made, signed, written.
        with Clock(offset_after(days[-1])):
            for d in days:
                rc, stdout, err = self.report_cli(d, out)
                self.assertEqual(rc, 0, err)
        self.assertNotIn("psd %d:" % tp["psd_id"], stdout)
        per_psd = {}
        for d in days:
            for pid in live_ids:
                base = os.path.join(out, "report-%s-psd-%d" % (d, pid))
                for form in ("jsonl", "csv"):
                    path = base + "." + form
                    rc, o = openssl("dgst", "-sha256", "-verify",
                                    os.path.join(out, "psd-%d-key.pem" % pid),
                                    "-signature", path + ".sig", path)
                    self.assertEqual((rc, "Verified OK" in o), (0, True), o)
                # The key is the one its certificate from the vendor CA certifies.
                cert = os.path.join(out, "psd-%d-cert.pem" % pid)
                rc, o = openssl("verify", "-CAfile", os.path.join(out, "ca.pem"), cert)
                self.assertEqual(rc, 0, o)
                rc, pub = openssl("x509", "-in", cert, "-noout", "-pubkey")
                with open(os.path.join(out, "psd-%d-key.pem" % pid)) as f:
                    self.assertEqual(pub.strip(), f.read().strip())
                with open(base + ".jsonl") as f:
                    per_psd.setdefault(pid, []).append([json.loads(x) for x in f])
        # A changed byte fails.
        path = os.path.join(out, "report-%s-psd-%d.jsonl" % (day, live_ids[0]))
        with open(path, "rb") as f:
            body = bytearray(f.read())
        body[len(body) // 2] ^= 0x01
        with open(path + ".altered", "wb") as f:
            f.write(bytes(body))
        rc, o = openssl("dgst", "-sha256", "-verify",
                        os.path.join(out, "psd-%d-key.pem" % live_ids[0]),
                        "-signature", path + ".sig", path + ".altered")
        self.assertNotEqual(rc, 0, o)
        self.assertIn("Verification failure", o)

        # The totals are the registers' movement and the sum of the pieces.
        listed = {}
        for pid, reports in per_psd.items():
            prev_end = None
            for lines in reports:
                head, end = lines[0], lines[-1]
                self.assertEqual((head["object"], end["object"]),
                                 ("device_report", "device_report_end"))
                items = [x for x in lines if x["object"] == "piece"]
                resets = [x for x in lines if x["object"] == "reset"]
                s, e = head["start"], end["end"]
                if prev_end is not None:
                    self.assertEqual(s, prev_end)
                prev_end = e
                self.assertEqual(e["ascending_mills"] - s["ascending_mills"],
                                 sum(x["postage_mills"] for x in items))
                self.assertEqual(e["piece_count"] - s["piece_count"], len(items))
                self.assertEqual(e["control_total_mills"] - s["control_total_mills"],
                                 sum(x["amount_mills"] for x in resets))
                for r in (s, e):
                    self.assertEqual(r["ascending_mills"] + r["descending_mills"],
                                     r["control_total_mills"])
                self.assertEqual(end["pieces"], len(items))
                self.assertEqual(end["postage_mills"], sum(x["postage_mills"] for x in items))
                self.assertIn("deposit_mills", end)
                self.assertFalse(end["deposit_low"])
                for x in items:
                    listed[(pid, x["serial"])] = x
            # Nothing moved after the last day: its end is the PSD's registers now.
            now = psds_now[pid]
            self.assertEqual(prev_end, {"ascending_mills": now["ascending_mills"],
                                        "descending_mills": now["descending_mills"],
                                        "control_total_mills": now["control_total_mills"],
                                        "piece_count": now["piece_count"]})
        self.assertEqual(len(listed), len(pieces))
        for p in pieces:
            x = listed[(p["psd_id"], p["serial"])]
            self.assertEqual((x["postage_mills"], x["origin_zip"], x["destination_zip"],
                              x["mail_class"], x["medium_serial"]),
                             (p["postage_mills"], "10001", "941051234", "first_class_letter",
                              None))
            self.assertEqual(x["status"], "refunded" if p["id"] == pieces[1]["id"] else "sold")
        # No buyer's data: no customer id, email or address in any report.
        with open(path) as f:
            text = f.read()
        self.assertNotIn("cus_", text)
        self.assertNotIn("@", text)

        # The API serves the same bytes, and the processors report on their own:
        # the day after is reported by proc-1 within a few seconds of its start.
        with Clock(offset_after(days[-1]) + DAY):
            srv.start(processors=1)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                lst = srv.get_ok("/v1/authority/reports", srv.postal_key)
                if len(lst["data"]) >= len(days) + 1:
                    break
                time.sleep(0.2)
            self.assertEqual(len(lst["data"]), len(days) + 1, lst)
            self.assertEqual(lst["object"], "list")
            newest = lst["data"][0]
            self.assertEqual((newest["object"], newest["devices"], newest["pieces"]),
                             ("report", 2, 0), newest)
            rep = [x for x in lst["data"] if x["date"] == day][0]
            self.assertEqual(rep["pieces"], sum(1 for p in pieces if day_of(p["created"]) == day))
            self.assertEqual(rep["url"], "/v1/authority/reports/" + day)
            # Paged by date.
            page = srv.get_ok("/v1/authority/reports?limit=1", srv.postal_key)
            self.assertTrue(page["has_more"])
            page2 = srv.get_ok("/v1/authority/reports?limit=1&cursor=" + page["next_cursor"],
                               srv.postal_key)
            self.assertLess(page2["data"][0]["date"], page["data"][0]["date"])

            st, hdrs, _ = srv.request("GET", "/v1/authority/reports/" + day, key=srv.postal_key)
            self.assertEqual(st, 200)
            for pid in live_ids:
                with open(os.path.join(out, "report-%s-psd-%d.jsonl" % (day, pid)), "rb") as f:
                    want = f.read()
                got = self.raw("/v1/authority/reports/%s?psd=%d" % (day, pid))
                self.assertEqual(got, want)
                with open(os.path.join(out, "report-%s-psd-%d.csv" % (day, pid)), "rb") as f:
                    self.assertEqual(self.raw("/v1/authority/reports/%s?psd=%d&format=csv"
                                              % (day, pid)), f.read())
            whole = self.raw("/v1/authority/reports/" + day).decode()
            self.assertEqual(sum(1 for x in whole.splitlines()
                                 if json.loads(x)["object"] == "device_report"), 2)
            csv = self.raw("/v1/authority/reports/%s?format=csv" % day).decode()
            self.assertEqual(csv.count("record,date,"), 1)
            self.assertEqual(sum(1 for x in csv.splitlines() if x.startswith("piece,")),
                             rep["pieces"])
            sigs = srv.get_ok("/v1/authority/reports/%s/signatures" % day, srv.postal_key)
            self.assertEqual(len(sigs["data"]), 2)
            for s in sigs["data"]:
                body = self.raw(s["jsonl"]["url"])
                with open(os.path.join(srv.dir, "api.sig"), "wb") as f:
                    f.write(base64.b64decode(s["jsonl"]["signature"]))
                with open(os.path.join(srv.dir, "api.body"), "wb") as f:
                    f.write(body)
                with open(os.path.join(srv.dir, "api.pem"), "w") as f:
                    f.write(s["public_key_pem"])
                rc, o = openssl("dgst", "-sha256", "-verify", os.path.join(srv.dir, "api.pem"),
                                "-signature", os.path.join(srv.dir, "api.sig"),
                                os.path.join(srv.dir, "api.body"))
                self.assertEqual(rc, 0, o)
                self.assertIn("BEGIN CERTIFICATE", s["certificate_pem"])
            self.assertIn("BEGIN CERTIFICATE", sigs["ca_certificate_pem"])
            # Unknown day, bad day, bad format.
            self.assertEqual(srv.request("GET", "/v1/authority/reports/2001-01-01",
                                         key=srv.postal_key)[0], 404)
            st, _, e = srv.request("GET", "/v1/authority/reports/yesterday", key=srv.postal_key)
            self.assertEqual((st, e["error"]["field"]), (400, "date"), e)
            st, _, e = srv.request("GET", "/v1/authority/reports/%s?format=xml" % day,
                                   key=srv.postal_key)
            self.assertEqual((st, e["error"]["field"]), (400, "format"), e)
            # The authority's routes refuse customer and operator keys; the
            # operator's watchdog setting refuses the postal key.
            for path in ("/v1/authority/reports", "/v1/authority/reports/" + day,
                         "/v1/authority/reports/%s/signatures" % day):
                for k in (srv.customer_key, srv.operator_key):
                    st, _, e = srv.request("GET", path, key=k)
                    self.assertEqual((st, e["error"]["code"]), (403, "forbidden"), (path, e))
            for m, body in (("GET", None), ("PUT", {"deadline_days": 30})):
                st, _, e = srv.request(m, "/v1/admin/watchdog", body=body, key=srv.postal_key)
                self.assertEqual((st, e["error"]["code"]), (403, "forbidden"), e)
            err = srv.stop()
        self.assertNotIn("report of PSD", err)

    def raw(self, path):
        return self.raw_as(self.srv.postal_key, path)


class WatchdogBase(Base):
    def test_watchdog_locks_and_unlocks(self):
        srv = self.srv
        # The processor's first hold starts each device's watchdog.
        srv.start(processors=1)
        st, _, first = srv.buy(srv.customer_key, "wd-0", letter())
        self.assertEqual(st, 201, first)
        psds = {p["id"]: p for p in srv.psds()["psds"] if not p["test"]}
        started = {i: p["last_contact_at"] for i, p in psds.items()}
        self.assertTrue(all(started.values()), psds)
        srv.stop()
        day = day_of(first["created"])

        # 91 days later, nobody reported: both devices lock, a sale is refused.
        with Clock(91 * DAY):
            srv.start(processors=1, extra=("--reports", "off"))
            err = srv.stderr_text()
            for i in psds:
                self.assertRegex(err, r"watchdog: PSD %d locked for sales" % i)
            view = {p["id"]: p for p in srv.psds()["psds"]}
            for i in psds:
                self.assertTrue(view[i]["overdue"], view[i])
                self.assertEqual(view[i]["last_contact_at"], started[i])
            metrics = self.raw_as(srv.operator_key, "/metrics").decode()
            for i in psds:
                self.assertIn('stampd_psd_overdue{psd="%d"} 1' % i, metrics)
            wd = srv.get_ok("/v1/admin/watchdog", srv.operator_key)
            self.assertEqual(wd["deadline_days"], 90)
            self.assertTrue(all(d["overdue"] for d in wd["devices"]), wd)
            st, _, e = srv.buy(srv.customer_key, "wd-1", letter())
            self.assertEqual((st, e["error"]["code"]), (503, "psd_contact_overdue"), e)
            # The operator may set another deadline (days, 1..3650).
            st, _, e = srv.request("PUT", "/v1/admin/watchdog", {"deadline_days": 0},
                                   key=srv.operator_key)
            self.assertEqual((st, e["error"]["field"]), (400, "deadline_days"), e)

            # One device reports (its module at hand): it unlocks and takes the sales.
            one, other = sorted(psds)
            rc, out, err = self.report_cli(day, os.path.join(srv.dir, "out"), "--psd", str(one))
            self.assertEqual(rc, 0, err)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if "PSD %d unlocked" % one in srv.stderr_text():
                    break
                time.sleep(0.2)
            self.assertIn("watchdog: PSD %d unlocked" % one, srv.stderr_text())
            for i in range(3):
                st, _, r = srv.buy(srv.customer_key, "wd-2-%d" % i, letter())
                self.assertEqual(st, 201, r)
                self.assertEqual(r["psd_id"], one)
            view = {p["id"]: p for p in srv.psds()["psds"]}
            self.assertFalse(view[one]["overdue"])
            self.assertTrue(view[other]["overdue"])
            metrics = self.raw_as(srv.operator_key, "/metrics").decode()
            self.assertIn('stampd_psd_overdue{psd="%d"} 0' % one, metrics)
            self.assertIn('stampd_psd_overdue{psd="%d"} 1' % other, metrics)
            self.assertNotEqual(view[one]["last_contact_at"], started[one])
            srv.stop()
            # With its reports on, the processor catches up on the other's 91 days by
            # itself (16 a run) and that unlocks it too.
            srv.start(processors=1)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if "PSD %d unlocked" % other in srv.stderr_text():
                    break
                time.sleep(0.5)
            self.assertIn("watchdog: PSD %d unlocked" % other, srv.stderr_text())
            lst = srv.get_ok("/v1/authority/reports?limit=100", srv.postal_key)
            self.assertGreaterEqual(len(lst["data"]), 90)
            self.assertFalse(any(p["overdue"] for p in srv.psds()["psds"]))
            srv.stop()
        # The refused sale wrote nothing; the books balance.
        rc, out, _ = srv.run("ledger", "check", "--db", srv.db)
        self.assertEqual(rc, 0, out)


class ReportsSQLite(ReportsBase, unittest.TestCase):
    pass


class WatchdogSQLite(WatchdogBase, unittest.TestCase):
    pass


@unittest.skipUnless(PG_DSN_FILE, "no PostgreSQL cluster (STAMPD_TEST_PG_DSN_FILE)")
class ReportsPostgres(ReportsBase, unittest.TestCase):
    postgres = True


@unittest.skipUnless(PG_DSN_FILE, "no PostgreSQL cluster (STAMPD_TEST_PG_DSN_FILE)")
class WatchdogPostgres(WatchdogBase, unittest.TestCase):
    postgres = True


if __name__ == "__main__":
    harness.main()
