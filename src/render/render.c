/*
 * render.c - pv_render's front: checks the layout, format, resolution,
 * start position, offsets and items, then runs one loop for every format:
 * each item's DataMatrix symbol (symbol.c) and text blocks (text.c) are
 * planned on a label (plan.c) and handed to the format's output ops
 * (out_cairo.c for PDF, PNG and SVG, out_zpl.c for ZPL). Also the growing
 * memory buffer every output writes into. docs/internals/render.md tells
 * who owns what.
 */
#include "render/render_int.h"

#include "stampd/error.h"

#include <cairo.h>
#include <fontconfig/fontconfig.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a growing memory buffer, also a cairo write callback ----------------- */

/* Room for more bytes, doubling; sets b->oom on failure. */
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

/* pv_mb_append - see render_int.h. */
int pv_mb_append(struct membuf *b, const void *data, size_t len)
{
    if (mb_reserve(b, len) != PV_OK)
        return PV_ENOMEM;
    memcpy(b->p + b->len, data, len);
    b->len += len;
    return PV_OK;
}

/* pv_mb_printf - see render_int.h. */
int pv_mb_printf(struct membuf *b, const char *fmt, ...)
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

/* pv_mb_write - see render_int.h. */
cairo_status_t pv_mb_write(void *closure, const unsigned char *data, unsigned int length)
{
    return pv_mb_append(closure, data, length) == PV_OK ? CAIRO_STATUS_SUCCESS
                                                        : CAIRO_STATUS_WRITE_ERROR;
}

/* ---- the entry point ----------------------------------------------------------- */

/*
 * The one loop over the items, whatever the format: encode the symbol,
 * plan the label on the format's grid, hand the plan to the format. Borrows
 * everything; the bytes go to mb.
 */
static int render_items(const struct render_job *j, const struct render_format_ops *ops,
                        struct membuf *mb)
{
    struct render_out o = {0};
    struct measurer m = {0};
    struct geometry g;
    struct symbol sym = {0};
    struct plan *p = NULL;
    size_t i;
    int err;

    pv_plan_geometry(ops->grid_dpi ? ops->grid_dpi : j->dpi, &g);
    err = pv_text_measurer_init(&m);
    if (err)
        goto out;
    p = malloc(sizeof *p);
    if (!p) {
        err = PV_ENOMEM;
        goto out;
    }
    o.job = j;
    o.m = &m;
    o.g = &g;
    o.mb = mb;
    if (ops->begin)
        err = ops->begin(&o);
    for (i = 0; i < j->n && !err; i++) {
        err = pv_symbol_encode(j->items[i].data, j->items[i].len, &sym);
        if (!err)
            err = pv_plan_label(&m, j->l, &j->items[i], &sym, &g, p);
        if (!err)
            err = ops->label(&o, j->slots[i], p, &sym);
        pv_symbol_free(&sym);
    }
    if (ops->end)
        err = ops->end(&o, err);
out:
    pv_symbol_free(&sym);
    free(p);
    pv_text_measurer_free(&m);
    return err;
}

/*
 * Each item's slot: the start position for the first item, the slot after
 * the previous item's for the others; an item with a label number goes on
 * that label of the previous item's page when it comes after it, else of the
 * next page (of the first page for the first item: a medium's own label is
 * not one of the used labels a start position skips).
 */
static int place_items(struct render_job *j)
{
    size_t per = (size_t) j->l->rows * j->l->cols, page, i;
    unsigned label;

    j->slots = calloc(j->n, sizeof *j->slots);
    if (!j->slots)
        return PV_ENOMEM;
    for (i = 0; i < j->n; i++) {
        label = j->items[i].label;
        if (label > per) {
            free(j->slots);
            j->slots = NULL;
            return PV_EPOSITION;
        }
        if (!label) {
            j->slots[i] = i ? j->slots[i - 1] + 1 : j->first;
            continue;
        }
        page = i ? j->slots[i - 1] / per : 0;
        if (i && j->slots[i - 1] % per >= label - 1)
            page++;
        j->slots[i] = page * per + (label - 1);
    }
    return PV_OK;
}

/* pv_render_layout_sane - see render_int.h. */
int pv_render_layout_sane(const struct pv_layout *l)
{
    return l->rows >= 1 && l->cols >= 1 && l->rows <= 1000 && l->cols <= 1000 && l->page_w > 0 &&
           l->page_h > 0 && l->page_w <= 14400 && l->page_h <= 14400 && l->label_w > 0 &&
           l->label_h > 0 && l->padding >= 0;
}

/* pv_render - see render.h. Checks everything before anything is drawn. */
int pv_render(const struct pv_layout *l, const struct pv_label_item *items, size_t n,
              const struct pv_render_opts *opts, uint8_t **out, size_t *out_len)
{
    struct membuf mb = {0};
    struct render_job j = {0};
    const struct render_format_ops *ops;
    unsigned row, col;
    size_t i;
    int err;

    if (out)
        *out = NULL;
    if (out_len)
        *out_len = 0;
    if (!l || !items || n == 0 || !opts || !out || !out_len || !pv_render_layout_sane(l))
        return PV_EINVAL;
    j.l = l;
    j.items = items;
    j.n = n;
    j.format = opts->format;
    switch (opts->format) {
    case PV_FMT_PDF:
    case PV_FMT_SVG:
        j.dpi = 0;
        ops = &pv_render_cairo_ops;
        break;
    case PV_FMT_PNG:
        j.dpi = opts->dpi ? opts->dpi : 300;
        if (j.dpi != 300 && j.dpi != 600)
            return PV_EDPI;
        ops = &pv_render_cairo_ops;
        break;
    case PV_FMT_ZPL:
        j.dpi = opts->dpi ? opts->dpi : 203;
        if (j.dpi != 203 && j.dpi != 300)
            return PV_EDPI;
        ops = &pv_render_zpl_ops;
        break;
    default:
        return PV_EFORMAT;
    }
    row = opts->start_row ? opts->start_row : 1;
    col = opts->start_col ? opts->start_col : 1;
    if (row > l->rows || col > l->cols)
        return PV_EPOSITION;
    j.first = (size_t) (row - 1) * l->cols + (col - 1);
    if (opts->offset_x > PV_RENDER_OFFSET_MAX || opts->offset_x < -PV_RENDER_OFFSET_MAX ||
        opts->offset_y > PV_RENDER_OFFSET_MAX || opts->offset_y < -PV_RENDER_OFFSET_MAX)
        return PV_EOFFSET;
    j.off_x_raw = opts->offset_x;
    j.off_y_raw = opts->offset_y;
    j.off_x = opts->offset_x * 72.0 / 2540.0;
    j.off_y = opts->offset_y * 72.0 / 2540.0;
    for (i = 0; i < n; i++)
        if (!items[i].data || items[i].len == 0 || !items[i].ind)
            return PV_EINVAL;
    if ((err = place_items(&j)) != PV_OK)
        return err;
    /* PNG and SVG are one page. */
    if ((j.format == PV_FMT_PNG || j.format == PV_FMT_SVG) &&
        j.slots[n - 1] >= (size_t) l->rows * l->cols) {
        free(j.slots);
        return PV_EINVAL;
    }

    err = render_items(&j, ops, &mb);
    if (err)
        goto out;
    *out = mb.p;
    *out_len = mb.len;
    mb.p = NULL;
out:
    free(mb.p);
    free(j.slots);
    return err;
}

/* pv_render_shutdown - see render.h. */
void pv_render_shutdown(void)
{
    cairo_debug_reset_static_data();
    FcFini();
}
