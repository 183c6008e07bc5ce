/*
 * layouts.c - the built-in label layouts as data, and the names of the
 * output formats.
 *
 * A layout is a page and a grid of equal label positions on it; everything
 * the renderer needs to place an indicium comes from these numbers, which
 * docs/printing.md draws one diagram per layout for. Sizes are PostScript
 * points (1/72 inch), so US sheet stock measured in fractions of an inch
 * comes out exact: 1/8" = 9 pt, 1/16" = 4.5 pt, 0.1875" = 13.5 pt. Every page
 * size is also a whole number of pixels at 300 and 600 dpi.
 */
#include "render/render.h"

#include "stampd/error.h"

#include <string.h>
#include <strings.h>

static const struct pv_layout layouts[] = {
    {
        .name = "label-4x6",
        .description = "4 x 6 in thermal shipping label, one indicium at the top",
        .kind = PV_LAYOUT_LABEL,
        .page_w = 288, /* 4 in */
        .page_h = 432, /* 6 in */
        .rows = 1,
        .cols = 1,
        .margin_left = 0,
        .margin_top = 0,
        .pitch_x = 288,
        .pitch_y = 432,
        .label_w = 288,
        .label_h = 432,
        .padding = 9, /* 1/8 in */
    },
    {
        .name = "stamp-1x2",
        .description = "single 2 x 1 in stamp label, landscape (roll or die-cut)",
        .kind = PV_LAYOUT_LABEL,
        .page_w = 144, /* 2 in */
        .page_h = 72,  /* 1 in */
        .rows = 1,
        .cols = 1,
        .margin_left = 0,
        .margin_top = 0,
        .pitch_x = 144,
        .pitch_y = 72,
        .label_w = 144,
        .label_h = 72,
        .padding = 3.6, /* 0.05 in */
    },
    {
        .name = "envelope-10",
        .description = "#10 business envelope (9.5 x 4.125 in), indicium top right",
        .kind = PV_LAYOUT_ENVELOPE,
        .page_w = 684, /* 9.5 in */
        .page_h = 297, /* 4.125 in */
        .rows = 1,
        .cols = 1,
        .margin_left = 0,
        .margin_top = 0,
        .pitch_x = 684,
        .pitch_y = 297,
        .label_w = 684,
        .label_h = 297,
        .padding = 18, /* 1/4 in: envelope feeders do not print to the edge */
    },
    {
        .name = "avery-5160",
        .description = "Avery 5160 address labels, 3 x 10 of 2.625 x 1 in on US Letter",
        .kind = PV_LAYOUT_SHEET,
        .page_w = 612, /* 8.5 in */
        .page_h = 792, /* 11 in */
        .rows = 10,
        .cols = 3,
        .margin_left = 13.5, /* 0.1875 in */
        .margin_top = 36,    /* 0.5 in */
        .pitch_x = 198,      /* 2.75 in */
        .pitch_y = 72,       /* 1 in: the rows touch */
        .label_w = 189,      /* 2.625 in */
        .label_h = 72,       /* 1 in */
        .padding = 4.5,      /* 1/16 in */
    },
    {
        .name = "netstamps-sheet",
        .description = "stamp sheet, 4 x 5 of 1.75 x 1 in on US Letter, 0.25 in gutters",
        .kind = PV_LAYOUT_SHEET,
        .page_w = 612, /* 8.5 in */
        .page_h = 792, /* 11 in */
        .rows = 5,
        .cols = 4,
        .margin_left = 27, /* 0.375 in */
        .margin_top = 108, /* 1.5 in: room for the sheet's pre-printed header */
        .pitch_x = 144,    /* 2 in */
        .pitch_y = 90,     /* 1.25 in */
        .label_w = 126,    /* 1.75 in */
        .label_h = 72,     /* 1 in */
        .padding = 4.5,    /* 1/16 in */
    },
};

#define NLAYOUTS (sizeof layouts / sizeof layouts[0])

const struct pv_layout *pv_layout_find(const char *name)
{
    size_t i;

    if (!name)
        return NULL;
    for (i = 0; i < NLAYOUTS; i++)
        if (strcmp(layouts[i].name, name) == 0)
            return &layouts[i];
    return NULL;
}

size_t pv_layout_count(void)
{
    return NLAYOUTS;
}

const struct pv_layout *pv_layout_at(size_t i)
{
    return i < NLAYOUTS ? &layouts[i] : NULL;
}

void pv_label_origin(const struct pv_layout *l, unsigned row, unsigned col, double *x, double *y)
{
    /* Positions are 1-based; 0 is read as 1 like the start position. */
    unsigned r = row ? row - 1 : 0, c = col ? col - 1 : 0;

    *x = l->margin_left + c * l->pitch_x;
    *y = l->margin_top + r * l->pitch_y;
}

/* ---- formats ----------------------------------------------------------------- */

static const struct {
    int format;
    const char *name;
    const char *content_type;
} formats[] = {
    {PV_FMT_PDF, "pdf", "application/pdf"},
    {PV_FMT_PNG, "png", "image/png"},
    {PV_FMT_SVG, "svg", "image/svg+xml"},
    {PV_FMT_ZPL, "zpl", "application/zpl"},
};

#define NFORMATS (sizeof formats / sizeof formats[0])

int pv_format_parse(const char *name, int *out)
{
    size_t i;

    if (!name)
        return PV_EFORMAT;
    for (i = 0; i < NFORMATS; i++)
        if (strcasecmp(formats[i].name, name) == 0) {
            *out = formats[i].format;
            return PV_OK;
        }
    return PV_EFORMAT;
}

const char *pv_format_content_type(int format)
{
    size_t i;

    for (i = 0; i < NFORMATS; i++)
        if (formats[i].format == format)
            return formats[i].content_type;
    return NULL;
}

const char *pv_format_extension(int format)
{
    size_t i;

    for (i = 0; i < NFORMATS; i++)
        if (formats[i].format == format)
            return formats[i].name;
    return NULL;
}
