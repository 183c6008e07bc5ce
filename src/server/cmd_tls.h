/*
 * cmd_tls.h - the certificates of the front <-> processor channel
 * (cmd_tls.c): stampd tls init / tls issue, and how stampd front and stampd
 * processor read theirs.
 */
#ifndef STAMPD_CMD_TLS_H
#define STAMPD_CMD_TLS_H

#include "server/cmd.h"
#include "server/tls.h"

/* stampd tls (init | issue) ...: argv[1] is "tls". Parses its own options
 * (--processor repeats). The exit status. */
int pv_cmd_tls(int argc, char **argv);

/*
 * pv_cmd_tls_load - the TLS material of `stampd MODE` (front: client = 1)
 * from o->internal_tls_dir: ca.pem, NAME.pem and NAME.key, where NAME is
 * o->internal_tls_name or else dflt (borrowed). The key must be a regular
 * file no group or other may access; the certificate must chain to ca.pem,
 * be valid now, fit the role (clientAuth for a front, serverAuth for a
 * processor) and match the key. *out owned (pv_tls_clear). Says what is
 * wrong on stderr. PV_OK, PV_ECONFIG, PV_EIO, PV_ENOMEM.
 */
int pv_cmd_tls_load(const struct opts *o, const char *mode, const char *dflt, int client,
                    struct pv_tls *out);

/* pv_cmd_tls_read_pem - the whole file path (borrowed) as an owned string in
 * *out, at most 64 KiB of PEM. secret: refuse a file group or others may
 * access. Says what is wrong on stderr. PV_OK, PV_ECONFIG, PV_EIO, PV_ENOMEM. */
int pv_cmd_tls_read_pem(const char *path, int secret, char **out);

/* pv_tls_clear - free what t holds (wiping the key) and zero it; NULL is fine. */
void pv_tls_clear(struct pv_tls *t);

#endif
