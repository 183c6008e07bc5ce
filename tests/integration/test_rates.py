"""test_rates.py - rate tables as data, options, parcels, ZIP and address
checking through the real server and CLI (issue 17, docs/rates.md).

One `stampd serve` on a fresh vendor. The shipped table is listed by
`stampd rates list` and GET /v1/rates; `stampd rates load` refuses a bad
document, a table dated today (without --force) and a taken version; a table
dated tomorrow with a dearer letter is picked up by the RUNNING server
without a restart: a letter mailed today still costs the old price, one
mailed tomorrow the new one, and a piece bought before keeps its price. A
quote without a class lists every class that fits. Certified Mail, Return
Receipt and the non-machinable surcharge are priced, broken down, signed
into the postage and stored; parcels are priced by zone. ZIP codes whose
prefix was never issued (00000) are refused; the address check corrects a
block and says so, refuses a state that does not match, and can be turned
off. Then a front with two processor processes: options and zones cross
the internal protocol, and a table loaded while they run is priced alike by
the front and by every processor.
"""

import datetime
import json
import os
import subprocess
import sys
import time
import unittest
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_scale_out  # noqa: E402  (its Cluster: one front, processor processes)

SRV = None
SHIPPED = os.path.join(harness.SOURCE_DIR, "data", "rates", "usps-2025-07-13.json")


def setUpModule():
    global SRV
    SRV = harness.Stampd("rates")
    SRV.init()
    SRV.start(processors=2)


def tearDownModule():
    if SRV is not None:
        SRV.stop()


def day(offset):
    return (datetime.datetime.now(datetime.timezone.utc).date()
            + datetime.timedelta(days=offset)).isoformat()


def table(version, effective, letter_1oz="0.74"):
    """The shipped table as a new version from effective, letters 1 oz at letter_1oz."""
    with open(SHIPPED) as f:
        doc = json.load(f)
    doc["version"] = version
    doc["effective"] = effective
    doc["classes"]["first_class_letter"]["steps"][0]["price"] = letter_1oz
    path = os.path.join(SRV.dir, version + ".json")
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def buy(body, key=None, idem=None):
    base = {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
            "to_zip": "10001"}
    base.update(body)
    return SRV.buy(key or SRV.customer_key, idem or uuid.uuid4().hex, base)


def quote(query):
    return SRV.request("GET", "/v1/rates/quote?" + query)


class Rates(unittest.TestCase):

    def assertError(self, st, j, status, code, field=None):
        self.assertEqual(st, status, j)
        self.assertEqual(j["error"]["code"], code, j)
        if field is not None:
            self.assertEqual(j["error"].get("field"), field, j)

    def test_1_tables_by_mail_date(self):
        # The shipped table, stored at start.
        _, out, _ = SRV.run("rates", "list", "--db", SRV.db)
        self.assertIn("usps-2025-07-13", out)
        self.assertIn("shipped", out)
        j = SRV.get_ok("/v1/rates")
        self.assertEqual([t["version"] for t in j["data"]], ["usps-2025-07-13"])
        self.assertEqual(j["data"][0]["status"], "in_effect")
        self.assertIn("ground_advantage", j["data"][0]["classes"])

        # A letter bought before the new table: $0.74.
        st, _, before = buy({})
        self.assertEqual(st, 201, before)
        self.assertEqual(before["postage_mills"], 740)
        self.assertEqual(before["price"]["rate_version"], "usps-2025-07-13")

        # Refusals: a broken document, today's date without --force.
        bad = os.path.join(SRV.dir, "bad.json")
        with open(bad, "w") as f:
            f.write('{"format": "stampd-rates/1", "version": "x"}')
        rc, _, err = SRV.run("rates", "load", bad, "--db", SRV.db, check=False)
        self.assertEqual(rc, 1, err)
        self.assertIn("rate_table_invalid", err)
        rc, _, err = SRV.run("rates", "load", table("today", day(0)), "--db", SRV.db, check=False)
        self.assertEqual(rc, 1, err)
        self.assertIn("--force", err)

        # Tomorrow's table, letters at $0.80: loaded while the server runs.
        _, out, _ = SRV.run("rates", "load", table("next", day(1), "0.80"), "--db", SRV.db)
        self.assertIn("version=next", out)
        rc, _, err = SRV.run("rates", "load", table("next", day(2)), "--db", SRV.db, check=False)
        self.assertEqual(rc, 1, err)
        self.assertIn("rate_table_conflict", err)

        # The running server sees it within a second or two.
        deadline = time.monotonic() + 15
        while True:
            j = SRV.get_ok("/v1/rates")
            if len(j["data"]) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual([(t["version"], t["status"]) for t in j["data"]],
                         [("usps-2025-07-13", "in_effect"), ("next", "scheduled")])
        self.assertEqual(j["data"][0]["until"], day(1))

        st, _, today = buy({"mail_date": day(0)})
        self.assertEqual((st, today["postage_mills"]), (201, 740), today)
        st, _, tomorrow = buy({"mail_date": day(1)})
        self.assertEqual((st, tomorrow["postage_mills"]), (201, 800), tomorrow)
        self.assertEqual(tomorrow["price"]["rate_version"], "next")
        st, _, q = quote("mail_class=first_class_letter&weight_oz=1&mail_date=" + day(1))
        self.assertEqual((st, q["postage_mills"]), (200, 800), q)
        # The piece bought before keeps its price.
        again = SRV.get_ok("/v1/indicia/" + before["id"], SRV.customer_key)
        self.assertEqual(again["postage_mills"], 740)
        self.assertEqual(again["price"]["total_mills"], 740)

    def test_2_quote_every_class(self):
        st, _, j = quote("weight_oz=2")
        self.assertEqual(st, 200, j)
        self.assertEqual(j["object"], "quote_list")
        self.assertEqual([q["mail_class"] for q in j["data"]],
                         ["first_class_letter", "large_envelope"])
        st, _, j = quote("weight_oz=2&from_zip=10001&to_zip=90001")
        self.assertEqual([q["mail_class"] for q in j["data"]],
                         ["first_class_letter", "large_envelope", "ground_advantage",
                          "priority_mail"])
        self.assertEqual([q["zone"] for q in j["data"]], [None, None, 8, 8])
        st, _, j = quote("weight_oz=100&from_zip=10001&to_zip=10002")
        self.assertEqual([(q["mail_class"], q["zone"]) for q in j["data"]],
                         [("ground_advantage", 1), ("priority_mail", 1)])
        st, _, j = quote("mail_class=ground_advantage&weight_oz=4")
        self.assertError(st, j, 400, "missing_field")

    def test_3_services_and_parcels_priced_and_stored(self):
        st, _, q = quote("mail_class=first_class_letter&weight_oz=1"
                         "&extra_services=certified_mail,return_receipt&non_machinable=true")
        self.assertEqual(st, 200, q)
        self.assertEqual(q["price"]["total_mills"], 740 + 490 + 5300 + 4400)
        st, _, ind = buy({"extra_services": ["certified_mail", "return_receipt"],
                          "non_machinable": True})
        self.assertEqual(st, 201, ind)
        self.assertEqual(ind["postage_mills"], 740 + 490 + 5300 + 4400)
        self.assertEqual(ind["extra_services"], ["certified_mail", "return_receipt"])
        self.assertTrue(ind["non_machinable"])
        p = ind["price"]
        self.assertEqual((p["postage_mills"], p["nonmachinable_surcharge_mills"],
                          p["certified_mail_mills"], p["return_receipt_mills"]),
                         (740, 490, 5300, 4400))
        # Signed: the indicium's postage is the total.
        raw = harness.decode_indicium(harness.unb64(ind["data"]))
        self.assertEqual(raw["postage_mills"], 740 + 490 + 5300 + 4400)
        got = SRV.get_ok("/v1/indicia/" + ind["id"], SRV.customer_key)
        self.assertEqual((got["extra_services"], got["non_machinable"], got["price"]),
                         (ind["extra_services"], True, p))
        # What the class does not take.
        st, _, j = buy({"mail_class": "postcard", "non_machinable": True})
        self.assertError(st, j, 422, "service_unavailable", "non_machinable")
        st, _, j = buy({"extra_services": ["return_receipt"]})
        self.assertError(st, j, 422, "service_unavailable", "extra_services")
        st, _, j = buy({"extra_services": ["insurance"]})
        self.assertError(st, j, 400, "invalid_request", "extra_services")
        # A parcel: 2 lb by Priority Mail from New York to Los Angeles, zone 8.
        st, _, q = quote("mail_class=priority_mail&weight_oz=32&from_zip=10001&to_zip=90001")
        self.assertEqual((st, q["zone"]), (200, 8), q)
        st, _, ind = buy({"mail_class": "priority_mail", "weight_oz": 32, "from_zip": "10001",
                          "to_zip": "90001"})
        self.assertEqual(st, 201, ind)
        self.assertEqual((ind["zone"], ind["postage_mills"]), (8, q["postage_mills"]))
        got = SRV.get_ok("/v1/indicia/" + ind["id"], SRV.customer_key)
        self.assertEqual((got["mail_class"], got["zone"]), ("priority_mail", 8))
        st, _, j = buy({"mail_class": "ground_advantage", "weight_oz": 1121})
        self.assertError(st, j, 400, "weight_out_of_range", "weight_oz")

    def test_5_cli_buys_with_options(self):
        env = dict(os.environ, STAMP_SERVER="http://%s:%d" % (SRV.host, SRV.port),
                   STAMP_KEY=SRV.customer_key)
        stamp = os.environ.get("STAMP_BIN") or os.path.join(harness.SOURCE_DIR, "build", "stamp")

        def run(*args):
            p = subprocess.run([stamp] + list(args), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env, timeout=120)
            return p.returncode, p.stdout.decode(), p.stderr.decode()
        rc, out, err = run("buy", "--class", "first_class_letter", "--weight", "1", "--from",
                           "94107", "--to", "10001", "--services",
                           "certified_mail,return_receipt", "--non-machinable", "--to-address",
                           "Ann Lee\\n1 Main St\\nnew york new york 10001")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^postage\s+\$10\.93$")
        self.assertRegex(out, r"(?m)^services\s+certified_mail$")
        self.assertRegex(out, r"(?m)^\s+return_receipt$")
        self.assertRegex(out, r"(?m)^surcharge\s+non-machinable$")
        self.assertRegex(out, r"(?m)^address\s+to_address corrected$")
        rc, out, err = run("buy", "--class", "priority_mail", "--weight", "32", "--from",
                           "10001", "--to", "90001")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^zone\s+8$")
        # Kept as typed with --no-address-check; refused without it.
        odd = "Ann Lee\\nsomewhere"
        rc, out, err = run("buy", "--class", "postcard", "--weight", "1", "--from", "94107",
                           "--to", "10001", "--to-address", odd)
        self.assertNotEqual(rc, 0)
        self.assertIn("address_invalid", out + err)
        rc, out, err = run("buy", "--class", "postcard", "--weight", "1", "--from", "94107",
                           "--to", "10001", "--to-address", odd, "--no-address-check")
        self.assertEqual(rc, 0, err)
        self.assertNotIn("corrected", out)

    def test_4_zip_and_address_checks(self):
        balance = SRV.balance(SRV.customer_key)
        for field in ("from_zip", "to_zip"):
            st, _, j = buy({field: "00000"})
            self.assertError(st, j, 400, "invalid_zip", field)
        st, _, j = quote("mail_class=postcard&weight_oz=1&to_zip=00012")
        self.assertError(st, j, 400, "invalid_zip", "to_zip")
        # A state that does not match its ZIP, a ZIP other than the field's.
        st, _, j = buy({"to_address": "John Doe\n1 Main St\nNew York CA 10001"})
        self.assertError(st, j, 422, "address_invalid", "to_address")
        self.assertIn("(NY)", j["error"]["message"])
        st, _, j = buy({"to_address": "John Doe\n1 Main St\nNew York NY 10002"})
        self.assertError(st, j, 422, "address_invalid", "to_address")
        self.assertEqual(SRV.balance(SRV.customer_key), balance)
        # Corrected and reported.
        st, _, ind = buy({"to_zip": "10001-1234",
                          "to_address": "John  Doe\n1 Main St\nNew York, new york 100011234",
                          "from_address": {"name": "Ada", "street1": "1 Market St",
                                           "city": "San Francisco", "state": "California",
                                           "zip": "94107"}})
        self.assertEqual(st, 201, ind)
        self.assertEqual(ind["to_address"], "John Doe\n1 Main St\nNEW YORK NY 10001-1234")
        self.assertEqual(ind["from_address"], "Ada\n1 Market St\nSAN FRANCISCO CA 94107")
        self.assertEqual(ind["address_corrections"], [
            {"field": "from_address", "from": "Ada\n1 Market St\nSan Francisco California 94107",
             "to": "Ada\n1 Market St\nSAN FRANCISCO CA 94107"},
            {"field": "to_address", "from": "John  Doe\n1 Main St\nNew York, new york 100011234",
             "to": "John Doe\n1 Main St\nNEW YORK NY 10001-1234"}])
        got = SRV.get_ok("/v1/indicia/" + ind["id"], SRV.customer_key)
        self.assertEqual(got["to_address"], ind["to_address"])
        # The override takes the block as given.
        st, _, ind = buy({"to_address": "Somewhere\nover the rainbow", "address_check": "off"})
        self.assertEqual(st, 201, ind)
        self.assertEqual(ind["to_address"], "Somewhere\nover the rainbow")
        self.assertNotIn("address_corrections", ind)
        st, _, j = buy({"address_check": "maybe"})
        self.assertError(st, j, 400, "invalid_request", "address_check")


class ThroughTheFront(unittest.TestCase):
    """One `stampd front` and two `stampd processor` processes (on PostgreSQL
    under ctest): options and zones cross the internal protocol, and a table
    loaded while they run is priced alike by the front and the processors
    (which price every piece again and would refuse another postage)."""

    def test_front_and_processors_agree(self):
        c = test_scale_out.Cluster("rates-front", processors=2)
        try:
            srv = c.srv
            st, _, ind = srv.buy(srv.customer_key, "f-1",
                                 {"mail_class": "priority_mail", "weight_oz": 32,
                                  "from_zip": "10001", "to_zip": "90001",
                                  "extra_services": ["certified_mail"]})
            self.assertEqual(st, 201, ind)
            self.assertEqual((ind["zone"], ind["extra_services"]), (8, ["certified_mail"]))
            self.assertEqual(ind["price"]["certified_mail_mills"], 5300)
            self.assertEqual(ind["postage_mills"],
                             ind["price"]["postage_mills"] + 5300)
            path = os.path.join(srv.dir, "next.json")
            with open(SHIPPED) as f:
                doc = json.load(f)
            doc.update(version="front-next", effective=day(1))
            doc["classes"]["first_class_letter"]["steps"][0]["price"] = "0.90"
            with open(path, "w") as f:
                json.dump(doc, f)
            srv.run("rates", "load", path, "--db", srv.db)
            # Every process picks it up within a second or two: then a letter for
            # tomorrow is 0.90 at the front and at whichever processor signs it.
            deadline = time.monotonic() + 20
            while True:
                st, _, q = srv.request("GET", "/v1/rates/quote?mail_class=first_class_letter"
                                       "&weight_oz=1&mail_date=" + day(1))
                if q.get("postage_mills") == 900 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            self.assertEqual(q["postage_mills"], 900, q)
            time.sleep(2.5)   # the processors' ticks
            for n in range(4):
                st, _, ind = srv.buy(srv.customer_key, "f-next-%d" % n,
                                     {"mail_class": "first_class_letter", "weight_oz": 1,
                                      "from_zip": "94107", "to_zip": "10001",
                                      "mail_date": day(1)})
                self.assertEqual((st, ind.get("postage_mills")), (201, 900), ind)
            self.assertTrue(srv.get_ok("/v1/admin/ledger", srv.operator_key)["ok"])
        finally:
            c.stop()


if __name__ == "__main__":
    harness.main()
