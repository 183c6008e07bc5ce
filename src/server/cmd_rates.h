/*
 * cmd_rates.h - stampd rates load | list (cmd_rates.c, docs/rates.md).
 */
#ifndef STAMPD_CMD_RATES_H
#define STAMPD_CMD_RATES_H

#include "server/cmd.h"

/* pv_cmd_rates - verb (borrowed: "load" or "list"): load the table document
 * o->in (with o->force: also one effective today or earlier) into o->db, or
 * list the tables there. Returns the exit status: 0, 1 (refused or failed),
 * 2 (usage). */
int pv_cmd_rates(const struct opts *o, const char *verb);

#endif
