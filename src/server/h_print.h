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

#endif
