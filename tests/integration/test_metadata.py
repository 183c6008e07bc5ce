"""test_metadata.py - a purchase's metadata (issue 17): the buyer's small string map.

Through the real server, on SQLite and (when STAMPD_TEST_PG_DSN_FILE names a
cluster) PostgreSQL: metadata is stored with the piece and answered wherever
the piece is (the purchase's answer, GET /v1/indicia/{id}, the list, an
idempotent replay); GET /v1/indicia?metadata[key]=value finds exactly the
pieces with that pair (with the other filters and the cursor), through the
index (SQLite's query plan); it is part of the idempotency hash; its bounds
are field errors; `stamp buy --metadata` and `stamp list --metadata`.
"""

import os
import sqlite3
import subprocess
import sys
import unittest
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

PG_DSN_FILE = os.environ.get("STAMPD_TEST_PG_DSN_FILE")
STAMP_BIN = os.environ.get("STAMP_BIN") or os.path.join(harness.SOURCE_DIR, "build", "stamp")


def fresh_dsn():
    p = subprocess.run(["sh", os.path.join(harness.SOURCE_DIR, "scripts", "pg-test.sh"),
                        "createdb", PG_DSN_FILE], stdout=subprocess.PIPE, check=True, timeout=60)
    return p.stdout.decode().strip()


def letter(**kw):
    b = {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
         "to_zip": "10001"}
    b.update(kw)
    return b


class Base:
    postgres = False

    @classmethod
    def setUpClass(cls):
        srv = cls.srv = harness.Stampd("metadata")
        try:
            if cls.postgres:
                srv.db = fresh_dsn()
                _, out, _ = srv.run("init", "--db", srv.db, "--license", harness.LICENSE,
                                    "--psds", "2", "--deposit", "10000", "--keys-dir",
                                    os.path.join(srv.dir, "keys"), "--demo")
            else:
                srv.init()
            cls.key = srv.customer("meta@example.test", "500")
            cls.other = srv.customer("other@example.test", "100")
            srv.start(processors=2)
        except BaseException:
            srv.abandon()
            raise
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def buy(self, body, key=None, idem=None):
        type(self).n += 1
        return self.srv.buy(key or self.key, idem or "meta-%d" % self.n, body)

    def search(self, key=None, **filters):
        q = urllib.parse.urlencode(filters)
        st, _, j = self.srv.request("GET", "/v1/indicia?" + q, key=key or self.key)
        return st, j

    def test_stored_and_answered_everywhere(self):
        md = {"order": "A-1001", "shop": "corner", "note": "fragile = yes; ünïcode"}
        st, _, ind = self.buy(letter(metadata=md))
        self.assertEqual(st, 201, ind)
        self.assertEqual(ind["metadata"], md)
        self.assertEqual(self.srv.get_ok("/v1/indicia/" + ind["id"], self.key)["metadata"], md)
        listed = [i for i in self.srv.list_all(self.key) if i["id"] == ind["id"]]
        self.assertEqual(listed[0]["metadata"], md)
        # Without metadata: an empty map, never absent.
        st, _, plain = self.buy(letter())
        self.assertEqual((st, plain["metadata"]), (201, {}), plain)

    def test_search(self):
        ids = {}
        for order, cls in (("S-1", "first_class_letter"), ("S-2", "postcard"),
                           ("S-1", "postcard"), ("S-3", "first_class_letter")):
            st, _, ind = self.buy(letter(mail_class=cls, metadata={"search": order}))
            self.assertEqual(st, 201, ind)
            ids.setdefault(order, []).append(ind["id"])
        st, j = self.search(**{"metadata[search]": "S-1"})
        self.assertEqual(st, 200, j)
        self.assertEqual([i["id"] for i in j["data"]], list(reversed(ids["S-1"])))
        # With the other filters, and page by page through the cursor.
        st, j = self.search(**{"metadata[search]": "S-1", "mail_class": "postcard"})
        self.assertEqual([i["id"] for i in j["data"]], [ids["S-1"][1]])
        st, j = self.search(**{"metadata[search]": "S-1", "limit": "1"})
        self.assertEqual(([i["id"] for i in j["data"]], j["has_more"]), ([ids["S-1"][1]], True))
        st, j = self.search(**{"metadata[search]": "S-1", "limit": "1",
                               "cursor": j["next_cursor"]})
        self.assertEqual(([i["id"] for i in j["data"]], j["has_more"]), ([ids["S-1"][0]], False))
        # Exact match only; another customer's pieces are not found.
        for value in ("S", "s-1", "S-1 ", ""):
            st, j = self.search(**{"metadata[search]": value})
            self.assertEqual((st, j["data"]), (200, []), value)
        st, j = self.search(key=self.other, **{"metadata[search]": "S-1"})
        self.assertEqual((st, j["data"]), (200, []))
        # Bad filters are field errors.
        for args in ({"metadata[Bad Key]": "x"}, {"metadata[a]": "x", "metadata[b]": "y"},
                     {"metadata[%s]" % ("k" * 41): "x"}, {"metadata[a]": "v" * 501}):
            st, j = self.search(**args)
            self.assertEqual((st, j["error"]["code"], j["error"]["field"]),
                             (400, "invalid_request", "metadata"), args)

    def test_idempotency_hash(self):
        st, _, a = self.buy(letter(metadata={"order": "I-1"}), idem="meta-idem")
        self.assertEqual(st, 201, a)
        st, h, again = self.buy(letter(metadata={"order": "I-1"}), idem="meta-idem")
        self.assertEqual((st, again["id"], again["metadata"], h.get("idempotent-replayed")),
                         (201, a["id"], {"order": "I-1"}, "true"))
        st, _, other = self.buy(letter(metadata={"order": "I-2"}), idem="meta-idem")
        self.assertEqual((st, other["error"]["code"]), (409, "idempotency_key_reused"), other)
        st, _, other = self.buy(letter(), idem="meta-idem")
        self.assertEqual((st, other["error"]["code"]), (409, "idempotency_key_reused"), other)

    def test_bounds(self):
        bad = [
            ("not a map", "invalid_type"),
            (["order", "1"], "invalid_type"),
            ({"order": 1}, "invalid_type"),
            ({"Order": "1"}, "invalid_request"),
            ({"": "1"}, "invalid_request"),
            ({"k" * 41: "1"}, "invalid_request"),
            ({"a b": "1"}, "invalid_request"),
            ({"order": "v" * 501}, "invalid_request"),
            ({"order": "two\nlines"}, "invalid_request"),
            ({"k%02d" % i: "v" for i in range(21)}, "invalid_request"),
        ]
        before = len(self.srv.list_all(self.key))
        for md, code in bad:
            st, _, j = self.buy(letter(metadata=md, to_zip="x"))
            self.assertEqual(st, 400, j)
            got = {(e["code"], e["field"]) for e in j["errors"]}
            self.assertIn((code, "metadata"), got, md)
            self.assertIn(("invalid_zip", "to_zip"), got, "all field errors are listed")
        self.assertEqual(len(self.srv.list_all(self.key)), before, "a refusal bought something")
        # The largest allowed: 20 keys of 40 characters, values of 500 bytes.
        big = {("%02d" % i) + "k" * 38: "v" * 500 for i in range(20)}
        st, _, ind = self.buy(letter(metadata=big))
        self.assertEqual((st, ind.get("metadata")), (201, big))
        self.assertEqual(self.srv.get_ok("/v1/indicia/" + ind["id"], self.key)["metadata"], big)

    def test_cli(self):
        env = dict(harness.stampd_env(), STAMP_SERVER="http://%s:%d" % (self.srv.host, self.srv.port),
                   STAMP_KEY=self.key)
        p = subprocess.run([STAMP_BIN, "buy", "--class", "postcard", "--weight", "1",
                            "--from", "94107", "--to", "10001", "--metadata", "order=C-77",
                            "--metadata", "shop=cli", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        import json
        ind = json.loads(p.stdout)
        self.assertEqual(ind["metadata"], {"order": "C-77", "shop": "cli"})
        p = subprocess.run([STAMP_BIN, "list", "--metadata", "order=C-77"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(ind["id"], p.stdout.decode())
        p = subprocess.run([STAMP_BIN, "buy", "--class", "postcard", "--weight", "1",
                            "--from", "94107", "--to", "10001", "--metadata", "no-equals"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=60)
        self.assertEqual(p.returncode, 2, p.stderr)


class MetadataWeb(unittest.TestCase):
    """The history's Reference search in Chromium (tests/e2e/metadata.mjs)."""

    def test_browser(self):
        import json
        import shutil
        node = shutil.which("node")
        chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
        e2e = os.path.join(harness.SOURCE_DIR, "tests", "e2e")
        self.assertTrue(node, "node is missing: scripts/deps.sh test installs nodejs")
        self.assertTrue(os.path.isdir(os.path.join(e2e, "node_modules", "playwright-core")),
                        "tests/e2e/node_modules is missing: scripts/deps.sh test runs npm ci")
        srv = harness.Stampd("metadata-web").init(psds=2)
        email, password = "web-meta@example.test", "correct horse battery"
        os.environ["STAMPD_PASSWORD"] = password
        try:
            key = srv.customer(email, "50")
        finally:
            os.environ.pop("STAMPD_PASSWORD", None)
        srv.start(processors=1)
        try:
            ids = []
            for i in range(4):
                st, _, ind = srv.buy(key, "web-meta-%d" % i,
                                     letter(metadata={"order": "W-%d" % i, "shop": "web"}))
                self.assertEqual(st, 201, ind)
                ids.append(ind["id"])
            out = os.path.join(os.path.dirname(os.path.abspath(harness.TEST_TMP)), "artifacts",
                               "metadata-web")
            shutil.rmtree(out, ignore_errors=True)
            setup = {"email": email, "password": password, "reference": "order=W-2",
                     "match": ids[2], "total": 4}
            p = subprocess.run([node, os.path.join(e2e, "metadata.mjs"),
                                "http://%s:%d" % (srv.host, srv.port), out, json.dumps(setup)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300,
                               env=dict(os.environ, CHROMIUM=chromium))
            self.assertEqual(p.returncode, 0, (p.stdout.decode() + p.stderr.decode())[-4000:])
        finally:
            srv.stop()


class MetadataSQLite(Base, unittest.TestCase):
    def test_search_uses_the_index(self):
        path = self.srv.db[len("sqlite:"):]
        db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        try:
            sql = db.execute("SELECT 1").fetchone() and None
            plan = db.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM indicium_metadata CROSS JOIN indicia "
                "WHERE owner = ? AND mkey = ? AND mvalue = ? AND mseq < ? AND id = indicium_id "
                "AND customer_id = ? ORDER BY mseq DESC LIMIT 10",
                ("c", "k", "v", 1 << 62, "c")).fetchall()
        finally:
            db.close()
        text = " | ".join(r[-1] for r in plan)
        self.assertIn("indicium_metadata_lookup", text, text)
        self.assertNotIn("SCAN", text, text)
        self.assertNotIn("TEMP B-TREE", text, "sorted, not read in order: " + text)
        del sql


@unittest.skipUnless(PG_DSN_FILE, "no PostgreSQL cluster (STAMPD_TEST_PG_DSN_FILE)")
class MetadataPostgres(Base, unittest.TestCase):
    postgres = True


if __name__ == "__main__":
    unittest.main(verbosity=2)
