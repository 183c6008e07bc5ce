#!/usr/bin/env python3
"""Fill a provisioned SQLite vendor with N indicia of history (bench/run.sh HISTORY=N).

    bench/history_fill.py DB_PATH N [CUSTOMERS]

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
written before time-ordered ids has them. Uses Python's sqlite3 only; the
journal is off during the fill (a failed fill leaves a broken scratch store:
the benchmark starts again from a fresh one) and the database is back in WAL
mode, checkpointed, when it ends.
"""
import os
import random
import sqlite3
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


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: history_fill.py DB_PATH N [CUSTOMERS]")
    path, n = sys.argv[1], int(sys.argv[2])
    extra = int(sys.argv[3]) if len(sys.argv) > 3 else max(100, n // 1000)
    rng = random.Random(int.from_bytes(os.urandom(8), "big"))
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -1000000")
    db.execute("PRAGMA foreign_keys = OFF")
    db.execute("BEGIN")
    license_ = db.execute("SELECT value FROM config WHERE key = 'license'").fetchone()[0]
    if license_ != "PV1000001":
        sys.exit("history_fill: the template indicium is of licence PV1000001, not " + license_)
    refill = int(db.execute("SELECT value FROM config WHERE key = 'refill_mills'").fetchone()[0])
    psds = {}
    for pid, desc, asc, ctl, cnt in db.execute(
            "SELECT id, descending, ascending, control_total, piece_count FROM psds "
            "WHERE test = 0 AND status = 0 ORDER BY id"):
        key = db.execute("SELECT max(key_id) FROM keys WHERE psd_id = ? AND retired_at = 0 "
                         "AND revoked_at = 0", (pid,)).fetchone()[0]
        if key is not None:
            psds[pid] = [desc, asc, ctl, cnt, key]
    if not psds:
        sys.exit("history_fill: no live PSD with a key")
    now = int(time.time())
    t0 = (now // DAY - SPAN_DAYS - 1) * DAY
    customers = [r[0] for r in db.execute("SELECT id FROM customers ORDER BY id")]
    new_customers = [(rid(rng, "cus"), "history%d@example.com" % i, t0) for i in range(extra)]
    db.executemany("INSERT INTO customers(id, email, created) VALUES (?, ?, ?)", new_customers)
    customers += [c[0] for c in new_customers]

    jid = db.execute("SELECT coalesce(max(id), 0) FROM journals").fetchone()[0] + 1
    seq = db.execute("SELECT coalesce(max(seq), 0) FROM indicia").fetchone()[0] + 1
    weights = [p[2] for p in PIECES]
    spend = {}
    acct = {}  # account -> net change

    def add(a, v):
        acct[a] = acct.get(a, 0) + v

    journals, lines, indicia, idem, meta = [], [], [], [], []
    refills, events = [], []
    pids = sorted(psds)

    def flush():
        db.executemany("INSERT INTO journals(id, kind, ref, at) VALUES (?, ?, ?, ?)", journals)
        db.executemany("INSERT INTO journal_lines(journal_id, line, account, amount_mills) "
                       "VALUES (?, ?, ?, ?)", lines)
        db.executemany(
            "INSERT INTO indicia(seq, id, customer_id, server_id, psd_id, key_id, serial, version,"
            " sig_alg, flags, license, ascending_mills, postage_mills, mail_date, mail_class,"
            " weight_tenth_oz, from_zip, to_zip, software_id, medium_serial, data, created,"
            " rate_version, metadata) VALUES (?, ?, ?, 'proc-1', ?, ?, ?, 2, 1, 0, ?, ?, ?, ?, 1,"
            " ?, '94107', '10001', 'STAMPD01', '', ?, ?, 'usps-2025-07-13', ?)", indicia)
        db.executemany("INSERT INTO idempotency(owner_id, key, req_hash, indicium_id, created) "
                       "VALUES (?, ?, ?, ?, ?)", idem)
        db.executemany("INSERT INTO indicium_metadata(owner, mkey, mvalue, mseq, indicium_id) "
                       "VALUES (?, 'order_id', ?, ?, ?)", meta)
        db.executemany(
            "INSERT INTO refills(psd_id, amount_mills, desc_before, asc_before, ctl_before,"
            " desc_after, asc_after, ctl_after, authorization_ref, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", refills)
        db.executemany(
            "INSERT INTO psd_events(psd_id, at, event, actor, actor_id, reason, status_before,"
            " status_after, descending, ascending, control_total, piece_count, ref) "
            "VALUES (?, ?, 'reset', 'system', 'proc-1', '', 0, 0, ?, ?, ?, ?, ?)", events)
        for x in (journals, lines, indicia, idem, meta, refills, events):
            x.clear()

    for i in range(n):
        at = t0 + i * SPAN_DAYS * DAY // max(n, 1)
        pid = pids[i % len(pids)]
        st = psds[pid]
        weight, postage, _ = rng.choices(PIECES, weights)[0]
        if st[0] < postage:  # the processor refills a PSD that runs short
            ref = rid(rng, "rfl")
            refills.append((pid, refill, st[0], st[1], st[2], st[0] + refill, st[1],
                            st[2] + refill, ref, at))
            st[0] += refill
            st[2] += refill
            events.append((pid, at, st[0], st[1], st[2], st[3], ref))
            journals.append((jid, "psd_refill", ref, at))
            lines.append((jid, 0, "postal_deposit", -refill))
            lines.append((jid, 1, "psd:%d" % pid, refill))
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
            meta.append((cus, md[9:], seq, ind))
        indicia.append((seq, ind, cus, pid, st[4], st[3], license_, st[1], postage, ymd, weight,
                        blob(rng, pid, st[4], st[3], st[1], st[0], postage, ymd, weight), at, md))
        idem.append((cus, "%08x-%04x-%04x" % (rng.getrandbits(32), rng.getrandbits(16), i & 0xffff),
                     "%064x" % rng.getrandbits(256), ind, at))
        journals.append((jid, "postage_sale", ind, at))
        ca = "customer:" + cus
        lines.append((jid, 0, ca, -postage))
        lines.append((jid, 1, "revenue:postage", postage))
        lines.append((jid, 2, "psd:%d" % pid, -postage))
        lines.append((jid, 3, "postage_dispensed", postage))
        spend[cus] = spend.get(cus, 0) + postage
        add("revenue:postage", postage)
        add("psd:%d" % pid, -postage)
        add("postage_dispensed", postage)
        jid += 1
        seq += 1
        if len(indicia) >= 50000:
            flush()
    flush()
    # Each customer was granted what it spent: the benchmark's buyers keep the
    # balance they were given, the others are left with nothing.
    for c in customers:
        grant = spend.get(c, 0)
        if grant == 0:
            continue
        journals.append((jid, "balance_grant", c, t0))
        lines.append((jid, 0, "funding:manual", -grant))
        lines.append((jid, 1, "customer:" + c, grant))
        add("funding:manual", -grant)
        add("customer:" + c, 0)  # its account exists, its balance unchanged
        jid += 1
    flush()
    for a, v in acct.items():
        db.execute("INSERT INTO accounts(name, balance_mills) VALUES (?, ?) "
                   "ON CONFLICT(name) DO UPDATE SET balance_mills = balance_mills + excluded.balance_mills",
                   (a, v))
    for pid, st in psds.items():
        db.execute("UPDATE psds SET descending = ?, ascending = ?, control_total = ?, "
                   "piece_count = ? WHERE id = ?", (st[0], st[1], st[2], st[3], pid))
    db.execute("COMMIT")
    db.execute("PRAGMA journal_mode = WAL")
    db.close()


if __name__ == "__main__":
    main()
