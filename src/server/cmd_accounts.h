/*
 * cmd_accounts.h - accounts from the command line (cmd_accounts.c); the
 * accounts themselves are made by domain/account.c.
 */
#ifndef STAMPD_CMD_ACCOUNTS_H
#define STAMPD_CMD_ACCOUNTS_H

#include "server/cmd.h"

/* stampd customer|operator create and set-password (customer: 1 for
 * customers, 0 for operators): the process's exit status. */
int pv_cmd_create(const struct opts *o, int customer);
int pv_cmd_set_password(const struct opts *o, int role);

#endif
