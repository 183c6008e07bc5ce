/*
 * error.h - the one table of stampd error codes.
 *
 * Every fallible function returns int: PV_OK (0) or a negative PV_E* code.
 * The X-macro below is the single source of truth for each code's number,
 * HTTP status, stable API code (the "code" in {"error":{"code":...}}) and
 * default human message. docs/api.md lists the same table; keep them in step.
 */
#ifndef STAMPD_ERROR_H
#define STAMPD_ERROR_H

/* X(NAME, value, http_status, "api_code", "default message") */
/* clang-format off */
#define PV_ERRORS(X)                                                                          \
    X(OK, 0, 200, "ok", "success")                                                            \
    X(ENOMEM, -1, 500, "internal_error", "out of memory")                                   \
    X(EINTERNAL, -2, 500, "internal_error", "internal error")                               \
    X(EINVAL, -3, 400, "invalid_request", "invalid request")                                \
    X(EJSON, -4, 400, "invalid_json", "request body is not valid JSON")                     \
    X(ETYPE, -5, 400, "invalid_type", "a field has the wrong type")                         \
    X(EUNKNOWNFIELD, -6, 400, "unknown_field", "unknown field")                             \
    X(EMISSING, -7, 400, "missing_field", "a required field is missing")                    \
    X(ETOOBIG, -8, 413, "body_too_large", "request body is too large")                      \
    X(EMAILCLASS, -9, 400, "unknown_mail_class", "unknown mail class")                      \
    X(EWEIGHT, -10, 400, "weight_out_of_range", "weight is out of range for the mail class") \
    X(EZIP, -11, 400, "invalid_zip", "ZIP code is not valid")                               \
    X(EMAILDATE, -12, 400, "invalid_mail_date", "mail date is not valid")                   \
    X(ENORATE, -13, 400, "rate_not_effective", "no rate table is in effect for the mail date") \
    X(EFUNDS, -14, 402, "insufficient_funds", "balance is too low for this purchase")       \
    X(EDEPOSIT, -15, 503, "postal_deposit_insufficient",                                    \
      "the postal deposit cannot cover the PSD refill")                                     \
    X(ENOPSD, -16, 503, "no_psd_available", "no postal security device is available")       \
    X(EOVERFLOW, -17, 422, "amount_overflow", "amount out of range")                        \
    X(EUNAUTH, -18, 401, "unauthorized", "missing or invalid API key")                      \
    X(EFORBIDDEN, -19, 403, "forbidden", "this key may not do that")                        \
    X(ENOTFOUND, -20, 404, "not_found", "not found")                                        \
    X(EMETHOD, -21, 405, "method_not_allowed", "method not allowed")                        \
    X(EIDEMREQUIRED, -22, 400, "idempotency_key_required",                                  \
      "an Idempotency-Key header is required")                                              \
    X(EIDEMREUSED, -23, 409, "idempotency_key_reused",                                      \
      "this Idempotency-Key was used with a different request")                             \
    X(ECURSOR, -24, 400, "invalid_cursor", "pagination cursor is not valid")                \
    X(EBASE64, -25, 400, "invalid_base64", "data is not valid base64")                      \
    X(ETRUNCATED, -26, 400, "indicium_truncated", "indicium is truncated")                  \
    X(ETRAILING, -27, 400, "indicium_too_long", "indicium has bytes after the signature")   \
    X(EVERSION, -28, 400, "indicium_version_unsupported", "unknown indicium format version") \
    X(EALGORITHM, -29, 400, "indicium_algorithm_unsupported",                               \
      "unknown indicium signature algorithm")                                               \
    X(EMALFORMED, -30, 400, "indicium_malformed", "indicium field is malformed")            \
    X(ESIGNATURE, -31, 400, "indicium_signature_invalid", "indicium signature does not verify") \
    X(EUNKNOWNKEY, -32, 400, "indicium_key_unknown", "indicium names an unknown key")       \
    X(ESTORE, -33, 500, "store_error", "database error")                                    \
    X(ESCHEMA, -34, 500, "schema_mismatch",                                                 \
      "database schema is not at the version this binary expects")                          \
    X(ECRYPTO, -35, 500, "crypto_error", "cryptographic module error")                      \
    X(EIO, -36, 500, "io_error", "input/output error")                                      \
    X(EBUSY, -37, 503, "unavailable", "server is busy or shutting down")                    \
    X(EEXIST, -38, 409, "already_exists", "already exists")                                 \
    X(ECONFIG, -39, 500, "config_error", "configuration error")                             \
    X(ELIMIT, -40, 400, "invalid_limit", "limit is out of range")                           \
    X(ELAYOUT, -41, 400, "unknown_layout", "unknown label layout")                          \
    X(EFORMAT, -42, 400, "unknown_format", "format must be pdf, png, svg or zpl")           \
    X(EPOSITION, -43, 400, "invalid_start_position", "start position is outside the sheet") \
    X(EOFFSET, -44, 400, "invalid_offset", "calibration offset must be within 10 mm")       \
    X(ETOOSMALL, -45, 422, "layout_too_small", "the indicium does not fit this layout")     \
    X(EDPI, -46, 400, "invalid_dpi", "dpi must be 300 or 600 for PNG, 203 or 300 for ZPL")  \
    X(ECARDINVALID, -47, 400, "card_invalid", "card is not valid")                          \
    X(ECARDDECLINED, -48, 402, "card_declined", "the card was declined")                    \
    X(EGATEWAY, -49, 502, "payment_processing_error",                                       \
      "the payment gateway failed; nothing was charged; try again")                         \
    X(ENOGATEWAY, -50, 503, "payments_unavailable",                                         \
      "card payments are not configured for live keys")                                     \
    X(ERATELIMIT, -51, 429, "rate_limited", "too many failed attempts; try again later")    \
    X(ELOGIN, -52, 401, "invalid_credentials", "email or password is wrong")                \
    X(EPASSWORD, -53, 400, "weak_password", "password must be 10 to 128 characters")        \
    X(ECSRF, -54, 403, "csrf_failed", "missing or wrong X-CSRF-Token header")               \
    X(EAMOUNT, -55, 400, "invalid_amount", "amount must be whole cents within the limits")  \
    X(EEMAIL, -56, 400, "invalid_email", "email address is not valid")                      \
    X(EMEDIUMINVALID, -57, 400, "medium_invalid", "medium serial is not genuine")           \
    X(EMEDIUMUNKNOWN, -58, 404, "medium_unknown", "medium serial was never issued")         \
    X(EMEDIUMUSED, -59, 409, "medium_label_used", "this label was already printed")         \
    X(EMEDIUMPAYMENT, -60, 402, "medium_payment_required",                                  \
      "this medium must be paid for before use")                                            \
    X(EMEDIUMGROUP, -61, 403, "medium_group_not_allowed",                                   \
      "this medium may not be used by this customer or for this mail class")                \
    X(ESIGNUP, -62, 400, "signup_refused",                                                  \
      "use a password of 10 to 128 characters, or log in if the email has an account")      \
    X(EPOSTAGE, -63, 422, "postage_mismatch",                                               \
      "postage does not match the rate for the piece")                                     \
    X(EPAYSTATE, -64, 409, "payment_state_conflict",                                        \
      "the card payment is not in a state that allows this")                              \
    X(EMODULE, -65, 503, "crypto_module_unavailable",                                      \
      "the PKCS#11 module cannot be loaded")                                                \
    X(ETOKEN, -66, 503, "crypto_token_not_found",                                          \
      "the crypto module has no token with that label")                                     \
    X(EPIN, -67, 503, "crypto_pin_incorrect", "the crypto token refused the PIN")          \
    X(EKEYMODULE, -68, 503, "psd_key_not_in_module",                                       \
      "a PSD bound to this crypto module has no key in it")                                 \
    X(ERESETAUTH, -69, 503, "reset_not_authorised",                                        \
      "the postal authority did not authorise the PSD reset")                              \
    X(ECERT, -70, 422, "certificate_invalid",                                              \
      "the PSD key's certificate does not chain to the vendor CA")                          \
    X(ECERTDATE, -71, 422, "certificate_not_valid_on_mail_date",                           \
      "the mail date is outside the PSD key certificate's validity period")                 \
    X(EREVOKED, -72, 422, "key_revoked",                                                   \
      "the PSD key was revoked before the piece's mail date")                               \
    X(EPSDSTATE, -73, 409, "psd_status_conflict",                                          \
      "the PSD's status does not allow this")                                               \
    X(EAUTHSUSPENDED, -74, 409, "psd_suspended_by_authority",                              \
      "the postal authority suspended this PSD: only the authority can resume it")          \
    X(ELASTPSD, -75, 409, "last_usable_psd",                                               \
      "this is the last usable PSD: withdrawing it stops all sales (confirm to go on)")     \
    X(ERESETLOCK, -76, 503, "resets_locked",                                               \
      "the postal authority has locked PSD resets and no usable PSD can cover the piece")   \
    X(EOVERDUE, -77, 503, "psd_contact_overdue",                                           \
      "every PSD that could take the piece is locked: it has not reported within its deadline") \
    X(EONHOLD, -78, 403, "customer_on_hold",                                               \
      "the postal authority ordered a hold on this customer's purchases") \
    X(ENOTREADY, -79, 503, "not_ready",                                                    \
      "the vendor cannot sell now (see reasons)")                                           \
    X(ERATETABLE, -80, 422, "rate_table_invalid",                                          \
      "the rate table document is not valid (see message)")                                 \
    X(ERATECONFLICT, -81, 409, "rate_table_conflict",                                      \
      "a rate table with this version or effective date is loaded already")                 \
    X(ERATEPAST, -82, 409, "rate_table_in_past",                                           \
      "the rate table's effective date is not after today (confirm to load it anyway)")     \
    X(EZONE, -83, 422, "zone_unknown",                                                     \
      "no zone is known between these ZIP codes")                                           \
    X(ESERVICE, -84, 422, "service_unavailable",                                           \
      "the mail class does not take this extra service or option")                          \
    X(EADDRESS, -85, 422, "address_invalid",                                               \
      "the address is not a well-formed US address that agrees with its ZIP code") \
    X(EWEBHOOKURL, -86, 400, "webhook_url_refused",                                        \
      "the webhook URL is not an address stampd may call")
/* clang-format on */

enum pv_error {
#define PV_ERR_ENUM(name, val, http, code, msg) PV_##name = (val),
    PV_ERRORS(PV_ERR_ENUM)
#undef PV_ERR_ENUM
};

/*
 * pv_strerror - default human message for an error code.
 * Returns a static string (never NULL; unknown codes give "unknown error").
 */
const char *pv_strerror(int err);

/*
 * pv_error_code - stable machine-readable API code ("insufficient_funds").
 * Returns a static string (never NULL).
 */
const char *pv_error_code(int err);

/*
 * pv_error_http - HTTP status for an error code (500 for unknown codes).
 */
int pv_error_http(int err);

/*
 * pv_error_count - number of entries in the table; pv_error_at(i) returns the
 * code of entry i (0 <= i < count). For docs generation and tests.
 */
int pv_error_count(void);
int pv_error_at(int i);

#endif
