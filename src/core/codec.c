/*
 * codec.c - base64 (RFC 4648), hex and checked integer parsing.
 */
#include "stampd/codec.h"

#include "stampd/error.h"

#include <stdlib.h>
#include <string.h>

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *pv_base64_encode(const uint8_t *data, size_t len)
{
    size_t olen = 4 * ((len + 2) / 3), i, o = 0;
    char *out = malloc(olen + 1);

    if (!out)
        return NULL;
    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t) data[i] << 16 | (uint32_t) data[i + 1] << 8 | data[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t) data[i] << 16 | (i + 1 < len ? (uint32_t) data[i + 1] << 8 : 0);
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int pv_base64_decode(const char *text, size_t len, uint8_t **out, size_t *out_len)
{
    size_t i, o = 0, pad = 0;
    uint8_t *buf;

    if (len % 4 != 0)
        return PV_EBASE64;
    if (len && text[len - 1] == '=')
        pad++;
    if (len > 1 && text[len - 2] == '=')
        pad++;
    buf = malloc(len / 4 * 3 + 1);
    if (!buf)
        return PV_ENOMEM;
    for (i = 0; i < len; i += 4) {
        int v[4], k;
        int last = (i + 4 == len);
        for (k = 0; k < 4; k++) {
            if (last && text[i + k] == '=' && k >= 4 - (int) pad)
                v[k] = 0;
            else if ((v[k] = b64val(text[i + k])) < 0)
                goto bad;
        }
        uint32_t w =
            (uint32_t) v[0] << 18 | (uint32_t) v[1] << 12 | (uint32_t) v[2] << 6 | (uint32_t) v[3];
        buf[o++] = (uint8_t) (w >> 16);
        if (!(last && pad == 2))
            buf[o++] = (uint8_t) (w >> 8);
        if (!(last && pad >= 1))
            buf[o++] = (uint8_t) w;
        /* Canonical form only: unused bits of the last group must be zero. */
        if (last && ((pad == 2 && (w & 0xffff)) || (pad == 1 && (w & 0xff))))
            goto bad;
    }
    *out = buf;
    *out_len = o;
    return PV_OK;
bad:
    free(buf);
    return PV_EBASE64;
}

char *pv_hex_encode(const uint8_t *data, size_t len, char *out)
{
    static const char hx[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < len; i++) {
        out[2 * i] = hx[data[i] >> 4];
        out[2 * i + 1] = hx[data[i] & 15];
    }
    out[2 * len] = '\0';
    return out;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int pv_hex_decode(const char *text, uint8_t *out, size_t len)
{
    size_t i;

    if (strlen(text) != 2 * len)
        return PV_EINVAL;
    for (i = 0; i < len; i++) {
        int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return PV_EINVAL;
        out[i] = (uint8_t) (hi << 4 | lo);
    }
    return PV_OK;
}

int pv_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (!s || !*s || strlen(s) > 20)
        return PV_EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return PV_EINVAL;
        if (v > (UINT64_MAX - (uint64_t) (*s - '0')) / 10)
            return PV_EINVAL;
        v = v * 10 + (uint64_t) (*s - '0');
    }
    if (v < min || v > max)
        return PV_EINVAL;
    *out = v;
    return PV_OK;
}

uint64_t pv_fnv1a64(const char *s)
{
    uint64_t h = 14695981039346656037u; /* the FNV offset basis */

    for (; s && *s; s++)
        h = (h ^ (unsigned char) *s) * 1099511628211u; /* the FNV prime */
    return h;
}
