/*
 * cmd_config.h - the configuration file of stampd serve, front and processor
 * (cmd_config.c; the format is docs/operations.md, "Configuration file", and
 * packaging/stampd.conf documents every key).
 */
#ifndef STAMPD_CMD_CONFIG_H
#define STAMPD_CMD_CONFIG_H

#include "server/cmd.h"

#include <stdint.h>

/* Where serve, front and processor look when no --config is given. */
#define PV_CONFIG_DEFAULT "/etc/stampd/stampd.conf"

/*
 * pv_cmd_config_load - read the configuration file for mode ("serve",
 * "front" or "processor"; borrowed) into o: o->config (borrowed) or, when it
 * is NULL, PV_CONFIG_DEFAULT if it exists (else nothing is read). Every key
 * fills only an option o does not have yet: flags override the file. Keys
 * before any [section] apply to every mode; keys under [serve], [front] or
 * [processor] only to that one (and override the shared ones). The secret
 * values internal-secret and crypto-pin go to the environment variables
 * cmd_secret.c and cmd_crypto.c read (unless one is set, or a flag names a
 * file), and only from a file others cannot read. *text receives the file's
 * text (returns owned: o's values point into it; free() it after the run).
 * Returns 0, or 2 (the exit status) after "stampd: FILE:LINE: what" on stderr:
 * an unknown key, a bad value, a duplicate key, a key that mode does not
 * take, a file others may write, a secret in a file others may read.
 */
int pv_cmd_config_load(struct opts *o, const char *mode, char **text);

/* A file (dir = 0) or directory (dir = 1) the configuration names; path borrowed. */
typedef int (*pv_cmd_config_file_fn)(void *ctx, const char *path, int dir);

/*
 * pv_cmd_config_files - read the configuration file path (borrowed) with the
 * same checks as pv_cmd_config_load, then call fn with the file itself and
 * with every file or directory it names in any section that a server needs
 * besides the database (internal-secret-file, internal-tls-dir,
 * crypto-pin-file, metrics-token-file, tls-cert, tls-key). Stops at the first
 * non-zero return of fn and returns it; 2 (after the reason on stderr) when
 * the file cannot be read or is not valid; else 0.
 */
int pv_cmd_config_files(const char *path, pv_cmd_config_file_fn fn, void *ctx);

/*
 * pv_cmd_config_reload - SIGHUP: read the configuration file again over the
 * command line's options (running->flags; running borrowed) and compare it
 * with running: a new refund-window-days goes to *refund_days (its default
 * when the key is gone), every other changed key is reported on stderr as
 * needing a restart. Returns 0, or 2 when the file is not valid now (the
 * reason on stderr; the server keeps running as it was).
 */
int pv_cmd_config_reload(const struct opts *running, const char *mode, uint64_t *refund_days);

#endif
