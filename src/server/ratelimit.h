/*
 * ratelimit.h - per-source limits on failed authentication and on sign-ups
 * (ratelimit.c).
 */
#ifndef STAMPD_RATELIMIT_H
#define STAMPD_RATELIMIT_H

#include <stdint.h>

struct pv_ratelimit;

/*
 * pv_ratelimit_new - per-source counters of failed logins and API-key
 * attempts. After PV_RL_FREE failures a source must wait 1, 2, 4, ... s
 * between attempts; after PV_RL_LOCK failures it is refused for lockout_s.
 * Failures older than PV_RL_WINDOW_S are forgotten. *out owned
 * (pv_ratelimit_free). PV_ENOMEM.
 */
#define PV_RL_FREE     10
#define PV_RL_LOCK     20
#define PV_RL_WINDOW_S 900
int pv_ratelimit_new(int64_t lockout_s, struct pv_ratelimit **out);
/*
 * pv_ratelimit_new_budget - the same table for attempts that cost us even
 * when they succeed (sign-ups: an argon2id hash and an account each): every
 * attempt is counted (pv_ratelimit_reserve, never released); after budget
 * attempts a source is refused until window_s has passed since its last
 * one and its first is window_s old. *out owned (pv_ratelimit_free).
 * PV_EINVAL (budget or window_s < 1), PV_ENOMEM.
 */
int pv_ratelimit_new_budget(int budget, int64_t window_s, struct pv_ratelimit **out);
void pv_ratelimit_free(struct pv_ratelimit *rl);
/* pv_ratelimit_check - PV_OK when source (borrowed; NULL = no limit) may
 * try now, else PV_ERATELIMIT with *retry_after (s). */
int pv_ratelimit_check(struct pv_ratelimit *rl, const char *source, int64_t now_ms,
                       int *retry_after);
/* pv_ratelimit_fail - count a failure. Nothing resets a source but time:
 * a good login of one's own must not launder guesses at other accounts. */
void pv_ratelimit_fail(struct pv_ratelimit *rl, const char *source, int64_t now_ms);
/*
 * pv_ratelimit_reserve - check and, when allowed, count an attempt as failed
 * at once, so that parallel attempts (logins, which take a while to verify)
 * see each other: PV_OK, or PV_ERATELIMIT with *retry_after.
 * pv_ratelimit_release takes the count back when the attempt succeeded.
 */
int pv_ratelimit_reserve(struct pv_ratelimit *rl, const char *source, int64_t now_ms,
                         int *retry_after);
void pv_ratelimit_release(struct pv_ratelimit *rl, const char *source, int64_t now_ms);

/* pv_ratelimit_lockouts - how many times a source reached the lockout since
 * rl was made (GET /metrics); 0 for NULL. */
uint64_t pv_ratelimit_lockouts(struct pv_ratelimit *rl);

#endif
