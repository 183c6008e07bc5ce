/*
 * cmd_report.c - stampd authority report --db DSN --date YYYY-MM-DD --out
 * DIR [--psd ID] [--crypto SPEC] [--crypto-pin-file PATH]: every live PSD's
 * (or PSD ID's) signed report of that day written to DIR with what
 * `openssl` needs to check it (domain/report.h, docs/authority.md "Daily
 * reports").
 *
 * A day a device has not reported yet (its processor was down, or runs
 * with --reports off) is made here when the crypto module holding the PSD's
 * key is at hand - the one of --crypto, or the store's - and the day is
 * over, with every missing day before it (reports follow each other day by
 * day); that is a contact too, so it lifts the watchdog's lock. A day before
 * a device's reports begin (when its watchdog started) is skipped, said on
 * stderr. Files per device N: report-D-psd-N.jsonl and .csv (the signed
 * bytes), each with a .sig (DER ECDSA signature), psd-N-key.pem (the public
 * key) and psd-N-cert.pem (its certificate); ca.pem, the vendor CA. Exit 0
 * when every report due was written, 1 otherwise.
 */
#include "server/cmd_authority.h"

#include "crypto/primitives.h"
#include "domain/config.h"
#include "domain/lease.h"
#include "domain/report.h"
#include "server/cmd_crypto.h"
#include "stampd/card.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/indicium.h"
#include "stampd/timeutil.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[PATH_MAX];
    FILE *f;
    int ok;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!(f = fopen(path, "wb"))) {
        fprintf(stderr, "stampd: %s: %s\n", path, strerror(errno));
        return PV_EIO;
    }
    ok = fwrite(data, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    if (!ok) {
        fprintf(stderr, "stampd: %s: write failed\n", path);
        return PV_EIO;
    }
    return PV_OK;
}

static int write_sig(const char *dir, const char *name, const char *hex)
{
    uint8_t raw[64], der[80];
    size_t len;

    if (strlen(hex) != 128 || pv_hex_decode(hex, raw, sizeof raw) != PV_OK ||
        pv_sig_raw_to_der(raw, der, sizeof der, &len) != PV_OK)
        return PV_ECRYPTO;
    return write_file(dir, name, der, len);
}

/* The crypto module of --crypto or the store's; NULL (said) when it cannot be opened. */
static struct pv_crypto *open_module(const struct opts *o, struct pv_store *st)
{
    struct pv_crypto *cm = NULL;
    char *spec = NULL, pin[PV_PIN_MAX + 1];
    int rc;

    if (o->crypto)
        spec = strdup(o->crypto);
    else if (pv_store_config_get(st, PV_CFG_CRYPTO, &spec) != PV_OK)
        return NULL;
    if (!spec)
        return NULL;
    if ((rc = pv_cmd_crypto_pin(o, spec, pin, sizeof pin)) == PV_OK)
        rc = pv_crypto_open_pin(spec, pin[0] ? pin : NULL, &cm);
    pv_card_wipe(pin, sizeof pin);
    if (rc != PV_OK)
        fprintf(stderr, "stampd: crypto module %s: %s (reports already made are still written)\n",
                spec, pv_strerror(rc));
    free(spec);
    return rc == PV_OK ? cm : NULL;
}

/*
 * Make the missing report of psd for day with cm, and those of the days
 * before it that are missing too (reports follow each other day by day);
 * PV_OK or the reason (said). PV_ENOTFOUND (said): nothing to report, the
 * day is before the PSD's reports begin.
 */
static int make_missing(struct pv_store *st, struct pv_crypto *cm, const struct pv_psd_rec *psd,
                        const struct pv_key_rec *keys, size_t nk, uint32_t day)
{
    struct pv_report_signer sg;
    char *license = NULL;
    uint32_t d = day;
    size_t k;
    int rc;

    rc = pv_report_first_day(st, psd->id, &d);
    if (rc != PV_OK && rc != PV_ENOTFOUND)
        return rc;
    if (rc == PV_ENOTFOUND || d > day) {
        fprintf(stderr, "stampd: PSD %u: no report for that day: its reports begin later\n",
                (unsigned) psd->id);
        return PV_ENOTFOUND;
    }
    if (pv_date_to_unix(day) - pv_date_to_unix(d) > 366LL * 86400) {
        fprintf(stderr,
                "stampd: PSD %u: more than a year of reports is missing: make them "
                "a year at a time\n",
                (unsigned) psd->id);
        return PV_ELIMIT;
    }
    for (k = 0; k < nk && keys[k].key_id != psd->key_id; k++)
        ;
    if (!cm || k == nk || keys[k].revoked_at || !pv_key_bound(&keys[k], cm)) {
        fprintf(stderr, "stampd: PSD %u: not reported, and its key is not in this crypto module\n",
                (unsigned) psd->id);
        return PV_EKEYMODULE;
    }
    if ((rc = pv_store_config_get(st, PV_CFG_LICENSE, &license)) != PV_OK)
        return rc;
    sg.cm = cm;
    sg.key_ref = keys[k].key_ref;
    sg.key_id = keys[k].key_id;
    for (rc = PV_OK; rc == PV_OK && d <= day; d = pv_date_add_days(d, 1))
        rc = pv_report_make(st, &sg, license, psd->id, d, "cli", pv_report_clock(), NULL);
    free(license);
    if (rc == PV_EINVAL)
        fprintf(stderr,
                "stampd: PSD %u: the day is not over yet (reports are made %d s after it "
                "ends, UTC)\n",
                (unsigned) psd->id, PV_REPORT_GRACE_S);
    else if (rc == PV_OK)
        fprintf(stderr, "stampd: PSD %u: report made and signed now\n", (unsigned) psd->id);
    return rc == PV_EEXIST ? PV_OK : rc;
}

/* One form of a report: report-D-psd-N.EXT and its signature report-D-psd-N.EXT.sig. */
static int write_form(const char *dir, const char *date, uint32_t psd, const char *ext,
                      const char *body, const char *sig_hex)
{
    char name[96];
    int rc;

    snprintf(name, sizeof name, "report-%s-psd-%u.%s", date, (unsigned) psd, ext);
    if ((rc = write_file(dir, name, body, strlen(body))) != PV_OK)
        return rc;
    strcat(name, ".sig");
    return write_sig(dir, name, sig_hex);
}

/* The report of one PSD into dir. */
static int write_one(struct pv_store *st, const char *dir, const struct pv_psd_rec *psd,
                     const char *date, const struct pv_key_rec *keys, size_t nk)
{
    struct pv_report_rec r;
    char *jl = NULL, *cv = NULL, name[96];
    size_t k;
    int rc;

    if ((rc = pv_store_report_get(st, psd->id, date, &r, &jl, &cv)) != PV_OK)
        return rc;
    if ((rc = write_form(dir, date, psd->id, "jsonl", jl, r.jsonl_sig)) != PV_OK ||
        (rc = write_form(dir, date, psd->id, "csv", cv, r.csv_sig)) != PV_OK)
        goto out;
    for (k = 0; k < nk && keys[k].key_id != r.key_id; k++)
        ;
    if (k < nk) {
        snprintf(name, sizeof name, "psd-%u-key.pem", (unsigned) psd->id);
        if ((rc = write_file(dir, name, keys[k].public_pem, strlen(keys[k].public_pem))) != PV_OK)
            goto out;
        snprintf(name, sizeof name, "psd-%u-cert.pem", (unsigned) psd->id);
        if (keys[k].cert_pem[0] &&
            (rc = write_file(dir, name, keys[k].cert_pem, strlen(keys[k].cert_pem))) != PV_OK)
            goto out;
    }
    printf("psd %u: %lld pieces, postage %lld mills, key %u: report-%s-psd-%u.{jsonl,csv}\n",
           (unsigned) psd->id, (long long) r.pieces, (long long) r.postage, (unsigned) r.key_id,
           date, (unsigned) psd->id);
out:
    free(jl);
    free(cv);
    return rc;
}

int pv_cmd_authority_report(const struct opts *o)
{
    struct pv_store *st = NULL;
    struct pv_crypto *cm = NULL;
    struct pv_psd_rec *psds = NULL;
    struct pv_key_rec *keys = NULL;
    size_t n = 0, nk = 0, i, bad = 0;
    char *ca = NULL;
    uint64_t only = 0;
    uint32_t day;
    int rc;

    if (!o->date || pv_date_parse(o->date, &day) != PV_OK || !o->out || !o->out[0] ||
        (o->psd && pv_parse_u64(o->psd, 1, UINT32_MAX, &only) != PV_OK)) {
        fprintf(stderr, "stampd: authority report needs --date YYYY-MM-DD and --out DIR "
                        "(--psd ID: one device)\n");
        return 2;
    }
    if (pv_report_clock_check() != PV_OK)
        return 2;
    if (mkdir(o->out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "stampd: %s: %s\n", o->out, strerror(errno));
        return 1;
    }
    if (!pv_cmd_db_exists(o->db))
        return 1;
    if ((rc = pv_store_open_checked(o->db, &st)) != PV_OK)
        return pv_cmd_fail("open database", rc);
    if ((rc = pv_store_psd_list(st, &psds, &n)) != PV_OK ||
        (rc = pv_store_key_list(st, &keys, &nk)) != PV_OK) {
        pv_store_close(st);
        return pv_cmd_fail("read PSDs", rc);
    }
    for (i = 0; i < n; i++) {
        if (psds[i].test || (only && psds[i].id != only))
            continue; /* play money: not the authority's */
        rc = write_one(st, o->out, &psds[i], o->date, keys, nk);
        if (rc == PV_ENOTFOUND) {
            if (!cm)
                cm = open_module(o, st);
            rc = make_missing(st, cm, &psds[i], keys, nk, day);
            if (rc == PV_ENOTFOUND)
                continue; /* said: nothing to report for it that day */
            if (rc == PV_OK)
                rc = write_one(st, o->out, &psds[i], o->date, keys, nk);
        }
        if (rc != PV_OK) {
            fprintf(stderr, "stampd: PSD %u: no report for %s: %s\n", (unsigned) psds[i].id,
                    o->date, pv_strerror(rc));
            bad++;
        }
    }
    for (i = 0; only && i < n && psds[i].id != only; i++)
        ;
    if (only && (i == n || psds[i].test)) {
        fprintf(stderr, "stampd: no live PSD %llu\n", (unsigned long long) only);
        bad++;
    }
    if (pv_store_config_get(st, PV_CFG_CA_CERT, &ca) == PV_OK) {
        if (write_file(o->out, "ca.pem", ca, strlen(ca)) != PV_OK)
            bad++;
        free(ca);
    }
    pv_crypto_close(cm);
    free(psds);
    free(keys);
    pv_store_close(st);
    return bad ? 1 : 0;
}
