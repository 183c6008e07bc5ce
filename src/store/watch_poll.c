/*
 * watch_poll.c - store_watch.h where the database cannot notify (SQLite): a
 * store handle of the watch's own reads the channel's change count in
 * watch_versions (schema v28; triggers bump it in the changing transaction,
 * whichever process commits it) every PV_WATCH_POLL_MS, and a wait answers
 * 1 as soon as the count moved. Written over the store's statements, so it
 * needs no backend header. A read is a few microseconds of an in-process
 * SQLite: twenty a second cost nothing.
 */
#include "stampd/error.h"
#include "stampd/timeutil.h"
#include "store/store_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct poll_watch {
    struct pv_watch base; /* first */
    struct pv_store *st;
    char channel[64];
    int64_t version; /* the count the last wait saw */
};

static int read_version(struct pv_row *r, void *rec)
{
    *(int64_t *) rec = pv_r_int(r);
    return r->rc;
}

/* The channel's count into *v; PV_ECONFIG when the channel has no row. */
static int version(struct poll_watch *pw, int64_t *v)
{
    int rc = pv_get_by_text(pw->st, S_WATCH_VERSION, pw->channel, read_version, v, sizeof *v);

    if (rc == PV_ENOTFOUND) {
        fprintf(stderr, "store: watch: no channel %s in watch_versions\n", pw->channel);
        return PV_ECONFIG;
    }
    return rc == PV_OK ? PV_OK : PV_ESTORE;
}

static int poll_wait(struct pv_watch *w, int timeout_ms)
{
    struct poll_watch *pw = (struct poll_watch *) w;
    int64_t deadline = pv_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0), v, left;
    struct timespec ts;
    int rc;

    for (;;) {
        if ((rc = version(pw, &v)) != PV_OK)
            return rc < 0 ? rc : PV_ESTORE;
        if (v != pw->version) {
            pw->version = v;
            return 1;
        }
        if ((left = deadline - pv_mono_ms()) <= 0)
            return 0;
        if (left > PV_WATCH_POLL_MS)
            left = PV_WATCH_POLL_MS;
        ts.tv_sec = 0;
        ts.tv_nsec = (long) left * 1000000L;
        nanosleep(&ts, NULL);
    }
}

static void poll_close(struct pv_watch *w)
{
    struct poll_watch *pw = (struct poll_watch *) w;

    pv_store_close(pw->st);
    free(pw);
}

static const struct pv_watch_ops poll_watch_ops = {
    .wait = poll_wait,
    .close = poll_close,
};

int pv_poll_watch_open(const char *dsn, const char *channel, struct pv_watch **out)
{
    struct poll_watch *pw;
    int rc;

    if (!(pw = calloc(1, sizeof *pw)))
        return PV_ENOMEM;
    pw->base.ops = &poll_watch_ops;
    if (snprintf(pw->channel, sizeof pw->channel, "%s", channel) >= (int) sizeof pw->channel) {
        free(pw);
        return PV_ECONFIG;
    }
    if ((rc = pv_store_open(dsn, &pw->st)) != PV_OK || (rc = version(pw, &pw->version)) != PV_OK) {
        poll_close(&pw->base);
        return rc == PV_ECONFIG ? PV_ECONFIG : PV_ESTORE;
    }
    *out = &pw->base;
    return PV_OK;
}
