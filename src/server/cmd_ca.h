/*
 * cmd_ca.h - the vendor CA and the life of PSD keys (cmd_ca.c): stampd ca
 * init, stampd ca issue, stampd psd rotate-key, stampd key revoke.
 */
#ifndef STAMPD_CMD_CA_H
#define STAMPD_CMD_CA_H

#include "server/cmd.h"

/* pv_cmd_ca - run "ca init", "ca issue", "psd rotate-key" or "key revoke"
 * (group and verb borrowed from argv) with options o (borrowed): the exit
 * status (0 done, 1 failed, 2 usage). */
int pv_cmd_ca(const struct opts *o, const char *group, const char *verb);

#endif
