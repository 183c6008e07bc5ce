/*
 * sign_bench.c - signatures per second of a crypto module (bench/sign.sh):
 * one P-256 key made in the module given by spec, then T threads each
 * signing 73-byte indicium-sized messages for S seconds through the same
 * pv_crypto_sign the purchase path calls. Every 1000th signature is
 * verified, so a fast wrong answer cannot pass for a fast right one.
 *
 *   bench_sign SPEC [SECONDS] [THREADS]      (PIN from STAMPD_CRYPTO_PIN)
 */
#include "crypto/crypto.h"
#include "crypto/primitives.h"
#include "stampd/error.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct worker {
    struct pv_crypto *cm;
    const char *ref, *pem;
    double until;
    uint64_t n;
    int bad;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    uint8_t msg[73], sig[64];

    memset(msg, 0x5a, sizeof msg);
    while (now_s() < w->until) {
        memcpy(msg, &w->n, sizeof w->n);
        if (pv_crypto_sign(w->cm, w->ref, msg, sizeof msg, sig) != PV_OK ||
            (w->n % 1000 == 0 && pv_crypto_verify(w->pem, msg, sizeof msg, sig) != PV_OK)) {
            w->bad++;
            break;
        }
        w->n++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct pv_crypto *cm = NULL;
    struct worker w[64];
    pthread_t t[64];
    char *ref = NULL, *pem = NULL;
    const char *pin = getenv("STAMPD_CRYPTO_PIN");
    int secs = argc > 2 ? atoi(argv[2]) : 5, threads = argc > 3 ? atoi(argv[3]) : 1, i, rc, bad = 0;
    uint64_t total = 0;
    double start;

    if (argc < 2 || secs < 1 || threads < 1 || threads > 64) {
        fprintf(stderr, "usage: bench_sign SPEC [SECONDS] [THREADS 1-64]\n");
        return 2;
    }
    if ((rc = pv_crypto_open_pin(argv[1], pin, &cm)) != PV_OK ||
        (rc = pv_crypto_generate_key(cm, "bench", &ref, &pem)) != PV_OK) {
        fprintf(stderr, "bench_sign: %s: %s\n", argv[1], pv_strerror(rc));
        pv_crypto_close(cm);
        return 1;
    }
    start = now_s();
    for (i = 0; i < threads; i++) {
        w[i] = (struct worker){cm, ref, pem, start + secs, 0, 0};
        pthread_create(&t[i], NULL, run, &w[i]);
    }
    for (i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        total += w[i].n;
        bad += w[i].bad;
    }
    printf("%s: %d thread(s), %d s: %.0f signs/s%s\n", cm->ops->name, threads, secs,
           (double) total / (now_s() - start), bad ? " (FAILED signatures)" : "");
    free(ref);
    free(pem);
    pv_crypto_close(cm);
    return bad ? 1 : 0;
}
