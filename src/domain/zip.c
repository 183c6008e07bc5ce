/*
 * zip.c - the ZIP tables built into the binary (zip.h): data/zip/zip3.tsv
 * (issued 3-digit prefixes and their states) and data/zip/zones.txt (the
 * zone matrix, one line "OOO " + 1000 zone characters per origin prefix, the
 * layout of USPS's zone chart matrix). Both are generated from a named
 * source by scripts/gen-zip-data.mjs (docs/rates.md, "ZIP data"). Parsed
 * once, on first use, into two static arrays; read-only after that.
 */
#include "stampd/zip.h"

#include "stampd/datafiles.h"
#include "stampd/error.h"

#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *code, *name;
} states[] = {
    {"AL", "Alabama"},
    {"AK", "Alaska"},
    {"AZ", "Arizona"},
    {"AR", "Arkansas"},
    {"CA", "California"},
    {"CO", "Colorado"},
    {"CT", "Connecticut"},
    {"DE", "Delaware"},
    {"DC", "District of Columbia"},
    {"FL", "Florida"},
    {"GA", "Georgia"},
    {"HI", "Hawaii"},
    {"ID", "Idaho"},
    {"IL", "Illinois"},
    {"IN", "Indiana"},
    {"IA", "Iowa"},
    {"KS", "Kansas"},
    {"KY", "Kentucky"},
    {"LA", "Louisiana"},
    {"ME", "Maine"},
    {"MD", "Maryland"},
    {"MA", "Massachusetts"},
    {"MI", "Michigan"},
    {"MN", "Minnesota"},
    {"MS", "Mississippi"},
    {"MO", "Missouri"},
    {"MT", "Montana"},
    {"NE", "Nebraska"},
    {"NV", "Nevada"},
    {"NH", "New Hampshire"},
    {"NJ", "New Jersey"},
    {"NM", "New Mexico"},
    {"NY", "New York"},
    {"NC", "North Carolina"},
    {"ND", "North Dakota"},
    {"OH", "Ohio"},
    {"OK", "Oklahoma"},
    {"OR", "Oregon"},
    {"PA", "Pennsylvania"},
    {"RI", "Rhode Island"},
    {"SC", "South Carolina"},
    {"SD", "South Dakota"},
    {"TN", "Tennessee"},
    {"TX", "Texas"},
    {"UT", "Utah"},
    {"VT", "Vermont"},
    {"VA", "Virginia"},
    {"WA", "Washington"},
    {"WV", "West Virginia"},
    {"WI", "Wisconsin"},
    {"WY", "Wyoming"},
    {"PR", "Puerto Rico"},
    {"VI", "Virgin Islands"},
    {"GU", "Guam"},
    {"AS", "American Samoa"},
    {"MP", "Northern Mariana Islands"},
    {"FM", "Federated States of Micronesia"},
    {"MH", "Marshall Islands"},
    {"PW", "Palau"},
    {"AA", "Armed Forces Americas"},
    {"AE", "Armed Forces Europe"},
    {"AP", "Armed Forces Pacific"},
};

#define NSTATES (sizeof states / sizeof states[0])

static signed char prefix_state[1000]; /* index into states[], -1: never issued */
static char zones[1000][1000];         /* '1'..'9', or 0: none */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int digit3(const char *s)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9')
        return -1;
    return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

static void load_prefixes(void)
{
    const struct pv_data_file *f = pv_data_file("zip/zip3.tsv");
    const char *p, *end, *nl;
    size_t i;
    int pre;

    memset(prefix_state, -1, sizeof prefix_state);
    if (!f)
        return;
    for (p = (const char *) f->data, end = p + f->len; p < end; p = nl + 1) {
        if (!(nl = memchr(p, '\n', (size_t) (end - p))))
            nl = end;
        if (nl - p < 6 || p[0] == '#' || p[3] != '\t' || (pre = digit3(p)) < 0)
            continue;
        for (i = 0; i < NSTATES; i++)
            if (memcmp(p + 4, states[i].code, 2) == 0 && p[6] == '\t')
                prefix_state[pre] = (signed char) i;
    }
}

static void load_zones(void)
{
    const struct pv_data_file *f = pv_data_file("zip/zones.txt");
    const char *p, *end, *nl;
    int o, d;

    if (!f)
        return;
    for (p = (const char *) f->data, end = p + f->len; p < end; p = nl + 1) {
        if (!(nl = memchr(p, '\n', (size_t) (end - p))))
            nl = end;
        if (nl - p != 1004 || p[3] != ' ' || (o = digit3(p)) < 0)
            continue;
        for (d = 0; d < 1000; d++)
            zones[o][d] = p[4 + d] >= '1' && p[4 + d] <= '9' ? p[4 + d] : 0;
    }
}

static void load(void)
{
    load_prefixes();
    load_zones();
}

const char *pv_zip_state(const char *zip)
{
    int pre;

    if (!zip || strlen(zip) < 3 || (pre = digit3(zip)) < 0)
        return NULL;
    pthread_once(&once, load);
    return prefix_state[pre] < 0 ? NULL : states[(int) prefix_state[pre]].code;
}

int pv_zip_zone(const char *from, const char *to, int *zone)
{
    int o, d;

    if (!pv_zip_state(from) || !pv_zip_state(to))
        return PV_EZIP;
    o = digit3(from);
    d = digit3(to);
    if (!zones[o][d])
        return PV_EZONE;
    *zone = zones[o][d] - '0';
    return PV_OK;
}

const char *pv_state_code(const char *name)
{
    size_t i;

    if (!name)
        return NULL;
    for (i = 0; i < NSTATES; i++)
        if (strcasecmp(name, states[i].code) == 0 || strcasecmp(name, states[i].name) == 0)
            return states[i].code;
    return NULL;
}
