"""test_server_pieces.py - each server's count of the indicia it signed is kept in a row of
its own (schema v38, issue 15): GET /metrics' stampd_indicia_total and the admin's servers read
server_pieces instead of counting every indicium of the store on each request, and every
purchase no longer writes an entry of indicia_server for them. Through the real server, two
processors: the counts agree with the indicia; a store rewound to before v38 (no
server_pieces, indicia_server back) is migrated by `stampd migrate`, which fills the counts
from the indicia, and the counts go on agreeing with new purchases. On SQLite the admin's
count of the last hour finds its indicia through indicia_psd_created, and the counts read no
indicia. Schema v39 puts the server in indicia_psd_created on SQLite, so the last hour's count
reads the index alone: a store rewound to before it gets it from `stampd migrate`; PostgreSQL
keeps v38's index. Since v40 SQLite's store counts a batch's indicia itself, once a server,
instead of v38's trigger, which ran once a row: the trigger is gone after `init` and after
`stampd migrate`, and the counts still agree; PostgreSQL keeps its trigger, which runs once a
statement. Since v44 each PSD's pieces and postage a UTC day are kept the same way (psd_days:
SQLite's store once a PSD and day of a batch, PostgreSQL's trigger once a statement), and GET
/v1/admin/stats reads them instead of the indicia of its window: they agree with the indicia
after purchases, after `stampd migrate` fills them, and after more purchases, and the stats'
statement reads no indicia. Since v45 each server's indicia a minute are kept the same way, in a
ring of sixty slots (server_minutes), and the admin's count of the last hour reads them instead of
the hour's indicia: they agree with the indicia, after `stampd migrate` too, and the count's
statement reads no indicia. SQLite, and PostgreSQL when STAMPD_TEST_PG_DSN_FILE names a cluster.
"""

import http.client
import os
import sqlite3
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

PG_DSN_FILE = os.environ.get("STAMPD_TEST_PG_DSN_FILE")
LETTER = {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
          "to_zip": "10001"}
# Servers whose kept count is not the number of their indicia, either way round: a server with
# indicia and no count or another count, and a count of a server with other indicia or none.
WRONG = ("SELECT (SELECT count(*) FROM (SELECT server_id, count(*) AS n FROM indicia "
         "GROUP BY server_id) i WHERE NOT EXISTS (SELECT 1 FROM server_pieces s "
         "WHERE s.server_id = i.server_id AND s.pieces = i.n)) + "
         "(SELECT count(*) FROM server_pieces s WHERE s.pieces <> "
         "(SELECT count(*) FROM indicia i WHERE i.server_id = s.server_id))")
# PSD days whose kept pieces or postage are not their indicia's, either way round (v44).
DAYS_WRONG = ("SELECT (SELECT count(*) FROM (SELECT created / 86400 AS day, psd_id, "
              "count(*) AS n, sum(postage_mills) AS m FROM indicia GROUP BY 1, 2) i "
              "WHERE NOT EXISTS (SELECT 1 FROM psd_days d WHERE d.day = i.day "
              "AND d.psd_id = i.psd_id AND d.pieces = i.n AND d.postage_mills = i.m)) + "
              "(SELECT count(*) FROM psd_days d WHERE d.pieces <> (SELECT count(*) "
              "FROM indicia i WHERE i.psd_id = d.psd_id AND i.created / 86400 = d.day))")
DAYS_PIECES = "SELECT sum(pieces) FROM psd_days"
# Server minutes whose kept pieces are not their indicia's, either way round (v45; the tests
# run within the hour, so every slot is in use at most once).
MINUTES_WRONG = ("SELECT (SELECT count(*) FROM (SELECT server_id, created / 60 AS minute, "
                 "count(*) AS n FROM indicia GROUP BY 1, 2) i WHERE NOT EXISTS (SELECT 1 "
                 "FROM server_minutes m WHERE m.server_id = i.server_id AND m.minute = i.minute "
                 "AND m.pieces = i.n AND m.slot = i.minute % 60)) + (SELECT count(*) FROM "
                 "server_minutes m WHERE m.pieces <> (SELECT count(*) FROM indicia i WHERE "
                 "i.server_id = m.server_id AND i.created / 60 = m.minute))")
PER_SERVER = "SELECT count(DISTINCT server_id) FROM indicia"
INDEXES = ("SELECT count(*) FROM {catalog} WHERE {name} = 'indicia_server'")
# v38's trigger: PostgreSQL's (once a statement) stays; SQLite's (once a row) goes in v40.
TRIGGER = {
    False: "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = 'indicia_pieces'",
    True: "SELECT count(*) FROM pg_trigger WHERE tgname = 'indicia_pieces'",
}
# indicia_psd_created's third column is the server (schema v39, SQLite only): 1, else 0.
SERVER_IN_INDEX = {
    False: ("SELECT count(*) FROM pragma_index_info('indicia_psd_created') "
            "WHERE seqno = 2 AND name = 'server_id'"),
    True: ("SELECT count(*) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
           "AND a.attnum = i.indkey[2] WHERE i.indexrelid = 'indicia_psd_created'::regclass "
           "AND a.attname = 'server_id'"),
}


class ServerPiecesBase:
    postgres = False

    def sql(self, srv, statements):
        return harness.store_sql(srv.db, statements)

    def wrong(self, srv):
        return self.sql(srv, [WRONG])

    def days_right(self, srv, pieces):
        """The kept PSD days agree with the indicia, and hold pieces of them."""
        self.assertEqual(self.sql(srv, [DAYS_WRONG]), 0)
        self.assertEqual(self.sql(srv, [DAYS_PIECES]), pieces)
        self.assertEqual(self.sql(srv, [MINUTES_WRONG]), 0)
        self.assertEqual(self.sql(srv, ["SELECT sum(pieces) FROM server_minutes"]), pieces)

    def stats_today(self, srv):
        """The live pieces and postage of today and yesterday (a run across midnight) as GET
        /v1/admin/stats?days=2 has them."""
        stats = srv.get_ok("/v1/admin/stats?days=2", srv.operator_key)
        self.assertEqual(len(stats["sales"]), 2, stats)
        return (sum(d["count"] for d in stats["sales"]),
                sum(d["postage_mills"] for d in stats["sales"]))

    def has_index(self, srv):
        catalog = ("pg_indexes", "indexname") if self.postgres else ("sqlite_master", "name")
        return self.sql(srv, [INDEXES.format(catalog=catalog[0], name=catalog[1])])

    def metrics_total(self, srv):
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=60)
        conn.request("GET", "/metrics", headers={"Authorization": "Bearer " + srv.operator_key})
        resp = conn.getresponse()
        text = resp.read().decode()
        conn.close()
        self.assertEqual(resp.status, 200, text)
        return {line.split('"')[1]: int(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                if line.startswith("stampd_indicia_total{")}

    def buy(self, srv, key, n, tag):
        for i in range(n):
            st, _, j = srv.buy(key, "%s-%d" % (tag, i), LETTER)
            self.assertEqual(st, 201, j)

    def test_counts_kept_and_migrated(self):
        srv = harness.Stampd("server-pieces")
        try:
            if self.postgres:
                srv.db = harness.pg_createdb(PG_DSN_FILE)
            srv.init(psds=2, keys_dir=os.path.join(srv.dir, "keys"))
            key = srv.customer("pieces@example.com", 50)
            srv.start(processors=2)
            self.buy(srv, key, 10, "a")
            totals = self.metrics_total(srv)
            self.assertEqual(sum(totals.values()), 10, totals)
            admin = srv.get_ok("/v1/admin/servers", srv.operator_key)
            self.assertEqual(sum(s["indicia_total"] for s in admin["servers"]), 10, admin)
            self.assertEqual(sum(s["indicia_last_hour"] for s in admin["servers"]), 10, admin)
            sold = self.stats_today(srv)
            self.assertEqual(sold[0], 10)
            srv.stop()
            self.assertEqual(self.wrong(srv), 0)
            self.days_right(srv, 10)
            self.assertEqual(self.sql(srv, ["SELECT sum(postage_mills) FROM indicia"]), sold[1])
            # both processors signed: a count each, as /metrics said
            self.assertEqual(self.sql(srv, [PER_SERVER]), len(totals), totals)
            self.assertEqual(len(totals), 2, totals)
            self.assertEqual(self.has_index(srv), 0)
            self.assertEqual(self.sql(srv, [SERVER_IN_INDEX[self.postgres]]),
                             0 if self.postgres else 1)
            self.assertEqual(self.sql(srv, [TRIGGER[self.postgres]]), 1 if self.postgres else 0)

            # The store as v37 kept it: no counts, no PSD days (v44) or server minutes (v45),
            # indicia_server back,
            # indicia_psd_created without the server (v39).
            rewind = ["DROP TRIGGER IF EXISTS indicia_pieces"
                      + (" ON indicia" if self.postgres else ""),
                      "DROP TABLE server_pieces",
                      "DROP TABLE psd_days",
                      "DROP TABLE server_minutes",
                      "CREATE INDEX indicia_server ON indicia(created, server_id)",
                      "DROP INDEX indicia_psd_created",
                      "CREATE INDEX indicia_psd_created ON indicia(psd_id, created)",
                      "DELETE FROM schema_version WHERE version >= 38",
                      "SELECT count(*) FROM indicia"]
            if self.postgres:
                rewind.insert(1, "DROP FUNCTION indicia_pieces()")
            self.assertEqual(self.sql(srv, rewind), 10)
            _, _, err = srv.run("migrate", "--db", srv.db)
            self.assertRegex(err, r"v37 -> v\d+")
            self.assertEqual(self.wrong(srv), 0)
            self.days_right(srv, 10)
            self.assertEqual(self.sql(srv, [TRIGGER[self.postgres]]), 1 if self.postgres else 0)
            self.assertEqual(self.has_index(srv), 0)
            self.assertEqual(self.sql(srv, [SERVER_IN_INDEX[self.postgres]]),
                             0 if self.postgres else 1)
            # the admin's last hour counts the new indicia (on SQLite from the index alone)
            srv.start(processors=2)
            admin = srv.get_ok("/v1/admin/servers", srv.operator_key)
            self.assertEqual(sum(s["indicia_last_hour"] for s in admin["servers"]), 10, admin)
            srv.stop()

            srv.start(processors=2)
            self.buy(srv, key, 6, "b")
            totals = self.metrics_total(srv)
            self.assertEqual(sum(totals.values()), 16, totals)
            self.assertEqual(self.stats_today(srv)[0], 16)
            srv.stop()
            self.assertEqual(self.wrong(srv), 0)
            self.days_right(srv, 16)
            _, out, _ = srv.run("ledger", "check", "--db", srv.db)
            self.assertIn("every journal balances", out)
        finally:
            srv.abandon()


class ServerPieces(ServerPiecesBase, unittest.TestCase):
    def test_plans(self):
        """The counts read server_pieces alone, the last hour's (SERVER_TRAFFIC, copied) the
        servers' minutes alone (v45), and the daily sales (SALES_DAILY, copied) psd_days alone
        (v44), by its key: none of them the indicia. SQLite's plans only."""
        srv = harness.Stampd("server-pieces-plans").init(psds=1)
        try:
            db = sqlite3.connect(srv.db[len("sqlite:"):])
            try:
                hour = ("SELECT server_id, CAST(sum(pieces) AS BIGINT) FROM server_minutes "
                        "WHERE minute >= ? GROUP BY server_id ORDER BY server_id")
                plan = harness.sqlite_plan(db, hour, (1,))
                self.assertRegex(plan, r"^SCAN server_minutes")
                self.assertNotIn("indicia", plan)
                daily = ("SELECT day, psd_id, pieces, postage_mills FROM psd_days "
                         "WHERE day >= ? ORDER BY day, psd_id")
                plan = harness.sqlite_plan(db, daily, (1,))
                self.assertEqual(plan, "SEARCH psd_days USING PRIMARY KEY (day>?)")
                pieces = ("SELECT server_id, pieces FROM server_pieces WHERE pieces > 0 "
                          "ORDER BY server_id")
                plan = harness.sqlite_plan(db, pieces)
                self.assertNotIn("indicia", plan)
            finally:
                db.close()
        finally:
            srv.abandon()


@unittest.skipUnless(PG_DSN_FILE, "no PostgreSQL cluster (STAMPD_TEST_PG_DSN_FILE)")
class ServerPiecesPostgres(ServerPiecesBase, unittest.TestCase):
    postgres = True


if __name__ == "__main__":
    harness.main()
