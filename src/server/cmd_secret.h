/*
 * cmd_secret.h - the front <-> processor secret on each host (cmd_secret.c):
 * stampd secret generate, and how stampd front and stampd processor read it.
 */
#ifndef STAMPD_CMD_SECRET_H
#define STAMPD_CMD_SECRET_H

#include "server/cmd.h"

#include <stddef.h>

/* The environment variable a secret may come from instead of a file. */
#define PV_SECRET_ENV "STAMPD_INTERNAL_SECRET"
/* A secret is 32-127 printable, non-blank ASCII characters (generated: 64 hex). */
#define PV_SECRET_MIN 32
#define PV_SECRET_MAX 127

/*
 * pv_cmd_secret_load - the internal secret for `stampd MODE` (mode names the
 * server in messages) from o->internal_secret_file (a regular file no group
 * or other may access) or else from $STAMPD_INTERNAL_SECRET (then unset, so
 * nothing started later inherits it), into out (n >= PV_SECRET_MAX + 1).
 * Never from argv, never from the database. Says what is wrong on stderr.
 * Returns PV_OK; PV_ECONFIG (none, both, a loose file, a bad secret); PV_EIO.
 */
int pv_cmd_secret_load(const struct opts *o, const char *mode, char *out, size_t n);

/* stampd secret generate --internal-secret-file PATH: a new random secret
 * into the new file PATH (mode 0600; never overwrites). The exit status. */
int pv_cmd_secret_generate(const struct opts *o);

#endif
