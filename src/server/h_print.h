/*
 * h_print.h - the printing routes (h_print.c).
 */
#ifndef STAMPD_H_PRINT_H
#define STAMPD_H_PRINT_H

#include "server/reply.h"

/* Route handlers (routes.c): one label, sheets, layouts, the customer's printers. */
void pv_h_label(struct pv_call *c);
void pv_h_sheets(struct pv_call *c);
void pv_h_layouts(struct pv_call *c);
void pv_h_printers(struct pv_call *c);

struct pv_indicium_rec;

/* pv_print_indicia - answer c->rp with recs[0..n-1] (borrowed; the
 * caller's own) as one document, laid out by c's query exactly as GET
 * /v1/indicia/{id}/label (layout, format, dpi, start, offset, printer), each
 * render recorded; the file named name-LAYOUT.EXT when name is not NULL. */
void pv_print_indicia(struct pv_call *c, const struct pv_indicium_rec *recs, size_t n,
                      const char *name);

#endif
