/*
 * authority.h - the postal authority as a party of its own (issue 13,
 * docs/authority.md): its accounts and API keys ("sk_postal_..."), and the
 * postal deposit, which only it credits.
 *
 * A postal account has a name (the authority, or one of its inspectors)
 * and API keys; it has no email, no password and no web session. What it
 * may call is the route table's POSTAL rows (src/server/routes.c); what it
 * sees is pieces, devices and money totals, never a customer's email,
 * address or card.
 *
 * A credit of the deposit is one journal entry ("postal_deposit":
 * postal_authority -> postal_deposit, ref the credit's id) and one
 * deposit_credits row with the authority's reference, written together in
 * one transaction under the writer lock (the lock purchases take before
 * they draw on the deposit), once per Idempotency-Key.
 */
#ifndef STAMPD_AUTHORITY_H
#define STAMPD_AUTHORITY_H

#include "store/store.h"

#define PV_DEPOSIT_CREDIT_MIN 10    /* one cent */
#define PV_CLI_CREDITOR       "cli" /* credited_by of stampd authority deposit */

/* pv_postal_name_valid - 1 when name (borrowed, may be NULL) is 1..127
 * printable ASCII characters, not starting or ending with a space. */
int pv_postal_name_valid(const char *name);

/*
 * pv_authority_create_in - inside the caller's transaction: a postal
 * account named name (borrowed) and a live API key for it named
 * PV_APIKEY_CLI_NAME; its id into id, the key's secret into key (shown
 * once: wipe it). PV_EINVAL (name), PV_EEXIST (name taken), PV_ECRYPTO,
 * store errors.
 */
int pv_authority_create_in(struct pv_store *st, const char *name, int64_t now, char id[PV_ID_MAX],
                           char key[64]);

/* pv_authority_create - the same in one transaction of its own (stampd
 * authority create); id and key are empty unless it committed. */
int pv_authority_create(struct pv_store *st, const char *name, int64_t now, char id[PV_ID_MAX],
                        char key[64]);

/* pv_authority_create_pw - the same with a web password (borrowed; NULL =
 * none, API keys only): PV_EPASSWORD when it breaks the password policy. */
int pv_authority_create_pw(struct pv_store *st, const char *name, const char *password, int64_t now,
                           char id[PV_ID_MAX], char key[64]);

/*
 * pv_time_parse_utc - "YYYY-MM-DDTHH:MM:SSZ" (borrowed) into *out (unix s).
 * PV_EINVAL for anything else, or a date before 2000 or after 9999.
 */
int pv_time_parse_utc(const char *text, int64_t *out);

/* What a deposit credit did. */
struct pv_deposit_res {
    struct pv_deposit_credit_rec credit;
    pv_mills balance; /* the deposit right after the credit (a replay: now) */
    int replayed;     /* 1: an earlier credit under the same Idempotency-Key */
};

/* pv_deposit_amount_valid - 1 when amount is a creditable sum: whole cents,
 * PV_DEPOSIT_CREDIT_MIN..PV_MILLS_MAX (what pv_deposit_credit accepts). */
int pv_deposit_amount_valid(pv_mills amount);

/*
 * pv_deposit_credit - credit the postal deposit with amount (whole cents,
 * PV_DEPOSIT_CREDIT_MIN..PV_MILLS_MAX) under the authority's reference
 * (borrowed; 1..PV_DEPOSIT_REF_MAX-1 printable characters), made by
 * credited_by (borrowed: the postal account, or PV_CLI_CREDITOR), in one
 * transaction. With idem_key (borrowed; NULL: none, the command line) and
 * req_hash (borrowed: the request's hash) a retry answers the first credit
 * (res->replayed) and the same key with another request is
 * PV_EIDEMREUSED. Returns PV_OK with *res filled, PV_EAMOUNT, PV_EINVAL
 * (reference), PV_EOVERFLOW (the deposit would pass the money bound),
 * store errors; nothing is written unless PV_OK.
 */
int pv_deposit_credit(struct pv_store *st, const char *credited_by, const char *idem_key,
                      const char *req_hash, pv_mills amount, const char *reference, int64_t now,
                      struct pv_deposit_res *res);

/*
 * pv_deposit_history - a page of the deposit's history: every credit and
 * every draw (psd_refill) with the balance after it, newest first, journal
 * id < before (0: from the newest), at most limit; *out owned (free()).
 * Store errors.
 */
int pv_deposit_history(struct pv_store *st, int64_t before, size_t limit,
                       struct pv_deposit_entry **out, size_t *n);

#endif
