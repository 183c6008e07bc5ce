"""test_key_cache.py - the fronts' API-key cache (issue 15, session 12).

A front answers a key it found from memory while its watch vouches that no
key changed (src/server/keycache.c, docs/security.md): on PostgreSQL a LISTEN
connection that a trigger on api_keys notifies at the commit of a change, on
SQLite a change count the triggers bump, read every 50 ms (schema v28). Here,
with the real stampd over HTTP, on SQLite (integration/test_key_cache) and on
PostgreSQL (integration/test_key_cache_pg):

* a key used again is answered from memory (/metrics counts the hits);
* a key revoked through this front is refused at once;
* a key revoked behind the front's back (another front, an operator in psql
  or sqlite3: another process) is refused as soon as the watch sees it - well
  within a second;
* (PostgreSQL) with the watch's connection killed, a key revoked meanwhile is
  refused too, and the cache comes back on by itself (here the watch is back
  before the revocation commits; a change missed while it is down is
  test_account.c's test_key_cache_watch_lost).

Without the trigger or the watch a revoked key would keep working for the
entries' whole age (PV_KEYCACHE_AGE_MS, a minute).
"""

import http.client
import os
import re
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import psql  # noqa: E402

PG_DSN_FILE = os.environ.get("STAMPD_TEST_PG_DSN_FILE")


class KeyCache(unittest.TestCase):
    def setUp(self):
        self.srv = harness.Stampd("keycache")
        if PG_DSN_FILE:
            self.srv.db = harness.pg_createdb(PG_DSN_FILE)
        _, out, _ = self.srv.run("init", "--db", self.srv.db, "--license", harness.LICENSE,
                                 "--psds", "2", "--deposit", "1000", "--demo", "--keys-dir",
                                 os.path.join(self.srv.dir, "keys"))
        self.srv.operator_key = harness.Stampd._keys(out)["STAMP_OPERATOR_KEY"]
        self.owner = self.srv.customer("keys@example.com", 10)
        self.srv.start(processors=1)

    def tearDown(self):
        self.srv.stop()

    def sql(self, statement):
        """Runs statement in another process's connection (psql, or sqlite3's)."""
        if PG_DSN_FILE:
            subprocess.run([psql(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.srv.db, "-c",
                            statement], check=True, timeout=30, stdout=subprocess.DEVNULL)
            return
        path = self.srv.db[len("sqlite:"):] if self.srv.db.startswith("sqlite:") else self.srv.db
        db = sqlite3.connect(path, timeout=30)
        try:
            db.execute(statement)
            db.commit()
        finally:
            db.close()

    def metric(self, name):
        status, text = self.metrics_text()
        self.assertEqual(status, 200)
        m = re.search(r"^%s (\d+)$" % name, text, re.M)
        self.assertIsNotNone(m, "no %s in /metrics" % name)
        return int(m.group(1))

    def metrics_text(self):
        conn = http.client.HTTPConnection(self.srv.host, self.srv.port, timeout=30)
        try:
            conn.request("GET", "/metrics",
                         headers={"Authorization": "Bearer " + self.srv.operator_key})
            resp = conn.getresponse()
            return resp.status, resp.read().decode()
        finally:
            conn.close()

    def mint(self):
        status, _, body = self.srv.request("POST", "/v1/account/api-keys", {"name": "cached"},
                                           key=self.owner)
        self.assertEqual(status, 201, body)
        return body["key"], body["id"]

    def account(self, key):
        status, _, _ = self.srv.request("GET", "/v1/account", key=key)
        return status

    def warm(self, key):
        """Uses key until memory answers it: the cache is on and holds it."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            before = self.metric("stampd_apikey_cache_hits_total")
            self.assertEqual(self.account(key), 200)
            self.assertEqual(self.account(key), 200)
            if self.metric("stampd_apikey_cache_hits_total") >= before + 2:
                return
            time.sleep(0.1)
        self.fail("the key cache never answered from memory (hits %d, misses %d):\n%s"
                  % (self.metric("stampd_apikey_cache_hits_total"),
                     self.metric("stampd_apikey_cache_misses_total"), self.srv.stderr_text()))

    def refused_within(self, key, seconds):
        """Seconds until key is refused (401), or fails after seconds."""
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            status = self.account(key)
            if status == 401:
                return time.monotonic() - start
            self.assertEqual(status, 200)
            time.sleep(0.005)
        self.fail("a revoked key still worked %.1f s later" % seconds)

    def test_revoked_here_refused_at_once(self):
        key, key_id = self.mint()
        self.warm(key)
        status, _, body = self.srv.request("DELETE", "/v1/account/api-keys/" + key_id, key=self.owner)
        self.assertEqual(status, 200, body)
        self.assertEqual(self.account(key), 401)

    def test_revoked_elsewhere_refused_when_told(self):
        key, key_id = self.mint()
        self.warm(key)
        self.sql("UPDATE api_keys SET revoked_at = 1 WHERE id = '%s'" % key_id)
        took = self.refused_within(key, 1.0)
        print("refused %.0f ms after the revocation's commit" % (took * 1000))
        # The other keys are looked up again once, then from memory again.
        self.warm(self.owner)

    @unittest.skipUnless(PG_DSN_FILE, "a connection to lose: PostgreSQL")
    def test_watch_lost_then_back(self):
        key, key_id = self.mint()
        self.warm(key)
        self.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 "WHERE application_name = 'stampd-watch' AND datname = current_database()")
        self.sql("UPDATE api_keys SET revoked_at = 1 WHERE id = '%s'" % key_id)
        self.refused_within(key, 1.0)
        other, _ = self.mint()
        self.warm(other)  # watching again by itself
        self.assertIn("API-key cache off", self.srv.stderr_text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
