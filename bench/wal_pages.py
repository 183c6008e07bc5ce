#!/usr/bin/env python3
"""Pages written per purchase, by table and index (bench/run.sh PAGES=N).

    bench/wal_pages.py DB_PATH URL KEYS N

With stampd serving DB_PATH at URL and idle: checkpoints the WAL to empty
(PRAGMA wal_checkpoint(TRUNCATE)), takes the database's write lock, sends N
first-class letters at once (N connections, the customers' KEYS - comma-
separated - in turn), lets them queue for a second and releases the lock, so
that the processor writes them in one or two batches whatever the machine's
load; then reads the frames the WAL holds - every page a commit wrote, once per
commit - and names the b-tree each page belongs to (the dbstat table). Prints
the frames per purchase in all and by b-tree: a figure of the schema and of
the keys, not of the machine. N must be small enough (<= 256, one batch) that
no checkpoint empties the WAL meanwhile (stampd's wal_autocheckpoint is 1000
pages): the script says so when one did.
"""
import http.client
import os
import sqlite3
import struct
import sys
import threading
import time
import urllib.parse


def buy(url, key, idem, bad):
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    body = ('{"mail_class":"first_class_letter","weight_oz":1,"from_zip":"94107",'
            '"to_zip":"10001"}')
    try:
        c.request("POST", "/v1/indicia", body, {"Authorization": "Bearer " + key,
                                                "Idempotency-Key": idem,
                                                "Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        if r.status != 201:
            bad.append(r.status)
    except OSError as e:
        bad.append(str(e))
    c.close()


def main():
    if len(sys.argv) < 5:
        sys.exit("usage: wal_pages.py DB_PATH URL KEYS N")
    path, url, keys, n = sys.argv[1], sys.argv[2], sys.argv[3].split(","), int(sys.argv[4])
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA busy_timeout = 10000")
    busy, log, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy or log:
        print("pages: the WAL could not be emptied (busy %d, %d frames): no figure" % (busy, log))
        return
    seq0 = db.execute("SELECT max(seq) FROM indicia").fetchone()[0] or 0
    tag = os.urandom(6).hex()
    bad = []
    ts = [threading.Thread(target=buy, args=(url, keys[i % len(keys)], "pages-%s-%d" % (tag, i),
                                             bad)) for i in range(n)]
    db.execute("BEGIN IMMEDIATE")  # the purchases queue behind this lock
    for t in ts:
        t.start()
    time.sleep(1.0)
    db.execute("COMMIT")
    for t in ts:
        t.join()
    bought = (db.execute("SELECT max(seq) FROM indicia").fetchone()[0] or 0) - seq0
    wal = open(path + "-wal", "rb").read()
    if len(wal) < 32:
        print("pages: no WAL to read")
        return
    psize = struct.unpack(">I", wal[8:12])[0]
    salt = wal[16:24]
    frames, commits, stale, at = [], 0, 0, 32
    while at + 24 + psize <= len(wal):
        pgno, commit = struct.unpack(">II", wal[at:at + 8])
        if wal[at + 8:at + 16] != salt:
            stale += 1
        elif not stale:
            frames.append(pgno)
            commits += commit != 0
        at += 24 + psize
    wanted = set(frames)
    names = {}
    for name, pgno in db.execute("SELECT name, pageno FROM dbstat"):
        if pgno in wanted:
            names[pgno] = name
    db.close()
    count = {}
    for p in frames:
        nm = names.get(p, "(free or other)")
        count[nm] = count.get(nm, 0) + 1
    per = max(bought, 1)
    note = "" if not stale else " (a checkpoint emptied the WAL meanwhile: too many purchases)"
    print("pages: %d purchases (%d refused) in %d commits: %d frames, %.2f a purchase%s" %
          (bought, len(bad), commits, len(frames), len(frames) / per, note))
    print("pages by b-tree, a purchase: " + ", ".join(
        "%s %.2f" % (k, v / per) for k, v in sorted(count.items(), key=lambda kv: -kv[1])))


if __name__ == "__main__":
    main()
