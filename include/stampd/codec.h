/*
 * codec.h - base64, hex and small text helpers with no external dependency.
 */
#ifndef STAMPD_CODEC_H
#define STAMPD_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * pv_base64_encode - standard base64 (RFC 4648, with '=' padding) of the
 * borrowed bytes. Returns an owned NUL-terminated string (free()), or NULL
 * on allocation failure.
 */
char *pv_base64_encode(const uint8_t *data, size_t len);

/*
 * pv_base64_decode - decode standard base64 (padding required, no
 * whitespace) from the borrowed text of length len. On success *out is an
 * owned buffer (free()) of *out_len bytes. Returns PV_OK, PV_EBASE64 for bad
 * input, PV_ENOMEM.
 */
int pv_base64_decode(const char *text, size_t len, uint8_t **out, size_t *out_len);

/*
 * pv_hex_encode - lowercase hex of len borrowed bytes into out (borrowed,
 * at least 2*len+1 bytes). Returns out.
 */
char *pv_hex_encode(const uint8_t *data, size_t len, char *out);

/*
 * pv_hex_decode - decode exactly 2*len hex digits from text into out
 * (len bytes). Returns PV_OK or PV_EINVAL.
 */
int pv_hex_decode(const char *text, uint8_t *out, size_t len);

/*
 * pv_parse_u64 - strtonum-style: parse all of the borrowed decimal string s
 * into *out if it lies in [min, max]. Returns PV_OK or PV_EINVAL.
 */
int pv_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * pv_fnv1a64 - the 64-bit FNV-1a hash of the borrowed NUL-terminated string s
 * (NULL hashes as ""). For in-memory tables and stable partitioning, never for
 * anything an attacker must not be able to collide.
 */
uint64_t pv_fnv1a64(const char *s);

/*
 * pv_str_copy - the borrowed string src (NULL: "") into dst (size bytes), cut
 * to size - 1 bytes when longer and terminated (size 0: nothing written), as
 * snprintf(dst, size, "%s", src) but without parsing a format: ~6 ns a call on
 * the purchase path's strings against ~70 (issue 15, session 19: the writer
 * thread spent 5 % of its time in snprintf). Returns strlen(src), as snprintf
 * does: more than size - 1 means src was cut. dst and src must not overlap.
 */
static inline size_t pv_str_copy(char *dst, size_t size, const char *src)
{
    size_t len, n;

    if (!src)
        src = ""; /* snprintf would print "(null)": never a value to keep */
    len = strlen(src);
    if (size == 0)
        return len;
    n = len < size ? len : size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return len;
}

/* pv_str_join - a then b (borrowed; NULL: "") into dst, as snprintf(dst, size,
 * "%s%s", a, b) (pv_str_copy): cut and terminated, their length together returned. */
static inline size_t pv_str_join(char *dst, size_t size, const char *a, const char *b)
{
    size_t la = pv_str_copy(dst, size, a);

    if (la + 1 >= size)
        return la + strlen(b ? b : ""); /* no room left for b */
    return la + pv_str_copy(dst + la, size - la, b);
}

#endif
