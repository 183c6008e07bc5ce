/*
 * sandbox_bench.c - what the sandbox gateway's book costs a card payment
 * (bench/sandbox.sh): N holds made and captured through the public gateway
 * calls, with keys shaped as the card payments' (purchase:cus_...:key:1, the
 * capture's with ":capture"), on a sandbox with a journal in DIR; then the
 * journal replayed by a new sandbox; then the same calls on a sandbox without a
 * journal (no write, no fsync: what the book's own work costs). Prints the heap
 * in use and the resident size a card, and the time a card of the calls and of
 * the replay. Every 1000th card is asked again under its key, and must answer
 * the same charge.
 *
 *   bench_sandbox DIR [N]
 */
#include "payment/gateway.h"
#include "stampd/error.h"

#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Heap in use (bytes) and resident size (bytes). */
static void mem(size_t *heap, size_t *rss)
{
    struct mallinfo2 mi = mallinfo2();
    unsigned long pages = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f) {
        if (fscanf(f, "%lu %lu", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    *heap = mi.uordblks + mi.hblkhd;
    *rss = (size_t) res * 4096;
}

static void key_of(char *out, size_t len, unsigned long i)
{
    snprintf(out, len, "purchase:cus_%016lx:k-%08lx-bench-%08lx:1", i % 32, i, i * 2654435761UL);
}

/* n cards on gw: hold, capture, every 1000th asked again. 0, or 1 when a call failed. */
static int cards(struct pv_gateway *gw, unsigned long n)
{
    char key[160], cap[176], tok[] = "tok_sandbox_approved_0123456789abcdef_1";
    int bad = 0;

    for (unsigned long i = 0; i < n && !bad; i++) {
        enum pv_pay_result res;
        char *id = NULL, *again = NULL;

        key_of(key, sizeof key, i);
        snprintf(cap, sizeof cap, "%s:capture", key);
        if (pv_gateway_authorize(gw, tok, 740, key, &res, &id) != PV_OK || !id ||
            pv_gateway_capture(gw, id, cap) != PV_OK)
            bad = 1;
        else if (i % 1000 == 0 &&
                 (pv_gateway_authorize(gw, tok, 740, key, &res, &again) != PV_OK || !again ||
                  strcmp(again, id) != 0 || pv_gateway_capture(gw, id, cap) != PV_OK))
            bad = 1;
        free(id);
        free(again);
    }
    return bad;
}

int main(int argc, char **argv)
{
    struct pv_gateway_opts o = {0};
    struct pv_gateway *gw = NULL;
    char path[4096], key[160], tok[] = "tok_sandbox_approved_0123456789abcdef_1";
    unsigned long n = argc > 2 ? strtoul(argv[2], NULL, 10) : 200000;
    size_t h0, r0, h1, r1;
    double t0, t1;
    int bad = 0;

    if (argc < 2 || n == 0) {
        fprintf(stderr, "usage: bench_sandbox DIR [N]\n");
        return 2;
    }
    snprintf(path, sizeof path, "%s/gateway.jsonl", argv[1]);
    o.journal = path;
    mem(&h0, &r0);
    if (pv_gateway_open_with("sandbox", &o, &gw) != PV_OK)
        return 1;
    t0 = now_s();
    bad = cards(gw, n);
    t1 = now_s();
    mem(&h1, &r1);
    printf("sandbox: %lu cards: %.2f us a card (authorize + capture, fsync each), "
           "heap %.0f B a card, resident %.0f B a card\n",
           n, (t1 - t0) * 1e6 / (double) n, ((double) h1 - (double) h0) / (double) n,
           ((double) r1 - (double) r0) / (double) n);
    pv_gateway_close(gw);

    mem(&h0, &r0);
    t0 = now_s();
    if (pv_gateway_open_with("sandbox", &o, &gw) != PV_OK)
        return 1;
    t1 = now_s();
    mem(&h1, &r1);
    key_of(key, sizeof key, n - 1);
    {
        enum pv_pay_result res;
        char *id = NULL;

        if (pv_gateway_authorize(gw, tok, 740, key, &res, &id) != PV_OK || !id)
            bad = 1;
        free(id);
    }
    printf("sandbox: replay of %lu cards: %.2f us a card, heap %.0f B a card\n", n,
           (t1 - t0) * 1e6 / (double) n, ((double) h1 - (double) h0) / (double) n);
    pv_gateway_close(gw);

    mem(&h0, &r0);
    if (pv_gateway_open("sandbox", &gw) != PV_OK)
        return 1;
    t0 = now_s();
    bad |= cards(gw, n);
    t1 = now_s();
    mem(&h1, &r1);
    printf("sandbox: %lu cards without a journal: %.2f us a card, heap %.0f B a card\n", n,
           (t1 - t0) * 1e6 / (double) n, ((double) h1 - (double) h0) / (double) n);
    pv_gateway_close(gw);
    if (bad)
        fprintf(stderr, "sandbox: a call failed or answered another charge\n");
    return bad;
}
