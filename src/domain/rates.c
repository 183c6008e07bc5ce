/*
 * rates.c - postage rate tables.
 *
 * Each table is data: an effective date and, per mail class, a list of
 * weight steps (upper bound in tenths of an ounce, price in mills). A
 * quote takes the newest table in effect on the mail date and the first
 * step whose bound is >= the weight. Nothing is interpolated or guessed:
 * a weight above the last step is PV_EWEIGHT.
 *
 * The table below is USPS metered (PC postage) pricing effective
 * 2025-07-13. Add a new table at the end when prices change; old mail dates
 * keep their old prices.
 */
#include "stampd/rates.h"

#include "stampd/error.h"

#include <stddef.h>
#include <string.h>

struct step {
    uint32_t max_tenth_oz;
    pv_mills price;
};

struct class_rates {
    int mail_class;
    const struct step *steps;
    size_t nsteps;
};

struct rate_table {
    uint32_t effective; /* YYYYMMDD */
    const struct class_rates *classes;
    size_t nclasses;
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct step letters_20250713[] = {
    {10, 740},
    {20, 1030},
    {30, 1320},
    {35, 1610},
};

static const struct step postcards_20250713[] = {
    {10, 610},
};

static const struct step flats_20250713[] = {
    {10, 1630}, {20, 1900}, {30, 2170},  {40, 2440},  {50, 2710},  {60, 2980},  {70, 3250},
    {80, 3520}, {90, 3790}, {100, 4060}, {110, 4330}, {120, 4600}, {130, 4870},
};

static const struct class_rates classes_20250713[] = {
    {PV_MC_FIRST_CLASS_LETTER, letters_20250713, N(letters_20250713)},
    {PV_MC_POSTCARD, postcards_20250713, N(postcards_20250713)},
    {PV_MC_LARGE_ENVELOPE, flats_20250713, N(flats_20250713)},
};

/* Oldest first. */
static const struct rate_table tables[] = {
    {20250713, classes_20250713, N(classes_20250713)},
};

static const struct {
    int mail_class;
    const char *name;
} class_names[] = {
    {PV_MC_FIRST_CLASS_LETTER, "first_class_letter"},
    {PV_MC_POSTCARD, "postcard"},
    {PV_MC_LARGE_ENVELOPE, "large_envelope"},
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

static const struct class_rates *find_class(const struct rate_table *t, int mail_class)
{
    size_t i;

    for (i = 0; i < t->nclasses; i++)
        if (t->classes[i].mail_class == mail_class)
            return &t->classes[i];
    return NULL;
}

int pv_rate_quote(int mail_class, uint32_t weight_tenth_oz, uint32_t mail_date, pv_mills *postage,
                  uint32_t *effective)
{
    const struct rate_table *t = NULL;
    const struct class_rates *c;
    size_t i;

    if (!pv_mail_class_name(mail_class))
        return PV_EMAILCLASS;
    for (i = N(tables); i-- > 0;) {
        if (tables[i].effective <= mail_date) {
            t = &tables[i];
            break;
        }
    }
    if (!t)
        return PV_ENORATE;
    c = find_class(t, mail_class);
    if (!c)
        return PV_EMAILCLASS;
    if (weight_tenth_oz == 0)
        return PV_EWEIGHT;
    for (i = 0; i < c->nsteps; i++) {
        if (weight_tenth_oz <= c->steps[i].max_tenth_oz) {
            *postage = c->steps[i].price;
            if (effective)
                *effective = t->effective;
            return PV_OK;
        }
    }
    return PV_EWEIGHT;
}

uint32_t pv_rate_max_weight(int mail_class)
{
    const struct rate_table *t = &tables[N(tables) - 1];
    const struct class_rates *c = find_class(t, mail_class);

    return c ? c->steps[c->nsteps - 1].max_tenth_oz : 0;
}
