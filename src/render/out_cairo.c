/*
 * out_cairo.c - PDF, PNG and SVG output: one cairo drawing routine for all
 * three (pv_render_cairo_ops), and the blank-media PDF (pv_render_media).
 *
 * Plans are laid on a grid of 1/300 inch for all three formats, so the same
 * document rasterises crisply at 300 and 600 dpi and the PNG at 600 dpi is
 * the 300 dpi one with every module twice as many pixels. In PDF and SVG
 * the symbol's corner is snapped to that grid; in PNG it is drawn in whole
 * device pixels. Each run of dark modules in a row is one rectangle and all
 * are filled at once with antialiasing off, so no seams show between
 * modules. PNG and SVG get an opaque white page; PDF pages are paper.
 */
#include "render/render_int.h"

#include "stampd/error.h"

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <cairo.h>

#include <stdlib.h>

#define VECTOR_GRID_DPI 300 /* the dot grid of PDF, SVG and PNG geometry */

/* ---- drawing one label ------------------------------------------------------ */

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
        pv_text_select_style(cr, ln->style, t->size);
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

/* ---- the document ----------------------------------------------------------- */

/* One document: the surface, the context drawing on it, the current page. */
struct cairo_doc {
    cairo_surface_t *surface;
    struct canvas cv;
    size_t page;
};

/* ops->begin: the surface for the job's format, writing into o->mb. */
static int cairo_begin(struct render_out *o)
{
    const struct render_job *j = o->job;
    const struct pv_layout *l = j->l;
    struct cairo_doc *d = calloc(1, sizeof *d);

    if (!d)
        return PV_ENOMEM;
    o->state = d;
    switch (j->format) {
    case PV_FMT_PDF:
        d->surface = cairo_pdf_surface_create_for_stream(pv_mb_write, o->mb, l->page_w, l->page_h);
        cairo_pdf_surface_set_metadata(d->surface, CAIRO_PDF_METADATA_TITLE, "stampd postage");
        cairo_pdf_surface_set_metadata(d->surface, CAIRO_PDF_METADATA_CREATOR, "stampd");
        break;
    case PV_FMT_SVG:
        d->surface = cairo_svg_surface_create_for_stream(pv_mb_write, o->mb, l->page_w, l->page_h);
        cairo_svg_surface_set_document_unit(d->surface, CAIRO_SVG_UNIT_PT);
        break;
    default:
        d->cv.raster = 1;
        d->cv.scale = j->dpi / 72.0;
        d->cv.dots = (int) (j->dpi / VECTOR_GRID_DPI);
        d->surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24,
                                                (int) dceil(l->page_w * d->cv.scale - 1e-6),
                                                (int) dceil(l->page_h * d->cv.scale - 1e-6));
        break;
    }
    if (cairo_surface_status(d->surface) != CAIRO_STATUS_SUCCESS)
        return cairo_surface_status(d->surface) == CAIRO_STATUS_NO_MEMORY ? PV_ENOMEM
                                                                          : PV_EINTERNAL;
    d->cv.cr = cairo_create(d->surface);
    if (cairo_status(d->cv.cr) != CAIRO_STATUS_SUCCESS ||
        pv_text_font_options(d->cv.cr, o->m->fo) != PV_OK)
        return PV_EINTERNAL;
    if (j->format != PV_FMT_PDF) {
        /* PDF pages are paper; images and SVG get an opaque white page so
         * the symbol keeps its contrast on any background. */
        cairo_set_source_rgb(d->cv.cr, 1, 1, 1);
        cairo_paint(d->cv.cr);
    }
    if (d->cv.raster)
        cairo_scale(d->cv.cr, d->cv.scale, d->cv.scale);
    return PV_OK;
}

/* ops->label: a new page when slot is past the current one, then the label
 * at its position plus the calibration offsets. */
static int cairo_label(struct render_out *o, size_t slot, const struct plan *p,
                       const struct symbol *sym)
{
    struct cairo_doc *d = o->state;
    const struct render_job *j = o->job;
    const struct pv_layout *l = j->l;
    size_t per_page = (size_t) l->rows * l->cols;
    double x, y;

    if (slot / per_page != d->page) {
        cairo_show_page(d->cv.cr);
        d->page = slot / per_page;
    }
    pv_label_origin(l, (unsigned) (slot % per_page / l->cols) + 1, (unsigned) (slot % l->cols) + 1,
                    &x, &y);
    return draw_label(&d->cv, p, sym, x + j->off_x, y + j->off_y, o->g);
}

/* ops->end: the last page, the PNG stream or the PDF and SVG trailers;
 * then, and on every error, the surface is released. */
static int cairo_end(struct render_out *o, int err)
{
    struct cairo_doc *d = o->state;
    struct membuf *mb = o->mb;

    if (!d)
        return err;
    if (err)
        goto out;
    if (o->job->format == PV_FMT_PDF)
        cairo_show_page(d->cv.cr);
    if (cairo_status(d->cv.cr) != CAIRO_STATUS_SUCCESS) {
        err = PV_EINTERNAL;
        goto out;
    }
    if (o->job->format == PV_FMT_PNG) {
        cairo_surface_flush(d->surface);
        if (cairo_surface_write_to_png_stream(d->surface, pv_mb_write, mb) !=
            CAIRO_STATUS_SUCCESS) {
            err = mb->oom ? PV_ENOMEM : PV_EINTERNAL;
            goto out;
        }
    }
    cairo_destroy(d->cv.cr);
    d->cv.cr = NULL;
    cairo_surface_finish(d->surface); /* PDF and SVG write their trailers here */
    if (cairo_surface_status(d->surface) != CAIRO_STATUS_SUCCESS)
        err = mb->oom ? PV_ENOMEM : PV_EINTERNAL;
out:
    if (d->cv.cr)
        cairo_destroy(d->cv.cr);
    if (d->surface)
        cairo_surface_destroy(d->surface);
    free(d);
    o->state = NULL;
    return err;
}

const struct render_format_ops pv_render_cairo_ops = {
    .name = "cairo",
    .grid_dpi = VECTOR_GRID_DPI,
    .begin = cairo_begin,
    .label = cairo_label,
    .end = cairo_end,
};

/* One serial as small monospaced text with its baseline at (x, y). */
static void media_text(cairo_t *cr, const char *text, double x, double y, double size)
{
    cairo_set_font_size(cr, size);
    cairo_move_to(cr, x, y);
    cairo_show_text(cr, text);
}

/* pv_render_media - see render.h. */
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
        !pv_render_layout_sane(l))
        return PV_EINVAL;
    surface = cairo_pdf_surface_create_for_stream(pv_mb_write, &mb, l->page_w, l->page_h);
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
