/*
 * render.h - printing indicia: layouts as data, one cairo drawing path for
 * PDF, PNG and SVG, and ZPL for Zebra thermal printers.
 *
 * A layout describes a page and a grid of label positions on it (a 4x6
 * thermal label is a 1x1 grid on a 4x6 page; Avery 5160 is 3 columns x 10
 * rows on US Letter). Each position gets one indicium: a DataMatrix ECC200
 * symbol of the signed bytes (libzint) with the human-readable block beside
 * it. Rendering never clips: a layout too small for the symbol and text is
 * PV_ETOOSMALL. Only the files in src/render include zint.h and cairo.h.
 *
 * Units: PostScript points (1/72 inch) in layouts; offsets in 1/100 mm.
 */
#ifndef STAMPD_RENDER_H
#define STAMPD_RENDER_H

#include "stampd/indicium.h"

#include <stddef.h>
#include <stdint.h>

enum pv_format { PV_FMT_PDF = 1, PV_FMT_PNG = 2, PV_FMT_SVG = 3, PV_FMT_ZPL = 4 };

enum pv_layout_kind {
    PV_LAYOUT_LABEL = 1,    /* one label per page (4x6, stamp-1x2) */
    PV_LAYOUT_ENVELOPE = 2, /* indicium top right, address blocks */
    PV_LAYOUT_SHEET = 3     /* a grid of labels on a sheet */
};

struct pv_layout {
    const char *name;               /* "label-4x6", "avery-5160", ... */
    const char *description;        /* one line for people */
    int kind;                       /* enum pv_layout_kind */
    double page_w, page_h;          /* page size, points */
    unsigned rows, cols;            /* label grid */
    double margin_left, margin_top; /* top-left corner of label (1,1), points */
    double pitch_x, pitch_y;        /* distance between label origins, points */
    double label_w, label_h;        /* one label, points */
    double padding;                 /* inner margin kept clear inside a label, points */
};

/* What is printed at one position. All borrowed. */
struct pv_label_item {
    const uint8_t *data; /* the signed indicium bytes, encoded as they are */
    size_t len;
    const struct pv_indicium *ind; /* its decoded fields, for the text block */
    const char *from_address;      /* return address (envelope, 4x6), "\n"-separated; or NULL */
    const char *to_address;        /* delivery address (envelope, 4x6); or NULL */
    unsigned label; /* 0: the next position; n: label n of the grid (row by row, from 1),
                     * on this page if still free, else on the next (a medium's label) */
};

/* The largest calibration offset either way: 10 mm, in 1/100 mm. */
#define PV_RENDER_OFFSET_MAX 1000

struct pv_render_opts {
    int format;         /* enum pv_format */
    unsigned dpi;       /* PNG: 300 or 600; ZPL: 203 or 300; else ignored (0 = default) */
    unsigned start_row; /* 1-based position of the first item on the first page; */
    unsigned start_col; /* 0 means 1. Later pages start at (1,1). */
    int32_t offset_x;   /* calibration, 1/100 mm, + moves right; applied to every page */
    int32_t offset_y;   /* + moves down */
};

/* pv_layout_find - the layout called name (borrowed), or NULL. */
const struct pv_layout *pv_layout_find(const char *name);

/* pv_layout_count / pv_layout_at - every built-in layout, for listings. */
size_t pv_layout_count(void);
const struct pv_layout *pv_layout_at(size_t i);

/* pv_format_parse - "pdf", "png", "svg", "zpl" -> PV_FMT_*; PV_EFORMAT otherwise. */
int pv_format_parse(const char *name, int *out);
/* pv_format_content_type - "application/pdf", "image/png", "image/svg+xml",
 * "application/zpl"; NULL for an unknown format (so does pv_format_extension). */
const char *pv_format_content_type(int format);
/* pv_format_extension - "pdf", "png", "svg", "zpl". */
const char *pv_format_extension(int format);

/*
 * pv_label_origin - top-left corner (points, before offsets) of position
 * (row, col) (1-based) of layout l. For tests and docs.
 */
void pv_label_origin(const struct pv_layout *l, unsigned row, unsigned col, double *x, double *y);

/*
 * pv_render - render n items (n >= 1) on layout l as one document.
 * Items fill positions row by row from the start position; when a page is
 * full the next page starts at (1,1). An item with a label number goes on
 * that label: of the previous item's page when it comes after it, else of
 * the next page (the first item: of the first page, whatever the start);
 * the items after it follow it. A label number past the grid is PV_EPOSITION. PNG holds one page:
 * more items than fit on it is PV_EINVAL; so does SVG. *out is owned (free()), *out_len its size.
 * Errors: PV_EFORMAT, PV_EDPI, PV_EPOSITION (start outside the grid), PV_EOFFSET (an offset over 10
 * mm either way), PV_ETOOSMALL (symbol and text do not fit a label), PV_EINVAL, PV_ENOMEM,
 * PV_EINTERNAL (zint or cairo failed).
 */
int pv_render(const struct pv_layout *l, const struct pv_label_item *items, size_t n,
              const struct pv_render_opts *opts, uint8_t **out, size_t *out_len);

/*
 * pv_render_media - a PDF of blank media, one page per sheet: serials holds
 * nsheets groups of labels + 1 NUL-terminated serials (the sheet's, then its
 * labels' in position order, as pv_media_batch_serials makes them), all
 * borrowed; each label's serial is printed in its corner of position 1..labels
 * of l, the sheet's in the bottom margin. *out owned (free()). PV_EINVAL
 * (labels more than the layout holds), PV_ENOMEM, PV_EINTERNAL.
 */
#define PV_MEDIA_SERIAL_SIZE 29 /* == PV_SERIAL_TEXT_SIZE */
int pv_render_media(const struct pv_layout *l, const char (*serials)[PV_MEDIA_SERIAL_SIZE],
                    size_t nsheets, unsigned labels, uint8_t **out, size_t *out_len);

/*
 * pv_render_shutdown - release what cairo and fontconfig keep for the whole
 * process (font caches), so leak checkers see a clean exit. Call once, after
 * every render has finished; nothing may render afterwards.
 */
void pv_render_shutdown(void);

#endif
