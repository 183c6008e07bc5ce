/*
 * util.c - small checked helpers for the `stamp` command: typed JSON
 * accessors that never trust a member's type, rendering of server strings
 * made safe for a terminal, money formatting, bounded file reading,
 * atomic file writing, and the strict parsers for option values: --weight,
 * --start R,C, --offset X,Y, printer and layout names, and address text.
 */
#include "cli.h"

#include "crypto/primitives.h"
#include "stampd/codec.h"
#include "stampd/money.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *cli_jstr(const json_t *obj, const char *key)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int cli_jint(const json_t *obj, const char *key, json_int_t *out)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

    if (!json_is_integer(v))
        return 0;
    *out = json_integer_value(v);
    return 1;
}

int cli_jbool(const json_t *obj, const char *key, int *out)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

    if (!json_is_boolean(v))
        return 0;
    *out = json_is_true(v);
    return 1;
}

#define NSLOTS   8
#define SLOT_LEN 256

static char *next_slot(void)
{
    static char slots[NSLOTS][SLOT_LEN];
    static unsigned next;

    return slots[next++ % NSLOTS];
}

const char *cli_safe(const char *s)
{
    char *buf = next_slot();
    size_t i;

    if (!s)
        return "-";
    /* Strings come from the server or the command line: keep escape
     * sequences away from the terminal. */
    for (i = 0; i < SLOT_LEN - 1 && s[i]; i++) {
        unsigned char ch = (unsigned char) s[i];
        buf[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char) ch;
    }
    buf[i] = '\0';
    return buf;
}

const char *cli_scalar(const json_t *v)
{
    char *buf;

    if (json_is_string(v))
        return cli_safe(json_string_value(v));
    if (json_is_true(v))
        return "yes";
    if (json_is_false(v))
        return "no";
    if (!json_is_integer(v) && !json_is_real(v))
        return "-";
    buf = next_slot();
    if (json_is_integer(v))
        snprintf(buf, SLOT_LEN, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else
        snprintf(buf, SLOT_LEN, "%.10g", json_real_value(v));
    return buf;
}

char *cli_money(json_int_t mills, char *buf, size_t n)
{
    char num[40];
    int neg = mills < 0;

    /* pv_money_format clamps anything beyond PV_MILLS_MAX, so -mills is safe. */
    if (mills < -PV_MILLS_MAX)
        mills = -PV_MILLS_MAX;
    pv_money_format(neg ? -(pv_mills) mills : (pv_mills) mills, num, sizeof num);
    snprintf(buf, n, "%s$%s", neg ? "-" : "", num);
    return buf;
}

int cli_print_json(const json_t *v)
{
    if (json_dumpf(v, stdout, JSON_INDENT(2)) != 0 || fputc('\n', stdout) == EOF) {
        fprintf(stderr, "error: cannot write to standard output\n");
        return RC_FAIL;
    }
    return RC_OK;
}

int cli_read_file(const char *path, size_t cap, char **out, size_t *len)
{
    int is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    size_t n = 0, size = 4096;
    char *buf = NULL, *p;
    int rc = RC_USAGE;

    *out = NULL;
    *len = 0;
    if (!f) {
        fprintf(stderr, "error: cannot open %s: %s\n", cli_safe(path), strerror(errno));
        return RC_USAGE;
    }
    for (;;) {
        size_t got;
        if (!buf || n == size) {
            if (buf)
                size *= 2;
            if (size > cap + 1)
                size = cap + 1;
            if (!(p = realloc(buf, size + 1))) {
                fprintf(stderr, "error: out of memory\n");
                rc = RC_FAIL;
                goto out;
            }
            buf = p;
        }
        got = fread(buf + n, 1, size - n, f);
        n += got;
        if (n > cap) {
            fprintf(stderr, "error: %s is larger than %zu bytes\n", cli_safe(path), cap);
            goto out;
        }
        if (got == 0 || n < size) {
            if (ferror(f)) {
                fprintf(stderr, "error: cannot read %s: %s\n", cli_safe(path), strerror(errno));
                goto out;
            }
            if (feof(f))
                break;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
    rc = RC_OK;
out:
    free(buf);
    if (!is_stdin)
        fclose(f);
    return rc;
}

int cli_write_file(const char *path, const void *data, size_t len)
{
    char tmp[4096];
    FILE *f;
    int ok;

    if ((size_t) snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long) getpid()) >= sizeof tmp) {
        fprintf(stderr, "error: file name too long: %s\n", cli_safe(path));
        return RC_USAGE;
    }
    if (!(f = fopen(tmp, "wb"))) {
        fprintf(stderr, "error: cannot write %s: %s\n", cli_safe(path), strerror(errno));
        return RC_USAGE;
    }
    ok = fwrite(data, 1, len, f) == len;
    ok = (fflush(f) == 0) && ok;
    ok = (fsync(fileno(f)) == 0) && ok;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "error: cannot write %s: %s\n", cli_safe(path), strerror(errno));
        remove(tmp);
        return RC_USAGE;
    }
    return RC_OK;
}

int cli_parse_weight(const char *s, uint32_t *tenths)
{
    uint32_t whole = 0, frac = 0;
    int ndig = 0;

    for (; *s >= '0' && *s <= '9'; s++) {
        if (++ndig > 4)
            return -1;
        whole = whole * 10 + (uint32_t) (*s - '0');
    }
    if (*s == '.') {
        s++;
        if (*s < '0' || *s > '9')
            return -1;
        frac = (uint32_t) (*s++ - '0');
        ndig++;
    }
    if (*s != '\0' || ndig == 0)
        return -1;
    whole = whole * 10 + frac;
    if (whole == 0)
        return -1;
    *tenths = whole;
    return 0;
}

int cli_parse_start(const char *s, uint32_t *row, uint32_t *col)
{
    const char *comma = strchr(s, ',');
    char part[8];
    uint64_t r, c;
    size_t n;

    if (!comma || (n = (size_t) (comma - s)) == 0 || n >= sizeof part)
        return -1;
    memcpy(part, s, n);
    part[n] = '\0';
    /* pv_parse_u64 takes digits only: no sign, blank, second comma or garbage. */
    if (pv_parse_u64(part, 1, CLI_GRID_MAX, &r) != 0 ||
        pv_parse_u64(comma + 1, 1, CLI_GRID_MAX, &c) != 0)
        return -1;
    *row = (uint32_t) r;
    *col = (uint32_t) c;
    return 0;
}

/*
 * parse_mm - the len bytes at s as millimetres with at most two decimals
 * ("-0.25", "3", "+1.5", ".5") into hundredths within +-CLI_OFFSET_MAX.
 */
static int parse_mm(const char *s, size_t len, int32_t *out)
{
    const char *end = s + len;
    int32_t whole = 0, frac = 0;
    int neg = 0, ndig = 0, nfrac = 0;

    if (s < end && (*s == '-' || *s == '+'))
        neg = *s++ == '-';
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        if (++ndig > 3)
            return -1; /* more than 999 mm is out of range anyway */
        whole = whole * 10 + (*s - '0');
    }
    if (s < end && *s == '.') {
        s++;
        for (; s < end && *s >= '0' && *s <= '9'; s++) {
            if (++nfrac > 2)
                return -1;
            frac = frac * 10 + (*s - '0');
        }
        if (nfrac == 0)
            return -1; /* "1." */
        if (nfrac == 1)
            frac *= 10;
    }
    if (s != end || ndig + nfrac == 0)
        return -1;
    whole = whole * 100 + frac;
    if (whole > CLI_OFFSET_MAX)
        return -1;
    *out = neg ? -whole : whole;
    return 0;
}

int cli_parse_offset(const char *s, int32_t *x, int32_t *y)
{
    const char *comma = strchr(s, ',');

    if (!comma || parse_mm(s, (size_t) (comma - s), x) != 0 ||
        parse_mm(comma + 1, strlen(comma + 1), y) != 0)
        return -1;
    return 0;
}

char *cli_format_mm(int32_t hundredths, char *buf, size_t n)
{
    int32_t a = hundredths < 0 ? -hundredths : hundredths;

    snprintf(buf, n, "%s%d.%02d", hundredths < 0 ? "-" : "", (int) (a / 100), (int) (a % 100));
    return buf;
}

int cli_valid_name(const char *s, size_t max)
{
    size_t i;

    for (i = 0; s[i]; i++) {
        char ch = s[i];
        if (i >= max || !((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                          (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
            return 0;
    }
    return i > 0;
}

char *cli_unescape_text(const char *s)
{
    size_t len = strlen(s), o = 0;
    char *out = malloc(len + 1);

    if (!out)
        return NULL;
    /* The result is never longer than s: each escape shrinks two bytes to one. */
    while (*s) {
        if (s[0] == '\\' && s[1] == 'n') {
            out[o++] = '\n';
            s += 2;
        } else if (s[0] == '\\' && s[1] == '\\') {
            out[o++] = '\\';
            s += 2;
        } else {
            out[o++] = *s++;
        }
    }
    out[o] = '\0';
    return out;
}

int cli_check_address(const char *text, const char **why)
{
    size_t lines = 1, chars = 0;
    const unsigned char *p;

    if (!*text) {
        *why = "is empty";
        return -1;
    }
    for (p = (const unsigned char *) text; *p; p++) {
        if (*p == '\n') {
            if (chars == 0) {
                *why = "has an empty line";
                return -1;
            }
            if (++lines > CLI_ADDRESS_LINES) {
                *why = "has more than 6 lines";
                return -1;
            }
            chars = 0;
            continue;
        }
        if (*p < 0x20 || *p == 0x7f) {
            *why = "contains a control character (only \\n, a new line, is allowed)";
            return -1;
        }
        /* Count characters, not bytes: UTF-8 continuation bytes add nothing. */
        if ((*p & 0xc0) != 0x80 && ++chars > CLI_ADDRESS_LINE_MAX) {
            *why = "has a line longer than 60 characters";
            return -1;
        }
    }
    if (chars == 0) {
        *why = "has an empty line";
        return -1;
    }
    return 0;
}

int cli_get_list(const struct cli *c, const char *path, const char *member, json_t **doc,
                 const json_t **list)
{
    int rc;

    *doc = NULL;
    *list = NULL;
    if ((rc = cli_call(c, "GET", path, NULL, NULL, CLI_RETRY, doc, NULL)) != RC_OK)
        return rc;
    *list = json_object_get(*doc, member);
    if (!json_is_array(*list)) {
        fprintf(stderr, "error: the server's answer has no %s array\n", member);
        *list = NULL;
        return RC_FAIL;
    }
    if (c->json) {
        *list = NULL;
        return cli_print_json(*doc);
    }
    return RC_OK;
}

int cli_check_idem_key(const char *k)
{
    size_t i, len = strlen(k);

    if (len == 0 || len > CLI_IDEM_KEY_MAX || k[0] == ' ' || k[len - 1] == ' ')
        return -1;
    for (i = 0; i < len; i++)
        if ((unsigned char) k[i] < 0x20 || (unsigned char) k[i] > 0x7e)
            return -1;
    return 0;
}

const char *cli_new_idem_key(char buf[33])
{
    uint8_t raw[16];

    if (pv_random(raw, sizeof raw) != 0) {
        fprintf(stderr, "error: cannot generate an idempotency key\n");
        return NULL;
    }
    return pv_hex_encode(raw, sizeof raw, buf);
}
