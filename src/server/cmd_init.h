/*
 * cmd_init.h - provisioning a database: stampd init and stampd migrate (cmd_init.c).
 */
#ifndef STAMPD_CMD_INIT_H
#define STAMPD_CMD_INIT_H

#include "server/cmd.h"

/* stampd init and stampd migrate with options o (borrowed): the exit status. */
int pv_cmd_init(const struct opts *o);
int pv_cmd_migrate(const struct opts *o);
/* stampd psd add --crypto SPEC [--psds N]: N more PSDs whose keys SPEC's module makes. */
int pv_cmd_psd_add(const struct opts *o);

#endif
