/*
 * rates.c - postage rate tables as data (rates.h, docs/rates.md).
 *
 * A table is a JSON document: a version, an effective date, a source line,
 * per mail class a list of weight steps (upper bound in ounces with at most
 * one decimal, price as a dollar string; parcels a price per zone 1-9), the
 * non-machinable surcharge and the extra services. It is validated whole
 * before it is used: nothing is interpolated or guessed, a weight above the
 * last step is PV_EWEIGHT.
 *
 * The tables in use are one process-wide set, replaced whole by
 * pv_rates_install (the database's tables, rates_store.c); until then the
 * shipped tables built into the binary (data/rates/) are the set. A quote
 * takes the table with the latest effective date on or before the mail
 * date, so old mail dates keep their old prices. One mutex guards the set;
 * a quote holds it for a few comparisons.
 */
#include "stampd/rates.h"

#include "stampd/datafiles.h"
#include "stampd/error.h"
#include "stampd/indicium.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NZONES       9
#define MAX_TENTH_OZ 11200 /* 70 lb */
#define MAX_STEPS    200
#define MAX_PRICE    ((pv_mills) 100000 * PV_MILLS_PER_DOLLAR)
#define FORMAT       "stampd-rates/1"

struct step {
    uint32_t max_tenth_oz;
    pv_mills price[NZONES]; /* price[0] only, but for parcels */
};

struct class_rates {
    int present;
    struct step *steps;
    size_t nsteps;
    pv_mills surcharge; /* non-machinable; -1: the class does not take it */
};

struct pv_rate_table {
    char version[PV_RATE_VERSION_MAX];
    char source[PV_RATE_SOURCE_MAX];
    uint32_t effective;
    struct class_rates cls[PV_MC_COUNT + 1];
    pv_mills certified;         /* -1: not offered */
    unsigned certified_classes; /* bit (1 << class) */
    pv_mills return_receipt;    /* -1: not offered; needs Certified Mail */
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
    int mail_class;
    const char *name;
} class_names[] = {
    {PV_MC_FIRST_CLASS_LETTER, "first_class_letter"}, {PV_MC_POSTCARD, "postcard"},
    {PV_MC_LARGE_ENVELOPE, "large_envelope"},         {PV_MC_GROUND_ADVANTAGE, "ground_advantage"},
    {PV_MC_PRIORITY_MAIL, "priority_mail"},
};

int pv_mail_class_parse(const char *name, int *out)
{
    size_t i;

    for (i = 0; name && i < N(class_names); i++) {
        if (strcmp(name, class_names[i].name) == 0) {
            *out = class_names[i].mail_class;
            return PV_OK;
        }
    }
    return PV_EMAILCLASS;
}

const char *pv_mail_class_name(int mail_class)
{
    size_t i;

    for (i = 0; i < N(class_names); i++)
        if (class_names[i].mail_class == mail_class)
            return class_names[i].name;
    return NULL;
}

int pv_mail_class_is_parcel(int mail_class)
{
    return mail_class == PV_MC_GROUND_ADVANTAGE || mail_class == PV_MC_PRIORITY_MAIL;
}

const char *pv_service_name(uint8_t svc)
{
    return svc == PV_SVC_CERTIFIED        ? "certified_mail"
           : svc == PV_SVC_RETURN_RECEIPT ? "return_receipt"
                                          : NULL;
}

/* ---- parsing ---- */

struct perr {
    char *buf;
    size_t n;
};

static int fail(struct perr *e, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static int fail(struct perr *e, const char *fmt, ...)
{
    va_list ap;

    if (e->buf && e->n) {
        va_start(ap, fmt);
        vsnprintf(e->buf, e->n, fmt, ap);
        va_end(ap);
    }
    return PV_ERATETABLE;
}

/* "3.5" (ounces, at most one decimal) -> 35 tenths. */
static int parse_tenths(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    size_t i = 0;

    if (!s[0])
        return PV_EINVAL;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > MAX_TENTH_OZ)
            return PV_EINVAL;
        v = v * 10 + (uint32_t) (s[i] - '0');
    }
    if (i == 0)
        return PV_EINVAL;
    v *= 10;
    if (s[i] == '.') {
        if (s[i + 1] < '0' || s[i + 1] > '9' || s[i + 2])
            return PV_EINVAL;
        v += (uint32_t) (s[i + 1] - '0');
    } else if (s[i]) {
        return PV_EINVAL;
    }
    *out = v;
    return PV_OK;
}

static int price_of(json_t *v, pv_mills *out)
{
    if (!json_is_string(v) || pv_money_parse(json_string_value(v), out) != PV_OK || *out <= 0 ||
        *out > MAX_PRICE)
        return PV_EINVAL;
    return PV_OK;
}

/* Only the keys in allowed (NULL-terminated) in object o. */
static int known_keys(json_t *o, const char *const *allowed, const char *where, struct perr *e)
{
    const char *k;
    json_t *v;
    size_t i;

    json_object_foreach(o, k, v)
    {
        for (i = 0; allowed[i] && strcmp(allowed[i], k) != 0; i++)
            ;
        if (!allowed[i])
            return fail(e, "%s: unknown key \"%s\"", where, k);
    }
    return PV_OK;
}

static int parse_steps(json_t *arr, int mail_class, struct class_rates *c, const char *name,
                       struct perr *e)
{
    static const char *const keys[] = {"max_oz", "price", "zones", NULL};
    int parcel = pv_mail_class_is_parcel(mail_class);
    char where[96];
    size_t i, z;
    json_t *s, *p;

    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > MAX_STEPS)
        return fail(e, "classes.%s.steps: a list of 1-%d steps expected", name, MAX_STEPS);
    c->nsteps = json_array_size(arr);
    if (!(c->steps = calloc(c->nsteps, sizeof *c->steps)))
        return PV_ENOMEM;
    json_array_foreach(arr, i, s)
    {
        struct step *st = &c->steps[i];
        snprintf(where, sizeof where, "classes.%s.steps[%zu]", name, i);
        if (!json_is_object(s) || known_keys(s, keys, where, e) != PV_OK)
            return fail(e, "%s: an object with max_oz and %s expected", where,
                        parcel ? "zones" : "price");
        p = json_object_get(s, "max_oz");
        if (!json_is_string(p) || parse_tenths(json_string_value(p), &st->max_tenth_oz) != PV_OK ||
            st->max_tenth_oz == 0 || st->max_tenth_oz > MAX_TENTH_OZ)
            return fail(e, "%s.max_oz: ounces as a string (\"3.5\"), more than 0, at most 1120",
                        where);
        if (i > 0 && st->max_tenth_oz <= c->steps[i - 1].max_tenth_oz)
            return fail(e, "%s.max_oz: the steps' weights must increase", where);
        if (parcel) {
            p = json_object_get(s, "zones");
            if (json_object_get(s, "price") || !json_is_array(p) || json_array_size(p) != NZONES)
                return fail(e, "%s.zones: 9 prices (zones 1-9) expected", where);
            for (z = 0; z < NZONES; z++)
                if (price_of(json_array_get(p, z), &st->price[z]) != PV_OK)
                    return fail(e, "%s.zones[%zu]: a price in dollars (\"7.95\") expected", where,
                                z);
        } else if (json_object_get(s, "zones") ||
                   price_of(json_object_get(s, "price"), &st->price[0]) != PV_OK) {
            return fail(e, "%s.price: a price in dollars (\"0.74\") expected", where);
        }
    }
    return PV_OK;
}

static int parse_class(json_t *o, int mail_class, const char *name, struct pv_rate_table *t,
                       struct perr *e)
{
    static const char *const keys[] = {"steps", "nonmachinable_surcharge", NULL};
    struct class_rates *c = &t->cls[mail_class];
    char where[64];
    json_t *sur;
    int rc;

    snprintf(where, sizeof where, "classes.%s", name);
    if (!json_is_object(o))
        return fail(e, "%s: an object expected", where);
    if ((rc = known_keys(o, keys, where, e)) != PV_OK)
        return rc;
    c->present = 1;
    c->surcharge = -1;
    if ((rc = parse_steps(json_object_get(o, "steps"), mail_class, c, name, e)) != PV_OK)
        return rc;
    if ((sur = json_object_get(o, "nonmachinable_surcharge")) != NULL) {
        if (mail_class != PV_MC_FIRST_CLASS_LETTER)
            return fail(e, "%s.nonmachinable_surcharge: only first_class_letter has one", where);
        if (price_of(sur, &c->surcharge) != PV_OK)
            return fail(e, "%s.nonmachinable_surcharge: a price in dollars expected", where);
    }
    return PV_OK;
}

static int parse_services(json_t *o, struct pv_rate_table *t, struct perr *e)
{
    static const char *const keys[] = {"certified_mail", "return_receipt", NULL};
    static const char *const cm_keys[] = {"price", "classes", NULL};
    static const char *const rr_keys[] = {"price", "requires", NULL};
    json_t *cm, *rr, *v;
    size_t i;
    int mc, rc;

    if (!json_is_object(o))
        return fail(e, "extra_services: an object expected");
    if ((rc = known_keys(o, keys, "extra_services", e)) != PV_OK)
        return rc;
    if ((cm = json_object_get(o, "certified_mail")) != NULL) {
        if (!json_is_object(cm) ||
            (rc = known_keys(cm, cm_keys, "extra_services.certified_mail", e)) != PV_OK ||
            price_of(json_object_get(cm, "price"), &t->certified) != PV_OK)
            return fail(e, "extra_services.certified_mail: {\"price\", \"classes\"} expected");
        v = json_object_get(cm, "classes");
        if (!json_is_array(v) || json_array_size(v) == 0)
            return fail(e, "extra_services.certified_mail.classes: a list of classes expected");
        json_array_foreach(v, i, cm)
        {
            if (!json_is_string(cm) || pv_mail_class_parse(json_string_value(cm), &mc) != PV_OK ||
                !t->cls[mc].present)
                return fail(e,
                            "extra_services.certified_mail.classes[%zu]: a class of this table "
                            "expected",
                            i);
            t->certified_classes |= 1u << mc;
        }
    }
    if ((rr = json_object_get(o, "return_receipt")) != NULL) {
        if (!json_is_object(rr) ||
            (rc = known_keys(rr, rr_keys, "extra_services.return_receipt", e)) != PV_OK ||
            price_of(json_object_get(rr, "price"), &t->return_receipt) != PV_OK)
            return fail(e, "extra_services.return_receipt: {\"price\", \"requires\"} expected");
        v = json_object_get(rr, "requires");
        if (!json_is_string(v) || strcmp(json_string_value(v), "certified_mail") != 0 ||
            t->certified < 0)
            return fail(e, "extra_services.return_receipt.requires: \"certified_mail\" (which "
                           "the table must offer) expected");
    }
    return PV_OK;
}

static int version_ok(const char *v)
{
    size_t i, n = strlen(v);

    if (n == 0 || n >= PV_RATE_VERSION_MAX)
        return 0;
    for (i = 0; i < n; i++)
        if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
              (v[i] >= '0' && v[i] <= '9') || v[i] == '-' || v[i] == '_' || v[i] == '.'))
            return 0;
    return 1;
}

static int parse_doc(json_t *root, struct pv_rate_table *t, struct perr *e)
{
    static const char *const keys[] = {"format", "version", "effective",      "source",
                                       "note",   "classes", "extra_services", NULL};
    const char *k;
    json_t *v, *classes;
    int mc, rc, any = 0;

    if (!json_is_object(root))
        return fail(e, "the document must be a JSON object");
    if ((rc = known_keys(root, keys, "document", e)) != PV_OK)
        return rc;
    v = json_object_get(root, "format");
    if (!json_is_string(v) || strcmp(json_string_value(v), FORMAT) != 0)
        return fail(e, "format: \"" FORMAT "\" expected");
    v = json_object_get(root, "version");
    if (!json_is_string(v) || !version_ok(json_string_value(v)))
        return fail(e, "version: 1-%d letters, digits, '-', '_' or '.' expected",
                    PV_RATE_VERSION_MAX - 1);
    memcpy(t->version, json_string_value(v), strlen(json_string_value(v)) + 1);
    v = json_object_get(root, "effective");
    if (!json_is_string(v) || pv_date_parse(json_string_value(v), &t->effective) != PV_OK)
        return fail(e, "effective: a date YYYY-MM-DD expected");
    v = json_object_get(root, "source");
    if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) >= PV_RATE_SOURCE_MAX)
        return fail(e, "source: where the prices come from, 1-%d characters, expected",
                    PV_RATE_SOURCE_MAX - 1);
    memcpy(t->source, json_string_value(v), json_string_length(v) + 1);
    if ((v = json_object_get(root, "note")) != NULL && !json_is_string(v))
        return fail(e, "note: a string expected");
    classes = json_object_get(root, "classes");
    if (!json_is_object(classes))
        return fail(e, "classes: an object of mail classes expected");
    json_object_foreach(classes, k, v)
    {
        if (pv_mail_class_parse(k, &mc) != PV_OK)
            return fail(e, "classes: unknown mail class \"%s\"", k);
        if ((rc = parse_class(v, mc, k, t, e)) != PV_OK)
            return rc;
        any = 1;
    }
    if (!any)
        return fail(e, "classes: at least one mail class expected");
    if ((v = json_object_get(root, "extra_services")) != NULL)
        return parse_services(v, t, e);
    return PV_OK;
}

void pv_rate_table_free(struct pv_rate_table *t)
{
    int i;

    if (!t)
        return;
    for (i = 0; i <= PV_MC_COUNT; i++)
        free(t->cls[i].steps);
    free(t);
}

int pv_rate_table_parse(const char *text, size_t len, struct pv_rate_table **out, char *err,
                        size_t errlen)
{
    struct perr e = {err, errlen};
    struct pv_rate_table *t;
    json_error_t je;
    json_t *root;
    int rc;

    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (!(t = calloc(1, sizeof *t)))
        return PV_ENOMEM;
    t->certified = t->return_receipt = -1;
    if (!(root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je))) {
        pv_rate_table_free(t);
        return fail(&e, "not JSON: %s (line %d)", je.text, je.line);
    }
    rc = parse_doc(root, t, &e);
    json_decref(root);
    if (rc != PV_OK) {
        pv_rate_table_free(t);
        return rc;
    }
    *out = t;
    return PV_OK;
}

const char *pv_rate_table_version(const struct pv_rate_table *t)
{
    return t->version;
}

uint32_t pv_rate_table_effective(const struct pv_rate_table *t)
{
    return t->effective;
}

const char *pv_rate_table_source(const struct pv_rate_table *t)
{
    return t->source;
}

int pv_rate_table_has_class(const struct pv_rate_table *t, int mail_class)
{
    return mail_class >= 1 && mail_class <= PV_MC_COUNT && t->cls[mail_class].present;
}

/* ---- the set in use ---- */

struct set {
    struct pv_rate_table **t; /* oldest first */
    size_t n;
};

static pthread_mutex_t set_lock = PTHREAD_MUTEX_INITIALIZER;
static struct set *current; /* NULL: the built-in tables, parsed on first use */

static void set_free(struct set *s)
{
    size_t i;

    if (!s)
        return;
    for (i = 0; i < s->n; i++)
        pv_rate_table_free(s->t[i]);
    free(s->t);
    free(s);
}

static int by_effective(const void *a, const void *b)
{
    const struct pv_rate_table *x = *(struct pv_rate_table *const *) a;
    const struct pv_rate_table *y = *(struct pv_rate_table *const *) b;

    return x->effective < y->effective ? -1 : x->effective > y->effective;
}

/* A set of tables[0 .. n) (taken on PV_OK), sorted. */
static int set_make(struct pv_rate_table **tables, size_t n, struct set **out)
{
    struct set *s;
    size_t i, j;

    for (i = 0; i < n; i++)
        for (j = i + 1; j < n; j++)
            if (tables[i]->effective == tables[j]->effective ||
                strcmp(tables[i]->version, tables[j]->version) == 0)
                return PV_EINVAL;
    if (!(s = calloc(1, sizeof *s)) || !(s->t = malloc(n * sizeof *s->t))) {
        free(s);
        return PV_ENOMEM;
    }
    memcpy(s->t, tables, n * sizeof *tables);
    s->n = n;
    qsort(s->t, n, sizeof *s->t, by_effective);
    *out = s;
    return PV_OK;
}

size_t pv_rates_builtin_count(void)
{
    const struct pv_data_file *f;
    size_t n = 0;

    for (f = pv_data_files; f->name; f++)
        n += strncmp(f->name, "rates/", 6) == 0;
    return n;
}

const char *pv_rates_builtin(size_t i, size_t *len)
{
    const struct pv_data_file *f;

    for (f = pv_data_files; f->name; f++) {
        if (strncmp(f->name, "rates/", 6) != 0)
            continue;
        if (i-- == 0) {
            *len = f->len;
            return (const char *) f->data;
        }
    }
    return NULL;
}

/* The set in use, the built-in one made on first use; NULL when it cannot
 * be made (out of memory: a quote fails, a later one tries again). Under
 * set_lock. */
static struct set *get_set(void)
{
    struct pv_rate_table *t[8];
    size_t i, n = pv_rates_builtin_count(), len = 0;
    const char *text;

    if (current || n == 0 || n > N(t))
        return current;
    for (i = 0; i < n; i++) {
        if (!(text = pv_rates_builtin(i, &len)) ||
            pv_rate_table_parse(text, len, &t[i], NULL, 0) != PV_OK)
            break;
    }
    if (i < n || set_make(t, n, &current) != PV_OK) {
        while (i-- > 0)
            pv_rate_table_free(t[i]);
        current = NULL;
    }
    return current;
}

int pv_rates_install(struct pv_rate_table **tables, size_t n)
{
    struct set *s, *old;
    int rc;

    if (!tables || n == 0)
        return PV_EINVAL;
    if ((rc = set_make(tables, n, &s)) != PV_OK)
        return rc;
    pthread_mutex_lock(&set_lock);
    old = current;
    current = s;
    pthread_mutex_unlock(&set_lock);
    set_free(old);
    return PV_OK;
}

int pv_rates_info(struct pv_rate_info **out, size_t *n)
{
    struct pv_rate_info *r = NULL;
    struct set *s;
    size_t i;
    int c, rc = PV_OK;

    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&set_lock);
    s = get_set();
    if (!s || !(r = calloc(s->n, sizeof *r))) {
        rc = PV_ENOMEM;
    } else {
        for (i = 0; i < s->n; i++) {
            memcpy(r[i].version, s->t[i]->version, sizeof r[i].version);
            memcpy(r[i].source, s->t[i]->source, sizeof r[i].source);
            r[i].effective = s->t[i]->effective;
            r[i].until = i + 1 < s->n ? s->t[i + 1]->effective : 0;
            for (c = 1; c <= PV_MC_COUNT; c++)
                if (s->t[i]->cls[c].present)
                    r[i].classes |= (uint8_t) (1u << c);
        }
        *out = r;
        *n = s->n;
    }
    pthread_mutex_unlock(&set_lock);
    return rc;
}

/* ---- quotes ---- */

static int price_in(const struct pv_rate_table *t, const struct pv_rate_piece *p,
                    struct pv_rate_price *o)
{
    const struct class_rates *c = &t->cls[p->mail_class];
    int parcel = pv_mail_class_is_parcel(p->mail_class);
    size_t i;
    int rc;

    if (!c->present)
        return PV_EMAILCLASS;
    if (p->weight_tenth_oz == 0)
        return PV_EWEIGHT;
    if (parcel && (p->zone < 1 || p->zone > NZONES))
        return PV_EZONE;
    for (i = 0; i < c->nsteps && p->weight_tenth_oz > c->steps[i].max_tenth_oz; i++)
        ;
    if (i == c->nsteps)
        return PV_EWEIGHT;
    if (p->services & ~PV_SVC_ALL)
        return PV_ESERVICE;
    memset(o, 0, sizeof *o);
    o->postage = c->steps[i].price[parcel ? p->zone - 1 : 0];
    if (p->services & PV_SVC_NONMACHINABLE) {
        if (c->surcharge < 0)
            return PV_ESERVICE;
        o->surcharge = c->surcharge;
    }
    if (p->services & PV_SVC_CERTIFIED) {
        if (t->certified < 0 || !(t->certified_classes & (1u << p->mail_class)))
            return PV_ESERVICE;
        o->certified = t->certified;
    }
    if (p->services & PV_SVC_RETURN_RECEIPT) {
        if (t->return_receipt < 0 || !(p->services & PV_SVC_CERTIFIED))
            return PV_ESERVICE;
        o->return_receipt = t->return_receipt;
    }
    if ((rc = pv_money_add(o->postage, o->surcharge, &o->total)) != PV_OK ||
        (rc = pv_money_add(o->total, o->certified, &o->total)) != PV_OK ||
        (rc = pv_money_add(o->total, o->return_receipt, &o->total)) != PV_OK)
        return rc;
    o->effective = t->effective;
    memcpy(o->version, t->version, sizeof o->version);
    return PV_OK;
}

int pv_rate_price(const struct pv_rate_piece *p, struct pv_rate_price *out)
{
    const struct pv_rate_table *t = NULL;
    struct set *s;
    size_t i;
    int rc;

    if (!pv_mail_class_name(p->mail_class))
        return PV_EMAILCLASS;
    pthread_mutex_lock(&set_lock);
    if (!(s = get_set())) {
        rc = PV_ENOMEM;
        goto out;
    }
    for (i = s->n; i-- > 0;) {
        if (s->t[i]->effective <= p->mail_date) {
            t = s->t[i];
            break;
        }
    }
    rc = t ? price_in(t, p, out) : PV_ENORATE;
out:
    pthread_mutex_unlock(&set_lock);
    return rc;
}

int pv_rate_quote(int mail_class, uint32_t weight_tenth_oz, uint32_t mail_date, pv_mills *postage,
                  uint32_t *effective)
{
    struct pv_rate_piece p = {mail_class, weight_tenth_oz, mail_date, 0, 0};
    struct pv_rate_price o;
    int rc = pv_rate_price(&p, &o);

    if (rc != PV_OK)
        return rc;
    *postage = o.total;
    if (effective)
        *effective = o.effective;
    return PV_OK;
}

uint32_t pv_rate_max_weight(int mail_class)
{
    const struct class_rates *c;
    struct set *s;
    uint32_t max = 0;
    size_t i;

    if (mail_class < 1 || mail_class > PV_MC_COUNT)
        return 0;
    pthread_mutex_lock(&set_lock);
    s = get_set();
    for (i = s ? s->n : 0; i-- > 0;) {
        c = &s->t[i]->cls[mail_class];
        if (c->present) {
            max = c->steps[c->nsteps - 1].max_tenth_oz;
            break;
        }
    }
    pthread_mutex_unlock(&set_lock);
    return max;
}
