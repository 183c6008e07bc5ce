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
 * header). So every byte is in the file before any other connection can be
 * told of it, and before the lock of the transaction that wrote it is
 * released, as without gathering; what a crash may lose is what SQLite
 * already treats as lost: log frames not yet synced.
 */
#ifndef PV_STORE_SQLITE_VFS_H
#define PV_STORE_SQLITE_VFS_H

/* The VFS's name for sqlite3_open_v2 (static). */
#define PV_SQLITE_VFS "stampd-gather"

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

#endif
