/*
 * notify.c - sd_notify(3) for Type=notify units: the only file that links
 * libsystemd's API. Failures are ignored: readiness is a courtesy to the
 * service manager, never a reason for stampd to stop.
 */
#include "server/notify.h"

#include <systemd/sd-daemon.h>

void pv_notify(const char *state)
{
    (void) sd_notify(0, state);
}
