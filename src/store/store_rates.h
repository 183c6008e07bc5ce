/*
 * store_rates.h - the part of the store interface (store.h, which includes
 * it; include store.h, never this) for rate tables as data (schema v16,
 * store/rates.c, domain/rates_store.h, docs/rates.md).
 */
#ifndef STAMPD_STORE_RATES_H
#define STAMPD_STORE_RATES_H

/* One loaded rate table: its document as loaded and who loaded it when. */
struct pv_rate_rec {
    char version[48];
    uint32_t effective; /* YYYYMMDD */
    char source[256];
    char *body; /* the JSON document; owned: pv_store_rate_list's caller frees it */
    int64_t loaded_at;
    char loaded_by[PV_ID_MAX]; /* "cli", "shipped" */
};

/* rate_insert: one table (rec->body borrowed): PV_EEXIST when its version or
 * effective date is taken, PV_EINVAL. rate_list: every table, by effective
 * date, into *out (owned: free each body, then the array; pv_rate_recs_free).
 * rate_stamp: how many tables there are and the latest loaded_at, which
 * change whenever one is loaded. */
int pv_store_rate_insert(struct pv_store *st, const struct pv_rate_rec *rec);
int pv_store_rate_list(struct pv_store *st, struct pv_rate_rec **out, size_t *n);
int pv_store_rate_stamp(struct pv_store *st, int64_t *count, int64_t *latest);
void pv_rate_recs_free(struct pv_rate_rec *recs, size_t n);

#endif
