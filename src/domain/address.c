/*
 * address.c - US address blocks checked and put in the standard form
 * (address.h). Only what can be checked without a street database: a block
 * of at least two lines whose last line is a city, a state (code or name)
 * and a ZIP code; the ZIP's prefix issued and in that state (stampd/zip.h);
 * the ZIP the same as the purchase's. Name and street lines are kept as
 * typed but for their whitespace. Every change is reported by the caller,
 * so nothing is corrected silently.
 */
#include "domain/address.h"

#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/zip.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define MAX_LINES 6
#define LINE_MAX  64 * 4 /* 60 characters of UTF-8 */

static int fail(char *msg, size_t msglen, const char *text)
{
    pv_str_copy(msg, msglen, text);
    return PV_EADDRESS;
}

/* Copy s trimmed, runs of spaces and tabs as one space, into out (cap). */
static void squeeze(const char *s, size_t n, char *out, size_t cap)
{
    size_t i, o = 0;
    int space = 0;

    for (i = 0; i < n && o + 1 < cap; i++) {
        if (s[i] == ' ' || s[i] == '\t') {
            space = o > 0;
            continue;
        }
        if (space && o + 2 < cap)
            out[o++] = ' ';
        space = 0;
        out[o++] = s[i];
    }
    out[o] = '\0';
}

static int all_digits(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!isdigit((unsigned char) s[i]))
            return 0;
    return 1;
}

/* The last line "City, State 12345-6789" as "CITY ST 12345-6789" into out. */
static int last_line(char *line, const char *zip, char *out, size_t cap, char *msg, size_t msglen)
{
    char *words[LINE_MAX / 2], name[LINE_MAX], digits[10], *p, *save = NULL;
    const char *code = NULL, *zstate;
    size_t n = 0, i, k, len, z;

    for (p = line; *p; p++)
        *p = (char) toupper((unsigned char) *p);
    for (p = strtok_r(line, " ", &save); p && n < sizeof words / sizeof words[0];
         p = strtok_r(NULL, " ", &save))
        words[n++] = p;
    if (n < 3)
        return fail(msg, msglen, "the last line must be CITY ST 12345");
    /* The ZIP: 12345, 123456789 or 12345-6789. */
    len = strlen(words[n - 1]);
    if (len == 5 && all_digits(words[n - 1], 5))
        z = 5;
    else if (len == 9 && all_digits(words[n - 1], 9))
        z = 9;
    else if (len == 10 && words[n - 1][5] == '-' && all_digits(words[n - 1], 5) &&
             all_digits(words[n - 1] + 6, 4))
        z = 10;
    else
        return fail(msg, msglen, "the last line must end with a ZIP code (12345 or 12345-6789)");
    memcpy(digits, words[n - 1], 5);
    if (z == 9)
        memcpy(digits + 5, words[n - 1] + 5, 4);
    else if (z == 10)
        memcpy(digits + 5, words[n - 1] + 6, 4);
    digits[z == 5 ? 5 : 9] = '\0';
    /* The state: its code or its name, of one to four words, after a city. */
    for (k = 1; k <= 4 && k + 1 < n; k++) {
        name[0] = '\0';
        for (i = n - 1 - k; i < n - 1; i++) {
            if (strlen(name) + strlen(words[i]) + 2 > sizeof name)
                break;
            if (name[0])
                strcat(name, " ");
            strcat(name, words[i]);
        }
        len = strlen(name);
        if (len && name[len - 1] == ',')
            name[len - 1] = '\0';
        if ((code = pv_state_code(name)) != NULL)
            break;
    }
    if (!code)
        return fail(msg, msglen, "the last line must be CITY ST 12345: no US state after a city");
    if (!(zstate = pv_zip_state(digits))) {
        snprintf(msg, msglen, "ZIP code %.5s was never issued", digits);
        return PV_EADDRESS;
    }
    if (strcmp(zstate, code) != 0) {
        snprintf(msg, msglen, "the state %s does not match ZIP code %.5s (%s)", code, digits,
                 zstate);
        return PV_EADDRESS;
    }
    if (zip && strncmp(zip, digits, 5) != 0) {
        snprintf(msg, msglen, "the ZIP code %.5s in the address is not the ZIP field's %.5s",
                 digits, zip);
        return PV_EADDRESS;
    }
    out[0] = '\0';
    for (i = 0; i < n - 1 - k; i++) {
        len = strlen(words[i]);
        if (i == n - 2 - k && len && words[i][len - 1] == ',')
            words[i][len - 1] = '\0';
        if (strlen(out) + strlen(words[i]) + 2 > cap)
            return fail(msg, msglen, "the last line is too long");
        if (out[0])
            strcat(out, " ");
        strcat(out, words[i]);
    }
    if (strlen(out) + 14 > cap)
        return fail(msg, msglen, "the last line is too long");
    len = strlen(out);
    snprintf(out + len, cap - len, " %s %.5s%s%s", code, digits, z == 5 ? "" : "-",
             z == 5 ? "" : digits + 5);
    return PV_OK;
}

int pv_address_check(char *block, const char *zip, int *changed, char *msg, size_t msglen)
{
    char lines[MAX_LINES][LINE_MAX], out[PV_ADDRESS_MAX], last[LINE_MAX];
    const char *p = block, *nl;
    size_t n = 0, i, len = 0;
    int rc;

    *changed = 0;
    while (n < MAX_LINES) {
        nl = strchr(p, '\n');
        squeeze(p, nl ? (size_t) (nl - p) : strlen(p), lines[n], sizeof lines[n]);
        if (lines[n][0])
            n++;
        if (!nl)
            break;
        p = nl + 1;
    }
    if (n < 2)
        return fail(msg, msglen,
                    "an address has a name or street line and a last line CITY ST "
                    "12345");
    if ((rc = last_line(lines[n - 1], zip, last, sizeof last, msg, msglen)) != PV_OK)
        return rc;
    memcpy(lines[n - 1], last, strlen(last) + 1);
    out[0] = '\0';
    for (i = 0; i < n; i++) {
        size_t l = strlen(lines[i]);
        if (len + l + 2 > sizeof out)
            return fail(msg, msglen, "the address is too long");
        if (i)
            out[len++] = '\n';
        memcpy(out + len, lines[i], l + 1);
        len += l;
    }
    if (strcmp(out, block) != 0) {
        memcpy(block, out, len + 1);
        *changed = 1;
    }
    return PV_OK;
}

/* Member name of o: a string of at most 60 characters without newlines, or absent. */
static int member(json_t *o, const char *name, int required, const char **out, char *msg,
                  size_t msglen)
{
    json_t *v = json_object_get(o, name);

    *out = NULL;
    if (!v || json_is_null(v)) {
        if (!required)
            return PV_OK;
        snprintf(msg, msglen, "the address needs %s", name);
        return PV_EINVAL;
    }
    if (!json_is_string(v) || json_string_length(v) > 60 || !json_string_length(v) ||
        strchr(json_string_value(v), '\n') ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        snprintf(msg, msglen, "%s must be a string of 1-60 characters on one line", name);
        return PV_EINVAL;
    }
    *out = json_string_value(v);
    return PV_OK;
}

int pv_address_from_json(json_t *o, char out[PV_ADDRESS_MAX], char *msg, size_t msglen)
{
    static const char *const keys[] = {"name", "company", "street1", "street2",
                                       "city", "state",   "zip",     NULL};
    const char *v[7], *k;
    json_t *x;
    size_t i, len;
    int rc, n;

    json_object_foreach(o, k, x)
    {
        for (i = 0; keys[i] && strcmp(keys[i], k) != 0; i++)
            ;
        if (!keys[i]) {
            snprintf(msg, msglen, "unknown address member \"%.32s\"", k);
            return PV_EINVAL;
        }
    }
    for (i = 0; keys[i]; i++)
        if ((rc = member(o, keys[i], i >= 2 && i != 3, &v[i], msg, msglen)) != PV_OK)
            return rc;
    /* name, company, street1, street2 (those given), then "city state zip". */
    out[0] = '\0';
    for (i = 0; i < 4; i++) {
        if (!v[i])
            continue;
        if (strlen(out) + strlen(v[i]) + 2 > PV_ADDRESS_MAX)
            break;
        strcat(out, v[i]);
        strcat(out, "\n");
    }
    len = strlen(out);
    n = snprintf(out + len, PV_ADDRESS_MAX - len, "%s %s %s", v[4], v[5], v[6]);
    if (i < 4 || n < 0 || (size_t) n >= PV_ADDRESS_MAX - len) {
        snprintf(msg, msglen, "the address is too long");
        return PV_EINVAL;
    }
    return PV_OK;
}
