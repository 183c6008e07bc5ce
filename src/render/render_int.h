/*
 * render_int.h - what the files of src/render share and nothing outside
 * src/render sees: the DataMatrix symbol, the text blocks, the plan of one
 * label, the checked render job and the ops table of an output format.
 *
 * pv_render (render.c) checks its options into a struct render_job, then
 * for every item encodes the symbol (symbol.c), builds and measures the
 * text blocks (text.c) and plans the label (plan.c); the format's ops
 * (out_cairo.c for PDF, PNG and SVG, out_zpl.c for ZPL) turn each plan into
 * bytes in a struct membuf. Plans are in points from the label's top-left
 * corner, on the dot grid the format asks for. This header includes
 * cairo.h: only the files of src/render may include it (render.h).
 */
#ifndef STAMPD_RENDER_INT_H
#define STAMPD_RENDER_INT_H

#include "render/render.h"

#include <cairo.h>

#include <stddef.h>
#include <stdint.h>

#define LINE_CAP        256 /* bytes in one text line, NUL included: 60 characters of UTF-8 */
#define BLOCK_LINES     12
#define MEDIUM_VARIANTS 3 /* ways of breaking a medium serial (text.c) */

/* ---- small numeric helpers (no libm: the build links none) ----------------- */

static inline double dfloor(double v)
{
    double t = (double) (long long) v;
    return t > v ? t - 1 : t;
}

static inline double dceil(double v)
{
    double t = (double) (long long) v;
    return t < v ? t + 1 : t;
}

static inline long dround(double v)
{
    return (long) dfloor(v + 0.5);
}

static inline double dmax(double a, double b)
{
    return a > b ? a : b;
}

static inline double dmin(double a, double b)
{
    return a < b ? a : b;
}

/* ---- a growing memory buffer (render.c) ------------------------------------ */

/* The document being written. oom sticks once an allocation failed. */
struct membuf {
    uint8_t *p; /* owned; handed to pv_render's caller on success */
    size_t len, cap;
    int oom;
};

/* pv_mb_append - append len borrowed bytes. PV_OK or PV_ENOMEM. */
int pv_mb_append(struct membuf *b, const void *data, size_t len);

/* pv_mb_printf - append formatted text (no NUL). PV_OK, PV_ENOMEM, PV_EINTERNAL. */
__attribute__((format(printf, 2, 3))) int pv_mb_printf(struct membuf *b, const char *fmt, ...);

/* pv_mb_write - a cairo_write_func_t appending to the membuf in closure. */
cairo_status_t pv_mb_write(void *closure, const unsigned char *data, unsigned int length);

/* ---- the symbol (symbol.c) ------------------------------------------------- */

struct symbol {
    int rows, cols;
    uint8_t *dark; /* owned; rows * cols, 1 = dark module; row 0 is the top */
};

/*
 * pv_symbol_encode - a square DataMatrix ECC200 symbol of len borrowed
 * bytes, encoded as they are (0x00 included). out->dark is owned: release
 * with pv_symbol_free (also after an error). PV_EINVAL (empty, or more than
 * the largest symbol holds), PV_ENOMEM, PV_EINTERNAL (zint failed).
 */
int pv_symbol_encode(const uint8_t *data, size_t len, struct symbol *out);

/* pv_symbol_free - release s->dark; s may be released twice. */
void pv_symbol_free(struct symbol *s);

/* ---- text blocks (text.c) -------------------------------------------------- */

enum { ST_HEAD, ST_AMOUNT, ST_BODY, ST_MONO, NSTYLES };

/* A text style: font face and its size relative to the block's base size. */
struct text_style {
    const char *family;
    cairo_font_weight_t weight;
    double scale; /* of the block's base size */
};

/* The styles, indexed by ST_*. */
extern const struct text_style pv_text_styles[NSTYLES];

struct tline {
    char text[LINE_CAP];
    int style;
    /* At base size 1, filled by pv_text_measure: */
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
    cairo_font_options_t *fo;                 /* unhinted; outputs draw with the same options */
    double ascent[NSTYLES], descent[NSTYLES]; /* at base size 1 */
};

/* pv_text_measurer_init - set up *m (owned: pv_text_measurer_free). PV_OK or PV_EINTERNAL. */
int pv_text_measurer_init(struct measurer *m);

/* pv_text_measurer_free - release what *m holds; safe on a zeroed one. */
void pv_text_measurer_free(struct measurer *m);

/* pv_text_font_options - apply the borrowed unhinted options fo to cr. PV_OK or PV_EINTERNAL. */
int pv_text_font_options(cairo_t *cr, cairo_font_options_t *fo);

/* pv_text_select_style - select style's face on cr at base size base. */
void pv_text_select_style(cairo_t *cr, int style, double base);

/* pv_text_measure - fill b's line metrics and its size at base size 1. */
int pv_text_measure(struct measurer *m, struct tblock *b);

/*
 * pv_text_fit_size - the largest base size in [lo, hi], a multiple of the
 * font step, at which b fits a w x h box; 0 when even lo does not fit.
 */
double pv_text_fit_size(const struct tblock *b, double w, double h, double lo, double hi);

/*
 * pv_text_indicium_lines - the human-readable block of ind (borrowed) into
 * *b, with the medium serial broken the variant's way (0 .. MEDIUM_VARIANTS
 * - 1). PV_EINVAL for fields that are not printable or do not fit.
 */
int pv_text_indicium_lines(const struct pv_indicium *ind, int variant, struct tblock *b);

/*
 * pv_text_address_lines - a "\n"-separated address (borrowed, may be NULL)
 * as lines under an optional heading. *present is 0 for NULL or blank text.
 * PV_EINVAL for text that is not clean UTF-8 or is too long.
 */
int pv_text_address_lines(const char *text, const char *heading, struct tblock *b, int *present);

/* ---- the plan (plan.c) ----------------------------------------------------- */

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

/* The dot grid a plan is laid on. */
struct geometry {
    unsigned dpi;
    double grid; /* points per dot */
    int kmax;    /* largest module, dots */
};

/* pv_plan_geometry - the grid of dpi dots per inch. */
void pv_plan_geometry(unsigned dpi, struct geometry *g);

/*
 * pv_plan_label - plan item it (borrowed) with its encoded symbol on one
 * label of layout l. Everything is borrowed; *p is filled. PV_ETOOSMALL
 * when symbol and text do not fit, PV_EINVAL for unprintable text.
 */
int pv_plan_label(struct measurer *m, const struct pv_layout *l, const struct pv_label_item *it,
                  const struct symbol *sym, const struct geometry *g, struct plan *p);

/* ---- the job and the output formats ---------------------------------------- */

/* What every output needs once pv_render has checked the options. */
struct render_job {
    const struct pv_layout *l;
    const struct pv_label_item *items;
    size_t n;
    int format;
    unsigned dpi;
    size_t first;        /* slot index of the first item on the first page */
    size_t *slots;       /* owned by pv_render: each item's slot, counted from (1,1) of page 1 */
    double off_x, off_y; /* points */
    int32_t off_x_raw, off_y_raw;
};

/* One document being written: what the loop in render.c hands the ops. */
struct render_out {
    const struct render_job *job; /* borrowed */
    struct measurer *m;           /* borrowed; its font options are the outputs' too */
    const struct geometry *g;     /* borrowed; the grid the plans are on */
    struct membuf *mb;            /* borrowed; where the bytes go */
    void *state;                  /* the format's own, from begin until end */
};

/*
 * An output format. pv_render calls begin once, label once per item (in
 * order, slot = the item's position counted from (1,1) of the first page),
 * and end once, also after an error (err != PV_OK: release only). Each
 * returns PV_OK or a PV_E* code; end returns err when it is not PV_OK.
 * begin and end may be NULL for a format with no document around its labels.
 */
struct render_format_ops {
    const char *name;  /* "cairo", "zpl" */
    unsigned grid_dpi; /* the plans' dot grid; 0: the job's device dpi */
    int (*begin)(struct render_out *o);
    int (*label)(struct render_out *o, size_t slot, const struct plan *p, const struct symbol *sym);
    int (*end)(struct render_out *o, int err);
};

extern const struct render_format_ops pv_render_cairo_ops; /* PDF, PNG, SVG */
extern const struct render_format_ops pv_render_zpl_ops;   /* ZPL */

/* pv_render_layout_sane - 1 when l's numbers are within reason. */
int pv_render_layout_sane(const struct pv_layout *l);

#endif
