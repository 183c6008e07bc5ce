#!/usr/bin/env python3
"""Fill a provisioned SQLite vendor with N indicia of history (bench/run.sh HISTORY=N).

    bench/history_fill.py DB N [CUSTOMERS]

DB is a SQLite file's path or a postgres:// DSN (then through psql: COPY into
staging tables, then one INSERT ... SELECT per table, in one transaction).

Writes, in one transaction with the server stopped, what N real purchases of
the last 180 days would have left behind, so that a benchmark measures a store
with history and not an empty one (issue 15: cost flat in history):

  * CUSTOMERS more customers (default N / 1000, at least 100) with their
    balance grants; the history is spread over them and the customers already
    there (the benchmark's own buyers), uniformly at random;
  * for each piece: the indicium row (a well-formed version 2 indicium whose
    fields match the row; the signature bytes are random, nobody verifies
    history here), its postage_sale journal with its four lines, the
    customer's idempotency row, and for one piece in ten a metadata key
    (the indicia.metadata text and its indicium_metadata row);
  * the PSDs' refills as the processors make them (refill_mills from the
    config each time a PSD runs short): the refill row, its psd_event and its
    psd_refill journal;
  * the registers (every PSD balanced) and the account balances, so that
    `stampd ledger check` passes afterwards.

The ids are random (20 characters of the Crockford alphabet), as every store
written before time-ordered ids has them. Uses Python's sqlite3 or psql only. On
SQLite the journal is off during the fill (a failed fill leaves a broken
scratch store: the benchmark starts again from a fresh one) and the database
is back in WAL mode when it ends.
"""
import os
import random
import sqlite3
import subprocess
import tempfile
import sys
import time

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
DAY = 86400
SPAN_DAYS = 180
# (weight in tenths of an ounce, postage in mills, share of the pieces in percent)
PIECES = [(10, 740, 70), (20, 970, 20), (30, 1200, 10)]
# The first 60 bytes of a real version 2 first-class letter of PV1000001 (the
# fixed part, the licence, software and medium texts, the piece id's length
# 13); blob() sets the fields and appends a piece id and a signature.
TEMPLATE = bytes.fromhex("020100FE010000000100000001000000010000000002E400000F3F5C0002E4266B"
                         "0100000A016F9B0000271109678CAD13AD140879E153C4AD20000D")


def rid(rng, prefix):
    return prefix + "_" + "".join(rng.choices(ALPHABET, k=20))


def days_from_date(ymd):
    y, m, d = ymd // 10000, ymd // 100 % 100, ymd % 100
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 730425


def ymd_of(t):
    g = time.gmtime(t)
    return g.tm_year * 10000 + g.tm_mon * 100 + g.tm_mday


def blob(rng, psd, key, serial, asc, desc, postage, ymd, weight):
    b = bytearray(TEMPLATE)
    b[5:9] = psd.to_bytes(4, "big")
    b[9:13] = key.to_bytes(4, "big")
    b[13:17] = serial.to_bytes(4, "big")
    b[17:23] = asc.to_bytes(6, "big")
    b[23:28] = desc.to_bytes(5, "big")
    b[28:31] = postage.to_bytes(3, "big")
    b[31:33] = days_from_date(ymd).to_bytes(2, "big")
    b[35:37] = weight.to_bytes(2, "big")
    return bytes(b) + rng.randbytes(13 + 64)


# The columns each table gets, in the order the rows below give them.
COLS = {
    "customers": "id, email, created",
    "journals": "id, kind, ref, at",
    "journal_lines": "journal_id, line, account, amount_mills",
    "indicia": "seq, id, customer_id, server_id, psd_id, key_id, serial, version, sig_alg, flags, "
               "license, ascending_mills, postage_mills, mail_date, mail_class, weight_tenth_oz, "
               "from_zip, to_zip, software_id, medium_serial, data, created, rate_version, metadata",
    "idempotency": "owner_id, key, req_hash, indicium_id, created",
    "indicium_metadata": "owner, mkey, mvalue, mseq, indicium_id",
    "refills": "psd_id, amount_mills, desc_before, asc_before, ctl_before, desc_after, asc_after, "
               "ctl_after, authorization_ref, at",
    "psd_events": "psd_id, at, event, actor, actor_id, reason, status_before, status_after, "
                  "descending, ascending, control_total, piece_count, ref",
}


class Sqlite:
    def __init__(self, path):
        self.db = sqlite3.connect(path, isolation_level=None)
        for p in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -1000000",
                  "foreign_keys = OFF"):
            self.db.execute("PRAGMA " + p)
        self.db.execute("BEGIN")

    def query(self, sql):
        return self.db.execute(sql).fetchall()

    def insert(self, table, rows):
        cols = COLS[table]
        self.db.executemany("INSERT INTO %s(%s) VALUES (%s)" % (
            table, cols, ", ".join("?" * len(cols.split(",")))), rows)

    def finish(self, sqls):
        for q in sqls:
            self.db.execute(q)
        # Each server's count of its indicia (schema v38): since v40 SQLite's store keeps it
        # itself, no trigger; counted again from the rows, whatever the version.
        self.db.execute("DELETE FROM server_pieces")
        self.db.execute("INSERT INTO server_pieces(server_id, pieces) "
                        "SELECT server_id, count(*) FROM indicia GROUP BY server_id")
        # Each PSD's pieces and postage a day (schema v44): kept by the store too, no trigger.
        if self.query("SELECT count(*) FROM sqlite_master WHERE name = 'psd_days'")[0][0]:
            self.db.execute("DELETE FROM psd_days")
            self.db.execute("INSERT INTO psd_days(day, psd_id, pieces, postage_mills) "
                            "SELECT created / 86400, psd_id, count(*), sum(postage_mills) "
                            "FROM indicia GROUP BY 1, 2")
        # And each server's minutes of the last hour (schema v45), as the upgrade fills them.
        if self.query("SELECT count(*) FROM sqlite_master WHERE name = 'server_minutes'")[0][0]:
            self.db.execute("DELETE FROM server_minutes")
            self.db.execute("INSERT INTO server_minutes(server_id, slot, minute, pieces) "
                            "SELECT server_id, ((created / 60) % 60 + 60) % 60, created / 60, "
                            "count(*) FROM indicia WHERE created >= (strftime('%s', 'now') / 60 "
                            "- 59) * 60 GROUP BY server_id, created / 60")
        self.db.execute("COMMIT")
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.close()


class Postgres:
    """Rows into COPY files, then one psql script in one transaction."""

    IDENTITY = {"journals", "indicia", "refills", "psd_events"}

    def __init__(self, dsn):
        self.dsn = dsn
        self.dir = tempfile.mkdtemp(prefix="history-fill.")
        self.files = {}

    def query(self, sql):
        out = subprocess.run(["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                              "-d", self.dsn, "-c", sql], check=True, capture_output=True,
                             text=True).stdout
        return [tuple(int(v) if v.lstrip("-").isdigit() else v for v in line.split("\t"))
                for line in out.splitlines() if line]

    @staticmethod
    def field(v):
        if isinstance(v, bytes):
            return "\\\\x" + v.hex()
        return str(v)

    def insert(self, table, rows):
        if table not in self.files:
            self.files[table] = open(os.path.join(self.dir, table), "w")
        f = self.files[table]
        for r in rows:
            f.write("\t".join(self.field(v) for v in r) + "\n")

    def finish(self, sqls):
        # The accounts and registers first: the lines' foreign keys need the accounts.
        script = ["\\set ON_ERROR_STOP 1", "BEGIN;"] + [q + ";" for q in sqls]
        for table, f in self.files.items():
            f.close()
            cols = COLS[table]
            script.append("CREATE TEMP TABLE s_%s AS SELECT %s FROM %s WITH NO DATA;"
                          % (table, cols, table))
            script.append("\\copy s_%s(%s) FROM '%s'" % (table, cols, f.name))
            script.append("INSERT INTO %s(%s) %sSELECT %s FROM s_%s;" % (
                table, cols, "OVERRIDING SYSTEM VALUE " if table in self.IDENTITY else "",
                cols, table))
        for table, col in (("journals", "id"), ("indicia", "seq"), ("refills", "id"),
                           ("psd_events", "id")):
            script.append("SELECT setval(pg_get_serial_sequence('%s', '%s'), "
                          "(SELECT max(%s) FROM %s));" % (table, col, col, table))
        script.append("COMMIT;")
        script.append("VACUUM ANALYZE;")
        path = os.path.join(self.dir, "fill.sql")
        with open(path, "w") as f:
            f.write("\n".join(script) + "\n")
        subprocess.run(["psql", "-X", "-q", "-d", self.dsn, "-f", path], check=True,
                       stdout=subprocess.DEVNULL)
        for table in self.files:
            os.unlink(os.path.join(self.dir, table))
        os.unlink(path)
        os.rmdir(self.dir)


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: history_fill.py DB N [CUSTOMERS]")
    target, n = sys.argv[1], int(sys.argv[2])
    extra = int(sys.argv[3]) if len(sys.argv) > 3 else max(100, n // 1000)
    rng = random.Random(int.from_bytes(os.urandom(8), "big"))
    db = Postgres(target) if target.startswith(("postgres://", "postgresql://")) else Sqlite(target)
    license_ = db.query("SELECT value FROM config WHERE key = 'license'")[0][0]
    if license_ != "PV1000001":
        sys.exit("history_fill: the template indicium is of licence PV1000001, not " + license_)
    refill = int(db.query("SELECT value FROM config WHERE key = 'refill_mills'")[0][0])
    psds = {}
    for pid, desc, asc, ctl, cnt, key in db.query(
            "SELECT p.id, p.descending, p.ascending, p.control_total, p.piece_count, "
            "(SELECT max(k.key_id) FROM keys k WHERE k.psd_id = p.id AND k.retired_at = 0 "
            "AND k.revoked_at = 0) FROM psds p WHERE p.test = 0 AND p.status = 0 ORDER BY p.id"):
        if key not in (None, ""):
            psds[pid] = [desc, asc, ctl, cnt, key]
    if not psds:
        sys.exit("history_fill: no live PSD with a key")
    now = int(time.time())
    t0 = (now // DAY - SPAN_DAYS - 1) * DAY
    customers = [r[0] for r in db.query("SELECT id FROM customers ORDER BY id")]
    new_customers = [(rid(rng, "cus"), "history%d@example.com" % i, t0) for i in range(extra)]
    db.insert("customers", new_customers)
    customers += [c[0] for c in new_customers]

    jid = db.query("SELECT coalesce(max(id), 0) FROM journals")[0][0] + 1
    seq = db.query("SELECT coalesce(max(seq), 0) FROM indicia")[0][0] + 1
    weights = [p[2] for p in PIECES]
    spend = {}
    acct = {}  # account -> net change

    def add(a, v):
        acct[a] = acct.get(a, 0) + v

    rows = {t: [] for t in COLS}
    pids = sorted(psds)

    def flush():
        for t in ("journals", "journal_lines", "indicia", "idempotency", "indicium_metadata",
                  "refills", "psd_events"):
            if rows[t]:
                db.insert(t, rows[t])
            rows[t].clear()

    for i in range(n):
        at = t0 + i * SPAN_DAYS * DAY // max(n, 1)
        pid = pids[i % len(pids)]
        st = psds[pid]
        weight, postage, _ = rng.choices(PIECES, weights)[0]
        if st[0] < postage:  # the processor refills a PSD that runs short
            ref = rid(rng, "rfl")
            rows["refills"].append((pid, refill, st[0], st[1], st[2], st[0] + refill, st[1],
                                    st[2] + refill, ref, at))
            st[0] += refill
            st[2] += refill
            rows["psd_events"].append((pid, at, "reset", "system", "proc-1", "", 0, 0, st[0],
                                       st[1], st[2], st[3], ref))
            rows["journals"].append((jid, "psd_refill", ref, at))
            rows["journal_lines"].append((jid, 0, "postal_deposit", -refill))
            rows["journal_lines"].append((jid, 1, "psd:%d" % pid, refill))
            add("postal_deposit", -refill)
            add("psd:%d" % pid, refill)
            jid += 1
        st[0] -= postage
        st[1] += postage
        st[3] += 1
        cus = customers[rng.randrange(len(customers))]
        ind = rid(rng, "ind")
        ymd = ymd_of(at)
        md = ""
        if rng.randrange(10) == 0:
            md = "order_id=ord-%08d" % i
            rows["indicium_metadata"].append((cus, "order_id", md[9:], seq, ind))
        rows["indicia"].append((
            seq, ind, cus, "proc-1", pid, st[4], st[3], 2, 1, 0, license_, st[1], postage, ymd, 1,
            weight, "94107", "10001", "STAMPD01", "",
            blob(rng, pid, st[4], st[3], st[1], st[0], postage, ymd, weight), at,
            "usps-2025-07-13", md))
        rows["idempotency"].append((
            cus, "%08x-%04x-%04x" % (rng.getrandbits(32), rng.getrandbits(16), i & 0xffff),
            "%064x" % rng.getrandbits(256), ind, at))
        rows["journals"].append((jid, "postage_sale", ind, at))
        rows["journal_lines"].append((jid, 0, "customer:" + cus, -postage))
        rows["journal_lines"].append((jid, 1, "revenue:postage", postage))
        rows["journal_lines"].append((jid, 2, "psd:%d" % pid, -postage))
        rows["journal_lines"].append((jid, 3, "postage_dispensed", postage))
        spend[cus] = spend.get(cus, 0) + postage
        add("revenue:postage", postage)
        add("psd:%d" % pid, -postage)
        add("postage_dispensed", postage)
        jid += 1
        seq += 1
        if len(rows["indicia"]) >= 50000:
            flush()
    # Each customer was granted what it spent: the benchmark's buyers keep the
    # balance they were given, the others are left with nothing.
    for c in customers:
        grant = spend.get(c, 0)
        if grant == 0:
            continue
        rows["journals"].append((jid, "balance_grant", c, t0))
        rows["journal_lines"].append((jid, 0, "funding:manual", -grant))
        rows["journal_lines"].append((jid, 1, "customer:" + c, grant))
        add("funding:manual", -grant)
        add("customer:" + c, 0)  # its account exists, its balance unchanged
        jid += 1
    flush()
    final = []
    for a, v in sorted(acct.items()):
        final.append("INSERT INTO accounts(name, balance_mills) VALUES ('%s', %d) "
                     "ON CONFLICT(name) DO UPDATE SET balance_mills = "
                     "accounts.balance_mills + excluded.balance_mills" % (a, v))
    for pid, st in sorted(psds.items()):
        final.append("UPDATE psds SET descending = %d, ascending = %d, control_total = %d, "
                     "piece_count = %d WHERE id = %d" % (st[0], st[1], st[2], st[3], pid))
    db.finish(final)


if __name__ == "__main__":
    main()
