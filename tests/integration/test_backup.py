"""test_backup.py - stampd backup and stampd restore (issue 16, docs/operations.md).

A backup taken while `stampd serve` sells under load (two threads buying)
restores into a new place; stampd starts on the copy; the books check
(`stampd ledger check`); every restored indicium is identical (id, data,
registers) to the source's, verifies, and the PSD registers add up over
exactly the restored pieces; their count lies between the source's before
and after the backup. The key files are in the archive: restored after the
originals are gone, they sign again. A corrupted or truncated archive, and a
restore over an existing database, are refused and write nothing.
SQLite always; PostgreSQL (pg_dump / pg_restore) too when
STAMPD_TEST_PG_DSN_FILE names a cluster (scripts/pg-test.sh, as test_authority).
"""

import io
import os
import shutil
import stat
import subprocess
import tarfile
import threading
import time
import unittest

import harness
from harness import STAMPD_BIN, Stampd, stampd_env, strip_volatile


PG_DSN_FILE = os.environ.get("STAMPD_TEST_PG_DSN_FILE")


def fresh_dsn():
    """A new empty PostgreSQL database on the CTest fixture's cluster."""
    p = subprocess.run(["sh", os.path.join(harness.SOURCE_DIR, "scripts", "pg-test.sh"),
                        "createdb", PG_DSN_FILE], stdout=subprocess.PIPE, check=True, timeout=60)
    return p.stdout.decode().strip()


def body_for(n):
    cls, w = [("first_class_letter", 1), ("postcard", 1), ("large_envelope", 5)][n % 3]
    return {"mail_class": cls, "weight_oz": w, "from_zip": "94107", "to_zip": "10001"}


class BackupBase:
    postgres = False

    def setUp(self):
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.abandon()

    def server(self, name):
        s = Stampd(name)
        if self.postgres:
            s.db = fresh_dsn()
        self.servers.append(s)
        return s

    def init(self, srv, psds):
        """stampd init --demo and the authority's reset signer; keys beside the database
        (PostgreSQL: in the server's directory, as SQLite's default)."""
        if not self.postgres:
            srv.init(psds=psds)
            srv.run("authority", "key", "--db", srv.db)
            return
        _, out, _ = srv.run("init", "--db", srv.db, "--license", harness.LICENSE, "--psds",
                            str(psds), "--demo", "--keys-dir", os.path.join(srv.dir, "keys"))
        keys = Stampd._keys(out)
        srv.customer_key, srv.operator_key = keys["STAMP_KEY"], keys["STAMP_OPERATOR_KEY"]
        srv.run("authority", "key", "--db", srv.db, "--authority-dir",
                os.path.join(srv.dir, "authority"))

    def stampd(self, *args):
        p = subprocess.run([STAMPD_BIN] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=300, env=stampd_env())
        err = p.stderr.decode("utf-8", "replace")
        harness.assert_no_sanitizer(err, "stampd " + " ".join(args))
        return p.returncode, p.stdout.decode(), err

    def test_backup_under_load_restores_identical(self):
        src = self.server("backup-src")
        self.init(src, 2)
        key = src.customer("load@example.com", 5000)
        src.start(processors=2)
        for n in range(6):
            s, _, j = src.buy(key, "pre-%d" % n, body_for(n))
            self.assertEqual(s, 201, j)

        stop = threading.Event()
        bought, errors = [], []

        def load(t):
            n = 0
            while not stop.is_set():
                s, _, j = src.buy(key, "load-%d-%d" % (t, n), body_for(n))
                if s == 201:
                    bought.append(j["id"])
                else:
                    errors.append((s, j))
                n += 1

        threads = [threading.Thread(target=load, args=(t,)) for t in range(2)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        archive = os.path.join(src.dir, "vendor.backup")
        before = len(src.list_all(key))
        rc, _, err = self.stampd("backup", "--db", src.db, "--out", archive)
        after = len(src.list_all(key))
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        self.assertEqual(rc, 0, err)
        self.assertEqual(errors, [])
        self.assertGreater(after, before, "no purchase ran during the backup: not under load")
        # One file, mode 0600, no temporary left beside it; a tar with a manifest.
        self.assertEqual(stat.S_IMODE(os.stat(archive).st_mode), 0o600)
        self.assertEqual([f for f in os.listdir(src.dir) if ".tmp" in f or "db-tmp" in f], [])
        with tarfile.open(archive) as tf:
            names = tf.getnames()
            manifest = tf.extractfile("MANIFEST").read().decode()
        self.assertEqual(names[:2], ["MANIFEST", "database.pgdump" if self.postgres
                                     else "database.sqlite"])
        self.assertIn("schema 28\n", manifest)
        keys_dir = os.path.join(src.dir, "keys")
        auth_dir = os.path.join(src.dir, "authority")
        for d in (keys_dir, auth_dir):
            for f in os.listdir(d):
                self.assertIn(" " + os.path.realpath(os.path.join(d, f)) + "\n", manifest)
        source = {i["id"]: i for i in src.list_all(key)}
        src.stop()

        # Restore into a new place; stampd starts on it; the books and the indicia.
        dst = self.server("backup-dst")
        rc, _, err = self.stampd("restore", "--in", archive, "--db", dst.db)
        self.assertEqual(rc, 0, err)
        rc, out, err = self.stampd("ledger", "check", "--db", dst.db)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("every journal balances", out)
        dst.customer_key, dst.operator_key = src.customer_key, src.operator_key
        dst.start(processors=1)
        restored = dst.list_all(key)
        self.assertGreaterEqual(len(restored), before)
        self.assertLessEqual(len(restored), after)
        for ind in restored:
            self.assertIn(ind["id"], source)
            self.assertEqual(strip_volatile(ind), strip_volatile(source[ind["id"]]))
            s, _, j = dst.request("POST", "/v1/verify", {"data": ind["data"]}, key=key)
            self.assertEqual((s, j["valid"]), (200, True), j)
        harness.check_registers(self, dst.psds()["psds"], restored)
        dst.stop()

        # Restoring over an existing database is refused.
        rc, _, err = self.stampd("restore", "--in", archive, "--db", dst.db)
        self.assertEqual(rc, 1)
        self.assertIn("already holds a stampd database" if self.postgres else "already exists",
                      err)

        # The keys come from the archive: with the originals gone, they come back and sign.
        shutil.rmtree(keys_dir)
        shutil.rmtree(auth_dir)
        third = self.server("backup-third")
        rc, _, err = self.stampd("restore", "--in", archive, "--db", third.db)
        self.assertEqual(rc, 0, err)
        self.assertTrue(os.listdir(keys_dir) and os.listdir(auth_dir))
        third.customer_key = key
        third.start(processors=1)
        s, _, j = third.buy(key, "after-restore", body_for(1))
        self.assertEqual(s, 201, j)
        third.stop()



class BackupSqlite(BackupBase, unittest.TestCase):
    def test_corrupt_archive_refused(self):
        src = self.server("backup-corrupt").init(psds=1)
        archive = os.path.join(src.dir, "b.backup")
        rc, _, err = self.stampd("backup", "--db", src.db, "--out", archive)
        self.assertEqual(rc, 0, err)
        with open(archive, "rb") as f:
            data = f.read()
        # One flipped bit inside the database member, a truncation, garbage.
        flipped = bytearray(data)
        flipped[4096] ^= 0x01
        # A well-formed tar that holds only a manifest (listing nothing) has no database.
        only = io.BytesIO()
        with tarfile.open(fileobj=only, mode="w", format=tarfile.USTAR_FORMAT) as tf:
            text = b"stampd-backup 1\nschema 28\n"
            info = tarfile.TarInfo("MANIFEST")
            info.size = len(text)
            tf.addfile(info, io.BytesIO(text))
        cases = {"flipped": bytes(flipped), "truncated": data[:len(data) // 2],
                 "garbage": b"not a backup" * 100, "manifest-only": only.getvalue()}
        for what, blob in cases.items():
            bad = os.path.join(src.dir, what + ".backup")
            with open(bad, "wb") as f:
                f.write(blob)
            target = os.path.join(src.dir, "r-" + what, "stampd.db")
            rc, _, err = self.stampd("restore", "--in", bad, "--db", "sqlite:" + target)
            self.assertEqual(rc, 1, what + ": " + err)
            self.assertIn("the archive is corrupt", err, what)
            self.assertFalse(os.path.exists(target), what)

    def test_config_and_the_files_it_names_come_back(self):
        src = self.server("backup-config").init(psds=1)
        etc = os.path.join(src.dir, "etc")
        tlsdir = os.path.join(etc, "internal-tls")
        os.makedirs(tlsdir, mode=0o700)
        files = {os.path.join(etc, "internal.secret"): b"s" * 48 + b"\n",
                 os.path.join(etc, "metrics.token"): b"prom-" + b"t" * 40 + b"\n",
                 os.path.join(tlsdir, "ca.pem"): b"-----BEGIN CERTIFICATE-----\n",
                 os.path.join(etc, "public.crt"): b"cert\n", os.path.join(etc, "public.key"): b"key\n"}
        for path, data in files.items():
            with open(path, "wb") as f:
                f.write(data)
            os.chmod(path, 0o600)
        conf = os.path.join(etc, "stampd.conf")
        text = ("db = %s\nmetrics-token-file = %s\ntls-cert = %s\ntls-key = %s\n"
                "[front]\ninternal-secret-file = %s\ninternal-tls-dir = %s\n"
                % (src.db, os.path.join(etc, "metrics.token"), os.path.join(etc, "public.crt"),
                   os.path.join(etc, "public.key"), os.path.join(etc, "internal.secret"), tlsdir))
        with open(conf, "w") as f:
            f.write(text)
        os.chmod(conf, 0o600)
        files[conf] = text.encode()
        archive = os.path.join(src.dir, "c.backup")
        rc, _, err = self.stampd("backup", "--db", src.db, "--out", archive, "--config", conf)
        self.assertEqual(rc, 0, err)
        self.assertIn("key and configuration files", err)
        with tarfile.open(archive) as tf:
            manifest = tf.extractfile("MANIFEST").read().decode()
        for path in files:
            self.assertIn(" " + path + "\n", manifest)
        # Gone, as on a new machine; restore puts every one back, byte for byte.
        shutil.rmtree(etc)
        target = os.path.join(src.dir, "restored", "stampd.db")
        rc, _, err = self.stampd("restore", "--in", archive, "--db", "sqlite:" + target)
        self.assertEqual(rc, 0, err)
        for path, data in files.items():
            with open(path, "rb") as f:
                self.assertEqual(f.read(), data, path)
        # A configuration with a mistake is refused, and no archive is written.
        with open(conf, "a") as f:
            f.write("no-such-key = 1\n")
        bad = os.path.join(src.dir, "bad.backup")
        rc, _, err = self.stampd("backup", "--db", src.db, "--out", bad, "--config", conf)
        self.assertNotEqual(rc, 0)
        self.assertIn("no-such-key", err)
        self.assertFalse(os.path.exists(bad))



@unittest.skipUnless(PG_DSN_FILE, "no PostgreSQL cluster (STAMPD_TEST_PG_DSN_FILE)")
class BackupPostgres(BackupBase, unittest.TestCase):
    postgres = True


if __name__ == "__main__":
    harness.main()
