/*
 * fuzz.h - what every fuzz target of tests/fuzz shares: the libFuzzer entry
 * point, a NUL-terminated copy of the input for parsers of text, and
 * FUZZ_CHECK, which aborts (a finding, for libFuzzer and for the CTest
 * replay alike) when a property a parser promises does not hold.
 */
#ifndef STAMPD_FUZZ_H
#define STAMPD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* fuzz_text - data as an owned NUL-terminated string (free()); a NUL inside
 * the input ends the text early, as it would for a C caller. Aborts when out
 * of memory: a fuzz run has nothing better to do. */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
