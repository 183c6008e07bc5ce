/*
 * notify.h - telling systemd (Type=notify, packaging/stampd.service) where
 * stampd is: ready once it listens, reloading on SIGHUP, stopping on
 * SIGTERM. notify.c is the only file that sees libsystemd; without
 * $NOTIFY_SOCKET (not run by systemd) every call does nothing.
 */
#ifndef STAMPD_NOTIFY_H
#define STAMPD_NOTIFY_H

/* pv_notify - send state (borrowed; "READY=1", "STOPPING=1", "RELOADING=1",
 * "STATUS=...") to the service manager; best effort, no error. */
void pv_notify(const char *state);

#endif
