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

#endif
