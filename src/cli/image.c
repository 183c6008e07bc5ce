/*
 * image.c - find the indicium's DataMatrix in a picture of a label
 * (image.h): `stamp verify --image FILE` takes a scan or a photograph
 * (PNG, JPEG) or the PDF stampd printed.
 *
 * Every format ends as one 8-bit grey raster searched by libdmtx: a PNG is
 * read by cairo, a JPEG by libjpeg (asked for grey directly), each PDF page
 * rendered by poppler at 300 dpi onto white. Sizes are checked before any
 * pixel is allocated (the PNG and JPEG headers, the PDF page size), so a
 * small file that claims a huge image costs nothing; the symbol search has
 * a deadline per page. The libraries stay in this file.
 */
#include "image.h"

#include <stdio.h> /* jpeglib.h needs FILE first */

#include <cairo.h>
#include <dmtx.h>
#include <jpeglib.h>
#include <poppler.h>

#include <math.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#define PDF_DPI 300.0
/* What the readers below answer when the picture was read (no symbol yet). */
#define READ_OK CLI_IMAGE_FOUND

struct gray {
    uint8_t *px; /* owned, w * h bytes, row 0 at the top */
    int w, h;
};

struct find {
    cli_image_accept accept;
    void *arg;
    uint8_t *out;
    size_t out_len;
};

static int fits(size_t w, size_t h)
{
    return w > 0 && h > 0 && w <= 65535 && h <= 65535 && w * h <= CLI_IMAGE_PIXELS;
}

/* Search g for symbols until f takes one: FOUND, NONE or NOMEM. */
static enum cli_image_status search(const struct gray *g, struct find *f)
{
    enum cli_image_status st = CLI_IMAGE_NONE;
    DmtxImage *img;
    DmtxDecode *dec;
    DmtxRegion *reg;
    DmtxMessage *msg;
    DmtxTime deadline;

    if (!(img = dmtxImageCreate(g->px, g->w, g->h, DmtxPack8bppK)))
        return CLI_IMAGE_NOMEM;
    /* Rows as stored, top first (DmtxFlipY would mirror every symbol). */
    dmtxImageSetProp(img, DmtxPropImageFlip, DmtxFlipNone);
    if (!(dec = dmtxDecodeCreate(img, 1))) {
        dmtxImageDestroy(&img);
        return CLI_IMAGE_NOMEM;
    }
    deadline = dmtxTimeAdd(dmtxTimeNow(), CLI_IMAGE_TIMEOUT_MS);
    while (st == CLI_IMAGE_NONE && (reg = dmtxRegionFindNext(dec, &deadline)) != NULL) {
        msg = dmtxDecodeMatrixRegion(dec, reg, DmtxUndefined);
        if (msg && msg->outputIdx > 0 &&
            (!f->accept || f->accept(msg->output, (size_t) msg->outputIdx, f->arg))) {
            if ((f->out = malloc((size_t) msg->outputIdx)) != NULL) {
                memcpy(f->out, msg->output, (size_t) msg->outputIdx);
                f->out_len = (size_t) msg->outputIdx;
                st = CLI_IMAGE_FOUND;
            } else {
                st = CLI_IMAGE_NOMEM;
            }
        }
        if (msg)
            dmtxMessageDestroy(&msg);
        dmtxRegionDestroy(&reg);
    }
    dmtxDecodeDestroy(&dec);
    dmtxImageDestroy(&img);
    return st;
}

/* A cairo RGB24/ARGB32 surface as grey, composited onto white. */
static enum cli_image_status from_surface(cairo_surface_t *s, struct gray *g)
{
    cairo_format_t fmt = cairo_image_surface_get_format(s);
    int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
    int stride = cairo_image_surface_get_stride(s), x, y;
    const unsigned char *data;

    if (fmt != CAIRO_FORMAT_ARGB32 && fmt != CAIRO_FORMAT_RGB24 && fmt != CAIRO_FORMAT_A8)
        return CLI_IMAGE_BAD;
    if (!fits((size_t) w, (size_t) h))
        return CLI_IMAGE_BAD;
    cairo_surface_flush(s);
    if (!(data = cairo_image_surface_get_data(s)))
        return CLI_IMAGE_BAD;
    if (!(g->px = malloc((size_t) w * (size_t) h)))
        return CLI_IMAGE_NOMEM;
    g->w = w;
    g->h = h;
    for (y = 0; y < h; y++) {
        const unsigned char *row = data + (size_t) y * (size_t) stride;
        uint8_t *o = g->px + (size_t) y * (size_t) w;
        for (x = 0; x < w; x++) {
            unsigned v, a, r, gr, b, lum;
            if (fmt == CAIRO_FORMAT_A8) {
                o[x] = (uint8_t) (255 - row[x]); /* ink where the mask is */
                continue;
            }
            memcpy(&v, row + 4 * (size_t) x, 4);
            a = fmt == CAIRO_FORMAT_ARGB32 ? v >> 24 : 255;
            r = (v >> 16) & 255;
            gr = (v >> 8) & 255;
            b = v & 255;
            /* Premultiplied colour over white: c + (255 - a). */
            lum = (299 * r + 587 * gr + 114 * b) / 1000 + (255 - a);
            o[x] = (uint8_t) (lum > 255 ? 255 : lum);
        }
    }
    return READ_OK;
}

struct png_src {
    const uint8_t *p;
    size_t left;
};

static cairo_status_t png_read(void *closure, unsigned char *buf, unsigned int n)
{
    struct png_src *src = closure;

    if (n > src->left)
        return CAIRO_STATUS_READ_ERROR;
    memcpy(buf, src->p, n);
    src->p += n;
    src->left -= n;
    return CAIRO_STATUS_SUCCESS;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static enum cli_image_status read_png(const uint8_t *data, size_t len, struct gray *g,
                                      const char **why)
{
    struct png_src src = {data, len};
    cairo_surface_t *s;
    enum cli_image_status st;

    /* The size, from the header chunk, before cairo allocates anything. */
    if (len < 24 || memcmp(data + 12, "IHDR", 4) != 0) {
        *why = "PNG without its header";
        return CLI_IMAGE_BAD;
    }
    if (!fits(be32(data + 16), be32(data + 20))) {
        *why = "image too large (at most 40 megapixels)";
        return CLI_IMAGE_BAD;
    }
    s = cairo_image_surface_create_from_png_stream(png_read, &src);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        st = cairo_surface_status(s) == CAIRO_STATUS_NO_MEMORY ? CLI_IMAGE_NOMEM : CLI_IMAGE_BAD;
        *why = "unreadable PNG";
        cairo_surface_destroy(s);
        return st;
    }
    if ((st = from_surface(s, g)) == CLI_IMAGE_BAD)
        *why = "PNG in a pixel format not read";
    cairo_surface_destroy(s);
    return st;
}

/* libjpeg reports errors by calling error_exit, which must not return. */
struct jpeg_err {
    struct jpeg_error_mgr mgr;
    jmp_buf jmp;
};

static void jpeg_fail(j_common_ptr ci)
{
    longjmp(((struct jpeg_err *) ci->err)->jmp, 1);
}

static void jpeg_quiet(j_common_ptr ci)
{
    (void) ci; /* no warnings on stderr about a damaged file */
}

static enum cli_image_status read_jpeg(const uint8_t *data, size_t len, struct gray *g,
                                       const char **why)
{
    struct jpeg_decompress_struct ci;
    struct jpeg_err err;
    uint8_t *volatile px = NULL;
    volatile enum cli_image_status st = CLI_IMAGE_BAD;

    memset(&ci, 0, sizeof ci);
    ci.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_fail;
    err.mgr.output_message = jpeg_quiet;
    *why = "unreadable JPEG";
    if (setjmp(err.jmp)) {
        jpeg_destroy_decompress(&ci);
        free(px);
        return st;
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, data, (unsigned long) len);
    jpeg_read_header(&ci, TRUE);
    if (!fits(ci.image_width, ci.image_height)) {
        *why = "image too large (at most 40 megapixels)";
        jpeg_destroy_decompress(&ci);
        return CLI_IMAGE_BAD;
    }
    ci.out_color_space = JCS_GRAYSCALE;
    jpeg_start_decompress(&ci);
    if (ci.output_components != 1 || !fits(ci.output_width, ci.output_height)) {
        jpeg_destroy_decompress(&ci);
        return CLI_IMAGE_BAD;
    }
    if (!(px = malloc((size_t) ci.output_width * ci.output_height))) {
        jpeg_destroy_decompress(&ci);
        return CLI_IMAGE_NOMEM;
    }
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW row = px + (size_t) ci.output_scanline * ci.output_width;
        jpeg_read_scanlines(&ci, &row, 1);
    }
    jpeg_finish_decompress(&ci);
    g->px = px;
    g->w = (int) ci.output_width;
    g->h = (int) ci.output_height;
    jpeg_destroy_decompress(&ci);
    return READ_OK;
}

/* Render one PDF page at PDF_DPI (less when that would pass the pixel bound) onto white. */
static enum cli_image_status render_page(PopplerPage *page, struct gray *g)
{
    double wpt, hpt, scale = PDF_DPI / 72.0;
    cairo_surface_t *s;
    cairo_t *cr;
    enum cli_image_status st;
    int w, h;

    poppler_page_get_size(page, &wpt, &hpt);
    if (!(wpt > 0 && hpt > 0 && wpt < 14400 && hpt < 14400))
        return CLI_IMAGE_BAD;
    if (wpt * hpt * scale * scale > (double) CLI_IMAGE_PIXELS)
        scale = sqrt((double) CLI_IMAGE_PIXELS / (wpt * hpt)) * 0.99;
    w = (int) ceil(wpt * scale);
    h = (int) ceil(hpt * scale);
    if (!fits((size_t) w, (size_t) h))
        return CLI_IMAGE_BAD;
    s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return CLI_IMAGE_NOMEM;
    }
    cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_scale(cr, scale, scale);
    poppler_page_render(page, cr);
    st = cairo_status(cr) == CAIRO_STATUS_SUCCESS ? from_surface(s, g) : CLI_IMAGE_BAD;
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    return st;
}

static enum cli_image_status find_pdf(const uint8_t *data, size_t len, struct find *f,
                                      const char **why)
{
    GBytes *bytes = g_bytes_new_static(data, len);
    GError *err = NULL;
    PopplerDocument *doc = poppler_document_new_from_bytes(bytes, NULL, &err);
    enum cli_image_status st = CLI_IMAGE_NONE;
    int i, n;

    g_bytes_unref(bytes); /* the document holds its own reference */
    if (!doc) {
        *why = "unreadable PDF";
        g_clear_error(&err);
        return CLI_IMAGE_BAD;
    }
    n = poppler_document_get_n_pages(doc);
    for (i = 0; i < n && i < CLI_IMAGE_PAGES && st == CLI_IMAGE_NONE; i++) {
        PopplerPage *page = poppler_document_get_page(doc, i);
        struct gray g = {NULL, 0, 0};

        if (!page)
            continue;
        st = render_page(page, &g);
        g_object_unref(page);
        if (st == READ_OK)
            st = search(&g, f);
        else if (st == CLI_IMAGE_BAD)
            *why = "PDF page of an unusable size";
        free(g.px);
    }
    g_object_unref(doc);
    return st;
}

enum cli_image_status cli_image_find(const uint8_t *data, size_t len, cli_image_accept accept,
                                     void *arg, uint8_t **out, size_t *out_len, const char **why)
{
    static const uint8_t PNG_SIG[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    struct find f = {accept, arg, NULL, 0};
    struct gray g = {NULL, 0, 0};
    const char *dummy;
    enum cli_image_status st;

    if (!why)
        why = &dummy;
    *why = "";
    if (out)
        *out = NULL;
    if (out_len)
        *out_len = 0;
    if (!data || !out || !out_len)
        return CLI_IMAGE_BAD;
    if (len > CLI_IMAGE_FILE_MAX) {
        *why = "file too large";
        return CLI_IMAGE_BAD;
    }
    if (len >= 8 && memcmp(data, PNG_SIG, 8) == 0)
        st = read_png(data, len, &g, why);
    else if (len >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
        st = read_jpeg(data, len, &g, why);
    else if (len >= 5 && memcmp(data, "%PDF-", 5) == 0)
        st = find_pdf(data, len, &f, why);
    else
        return CLI_IMAGE_UNSUPPORTED;
    if (st == READ_OK && g.px)
        st = search(&g, &f);
    free(g.px);
    if (st == CLI_IMAGE_FOUND) {
        *out = f.out;
        *out_len = f.out_len;
    } else {
        free(f.out);
    }
    return st;
}
