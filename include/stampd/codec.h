/*
 * codec.h - base64, hex and small text helpers with no external dependency.
 */
#ifndef STAMPD_CODEC_H
#define STAMPD_CODEC_H

#include <stddef.h>
#include <stdint.h>

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

#endif
