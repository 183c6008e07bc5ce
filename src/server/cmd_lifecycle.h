/*
 * cmd_lifecycle.h - stampd psd suspend | resume | withdraw (cmd_lifecycle.c).
 */
#ifndef STAMPD_CMD_LIFECYCLE_H
#define STAMPD_CMD_LIFECYCLE_H

#include "server/cmd.h"

/* pv_cmd_psd_lifecycle - verb (borrowed: "suspend", "resume" or "withdraw")
 * of o->psd as the operator, with o->reason and (withdraw) o->force.
 * Returns the exit status: 0, 1 (refused or failed), 2 (usage). */
int pv_cmd_psd_lifecycle(const struct opts *o, const char *verb);

#endif
