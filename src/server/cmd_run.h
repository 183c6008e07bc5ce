/*
 * cmd_run.h - running a server: stampd serve, front and processor (cmd_run.c).
 */
#ifndef STAMPD_CMD_RUN_H
#define STAMPD_CMD_RUN_H

#include "server/cmd.h"

enum pv_run_mode { PV_RUN_SERVE, PV_RUN_FRONT, PV_RUN_PROCESSOR };

/* pv_cmd_run - run the server mode asks for with options o (borrowed) until
 * SIGINT or SIGTERM, then shut down in order: the exit status. */
int pv_cmd_run(const struct opts *o, enum pv_run_mode mode);

#endif
