/*
 * image.h - the DataMatrix symbols of a scanned, photographed or printed
 * label: PNG, JPEG or PDF in, the symbols' bytes out (image.c).
 *
 * Kept apart from cli.h so that the fuzz target of the label-image decoder
 * (tests/fuzz/fuzz_image.c) compiles this file alone. The decoding libraries
 * (libdmtx, libjpeg, cairo, poppler) stay inside image.c.
 */
#ifndef STAMP_IMAGE_H
#define STAMP_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* Largest image file read, and most pixels decoded per image or PDF page. */
#define CLI_IMAGE_FILE_MAX ((size_t) 64 << 20)
#define CLI_IMAGE_PIXELS   ((size_t) 40 * 1000 * 1000)
/* Most PDF pages searched, and how long the symbol search may take per page. */
#define CLI_IMAGE_PAGES      20
#define CLI_IMAGE_TIMEOUT_MS 10000

enum cli_image_status {
    CLI_IMAGE_FOUND = 0,   /* *out holds the accepted symbol's bytes */
    CLI_IMAGE_NONE,        /* the image was read; no symbol was accepted */
    CLI_IMAGE_UNSUPPORTED, /* not a PNG, JPEG or PDF */
    CLI_IMAGE_BAD,         /* a PNG, JPEG or PDF that cannot be read, or too large */
    CLI_IMAGE_NOMEM,
};

/*
 * cli_image_accept - called with each decoded symbol's bytes (borrowed, len
 * bytes) and arg; returns nonzero to take that symbol and stop the search.
 */
typedef int (*cli_image_accept)(const uint8_t *bytes, size_t len, void *arg);

/*
 * cli_image_find - search the image in data (borrowed, len bytes; PNG, JPEG
 * or PDF, told apart by their first bytes) for DataMatrix symbols, every
 * page of a PDF rendered at 300 dpi, and return the first one accept (may
 * be NULL: take the first symbol) takes. On CLI_IMAGE_FOUND *out is owned
 * (free()) and *out_len its length; otherwise *out is NULL. why (may be
 * NULL) gets a short borrowed static text for CLI_IMAGE_BAD.
 */
enum cli_image_status cli_image_find(const uint8_t *data, size_t len, cli_image_accept accept,
                                     void *arg, uint8_t **out, size_t *out_len, const char **why);

#endif
