/*
 * plan.c - planning one label: the module size, which side of the symbol
 * the text goes, the text variant and font size, and where the address
 * blocks go.
 *
 * The module size is a whole number of dots of the format's grid: the
 * largest, up to 0.68 mm, that lets the symbol, its quiet zone and the text
 * fit, preferring modules of 0.33 mm or more and text of 6 pt or more,
 * accepting 0.25 mm and 5 pt. Text goes right of the symbol, else below it.
 * Nothing is drawn unless the whole plan fits: a label that does not fit is
 * PV_ETOOSMALL, never a clipped one. The plan is in points relative to the
 * label's top-left corner; the outputs translate it to the label's position
 * plus the calibration offsets. This file draws nothing.
 */
#include "render/render_int.h"

#include "stampd/error.h"

#include <string.h>

#define MODULE_MIN_MM  0.25          /* the least scanners are specified for */
#define MODULE_GOOD_MM 0.33          /* preferred when there is room */
#define MODULE_MAX_IN  (8.0 / 300.0) /* 8 dots at 300 dpi, 0.68 mm */
#define QUIET          2             /* quiet zone, modules on every side */
#define TEXT_GAP       1.5           /* points between quiet zone and text */
#define FONT_MAX       11.0
#define FONT_COMFORT   6.0 /* first try to keep text at least this big */
#define FONT_MIN       5.0
#define ADDR_GAP       18.0  /* between the indicium and address blocks */
#define ADDR_INDENT    36.0  /* delivery block on a 4x6 label */
#define ADDR_MIN_LABEL 216.0 /* labels this tall (3 in) have room for addresses */
#define RETURN_MIN_W   72.0  /* a return address beside the indicium needs 1 in */
#define RETURN_ROOM    108.0 /* kept for it beside the indicium on a 4x6 label: 1 1/2 in */
/*
 * USPS Publication 28, appendix A1 (and DMM 202.2.1): on a letter the
 * delivery address lies wholly inside the OCR read area, 1/2 in from the
 * left and right edges, from 5/8 in to 2 3/4 in above the bottom edge;
 * the bottom 5/8 in (the barcode clear zone under it) stays blank. Type
 * of 8 to 12 pt reads best; nothing else is printed below the address.
 */
#define OCR_SIDE       36.0  /* 1/2 in */
#define OCR_BOTTOM     45.0  /* 5/8 in */
#define OCR_TOP        198.0 /* 2 3/4 in, from the bottom edge */
#define DELIVERY_MIN   8.0
#define DELIVERY_MAX   12.0
#define DELIVERY_LOOSE 7.0 /* when 8 pt does not fit the read area, below it */

/* A length in whole dots, rounded up. */
static int dots_for_mm(double mm, unsigned dpi)
{
    return (int) dceil(mm / 25.4 * dpi - 1e-6);
}

/* pv_plan_geometry - see render_int.h. */
void pv_plan_geometry(unsigned dpi, struct geometry *g)
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
                    s = pv_text_fit_size(b, tw, th, passes[f].font, FONT_MAX);
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
    t->size = pv_text_fit_size(&t->b, w, h, lo, hi);
    if (t->size == 0)
        return PV_ETOOSMALL;
    t->x = x;
    t->y = y;
    return PV_OK;
}

/* Return address top left, beside the indicium block (top right), in at
 * most the block's height or h, whichever is more; 0 when it does not fit. */
static int return_beside(struct plan *p, double cx, double cy, double h, double lo, double hi)
{
    double w = p->bx - ADDR_GAP - cx;

    if (w < RETURN_MIN_W)
        return 0;
    return place_text(&p->from, cx, cy, w, dmax(h, p->bh), lo, hi) == PV_OK;
}

/*
 * Envelope (#10): the indicium block in the top-right quarter of the
 * printable area, the return address top left beside it, and the delivery
 * address in the OCR read area (USPS Pub. 28 A1): below both, from 1/2 in
 * inside either edge, ending 5/8 in above the bottom, centred across the
 * envelope, at 8-12 pt. An address too long for the read area at 8 pt
 * takes the room down to the printable area's bottom at 7 pt or more,
 * rather than not printing.
 */
static int plan_envelope(const struct pv_layout *l, double cx, double cy, double cw, double ch,
                         struct plan *p)
{
    double top, bottom, left, right, w, h;
    int err;

    place_block(p, cx + cw - p->bw, cy);
    top = p->by + p->bh;
    if (p->from.present) {
        if (!return_beside(p, cx, cy, ch / 2, 6, 10))
            return PV_ETOOSMALL;
        top = dmax(top, p->from.y + p->from.b.h1 * p->from.size);
    }
    if (p->to.present) {
        top = dmax(top + ADDR_GAP, l->label_h - OCR_TOP);
        left = dmax(cx, OCR_SIDE);
        right = dmin(cx + cw, l->label_w - OCR_SIDE);
        bottom = l->label_h - OCR_BOTTOM;
        err = place_text(&p->to, left, top, right - left, bottom - top, DELIVERY_MIN, DELIVERY_MAX);
        if (err) {
            bottom = cy + ch;
            err = place_text(&p->to, left, top, right - left, bottom - top, DELIVERY_LOOSE,
                             DELIVERY_MIN);
        }
        if (err)
            return err;
        w = p->to.b.w1 * p->to.size;
        h = p->to.b.h1 * p->to.size;
        /* Centred across the envelope, kept inside the read area's sides;
         * in the middle of the band, so well clear of the indicium above. */
        p->to.x = dmin(dmax((l->label_w - w) / 2, left), right - w);
        p->to.y = top + (bottom - top - h) / 2;
    }
    return PV_OK;
}

/*
 * Tall labels (4x6 shipping labels, after USPS Publication 199's layout):
 * the indicium block top right, the return address ("FROM") top left
 * beside it, or below it when the block leaves less than an inch; the
 * delivery address ("SHIP TO") below both, indented, in the largest type
 * that fits (8-14 pt; 7 pt for a long one).
 */
static int plan_label_addresses(double cx, double cy, double cw, double ch, struct plan *p)
{
    double top = p->by + p->bh + ADDR_GAP, bottom = cy + ch;
    int err;

    if (p->from.present) {
        if (return_beside(p, cx, cy, 0, 5, 9)) {
            top = dmax(top, p->from.y + p->from.b.h1 * p->from.size + ADDR_GAP);
        } else {
            err = place_text(&p->from, cx, top, cw, (bottom - top) * 0.4, 6, 10);
            if (err)
                return err;
            top += p->from.b.h1 * p->from.size + ADDR_GAP;
        }
    }
    if (p->to.present) {
        err = place_text(&p->to, cx + ADDR_INDENT, top, cw - ADDR_INDENT, bottom - top,
                         DELIVERY_MIN, 14);
        if (err)
            err = place_text(&p->to, cx + ADDR_INDENT, top, cw - ADDR_INDENT, bottom - top,
                             DELIVERY_LOOSE, DELIVERY_MIN);
        if (err)
            return err;
    }
    return PV_OK;
}

/* pv_plan_label - see render_int.h. Envelopes put the indicium in the top
 * right quarter; tall labels put it top right too, with the address blocks
 * beside and below it; everything else is the indicium block alone in the
 * top-left corner of the label. */
int pv_plan_label(struct measurer *m, const struct pv_layout *l, const struct pv_label_item *it,
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
        err = pv_text_indicium_lines(it->ind, v, &variants[v]);
        if (!err)
            err = pv_text_measure(m, &variants[v]);
        if (err)
            return err;
    }
    if (addresses) {
        err = pv_text_address_lines(it->from_address, envelope ? NULL : "FROM", &p->from.b,
                                    &p->from.present);
        if (!err)
            err = pv_text_address_lines(it->to_address, envelope ? NULL : "SHIP TO", &p->to.b,
                                        &p->to.present);
        if (!err && p->from.present)
            err = pv_text_measure(m, &p->from.b);
        if (!err && p->to.present)
            err = pv_text_measure(m, &p->to.b);
        if (err)
            return err;
    }
    if (envelope) {
        err = fit_indicium(variants, nvar, sym, g, cw / 2, ch / 2, p);
        return err ? err : plan_envelope(l, cx, cy, cw, ch, p);
    }
    /* A tall label keeps room for the return address beside the indicium
     * when it can; else the return address goes below it. */
    err = PV_ETOOSMALL;
    if (addresses && p->from.present)
        err = fit_indicium(variants, nvar, sym, g, cw - RETURN_ROOM, ch, p);
    if (err)
        err = fit_indicium(variants, nvar, sym, g, cw, ch, p);
    if (err)
        return err;
    if (!addresses) {
        place_block(p, cx, cy);
        return PV_OK;
    }
    /* The postage goes top right (USPS: the upper right corner of the address side). */
    place_block(p, cx + cw - p->bw, cy);
    return plan_label_addresses(cx, cy, cw, ch, p);
}
