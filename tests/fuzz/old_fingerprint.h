/*
 * old_fingerprint.h - the idempotency fingerprint as stampd made it until issue 15's session 27,
 * the reference that pv_payments_request_hash's own writer is checked against (test_oom_server,
 * fuzz_purchase_body): SHA-256 of the prefix and a deep copy of the body, its payment.card's
 * number cut to its last four digits and its cvc dropped, dumped by jansson sorted and compact.
 * The scrub is written here again on purpose, apart from the server's, so that the two do not
 * share a mistake.
 */
#ifndef STAMPD_TESTS_OLD_FINGERPRINT_H
#define STAMPD_TESTS_OLD_FINGERPRINT_H

#include "crypto/primitives.h"
#include "stampd/codec.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The fingerprint of body (borrowed) under prefix, into out; 0, or -1 when anything failed. */
static int old_fingerprint(const char *prefix, const json_t *body, char out[65])
{
    json_t *copy = json_deep_copy(body), *pay, *card, *num;
    char *text = NULL, *buf = NULL, last4[5];
    uint8_t digest[32];
    size_t i, k = 4;
    int rc = -1;

    if (!copy)
        return -1;
    pay = json_object_get(copy, "payment");
    card = json_is_object(pay) ? json_object_get(pay, "card") : NULL;
    if (json_is_object(card)) {
        if (json_is_string(num = json_object_get(card, "number"))) {
            const char *s = json_string_value(num);

            for (i = strlen(s); i > 0 && k > 0; i--)
                if (s[i - 1] >= '0' && s[i - 1] <= '9')
                    last4[--k] = s[i - 1];
            last4[4] = '\0';
            if (json_object_set_new(card, "number", json_string(last4 + k)) != 0)
                goto out;
        }
        json_object_del(card, "cvc");
    }
    if ((text = json_dumps(copy, JSON_SORT_KEYS | JSON_COMPACT)) &&
        (buf = malloc(strlen(prefix) + strlen(text) + 1))) {
        strcpy(buf, prefix);
        strcat(buf, text);
        pv_sha256(buf, strlen(buf), digest);
        pv_hex_encode(digest, sizeof digest, out);
        rc = 0;
    }
out:
    free(buf);
    free(text);
    json_decref(copy);
    return rc;
}

#endif
