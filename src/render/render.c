/*
 * render.c - draws indicia on label layouts: a DataMatrix ECC200 symbol of
 * the signed bytes (libzint) with the human-readable block beside it, as
 * PDF, PNG and SVG through one cairo drawing routine, and as ZPL for Zebra
 * thermal printers.
 *
 * Rendering happens in two steps. A plan is computed first for each item:
 * the module size (a whole number of device dots: the largest, up to
 * 0.68 mm, that lets the symbol, its quiet zone and the text fit, preferring
 * modules of 0.33 mm or more and text of 6 pt or more, accepting 0.25 mm
 * and 5 pt), which side of the symbol the text goes (right, else below),
 * how a long medium serial is broken, the font size (measured with
 * cairo_text_extents) and where the address blocks of envelopes and 4x6
 * labels go. Nothing is drawn unless the whole plan fits: a label that does
 * not fit is PV_ETOOSMALL, never a clipped one. The plan is in points
 * relative to the label's top-left corner; drawing translates it to the
 * label position plus the calibration offsets.
 *
 * Geometry is on a grid of device dots: 1/300 inch for PDF, SVG and PNG (so
 * the same document rasterises crisply at 300 and 600 dpi and the PNG at
 * 600 dpi is the 300 dpi one with every module twice as many pixels), and
 * the printer's own dots for ZPL. Text metrics are taken with hinting off,
 * so they are the same for every surface and scale.
 */
#include "render/render.h"

#include "stampd/error.h"
#include "stampd/money.h"
#include "stampd/rates.h"

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <cairo.h>
#include <fontconfig/fontconfig.h>
#include <zint.h>

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VECTOR_GRID_DPI 300           /* the dot grid of PDF, SVG and PNG geometry */
#define MODULE_MIN_MM   0.25          /* the least scanners are specified for */
#define MODULE_GOOD_MM  0.33          /* preferred when there is room */
#define MODULE_MAX_IN   (8.0 / 300.0) /* 8 dots at 300 dpi, 0.68 mm */
#define QUIET           2             /* quiet zone, modules on every side */
#define TEXT_GAP        1.5           /* points between quiet zone and text */
#define FONT_MAX        11.0
#define FONT_COMFORT    6.0 /* first try to keep text at least this big */
#define FONT_MIN        5.0
#define FONT_STEP       0.25
#define AMOUNT_SCALE    1.5
#define REF_SIZE        100.0 /* text is measured at this size, then scaled */
#define OFFSET_MAX      1000  /* 1/100 mm: 10 mm */

#define LINE_CAP       256 /* bytes in one text line, NUL included: 60 characters of UTF-8 */
#define BLOCK_LINES    12
#define ADDR_MAX_LINES 8
#define ADDR_MAX_BYTES 1024
#define ADDR_GAP       18.0  /* between the indicium and address blocks */
#define ADDR_INDENT    36.0  /* delivery block on a 4x6 label */
#define ADDR_MIN_LABEL 216.0 /* labels this tall (3 in) have room for addresses */

/* ---- small numeric helpers (no libm: the build links none) ----------------- */

static double dfloor(double v)
{
    double t = (double) (long long) v;
    return t > v ? t - 1 : t;
}

static double dceil(double v)
{
    double t = (double) (long long) v;
    return t < v ? t + 1 : t;
}

static long dround(double v)
{
    return (long) dfloor(v + 0.5);
}

static double dmax(double a, double b)
{
    return a > b ? a : b;
}

static double dmin(double a, double b)
{
    return a < b ? a : b;
}

/* ---- a growing memory buffer, also a cairo write callback ----------------- */

struct membuf {
    uint8_t *p;
    size_t len, cap;
    int oom;
};

static int mb_reserve(struct membuf *b, size_t more)
{
    size_t cap;
    uint8_t *np;

    if (b->oom)
        return PV_ENOMEM;
    if (more <= b->cap - b->len)
        return PV_OK;
    if (more > SIZE_MAX / 2 - b->len) {
        b->oom = 1;
        return PV_ENOMEM;
    }
    cap = b->cap ? b->cap : 4096;
    while (cap - b->len < more)
        cap *= 2;
    np = realloc(b->p, cap);
    if (!np) {
        b->oom = 1;
        return PV_ENOMEM;
    }
    b->p = np;
    b->cap = cap;
    return PV_OK;
}

static int mb_append(struct membuf *b, const void *data, size_t len)
{
    if (mb_reserve(b, len) != PV_OK)
        return PV_ENOMEM;
    memcpy(b->p + b->len, data, len);
    b->len += len;
    return PV_OK;
}

__attribute__((format(printf, 2, 3))) static int mb_printf(struct membuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return PV_EINTERNAL;
    /* +1 for the NUL vsnprintf writes; it is not counted in len. */
    if (mb_reserve(b, (size_t) n + 1) != PV_OK)
        return PV_ENOMEM;
    va_start(ap, fmt);
    vsnprintf((char *) b->p + b->len, (size_t) n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t) n;
    return PV_OK;
}

static cairo_status_t mb_write(void *closure, const unsigned char *data, unsigned int length)
{
    return mb_append(closure, data, length) == PV_OK ? CAIRO_STATUS_SUCCESS
                                                     : CAIRO_STATUS_WRITE_ERROR;
}

/* ---- the symbol ------------------------------------------------------------- */

struct symbol {
    int rows, cols;
    uint8_t *dark; /* rows * cols, 1 = dark module; row 0 is the top */
};

static void symbol_free(struct symbol *s)
{
    free(s->dark);
    s->dark = NULL;
}

/* Encodes len bytes as they are (0x00 included) into a square ECC200 symbol
 * and copies its module matrix out of libzint. */
static int symbol_encode(const uint8_t *data, size_t len, struct symbol *out)
{
    struct zint_symbol *zs = NULL;
    int rc, r, c, err = PV_OK;

    out->dark = NULL;
    if (len == 0 || len > INT_MAX)
        return PV_EINVAL;
    zs = ZBarcode_Create();
    if (!zs)
        return PV_ENOMEM;
    zs->symbology = BARCODE_DATAMATRIX;
    zs->input_mode = DATA_MODE;
    zs->option_3 = DM_SQUARE;
    rc = ZBarcode_Encode(zs, data, (int) len);
    if (rc >= ZINT_ERROR) {
        /* More bytes than the largest DataMatrix holds is the caller's. */
        err = rc == ZINT_ERROR_TOO_LONG ? PV_EINVAL : PV_EINTERNAL;
        goto out;
    }
    if (zs->rows < 10 || zs->width < 10 || zs->rows > 144 || zs->width > 144) {
        err = PV_EINTERNAL;
        goto out;
    }
    out->rows = zs->rows;
    out->cols = zs->width;
    out->dark = malloc((size_t) out->rows * (size_t) out->cols);
    if (!out->dark) {
        err = PV_ENOMEM;
        goto out;
    }
    for (r = 0; r < out->rows; r++)
        for (c = 0; c < out->cols; c++)
            out->dark[r * out->cols + c] = (zs->encoded_data[r][c >> 3] >> (c & 7)) & 1;
out:
    ZBarcode_Delete(zs);
    return err;
}

/* ---- text ------------------------------------------------------------------- */

enum { ST_HEAD, ST_AMOUNT, ST_BODY, ST_MONO, NSTYLES };

static const struct {
    const char *family;
    cairo_font_weight_t weight;
    double scale; /* of the block's base size */
} styles[NSTYLES] = {
    [ST_HEAD] = {"DejaVu Sans", CAIRO_FONT_WEIGHT_BOLD, 1.0},
    [ST_AMOUNT] = {"DejaVu Sans", CAIRO_FONT_WEIGHT_BOLD, AMOUNT_SCALE},
    [ST_BODY] = {"DejaVu Sans", CAIRO_FONT_WEIGHT_NORMAL, 1.0},
    [ST_MONO] = {"DejaVu Sans Mono", CAIRO_FONT_WEIGHT_NORMAL, 1.0},
};

struct tline {
    char text[LINE_CAP];
    int style;
    /* At base size 1, filled by measure_block: */
    double lead;     /* ink left of the pen position, moved right */
    double width;    /* from the block's left edge to the line's right edge */
    double baseline; /* from the block's top */
};

/* Lines drawn at one base size; w1/h1 are the block's size at size 1. */
struct tblock {
    int n;
    struct tline line[BLOCK_LINES];
    double w1, h1;
};

/* A cairo context for measuring text, and each style's vertical metrics. */
struct measurer {
    cairo_surface_t *surface;
    cairo_t *cr;
    cairo_font_options_t *fo;
    double ascent[NSTYLES], descent[NSTYLES]; /* at base size 1 */
};

/* Unhinted metrics: the same advance widths on every surface and scale. */
static int set_font_options(cairo_t *cr, cairo_font_options_t *fo)
{
    cairo_set_font_options(cr, fo);
    return cairo_status(cr) == CAIRO_STATUS_SUCCESS ? PV_OK : PV_EINTERNAL;
}

static void select_style(cairo_t *cr, int style, double base)
{
    cairo_select_font_face(cr, styles[style].family, CAIRO_FONT_SLANT_NORMAL, styles[style].weight);
    cairo_set_font_size(cr, base * styles[style].scale);
}

static void measurer_free(struct measurer *m)
{
    if (m->cr)
        cairo_destroy(m->cr);
    if (m->surface)
        cairo_surface_destroy(m->surface);
    if (m->fo)
        cairo_font_options_destroy(m->fo);
    memset(m, 0, sizeof *m);
}

static int measurer_init(struct measurer *m)
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
    if (cairo_status(m->cr) != CAIRO_STATUS_SUCCESS || set_font_options(m->cr, m->fo) != PV_OK)
        goto fail;
    for (st = 0; st < NSTYLES; st++) {
        select_style(m->cr, st, REF_SIZE);
        cairo_font_extents(m->cr, &fe);
        m->ascent[st] = fe.ascent / REF_SIZE;
        m->descent[st] = fe.descent / REF_SIZE;
    }
    if (cairo_status(m->cr) != CAIRO_STATUS_SUCCESS)
        goto fail;
    return PV_OK;
fail:
    measurer_free(m);
    return PV_EINTERNAL;
}

/* Fills the per-line metrics and the block's size at base size 1. Lines
 * stack with no extra leading: each baseline is the previous one plus the
 * previous line's descent plus this line's ascent (the fonts' own ones,
 * which leave room for accents), so no two lines' ink can touch. */
static int measure_block(struct measurer *m, struct tblock *b)
{
    cairo_text_extents_t te;
    double y = 0, right;
    int i;

    b->w1 = 0;
    for (i = 0; i < b->n; i++) {
        struct tline *ln = &b->line[i];

        select_style(m->cr, ln->style, REF_SIZE);
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

/* Largest base size in [lo, hi], a multiple of FONT_STEP, at which b fits a
 * w x h box; 0 when even lo does not fit. */
static double fit_size(const struct tblock *b, double w, double h, double lo, double hi)
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
#define MEDIUM_VARIANTS 3
#define MEDIUM_CHUNK    16

static int indicium_lines(const struct pv_indicium *ind, int variant, struct tblock *b)
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

/* Splits a "\n"-separated address into lines under an optional heading.
 * *present is 0 for NULL or blank text. */
static int address_lines(const char *text, const char *heading, struct tblock *b, int *present)
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

/* ---- the plan ------------------------------------------------------------------ */

/* A text block placed at (x, y) (its top-left corner) at base size. */
struct placed {
    struct tblock b;
    double x, y, size;
    int present;
};

/* One label, in points from the label's top-left corner. */
struct plan {
    int k;                 /* module size in grid dots */
    double module;         /* module size, points */
    double sym_x, sym_y;   /* top-left of the first module (inside the quiet zone) */
    double bx, by, bw, bh; /* the indicium block: quiet zone, symbol and text */
    struct placed text;
    struct placed from, to;
};

struct geometry {
    unsigned dpi;
    double grid; /* points per dot */
    int kmax;    /* largest module, dots */
};

/* A length in whole dots, rounded up. */
static int dots_for_mm(double mm, unsigned dpi)
{
    return (int) dceil(mm / 25.4 * dpi - 1e-6);
}

static void geometry_for_dpi(unsigned dpi, struct geometry *g)
{
    g->dpi = dpi;
    g->grid = 72.0 / dpi;
    /* The largest module keeps the symbol compact: 8 dots at 300 dpi. */
    g->kmax = (int) dfloor(MODULE_MAX_IN * dpi + 1e-6);
}

/*
 * Fits symbol and text in a w x h box. Scanning comes first, reading
 * second: the passes below relax the smallest module and the smallest font
 * in turn, and within a pass the largest module wins, then the first text
 * variant that fits, text to the right before text below.
 */
static const struct {
    double module_mm; /* smallest module of the pass */
    double font;      /* smallest base font size of the pass */
} passes[] = {
    {MODULE_GOOD_MM, FONT_COMFORT},
    {MODULE_GOOD_MM, FONT_MIN},
    {MODULE_MIN_MM, FONT_COMFORT},
    {MODULE_MIN_MM, FONT_MIN},
};

static int fit_indicium(const struct tblock *variants, int nvar, const struct symbol *sym,
                        const struct geometry *g, double w, double h, struct plan *p)
{
    size_t f;
    int v, below, k, kmin;

    for (f = 0; f < sizeof passes / sizeof passes[0]; f++) {
        kmin = dots_for_mm(passes[f].module_mm, g->dpi);
        for (k = g->kmax; k >= kmin; k--)
            for (v = 0; v < nvar; v++)
                for (below = 0; below <= 1; below++) {
                    const struct tblock *b = &variants[v];
                    double m = k * g->grid;
                    double qw = (sym->cols + 2 * QUIET) * m, qh = (sym->rows + 2 * QUIET) * m;
                    double tw = below ? w : w - qw - TEXT_GAP;
                    double th = below ? h - qh - TEXT_GAP : h;
                    double s;

                    if (qw > w || qh > h)
                        continue;
                    s = fit_size(b, tw, th, passes[f].font, FONT_MAX);
                    if (s == 0)
                        continue;
                    p->k = k;
                    p->module = m;
                    p->text.b = *b;
                    p->text.size = s;
                    p->text.present = 1;
                    p->sym_x = QUIET * m;
                    p->sym_y = QUIET * m;
                    if (below) {
                        p->text.x = 0;
                        p->text.y = qh + TEXT_GAP;
                        p->bw = dmax(qw, b->w1 * s);
                        p->bh = qh + TEXT_GAP + b->h1 * s;
                    } else {
                        p->text.x = qw + TEXT_GAP;
                        p->text.y = 0;
                        p->bw = qw + TEXT_GAP + b->w1 * s;
                        p->bh = dmax(qh, b->h1 * s);
                    }
                    return PV_OK;
                }
    }
    return PV_ETOOSMALL;
}

/* Moves the block (placed at its own origin by fit_indicium) to (x, y). */
static void place_block(struct plan *p, double x, double y)
{
    p->bx = x;
    p->by = y;
    p->sym_x += x;
    p->sym_y += y;
    p->text.x += x;
    p->text.y += y;
}

static int place_text(struct placed *t, double x, double y, double w, double h, double lo,
                      double hi)
{
    t->size = fit_size(&t->b, w, h, lo, hi);
    if (t->size == 0)
        return PV_ETOOSMALL;
    t->x = x;
    t->y = y;
    return PV_OK;
}

/* Envelope: indicium block in the top-right quarter of the printable area,
 * return address top left beside it, delivery address centred below both. */
static int plan_envelope(const struct pv_layout *l, double cx, double cy, double cw, double ch,
                         struct plan *p)
{
    double top, band, w, h;
    int err;

    place_block(p, cx + cw - p->bw, cy);
    top = p->by + p->bh;
    if (p->from.present) {
        err = place_text(&p->from, cx, cy, p->bx - ADDR_GAP - cx, ch / 2, 6, 10);
        if (err)
            return err;
        top = dmax(top, p->from.y + p->from.b.h1 * p->from.size);
    }
    if (p->to.present) {
        top += ADDR_GAP;
        band = cy + ch - top;
        err = place_text(&p->to, cx, top, cw, band, 7, 12);
        if (err)
            return err;
        w = p->to.b.w1 * p->to.size;
        h = p->to.b.h1 * p->to.size;
        p->to.x = (l->label_w - w) / 2;
        p->to.y = top + (band - h) / 2;
    }
    return PV_OK;
}

/* Tall labels (4x6): indicium block at the top, "FROM" and "SHIP TO"
 * blocks below it. */
static int plan_label_addresses(double cx, double cy, double cw, double ch, struct plan *p)
{
    double top = p->by + p->bh + ADDR_GAP, bottom = cy + ch;
    int err;

    if (p->from.present) {
        err = place_text(&p->from, cx, top, cw, (bottom - top) * 0.4, 6, 10);
        if (err)
            return err;
        top += p->from.b.h1 * p->from.size + ADDR_GAP;
    }
    if (p->to.present) {
        err = place_text(&p->to, cx + ADDR_INDENT, top, cw - ADDR_INDENT, bottom - top, 7, 14);
        if (err)
            return err;
    }
    return PV_OK;
}

static int make_plan(struct measurer *m, const struct pv_layout *l, const struct pv_label_item *it,
                     const struct symbol *sym, const struct geometry *g, struct plan *p)
{
    struct tblock variants[MEDIUM_VARIANTS];
    double cx = l->padding, cy = l->padding;
    double cw = l->label_w - 2 * l->padding, ch = l->label_h - 2 * l->padding;
    int nvar = it->ind->medium_serial[0] ? MEDIUM_VARIANTS : 1, v, err;
    int envelope = l->kind == PV_LAYOUT_ENVELOPE;
    int addresses = envelope || (l->kind == PV_LAYOUT_LABEL && l->label_h >= ADDR_MIN_LABEL);

    memset(p, 0, sizeof *p);
    if (cw <= 0 || ch <= 0)
        return PV_ETOOSMALL;
    for (v = 0; v < nvar; v++) {
        err = indicium_lines(it->ind, v, &variants[v]);
        if (!err)
            err = measure_block(m, &variants[v]);
        if (err)
            return err;
    }
    if (addresses) {
        err =
            address_lines(it->from_address, envelope ? NULL : "FROM", &p->from.b, &p->from.present);
        if (!err)
            err = address_lines(it->to_address, envelope ? NULL : "SHIP TO", &p->to.b,
                                &p->to.present);
        if (!err && p->from.present)
            err = measure_block(m, &p->from.b);
        if (!err && p->to.present)
            err = measure_block(m, &p->to.b);
        if (err)
            return err;
    }
    if (envelope) {
        err = fit_indicium(variants, nvar, sym, g, cw / 2, ch / 2, p);
        return err ? err : plan_envelope(l, cx, cy, cw, ch, p);
    }
    err = fit_indicium(variants, nvar, sym, g, cw, ch, p);
    if (err)
        return err;
    place_block(p, cx, cy);
    return addresses ? plan_label_addresses(cx, cy, cw, ch, p) : PV_OK;
}

/* ---- cairo: one drawing routine for PDF, SVG and PNG ------------------------ */

struct canvas {
    cairo_t *cr;
    int raster;   /* PNG: symbol drawn in device pixels */
    double scale; /* device pixels per point (PNG) */
    int dots;     /* PNG: device pixels per grid dot */
};

static void draw_text(cairo_t *cr, const struct placed *t, double ox, double oy)
{
    int i;

    for (i = 0; i < t->b.n; i++) {
        const struct tline *ln = &t->b.line[i];

        if (!ln->text[0])
            continue;
        select_style(cr, ln->style, t->size);
        cairo_move_to(cr, ox + t->x + ln->lead * t->size, oy + t->y + ln->baseline * t->size);
        cairo_show_text(cr, ln->text);
    }
}

/* Each run of dark modules in a row is one rectangle; all of them are
 * filled at once, so there are no anti-aliased seams between modules. */
static void add_modules(cairo_t *cr, const struct symbol *sym, double x0, double y0, double m)
{
    int r, c, start;

    for (r = 0; r < sym->rows; r++)
        for (c = 0; c < sym->cols;) {
            if (!sym->dark[r * sym->cols + c]) {
                c++;
                continue;
            }
            for (start = c; c < sym->cols && sym->dark[r * sym->cols + c]; c++)
                ;
            cairo_rectangle(cr, x0 + start * m, y0 + r * m, (c - start) * m, m);
        }
}

static int draw_label(struct canvas *cv, const struct plan *p, const struct symbol *sym, double ox,
                      double oy, const struct geometry *g)
{
    cairo_t *cr = cv->cr;

    cairo_save(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE);
    if (cv->raster) {
        /* Whole device pixels: the origin rounded, modules k dots wide. */
        cairo_identity_matrix(cr);
        add_modules(cr, sym, (double) dround((ox + p->sym_x) * cv->scale),
                    (double) dround((oy + p->sym_y) * cv->scale), (double) (p->k * cv->dots));
    } else {
        add_modules(cr, sym, dround((ox + p->sym_x) / g->grid) * g->grid,
                    dround((oy + p->sym_y) / g->grid) * g->grid, p->module);
    }
    cairo_fill(cr);
    cairo_restore(cr);

    cairo_save(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    draw_text(cr, &p->text, ox, oy);
    if (p->from.present)
        draw_text(cr, &p->from, ox, oy);
    if (p->to.present)
        draw_text(cr, &p->to, ox, oy);
    cairo_restore(cr);
    return cairo_status(cr) == CAIRO_STATUS_SUCCESS ? PV_OK : PV_EINTERNAL;
}

/* What every output needs once the options are checked. */
struct job {
    const struct pv_layout *l;
    const struct pv_label_item *items;
    size_t n;
    int format;
    unsigned dpi;
    size_t first;        /* slot index of the first item on the first page */
    double off_x, off_y; /* points */
    int32_t off_x_raw, off_y_raw;
};

static int render_cairo(const struct job *j, struct membuf *mb)
{
    const struct pv_layout *l = j->l;
    size_t per_page = (size_t) l->rows * l->cols, i, page = 0;
    cairo_surface_t *surface = NULL;
    struct measurer m = {0};
    struct geometry g;
    struct canvas cv = {0};
    struct symbol sym = {0};
    struct plan *p = NULL;
    int err;

    geometry_for_dpi(VECTOR_GRID_DPI, &g);
    err = measurer_init(&m);
    if (err)
        goto out;
    p = malloc(sizeof *p);
    if (!p) {
        err = PV_ENOMEM;
        goto out;
    }
    switch (j->format) {
    case PV_FMT_PDF:
        surface = cairo_pdf_surface_create_for_stream(mb_write, mb, l->page_w, l->page_h);
        cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE, "stampd postage");
        cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATOR, "stampd");
        break;
    case PV_FMT_SVG:
        surface = cairo_svg_surface_create_for_stream(mb_write, mb, l->page_w, l->page_h);
        cairo_svg_surface_set_document_unit(surface, CAIRO_SVG_UNIT_PT);
        break;
    default:
        cv.raster = 1;
        cv.scale = j->dpi / 72.0;
        cv.dots = (int) (j->dpi / VECTOR_GRID_DPI);
        surface =
            cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int) dceil(l->page_w * cv.scale - 1e-6),
                                       (int) dceil(l->page_h * cv.scale - 1e-6));
        break;
    }
    if (cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS) {
        err = cairo_surface_status(surface) == CAIRO_STATUS_NO_MEMORY ? PV_ENOMEM : PV_EINTERNAL;
        goto out;
    }
    cv.cr = cairo_create(surface);
    if (cairo_status(cv.cr) != CAIRO_STATUS_SUCCESS || set_font_options(cv.cr, m.fo) != PV_OK) {
        err = PV_EINTERNAL;
        goto out;
    }
    if (j->format != PV_FMT_PDF) {
        /* PDF pages are paper; images and SVG get an opaque white page so
         * the symbol keeps its contrast on any background. */
        cairo_set_source_rgb(cv.cr, 1, 1, 1);
        cairo_paint(cv.cr);
    }
    if (cv.raster)
        cairo_scale(cv.cr, cv.scale, cv.scale);

    for (i = 0; i < j->n; i++) {
        size_t slot = j->first + i;
        double x, y;

        if (slot / per_page != page) {
            cairo_show_page(cv.cr);
            page = slot / per_page;
        }
        err = symbol_encode(j->items[i].data, j->items[i].len, &sym);
        if (!err)
            err = make_plan(&m, l, &j->items[i], &sym, &g, p);
        if (err)
            goto out;
        pv_label_origin(l, (unsigned) (slot % per_page / l->cols) + 1,
                        (unsigned) (slot % l->cols) + 1, &x, &y);
        err = draw_label(&cv, p, &sym, x + j->off_x, y + j->off_y, &g);
        symbol_free(&sym);
        if (err)
            goto out;
    }
    if (j->format == PV_FMT_PDF)
        cairo_show_page(cv.cr);
    if (cairo_status(cv.cr) != CAIRO_STATUS_SUCCESS) {
        err = PV_EINTERNAL;
        goto out;
    }
    if (j->format == PV_FMT_PNG) {
        cairo_surface_flush(surface);
        if (cairo_surface_write_to_png_stream(surface, mb_write, mb) != CAIRO_STATUS_SUCCESS) {
            err = mb->oom ? PV_ENOMEM : PV_EINTERNAL;
            goto out;
        }
    }
    cairo_destroy(cv.cr);
    cv.cr = NULL;
    cairo_surface_finish(surface); /* PDF and SVG write their trailers here */
    if (cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS)
        err = mb->oom ? PV_ENOMEM : PV_EINTERNAL;
out:
    symbol_free(&sym);
    free(p);
    if (cv.cr)
        cairo_destroy(cv.cr);
    if (surface)
        cairo_surface_destroy(surface);
    measurer_free(&m);
    return err;
}

/* ---- ZPL --------------------------------------------------------------------- */

/* ^FH field data: '^', '~' and the escape character itself, and every byte
 * outside printable ASCII (UTF-8 under ^CI28) go as _XX hex. */
static int zpl_field_text(struct membuf *mb, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *) s;
    int err = PV_OK;

    for (; *p && !err; p++) {
        if (*p < 0x20 || *p > 0x7e || *p == '^' || *p == '~' || *p == '_' || *p == '\\') {
            char esc[3] = {'_', hex[*p >> 4], hex[*p & 15]};
            err = mb_append(mb, esc, 3);
        } else
            err = mb_append(mb, p, 1);
    }
    return err;
}

static int zpl_text(struct membuf *mb, const struct placed *t, double dots_per_pt)
{
    int i, err = PV_OK;

    for (i = 0; i < t->b.n && !err; i++) {
        const struct tline *ln = &t->b.line[i];
        long h = dround(t->size * styles[ln->style].scale * dots_per_pt);

        if (!ln->text[0])
            continue;
        if (h < 10)
            h = 10; /* the smallest ^A0 height */
        /* ^FT: the field origin is the baseline's left end, as in cairo. */
        err = mb_printf(mb, "^FT%ld,%ld^A0N,%ld,%ld^FH_^FD",
                        dround((t->x + ln->lead * t->size) * dots_per_pt),
                        dround((t->y + ln->baseline * t->size) * dots_per_pt), h, h);
        if (!err)
            err = zpl_field_text(mb, ln->text);
        if (!err)
            err = mb_printf(mb, "^FS\n");
    }
    return err;
}

/* The symbol as a ^GFA graphic field: one bit per dot, 1 = black, rows
 * padded to whole bytes, each module k x k dots. */
static int zpl_symbol(struct membuf *mb, const struct symbol *sym, int k, long x, long y)
{
    static const char hex[] = "0123456789ABCDEF";
    long wdots = (long) sym->cols * k, hdots = (long) sym->rows * k;
    long bpr = (wdots + 7) / 8, total = bpr * hdots, row, byte;
    int err;

    err = mb_printf(mb, "^FO%ld,%ld^GFA,%ld,%ld,%ld,", x, y, total, total, bpr);
    for (row = 0; row < hdots && !err; row++) {
        const uint8_t *mrow = sym->dark + (row / k) * sym->cols;

        for (byte = 0; byte < bpr && !err; byte++) {
            unsigned v = 0, bit;
            char hx[2];

            for (bit = 0; bit < 8; bit++) {
                long x_dot = byte * 8 + (long) bit;
                if (x_dot < wdots && mrow[x_dot / k])
                    v |= 0x80u >> bit;
            }
            hx[0] = hex[v >> 4];
            hx[1] = hex[v & 15];
            err = mb_append(mb, hx, 2);
        }
        if (!err)
            err = mb_append(mb, "\n", 1);
    }
    if (!err)
        err = mb_printf(mb, "^FS\n");
    return err;
}

/*
 * One ^XA..^XZ label per item, drawn in the label's own frame (a thermal
 * printer feeds one label at a time, also for sheet layouts). Calibration:
 * ^LH moves the label home right/down; ZPL has no negative home, so a
 * negative x is ^LS (label shift, + moves left) and a negative y is ^LT
 * (label top, - moves up; at most 120 dot rows, 10 mm is 118 at 300 dpi).
 */
static int render_zpl(const struct job *j, struct membuf *mb)
{
    const struct pv_layout *l = j->l;
    double dpp = j->dpi / 72.0;
    long ox = dround(j->off_x_raw * (double) j->dpi / 2540.0);
    long oy = dround(j->off_y_raw * (double) j->dpi / 2540.0);
    struct measurer m = {0};
    struct geometry g;
    struct symbol sym = {0};
    struct plan *p = NULL;
    size_t i;
    int err;

    geometry_for_dpi(j->dpi, &g);
    err = measurer_init(&m);
    if (err)
        goto out;
    p = malloc(sizeof *p);
    if (!p) {
        err = PV_ENOMEM;
        goto out;
    }
    for (i = 0; i < j->n && !err; i++) {
        err = symbol_encode(j->items[i].data, j->items[i].len, &sym);
        if (!err)
            err = make_plan(&m, l, &j->items[i], &sym, &g, p);
        if (!err)
            err = mb_printf(mb, "^XA\n^CI28\n^PW%ld\n^LL%ld\n^LH%ld,%ld\n^LS%ld\n",
                            dround(l->label_w * dpp), dround(l->label_h * dpp), ox > 0 ? ox : 0,
                            oy > 0 ? oy : 0, ox < 0 ? -ox : 0);
        if (!err && oy < 0)
            err = mb_printf(mb, "^LT%ld\n", oy);
        if (!err)
            err = zpl_symbol(mb, &sym, p->k, dround(p->sym_x / g.grid), dround(p->sym_y / g.grid));
        if (!err)
            err = zpl_text(mb, &p->text, dpp);
        if (!err && p->from.present)
            err = zpl_text(mb, &p->from, dpp);
        if (!err && p->to.present)
            err = zpl_text(mb, &p->to, dpp);
        if (!err)
            err = mb_printf(mb, "^PQ1\n^XZ\n");
        symbol_free(&sym);
    }
out:
    symbol_free(&sym);
    free(p);
    measurer_free(&m);
    return err;
}

/* ---- the entry point ----------------------------------------------------------- */

static int layout_sane(const struct pv_layout *l)
{
    return l->rows >= 1 && l->cols >= 1 && l->rows <= 1000 && l->cols <= 1000 && l->page_w > 0 &&
           l->page_h > 0 && l->page_w <= 14400 && l->page_h <= 14400 && l->label_w > 0 &&
           l->label_h > 0 && l->padding >= 0;
}

int pv_render(const struct pv_layout *l, const struct pv_label_item *items, size_t n,
              const struct pv_render_opts *opts, uint8_t **out, size_t *out_len)
{
    struct membuf mb = {0};
    struct job j = {0};
    unsigned row, col;
    size_t i;
    int err;

    if (out)
        *out = NULL;
    if (out_len)
        *out_len = 0;
    if (!l || !items || n == 0 || !opts || !out || !out_len || !layout_sane(l))
        return PV_EINVAL;
    j.l = l;
    j.items = items;
    j.n = n;
    j.format = opts->format;
    switch (opts->format) {
    case PV_FMT_PDF:
    case PV_FMT_SVG:
        j.dpi = 0;
        break;
    case PV_FMT_PNG:
        j.dpi = opts->dpi ? opts->dpi : 300;
        if (j.dpi != 300 && j.dpi != 600)
            return PV_EDPI;
        break;
    case PV_FMT_ZPL:
        j.dpi = opts->dpi ? opts->dpi : 203;
        if (j.dpi != 203 && j.dpi != 300)
            return PV_EDPI;
        break;
    default:
        return PV_EFORMAT;
    }
    row = opts->start_row ? opts->start_row : 1;
    col = opts->start_col ? opts->start_col : 1;
    if (row > l->rows || col > l->cols)
        return PV_EPOSITION;
    j.first = (size_t) (row - 1) * l->cols + (col - 1);
    if (opts->offset_x > OFFSET_MAX || opts->offset_x < -OFFSET_MAX ||
        opts->offset_y > OFFSET_MAX || opts->offset_y < -OFFSET_MAX)
        return PV_EOFFSET;
    j.off_x_raw = opts->offset_x;
    j.off_y_raw = opts->offset_y;
    j.off_x = opts->offset_x * 72.0 / 2540.0;
    j.off_y = opts->offset_y * 72.0 / 2540.0;
    for (i = 0; i < n; i++)
        if (!items[i].data || items[i].len == 0 || !items[i].ind)
            return PV_EINVAL;
    /* PNG and SVG are one page. */
    if ((j.format == PV_FMT_PNG || j.format == PV_FMT_SVG) &&
        n > (size_t) l->rows * l->cols - j.first)
        return PV_EINVAL;

    err = j.format == PV_FMT_ZPL ? render_zpl(&j, &mb) : render_cairo(&j, &mb);
    if (err)
        goto out;
    *out = mb.p;
    *out_len = mb.len;
    mb.p = NULL;
out:
    free(mb.p);
    return err;
}

void pv_render_shutdown(void)
{
    cairo_debug_reset_static_data();
    FcFini();
}

/* ---- blank media ------------------------------------------------------------- */

/* One serial as small monospaced text with its baseline at (x, y). */
static void media_text(cairo_t *cr, const char *text, double x, double y, double size)
{
    cairo_set_font_size(cr, size);
    cairo_move_to(cr, x, y);
    cairo_show_text(cr, text);
}

int pv_render_media(const struct pv_layout *l, const char (*serials)[PV_MEDIA_SERIAL_SIZE],
                    size_t nsheets, unsigned labels, uint8_t **out, size_t *out_len)
{
    struct membuf mb = {0};
    cairo_surface_t *surface = NULL;
    cairo_t *cr = NULL;
    size_t s;
    unsigned pos;
    double x, y;
    int err = PV_OK;

    if (!out || !out_len)
        return PV_EINVAL;
    *out = NULL;
    *out_len = 0;
    if (!l || !serials || nsheets == 0 || labels == 0 || labels > l->rows * l->cols ||
        !layout_sane(l))
        return PV_EINVAL;
    surface = cairo_pdf_surface_create_for_stream(mb_write, &mb, l->page_w, l->page_h);
    cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE, "stampd blank media");
    cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATOR, "stampd");
    cr = cairo_create(surface);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        err = PV_EINTERNAL;
        goto out;
    }
    cairo_select_font_face(cr, "DejaVu Sans Mono", CAIRO_FONT_SLANT_NORMAL,
                           CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_source_rgb(cr, 0, 0, 0);
    for (s = 0; s < nsheets; s++) {
        const char(*sheet)[PV_MEDIA_SERIAL_SIZE] = serials + s * ((size_t) labels + 1);
        /* The sheet's own serial in the bottom margin, every label's in its
         * bottom-left corner, clear of where the indicium goes. */
        media_text(cr, sheet[0], l->margin_left + 2, l->page_h - 4, 6);
        for (pos = 1; pos <= labels; pos++) {
            pv_label_origin(l, (pos - 1) / l->cols + 1, (pos - 1) % l->cols + 1, &x, &y);
            media_text(cr, sheet[pos], x + l->padding, y + l->label_h - l->padding / 2 - 1, 5);
        }
        cairo_show_page(cr);
    }
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS)
        err = PV_EINTERNAL;
    cairo_destroy(cr);
    cr = NULL;
    cairo_surface_finish(surface);
    if (!err && cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS)
        err = mb.oom ? PV_ENOMEM : PV_EINTERNAL;
out:
    if (cr)
        cairo_destroy(cr);
    cairo_surface_destroy(surface);
    if (err) {
        free(mb.p);
        return err;
    }
    *out = mb.p;
    *out_len = mb.len;
    return PV_OK;
}
