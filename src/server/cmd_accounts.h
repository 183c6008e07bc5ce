/*
 * cmd_accounts.h - accounts from the command line (cmd_accounts.c).
 */
#ifndef STAMPD_CMD_ACCOUNTS_H
#define STAMPD_CMD_ACCOUNTS_H

#include "server/cmd.h"
#include "store/store.h"

/*
 * pv_cmd_create_customer - inside st's transaction: a customer with email
 * (borrowed), an opening balance, a web password (STAMPD_PASSWORD, else
 * password, else none) and a live API key: its id and the key (shown once)
 * into id and key. PV_OK or a store error.
 */
int pv_cmd_create_customer(struct pv_store *st, const char *email, pv_mills balance,
                           const char *password, char id[PV_ID_MAX], char key[64]);

/* pv_cmd_create_operator - the same for an operator (no balance). */
int pv_cmd_create_operator(struct pv_store *st, const char *email, const char *password,
                           char id[PV_ID_MAX], char key[64]);

/* stampd customer|operator create and set-password (customer: 1 for
 * customers, 0 for operators): the process's exit status. */
int pv_cmd_create(const struct opts *o, int customer);
int pv_cmd_set_password(const struct opts *o, int customer);

#endif
