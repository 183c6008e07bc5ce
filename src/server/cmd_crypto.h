/*
 * cmd_crypto.h - the crypto module a stampd command signs or makes keys
 * with (cmd_crypto.c): --crypto SPEC (else the store's), and the PKCS#11
 * token's PIN from --crypto-pin-file PATH or $STAMPD_CRYPTO_PIN, never argv
 * (and the vendor CA's, when it has a token of its own: --ca-pin-file PATH or
 * $STAMPD_CA_PIN).
 */
#ifndef STAMPD_CMD_CRYPTO_H
#define STAMPD_CMD_CRYPTO_H

#include "server/cmd.h"

#include <stddef.h>

#define PV_PIN_ENV "STAMPD_CRYPTO_PIN"
#define PV_PIN_MAX 128

/*
 * pv_cmd_crypto_pin - the token PIN for spec (borrowed) into pin (n >=
 * PV_PIN_MAX + 1): "" when spec is not PKCS#11 (and no PIN file is given),
 * or when spec is NULL (the store's spec, not known yet) and there is no
 * PIN; else from o->crypto_pin_file (a regular file no group or other may
 * access; one line) or $STAMPD_CRYPTO_PIN (then unset, so nothing started
 * later inherits it). Says what is wrong on stderr. Returns PV_OK;
 * PV_ECONFIG (none for a PKCS#11 spec, both, a loose file, an empty or
 * over-long PIN); PV_EIO.
 */
int pv_cmd_crypto_pin(const struct opts *o, const char *spec, char *pin, size_t n);

#define PV_CA_PIN_ENV "STAMPD_CA_PIN"

/*
 * pv_cmd_ca_pin - the PIN of the vendor CA's token, when it is not the
 * module's (the CA in a token of its own): from o->ca_pin_file (as
 * --crypto-pin-file) or $STAMPD_CA_PIN (then unset) into pin (n >=
 * PV_PIN_MAX + 1); "" when neither is given (the caller uses the module's
 * PIN). Returns PV_OK, PV_ECONFIG (both, a loose file, a bad PIN), PV_EIO.
 */
int pv_cmd_ca_pin(const struct opts *o, char *pin, size_t n);

#endif
