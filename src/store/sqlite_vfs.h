/*
 * sqlite_vfs.h - a VFS over SQLite's default one that writes a commit's log
 * frames in one system call (private to the SQLite driver).
 *
 * SQLite writes each log (WAL) frame with two pwrite calls, its 24-byte
 * header and its page: about eight a purchase, a fifth of the writer's time
 * in the kernel (issue 15). Over this VFS a connection's writes to its log
 * are gathered in memory while they follow one another and written in one
 * call when SQLite syncs the log (each commit, synchronous = FULL), reads
 * the bytes gathered, changes the log's size, closes it, or touches the
 * database's shared memory (the write lock's release, the log index's
 * header). Only on connections the driver marks as synchronous = FULL
 * (PV_SQLITE_FCNTL_GATHER), where every commit syncs its frames before SQLite
 * publishes them: so every byte of a commit is in the file, or the commit is
 * refused, before any other connection can be told of it, and bytes of a
 * rolled-back transaction are in the file before the write lock is released,
 * as without gathering; what a crash may lose is what SQLite already treats
 * as lost: log frames of a commit that had not returned.
 */
#ifndef PV_STORE_SQLITE_VFS_H
#define PV_STORE_SQLITE_VFS_H

/* The VFS's name for sqlite3_open_v2 (static). */
#define PV_SQLITE_VFS "stampd-gather"

/* sqlite3_file_control(db, "main", PV_SQLITE_FCNTL_GATHER, &on): the driver
 * says that this connection runs synchronous = FULL in WAL mode, so its log may
 * be gathered (on = 1; 0 stops it). Gathering starts only if the device also
 * has SQLITE_IOCAP_POWERSAFE_OVERWRITE; *on says whether it did. Without this
 * call a connection's log is written as SQLite's own VFS writes it. */
#define PV_SQLITE_FCNTL_GATHER 0x70760001

/* sqlite3_file_control(db, "main", PV_SQLITE_FCNTL_PACE, &pages): this
 * connection's database file is synced after every `pages` writes to it (a
 * checkpoint writes a page a call; 0 stops it; counted from this call). The
 * checkpointer's runs before the held one copy frames back this way, so that the disk writes the
 * database back in small pieces between the writers' commits, not in one sync that the commits
 * would wait behind (sqlite_wal.h). A sync's error is the write's: the checkpoint fails with
 * SQLITE_IOERR_FSYNC. SQLITE_NOTFOUND when the connection's database is not open through this VFS.
 */
#define PV_SQLITE_FCNTL_PACE 0x70760002

/* Registers the VFS over the default one (not as the default): once a
 * process, after sqlite3_initialize. Returns an SQLite result code; on
 * failure connections open with the default VFS (pv_sqlite_vfs_name says). */
int pv_sqlite_vfs_register(void);

/* The name to open connections with: PV_SQLITE_VFS once registered, else
 * NULL (SQLite's default). Static. */
const char *pv_sqlite_vfs_name(void);

/* Log writes this process made and the calls that wrote them, for the tests
 * (relaxed counts, every connection). */
void pv_sqlite_vfs_counts(unsigned long long *writes, unsigned long long *calls);

/* The syncs PV_SQLITE_FCNTL_PACE made so far, every connection (a relaxed count, for the
 * tests). */
unsigned long long pv_sqlite_vfs_paced_syncs(void);

#endif
