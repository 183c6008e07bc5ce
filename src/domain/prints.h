/*
 * prints.h - the record of renders (docs/printing.md): every label or
 * sheet handed out is noted per indicium (who, when, format, layout) and
 * counted in its prints. A document whose renders cannot all be recorded is
 * not handed out, so the record of one document is written whole or not at
 * all.
 */
#ifndef STAMPD_PRINTS_H
#define STAMPD_PRINTS_H

#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

/*
 * pv_prints_record - note one render at now of each of the n indicia of
 * recs by actor_id, in format (a file extension: "pdf", "png", ...) on
 * layout, in one transaction of its own (all borrowed). Returns PV_OK;
 * PV_ENOTFOUND (an indicium is unknown: nothing is recorded); store errors.
 */
int pv_prints_record(struct pv_store *st, const struct pv_indicium_rec *recs, size_t n,
                     const char *actor_id, const char *format, const char *layout, int64_t now);

#endif
