/*
 * cmd_backup.h - stampd backup and stampd restore (cmd_backup.c): one archive
 * with the database, its openssl: key files and a manifest of their sha256.
 */
#ifndef STAMPD_CMD_BACKUP_H
#define STAMPD_CMD_BACKUP_H

#include "server/cmd.h"

/*
 * pv_cmd_backup - stampd backup --db DSN --out FILE [--keys-dir DIR]: an online,
 * consistent copy of the database (SQLite's backup API) with the key files it
 * needs, in one archive of mode 0600 (written to a temporary file, fsynced,
 * renamed). o is borrowed. Returns the exit status.
 */
int pv_cmd_backup(const struct opts *o);

/*
 * pv_cmd_restore - stampd restore --in FILE --db DSN: checks every member's
 * sha256 against the manifest, refuses an existing database (or a different
 * key file), writes the database and the key files back, runs the schema
 * check. o is borrowed. Returns the exit status.
 */
int pv_cmd_restore(const struct opts *o);

#endif
