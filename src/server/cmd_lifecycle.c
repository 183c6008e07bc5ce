/*
 * cmd_lifecycle.c - the operator's PSD lifecycle from the command line
 * (domain/lifecycle.h; docs/operations.md, "PSD lifecycle"):
 *
 *   stampd psd suspend  --db DSN --psd ID [--reason TEXT]
 *   stampd psd resume   --db DSN --psd ID [--reason TEXT]
 *   stampd psd withdraw --db DSN --psd ID [--reason TEXT] [--force]
 *
 * The same rules and the same history as POST /v1/admin/psds/{id}/...; the
 * actor is the operator, recorded as "cli". Withdrawing the last usable PSD
 * needs --force.
 */
#include "server/cmd_lifecycle.h"

#include "domain/lifecycle.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/money.h"
#include "stampd/timeutil.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

int pv_cmd_psd_lifecycle(const struct opts *o, const char *verb)
{
    const char *reason = o->reason ? o->reason : "";
    struct pv_store *st = NULL;
    struct pv_psd_change ch;
    char what[32], money[32];
    uint64_t psd = 0;
    int rc;

    snprintf(what, sizeof what, "psd %s", verb);
    if (!o->psd || pv_parse_u64(o->psd, 1, UINT32_MAX, &psd) != PV_OK) {
        fprintf(stderr, "stampd: psd %s needs --psd ID (a PSD id)\n", verb);
        return 2;
    }
    if (strlen(reason) >= PV_REASON_MAX) {
        fprintf(stderr, "stampd: --reason is longer than %d bytes\n", PV_REASON_MAX - 1);
        return 2;
    }
    if (!pv_cmd_db_exists(o->db))
        return 1;
    if ((rc = pv_store_open_checked(o->db, &st)) != PV_OK)
        return pv_cmd_fail("open database (run stampd migrate after an upgrade)", rc);
    if (strcmp(verb, "suspend") == 0)
        rc = pv_psd_suspend(st, (uint32_t) psd, PV_ACTOR_OPERATOR, "cli", reason, pv_now(), &ch);
    else if (strcmp(verb, "resume") == 0)
        rc = pv_psd_resume(st, (uint32_t) psd, PV_ACTOR_OPERATOR, "cli", reason, pv_now(), &ch);
    else
        rc = pv_psd_withdraw(st, (uint32_t) psd, "cli", reason, o->force, pv_now(), &ch);
    pv_store_close(st);
    if (rc == PV_ELASTPSD) {
        fprintf(stderr,
                "stampd: PSD %llu is the last usable PSD: withdrawing it stops all sales "
                "(add --force to go on)\n",
                (unsigned long long) psd);
        return 1;
    }
    if (rc != PV_OK)
        return pv_cmd_fail(what, rc);
    if (!ch.changed)
        fprintf(stderr, "stampd: PSD %llu is suspended already (by the %s)\n",
                (unsigned long long) psd, ch.psd.suspended_by);
    else if (strcmp(verb, "withdraw") == 0)
        fprintf(stderr,
                "stampd: PSD %llu is withdrawn: registers frozen, key %u retired (still "
                "published); $%s went back to the postal deposit\n",
                (unsigned long long) psd, (unsigned) ch.psd.key_id,
                pv_money_format(ch.returned, money, sizeof money));
    else
        fprintf(stderr, "stampd: PSD %llu is %s\n", (unsigned long long) psd,
                pv_psd_status_name(ch.psd.status));
    printf("status=%s\n", pv_psd_status_name(ch.psd.status));
    return 0;
}
