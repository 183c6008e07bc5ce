/*
 * out_zpl.c - ZPL II output for Zebra thermal printers (pv_render_zpl_ops).
 *
 * One ^XA..^XZ label per item, drawn in the label's own frame: a thermal
 * printer feeds one label at a time, also for sheet layouts. Plans are laid
 * on the printer's own dots (203 or 300 dpi); the symbol is a ^GFA graphic
 * field, the text ^A0 (the printer's scalable font) at the planned sizes,
 * UTF-8 under ^CI28 with ^FH escapes.
 */
#include "render/render_int.h"

#include "stampd/error.h"

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
            err = pv_mb_append(mb, esc, 3);
        } else
            err = pv_mb_append(mb, p, 1);
    }
    return err;
}

static int zpl_text(struct membuf *mb, const struct placed *t, double dots_per_pt)
{
    int i, err = PV_OK;

    for (i = 0; i < t->b.n && !err; i++) {
        const struct tline *ln = &t->b.line[i];
        long h = dround(t->size * pv_text_styles[ln->style].scale * dots_per_pt);

        if (!ln->text[0])
            continue;
        if (h < 10)
            h = 10; /* the smallest ^A0 height */
        /* ^FT: the field origin is the baseline's left end, as in cairo. */
        err = pv_mb_printf(mb, "^FT%ld,%ld^A0N,%ld,%ld^FH_^FD",
                           dround((t->x + ln->lead * t->size) * dots_per_pt),
                           dround((t->y + ln->baseline * t->size) * dots_per_pt), h, h);
        if (!err)
            err = zpl_field_text(mb, ln->text);
        if (!err)
            err = pv_mb_printf(mb, "^FS\n");
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

    err = pv_mb_printf(mb, "^FO%ld,%ld^GFA,%ld,%ld,%ld,", x, y, total, total, bpr);
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
            err = pv_mb_append(mb, hx, 2);
        }
        if (!err)
            err = pv_mb_append(mb, "\n", 1);
    }
    if (!err)
        err = pv_mb_printf(mb, "^FS\n");
    return err;
}

/*
 * ops->label: one ^XA..^XZ label. Calibration: ^LH moves the label home
 * right/down; ZPL has no negative home, so a negative x is ^LS (label
 * shift, + moves left) and a negative y is ^LT (label top, - moves up; at
 * most 120 dot rows, 10 mm is 118 at 300 dpi).
 */
static int zpl_label(struct render_out *o, size_t slot, const struct plan *p,
                     const struct symbol *sym)
{
    const struct render_job *j = o->job;
    const struct pv_layout *l = j->l;
    double dpp = j->dpi / 72.0;
    long ox = dround(j->off_x_raw * (double) j->dpi / 2540.0);
    long oy = dround(j->off_y_raw * (double) j->dpi / 2540.0);
    int err;

    (void) slot; /* every label is a page of its own */
    err = pv_mb_printf(o->mb, "^XA\n^CI28\n^PW%ld\n^LL%ld\n^LH%ld,%ld\n^LS%ld\n",
                       dround(l->label_w * dpp), dround(l->label_h * dpp), ox > 0 ? ox : 0,
                       oy > 0 ? oy : 0, ox < 0 ? -ox : 0);
    if (!err && oy < 0)
        err = pv_mb_printf(o->mb, "^LT%ld\n", oy);
    if (!err)
        err = zpl_symbol(o->mb, sym, p->k, dround(p->sym_x / o->g->grid),
                         dround(p->sym_y / o->g->grid));
    if (!err)
        err = zpl_text(o->mb, &p->text, dpp);
    if (!err && p->from.present)
        err = zpl_text(o->mb, &p->from, dpp);
    if (!err && p->to.present)
        err = zpl_text(o->mb, &p->to, dpp);
    if (!err)
        err = pv_mb_printf(o->mb, "^PQ1\n^XZ\n");
    return err;
}

/* No document around the labels: no begin, no end. */
const struct render_format_ops pv_render_zpl_ops = {
    .name = "zpl",
    .grid_dpi = 0,
    .begin = NULL,
    .label = zpl_label,
    .end = NULL,
};
