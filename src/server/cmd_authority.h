/*
 * cmd_authority.h - the postal authority from the command line
 * (cmd_authority.c): stampd authority create and stampd authority deposit.
 */
#ifndef STAMPD_CMD_AUTHORITY_H
#define STAMPD_CMD_AUTHORITY_H

#include "server/cmd.h"

/* stampd authority create --db DSN --name NAME: a postal account and its
 * key, printed as STAMP_POSTAL_KEY=...; the process's exit status. */
int pv_cmd_authority_create(const struct opts *o);

/* stampd authority deposit --db DSN --amount DOLLARS --reference REF: one
 * credit of the postal deposit; the process's exit status. */
int pv_cmd_authority_deposit(const struct opts *o);

/* stampd authority key --db DSN [--authority-dir DIR]: make the authority's
 * reset signer when the database has none (pv_cmd_authority_signer) and
 * print its public key PEM; the process's exit status. */
int pv_cmd_authority_key(const struct opts *o);

/*
 * pv_cmd_authority_signer - make the authority's reset signer for st (a
 * P-256 key in a file module in o->authority_dir, else "authority" beside
 * the SQLite database or beside o->keys_dir); *made = 1 when it did, 0 when
 * st has one already. PV_ECONFIG (said on stderr) when no directory can be
 * told; crypto and store errors.
 */
struct pv_store;
int pv_cmd_authority_signer(const struct opts *o, struct pv_store *st, int *made);

/* stampd authority report --db DSN --date D --out DIR [--psd ID] [--crypto
 * SPEC] [--crypto-pin-file PATH] (cmd_report.c): every live PSD's (or PSD
 * ID's) signed report of day D into DIR, made now where missing and
 * possible; the exit status. */
int pv_cmd_authority_report(const struct opts *o);

#endif
