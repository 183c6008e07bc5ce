/*
 * datafiles.h - the data files built into the binary (data/: the shipped
 * rate tables and the ZIP tables), embedded at build time by
 * cmake/embed_data.cmake; docs/rates.md says where each comes from.
 */
#ifndef STAMPD_DATAFILES_H
#define STAMPD_DATAFILES_H

#include <stddef.h>

struct pv_data_file {
    const char *name;          /* path under data/, e.g. "rates/usps-2025-07-13.json" */
    const unsigned char *data; /* its bytes, NUL-terminated (not counted in len) */
    size_t len;
};

/* Every embedded file, sorted by name, ending with a NULL name. */
extern const struct pv_data_file pv_data_files[];

/* pv_data_file - the file of that name (static), NULL when there is none. */
const struct pv_data_file *pv_data_file(const char *name);

#endif
