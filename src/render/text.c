/*
 * text.c - the text blocks of a label: the human-readable indicium block
 * and the address blocks, as lines in a few styles, measured with cairo.
 *
 * A block is measured once at base size 1 (pv_text_measure); the planner
 * then asks at which base size it fits a box (pv_text_fit_size) and the
 * outputs draw it at that size. Metrics are taken with hinting off, so they
 * are the same for every surface and scale. This file decides what the
 * text says (the mail class label, the money format, how a long medium
 * serial is broken) and checks it is printable; it places nothing.
 */
#include "render/render_int.h"

#include "stampd/error.h"
#include "stampd/money.h"
#include "stampd/rates.h"

#include <stdio.h>
#include <string.h>

#define FONT_STEP      0.25
#define AMOUNT_SCALE   1.5
#define REF_SIZE       100.0 /* text is measured at this size, then scaled */
#define ADDR_MAX_LINES 8
#define ADDR_MAX_BYTES 1024

/* pv_text_styles - see render_int.h. */
const struct text_style pv_text_styles[NSTYLES] = {
    [ST_HEAD] = {"DejaVu Sans", CAIRO_FONT_WEIGHT_BOLD, 1.0},
    [ST_AMOUNT] = {"DejaVu Sans", CAIRO_FONT_WEIGHT_BOLD, AMOUNT_SCALE},
    [ST_BODY] = {"DejaVu Sans", CAIRO_FONT_WEIGHT_NORMAL, 1.0},
    [ST_MONO] = {"DejaVu Sans Mono", CAIRO_FONT_WEIGHT_NORMAL, 1.0},
};

/* pv_text_font_options - see render_int.h. Unhinted metrics give the same
 * advance widths on every surface and scale. */
int pv_text_font_options(cairo_t *cr, cairo_font_options_t *fo)
{
    cairo_set_font_options(cr, fo);
    return cairo_status(cr) == CAIRO_STATUS_SUCCESS ? PV_OK : PV_EINTERNAL;
}

/* pv_text_select_style - see render_int.h. */
void pv_text_select_style(cairo_t *cr, int style, double base)
{
    cairo_select_font_face(cr, pv_text_styles[style].family, CAIRO_FONT_SLANT_NORMAL,
                           pv_text_styles[style].weight);
    cairo_set_font_size(cr, base * pv_text_styles[style].scale);
}

/* pv_text_measurer_free - see render_int.h. */
void pv_text_measurer_free(struct measurer *m)
{
    if (m->cr)
        cairo_destroy(m->cr);
    if (m->surface)
        cairo_surface_destroy(m->surface);
    if (m->fo)
        cairo_font_options_destroy(m->fo);
    memset(m, 0, sizeof *m);
}

/* pv_text_measurer_init - see render_int.h. */
int pv_text_measurer_init(struct measurer *m)
{
    cairo_font_extents_t fe;
    int st;

    memset(m, 0, sizeof *m);
    m->fo = cairo_font_options_create();
    if (cairo_font_options_status(m->fo) != CAIRO_STATUS_SUCCESS)
        goto fail;
    cairo_font_options_set_hint_metrics(m->fo, CAIRO_HINT_METRICS_OFF);
    cairo_font_options_set_hint_style(m->fo, CAIRO_HINT_STYLE_NONE);
    m->surface = cairo_image_surface_create(CAIRO_FORMAT_A8, 1, 1);
    if (cairo_surface_status(m->surface) != CAIRO_STATUS_SUCCESS)
        goto fail;
    m->cr = cairo_create(m->surface);
    if (cairo_status(m->cr) != CAIRO_STATUS_SUCCESS || pv_text_font_options(m->cr, m->fo) != PV_OK)
        goto fail;
    for (st = 0; st < NSTYLES; st++) {
        pv_text_select_style(m->cr, st, REF_SIZE);
        cairo_font_extents(m->cr, &fe);
        m->ascent[st] = fe.ascent / REF_SIZE;
        m->descent[st] = fe.descent / REF_SIZE;
    }
    if (cairo_status(m->cr) != CAIRO_STATUS_SUCCESS)
        goto fail;
    return PV_OK;
fail:
    pv_text_measurer_free(m);
    return PV_EINTERNAL;
}

/* pv_text_measure - see render_int.h. Lines stack with no extra leading: each baseline is the
 * previous one plus the previous line's descent plus this line's ascent (the fonts' own ones, which
 * leave room for accents), so no two lines' ink can touch. */
int pv_text_measure(struct measurer *m, struct tblock *b)
{
    cairo_text_extents_t te;
    double y = 0, right;
    int i;

    b->w1 = 0;
    for (i = 0; i < b->n; i++) {
        struct tline *ln = &b->line[i];

        pv_text_select_style(m->cr, ln->style, REF_SIZE);
        cairo_text_extents(m->cr, ln->text, &te);
        ln->lead = te.x_bearing < 0 ? -te.x_bearing / REF_SIZE : 0;
        right = dmax(te.x_advance, te.x_bearing + te.width) / REF_SIZE;
        ln->width = ln->lead + right;
        y += (i ? m->descent[b->line[i - 1].style] : 0) + m->ascent[ln->style];
        ln->baseline = y;
        b->w1 = dmax(b->w1, ln->width);
    }
    b->h1 = b->n ? y + m->descent[b->line[b->n - 1].style] : 0;
    return cairo_status(m->cr) == CAIRO_STATUS_SUCCESS ? PV_OK : PV_EINTERNAL;
}

/* pv_text_fit_size - see render_int.h. The step is FONT_STEP. */
double pv_text_fit_size(const struct tblock *b, double w, double h, double lo, double hi)
{
    double s = hi;

    if (w <= 0 || h <= 0 || b->w1 <= 0 || b->h1 <= 0)
        return 0;
    s = dmin(s, w / b->w1);
    s = dmin(s, h / b->h1);
    s = dfloor(s / FONT_STEP + 1e-9) * FONT_STEP;
    return s >= lo ? s : 0;
}

static int add_line(struct tblock *b, int style, const char *text)
{
    size_t len = strlen(text);

    if (b->n >= BLOCK_LINES || len >= LINE_CAP)
        return PV_EINVAL;
    memcpy(b->line[b->n].text, text, len + 1);
    b->line[b->n].style = style;
    b->n++;
    return PV_OK;
}

static const char *class_label(int mail_class)
{
    switch (mail_class) {
    case PV_MC_FIRST_CLASS_LETTER:
        return "First-Class Mail";
    case PV_MC_POSTCARD:
        return "Postcard";
    case PV_MC_LARGE_ENVELOPE:
        return "Large Envelope";
    default:
        return NULL;
    }
}

/* Terminated within its array and printable ASCII only: the fields come
 * from the codec, but the text block is no place to discover that one did
 * not. */
static int printable_field(const char *s, size_t cap)
{
    if (!memchr(s, '\0', cap))
        return 0;
    for (; *s; s++)
        if ((unsigned char) *s < 0x20 || (unsigned char) *s > 0x7e)
            return 0;
    return 1;
}

/* The medium serial goes on one line ("MEDIUM <serial>"), on a line of its
 * own under "MEDIUM", or cut in chunks of 16 characters: the variants the
 * fitting tries in that order on narrow labels. */
#define MEDIUM_CHUNK 16

/* pv_text_indicium_lines - see render_int.h. */
int pv_text_indicium_lines(const struct pv_indicium *ind, int variant, struct tblock *b)
{
    char line[LINE_CAP], money[32];
    const char *cls = class_label(ind->mail_class);
    unsigned d = ind->mail_date;
    size_t mlen, off;
    int err = PV_OK;

    memset(b, 0, sizeof *b);
    if (!printable_field(ind->license, sizeof ind->license) ||
        !printable_field(ind->from_zip, sizeof ind->from_zip) ||
        !printable_field(ind->medium_serial, sizeof ind->medium_serial))
        return PV_EINVAL;
    mlen = strlen(ind->medium_serial);
    err |=
        add_line(b, ST_HEAD, ind->flags & PV_IND_FLAG_TEST ? "TEST - NOT POSTAGE" : "US POSTAGE");
    snprintf(line, sizeof line, "$%s", pv_money_format(ind->postage_mills, money, sizeof money));
    err |= add_line(b, ST_AMOUNT, line);
    snprintf(line, sizeof line, "%04u-%02u-%02u", d / 10000, d / 100 % 100, d % 100);
    err |= add_line(b, ST_BODY, line);
    if (cls)
        err |= add_line(b, ST_BODY, cls);
    else {
        snprintf(line, sizeof line, "Class %u", (unsigned) ind->mail_class);
        err |= add_line(b, ST_BODY, line);
    }
    snprintf(line, sizeof line, "FROM ZIP %s", ind->from_zip);
    err |= add_line(b, ST_BODY, line);
    snprintf(line, sizeof line, "LIC %s", ind->license);
    err |= add_line(b, ST_MONO, line);
    snprintf(line, sizeof line, "PSD %lu  #%lu", (unsigned long) ind->device_id,
             (unsigned long) ind->serial);
    err |= add_line(b, ST_MONO, line);
    if (mlen && variant == 0) {
        snprintf(line, sizeof line, "MEDIUM %s", ind->medium_serial);
        err |= add_line(b, ST_MONO, line);
    } else if (mlen) {
        err |= add_line(b, ST_MONO, "MEDIUM");
        for (off = 0; off < mlen; off += variant == 1 ? mlen : MEDIUM_CHUNK) {
            size_t take = mlen - off;

            if (variant == 2 && take > MEDIUM_CHUNK)
                take = MEDIUM_CHUNK;
            memcpy(line, ind->medium_serial + off, take);
            line[take] = '\0';
            err |= add_line(b, ST_MONO, line);
        }
    }
    return err ? PV_EINVAL : PV_OK;
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF), as
 * cairo refuses anything else; control characters other than '\n' and '\r'
 * are refused too. */
static int address_text_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *) s;

    while (*p) {
        unsigned c = *p, need, cp, min;

        if (c < 0x80) {
            if ((c < 0x20 && c != '\n' && c != '\r') || c == 0x7f)
                return 0;
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3, cp = c & 0x07, min = 0x10000;
        } else
            return 0;
        for (p++; need; need--, p++) {
            if ((*p & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (*p & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
    }
    return 1;
}

/* pv_text_address_lines - see render_int.h. Blank lines before and after
 * the address are dropped; trailing spaces and '\r' are trimmed. */
int pv_text_address_lines(const char *text, const char *heading, struct tblock *b, int *present)
{
    char line[LINE_CAP];
    const char *p, *nl;
    size_t len;
    int nlines = 0;

    memset(b, 0, sizeof *b);
    *present = 0;
    if (!text)
        return PV_OK;
    if (strlen(text) > ADDR_MAX_BYTES || !address_text_ok(text))
        return PV_EINVAL;
    if (heading && add_line(b, ST_HEAD, heading) != PV_OK)
        return PV_EINVAL;
    for (p = text; *p; p = *nl ? nl + 1 : nl) {
        nl = strchr(p, '\n');
        if (!nl)
            nl = p + strlen(p);
        len = (size_t) (nl - p);
        while (len && (p[len - 1] == '\r' || p[len - 1] == ' '))
            len--;
        if (len >= LINE_CAP)
            return PV_EINVAL;
        memcpy(line, p, len);
        line[len] = '\0';
        if (len == 0 && nlines == 0)
            continue; /* leading blank lines */
        if (++nlines > ADDR_MAX_LINES || add_line(b, ST_BODY, line) != PV_OK)
            return PV_EINVAL;
    }
    /* Trailing blank lines. */
    while (nlines && b->line[b->n - 1].text[0] == '\0') {
        b->n--;
        nlines--;
    }
    *present = nlines > 0;
    return PV_OK;
}
