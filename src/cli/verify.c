/*
 * verify.c - `stamp verify`: is this indicium genuine, and was it used before?
 *
 * Online (the default) the indicium goes to POST /v1/verify, which checks
 * the signature, whether this vendor issued it and how often it was
 * presented. Offline (--offline --keys FILE) nothing leaves the machine:
 * pv_verify_offline() (src/domain/verify.c) decodes the bytes and checks the
 * signature against the published key whose key_id the indicium names and,
 * when the key list carries the vendor CA, the key's certificate (chain,
 * validity on the mail date, CRL: exit RC_INVALID with its code);
 * duplicates cannot be detected that way. The fields are shown through the
 * API's own view (pv_indicium_fields_json), so online and offline agree. --export-dir writes the
 * signed bytes, the DER signature and the public key so that a third party can repeat the check
 * with nothing but `openssl dgst`.
 *
 * Exit codes: RC_OK valid, RC_INVALID invalid (malformed, bad signature,
 * unknown key, not issued here), RC_DUPLICATE valid but presented before.
 * Verification is never retried after the request may have reached the
 * server, because the server counts presentations.
 */
#include "cli.h"
#include "image.h"

#include "crypto/primitives.h"
#include "domain/indicium_view.h"
#include "domain/verify.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/indicium.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#define KEYS_FILE_MAX     ((size_t) 1 << 20)
#define INDICIUM_FILE_MAX ((size_t) 64 << 10)
#define DER_SIG_MAX       80

/* The published keys: a /v1/keys document, or one PEM key of unknown key_id. */
struct keyring {
    json_t *doc;
    char *text;             /* owned file text of a PEM key */
    const char *pem;        /* its "-----BEGIN" line onwards, inside text */
    struct pv_pubkey *keys; /* owned array; strings borrowed from doc or text */
    struct pv_keyset set;   /* what src/domain/verify.c looks keys up in */
};

/* The indicium being checked, in the forms at hand. */
struct input {
    uint8_t *bytes; /* raw indicium, NULL when the base64 did not decode */
    size_t len;
    char *b64; /* what goes to the server */
};

static void keyring_free(struct keyring *kr)
{
    json_decref(kr->doc);
    free(kr->text);
    free(kr->keys);
    memset(kr, 0, sizeof *kr);
}

static void input_free(struct input *in)
{
    free(in->bytes);
    free(in->b64);
}

/* keyring_from_doc - take doc (owned) if it has the shape of GET /v1/keys. */
static int keyring_from_doc(struct keyring *kr, json_t *doc)
{
    const json_t *keys = json_object_get(doc, "keys"), *k;
    json_int_t id, psd;
    size_t i;

    if (!cli_jstr(doc, "license") || !json_is_array(keys)) {
        json_decref(doc);
        return -1;
    }
    kr->doc = doc;
    kr->keys = calloc(json_array_size(keys) + 1, sizeof *kr->keys);
    if (!kr->keys)
        return -1;
    json_array_foreach(keys, i, k)
    {
        struct pv_pubkey *p = &kr->keys[kr->set.n];
        /* An id no indicium can carry never matches one. */
        if (!cli_jint(k, "key_id", &id) || id < 0 || id > (json_int_t) UINT32_MAX)
            continue;
        p->key_id = (uint32_t) id;
        p->psd_id = cli_jint(k, "psd_id", &psd) ? (int64_t) psd : -1;
        p->algorithm = cli_jstr(k, "algorithm");
        p->public_pem = cli_jstr(k, "public_key_pem");
        p->cert_pem = cli_jstr(k, "certificate_pem");
        kr->set.n++;
    }
    kr->set.license = cli_jstr(doc, "license");
    /* A list saved since issue 14 carries the vendor CA: then every key's
     * certificate is checked too; an older list is checked by signature. */
    kr->set.ca_pem = cli_jstr(doc, "ca_certificate_pem");
    kr->set.crl_pem = cli_jstr(doc, "crl_pem");
    kr->set.keys = kr->keys;
    return 0;
}

static int keyring_load(const char *path, struct keyring *kr)
{
    char *text = NULL;
    const char *p;
    size_t len;
    json_t *doc;
    json_error_t jerr;
    int rc;

    if ((rc = cli_read_file(path, KEYS_FILE_MAX, &text, &len)) != RC_OK)
        return rc;
    for (p = text; *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'; p++)
        ;
    /* A PEM file may carry explanatory text before its BEGIN line. */
    if (*p != '{' && (p = strstr(text, "-----BEGIN ")) != NULL) {
        kr->text = text;
        kr->pem = p;
        if (!(kr->keys = calloc(1, sizeof *kr->keys))) {
            fprintf(stderr, "error: out of memory\n");
            return RC_FAIL;
        }
        kr->keys[0].psd_id = -1;
        kr->keys[0].public_pem = p;
        kr->set.keys = kr->keys;
        kr->set.n = 1;
        return RC_OK;
    }
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (!doc || keyring_from_doc(kr, doc) != 0) {
        fprintf(stderr,
                "error: %s is neither a key list saved by `stamp keys --out` nor a PEM "
                "public key\n",
                cli_safe(path));
        return RC_USAGE;
    }
    return RC_OK;
}

/*
 * key_message - why no key was found (miss, from pv_keyset_find) into why,
 * or, for a key found (k), a warning when it belongs to another PSD.
 */
static void key_message(const struct keyring *kr, const struct pv_indicium *ind, int miss,
                        const struct pv_pubkey *k, char *why, size_t n)
{
    switch (miss) {
    case PV_KEY_FOUND:
        if (kr->set.license && k->psd_id >= 0 && k->psd_id != (int64_t) ind->device_id)
            fprintf(stderr, "warning: key %u belongs to PSD %lld, the indicium names PSD %u\n",
                    ind->key_id, (long long) k->psd_id, ind->device_id);
        break;
    case PV_KEY_LICENSE:
        snprintf(why, n, "the keys are for license %s, the indicium names license %s",
                 cli_safe(kr->set.license), cli_safe(ind->license));
        break;
    case PV_KEY_ALGORITHM:
        snprintf(why, n, "key %u uses algorithm %s, not " PV_VERIFY_ALGORITHM, ind->key_id,
                 cli_safe(k->algorithm));
        break;
    default:
        snprintf(why, n, "no published key has key_id %u", ind->key_id);
    }
}

/*
 * keyring_find - the PEM (borrowed from kr) for the indicium's key, or NULL
 * with the reason in why.
 */
static const char *keyring_find(const struct keyring *kr, const struct pv_indicium *ind, char *why,
                                size_t n)
{
    const struct pv_pubkey *k;
    int miss = pv_keyset_find(&kr->set, ind, &k);

    key_message(kr, ind, miss, k, why, n);
    return miss == PV_KEY_FOUND ? k->public_pem : NULL;
}

static void line(const char *label, const char *value)
{
    printf("%-13s%s\n", label, value);
}

/* print_v2_fields - the lines only a version 2 indicium has (docs/indicium.md). */
static void print_v2_fields(const json_t *f)
{
    const json_t *svc = json_object_get(f, "services"), *s;
    char buf[160], money[48];
    json_int_t vendor, model, psd, mills;
    size_t i, n = 0;

    line("format", cli_scalar(json_object_get(f, "version")));
    if (!cli_jint(f, "vendor_id", &vendor) || !cli_jint(f, "model_id", &model) ||
        !cli_jint(f, "psd_id", &psd))
        return;
    snprintf(buf, sizeof buf, "vendor %lld, model %lld, serial %lld", (long long) vendor,
             (long long) model, (long long) psd);
    line("device", buf);
    if (cli_jint(f, "descending_mills", &mills))
        line("descending", cli_money(mills, money, sizeof money));
    buf[0] = '\0';
    json_array_foreach(svc, i, s)
    {
        n += (size_t) snprintf(buf + n, sizeof buf - n, "%s%s", i ? ", " : "", cli_scalar(s));
        if (n >= sizeof buf)
            break;
    }
    line("services", buf[0] ? buf : "none");
    if (json_is_string(json_object_get(f, "piece_indicium_id")))
        line("piece", cli_scalar(json_object_get(f, "piece_indicium_id")));
    else
        line("piece id", json_is_string(json_object_get(f, "piece_id"))
                             ? cli_scalar(json_object_get(f, "piece_id"))
                             : "none");
}

static void print_fields(const json_t *f)
{
    char money[48], buf[96];
    json_int_t mills;
    const json_t *w = json_object_get(f, "weight_oz");

    line("license", cli_scalar(json_object_get(f, "license")));
    line("PSD", cli_scalar(json_object_get(f, "psd_id")));
    line("key", cli_scalar(json_object_get(f, "key_id")));
    line("serial", cli_scalar(json_object_get(f, "serial")));
    if (cli_jint(f, "postage_mills", &mills))
        line("postage", cli_money(mills, money, sizeof money));
    else
        line("postage", cli_scalar(json_object_get(f, "postage")));
    line("mail date", cli_scalar(json_object_get(f, "mail_date")));
    line("class", cli_scalar(json_object_get(f, "mail_class")));
    if (json_is_number(w)) {
        snprintf(buf, sizeof buf, "%.1f oz", json_number_value(w));
        line("weight", buf);
    }
    snprintf(buf, sizeof buf, "%s -> %s", cli_scalar(json_object_get(f, "from_zip")),
             cli_scalar(json_object_get(f, "to_zip")));
    line("from -> to", buf);
    line("medium", cli_scalar(json_object_get(f, "medium_serial")));
    if (cli_jint(f, "ascending_mills", &mills))
        line("ascending", cli_money(mills, money, sizeof money));
    if (json_object_get(f, "software_id"))
        line("software", cli_scalar(json_object_get(f, "software_id")));
    line("test piece", cli_scalar(json_object_get(f, "test")));
    print_v2_fields(f);
}

/* is_test - the fields (borrowed, may be NULL) mark a test piece. */
static int is_test(const json_t *fields)
{
    int test = 0;

    return cli_jbool(fields, "test", &test) && test;
}

/* strip_space - copy s without ASCII whitespace (base64 is often line-wrapped). */
static char *strip_space(const char *s)
{
    size_t n = strlen(s), o = 0, i;
    char *out = malloc(n + 1);

    if (!out)
        return NULL;
    for (i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            out[o++] = s[i];
    out[o] = '\0';
    return out;
}

/* input_from_b64 - take b64 (owned) and decode it if it is base64. */
static int input_from_b64(struct input *in, char *b64)
{
    int err;

    in->b64 = b64;
    err = pv_base64_decode(b64, strlen(b64), &in->bytes, &in->len);
    if (err == PV_ENOMEM) {
        fprintf(stderr, "error: out of memory\n");
        return RC_FAIL;
    }
    if (err != PV_OK)
        in->bytes = NULL;
    return RC_OK;
}

/* While searching an image: the first symbol seen, kept in case none is an indicium. */
struct first_symbol {
    uint8_t *bytes;
    size_t len;
};

static int is_indicium(const uint8_t *bytes, size_t len, void *arg)
{
    struct first_symbol *first = arg;
    struct pv_indicium ind;

    if (!first->bytes && (first->bytes = malloc(len)) != NULL) {
        memcpy(first->bytes, bytes, len);
        first->len = len;
    }
    return pv_indicium_decode(bytes, len, &ind, NULL) == PV_OK;
}

/*
 * input_from_image - the indicium in the DataMatrix of a label picture
 * (PNG, JPEG or PDF at path, borrowed): the first symbol that decodes as an
 * indicium, else the first symbol at all (verified as what it is, so a
 * damaged or forged symbol is reported invalid rather than missing).
 */
static int input_from_image(const char *path, struct input *in)
{
    struct first_symbol first = {NULL, 0};
    enum cli_image_status st;
    const char *why = NULL;
    uint8_t *sym = NULL;
    size_t len, sym_len;
    char *s;
    int rc;

    if ((rc = cli_read_file(path, CLI_IMAGE_FILE_MAX, &s, &len)) != RC_OK)
        return rc;
    st = cli_image_find((const uint8_t *) s, len, is_indicium, &first, &sym, &sym_len, &why);
    free(s);
    if (st == CLI_IMAGE_NONE && first.bytes) {
        sym = first.bytes;
        sym_len = first.len;
        first.bytes = NULL;
        st = CLI_IMAGE_FOUND;
    }
    free(first.bytes);
    switch (st) {
    case CLI_IMAGE_FOUND:
        break;
    case CLI_IMAGE_NONE:
        fprintf(stderr, "error: no DataMatrix symbol found in %s\n", cli_safe(path));
        return RC_USAGE;
    case CLI_IMAGE_UNSUPPORTED:
        fprintf(stderr, "error: %s is not a PNG, JPEG or PDF file\n", cli_safe(path));
        return RC_USAGE;
    case CLI_IMAGE_BAD:
        fprintf(stderr, "error: %s: %s\n", cli_safe(path), why && why[0] ? why : "unreadable");
        return RC_USAGE;
    default:
        fprintf(stderr, "error: out of memory\n");
        return RC_FAIL;
    }
    in->bytes = sym;
    in->len = sym_len;
    if (!(in->b64 = pv_base64_encode(in->bytes, in->len))) {
        fprintf(stderr, "error: out of memory\n");
        return RC_FAIL;
    }
    return RC_OK;
}

static int load_input(const struct cli *c, const char *data, const char *id, const char *file,
                      const char *image, struct input *in)
{
    char path[512], esc[400], *s;
    json_t *ind = NULL;
    size_t len;
    int rc;

    if (data) {
        if (!(s = strip_space(data))) {
            fprintf(stderr, "error: out of memory\n");
            return RC_FAIL;
        }
        return input_from_b64(in, s);
    }
    if (image)
        return input_from_image(image, in);
    if (file) {
        if ((rc = cli_read_file(file, INDICIUM_FILE_MAX, &s, &len)) != RC_OK)
            return rc;
        in->bytes = (uint8_t *) s;
        in->len = len;
        if (!(in->b64 = pv_base64_encode(in->bytes, in->len))) {
            fprintf(stderr, "error: out of memory\n");
            return RC_FAIL;
        }
        return RC_OK;
    }
    if (cli_url_escape(id, esc, sizeof esc) != 0)
        return cli_usage_error("verify", "indicium id is too long");
    if ((rc = cli_need_key(c, "verify")) != RC_OK)
        return rc;
    snprintf(path, sizeof path, "/v1/indicia/%s", esc);
    if ((rc = cli_call(c, "GET", path, NULL, NULL, CLI_RETRY, &ind, NULL)) != RC_OK)
        return rc;
    if (!cli_jstr(ind, "data")) {
        fprintf(stderr, "error: indicium %s has no data\n", cli_safe(id));
        json_decref(ind);
        return RC_FAIL;
    }
    s = strip_space(cli_jstr(ind, "data"));
    json_decref(ind);
    if (!s) {
        fprintf(stderr, "error: out of memory\n");
        return RC_FAIL;
    }
    return input_from_b64(in, s);
}

/*
 * verify_offline - check in->bytes against the keyring. Prints the result
 * (human or JSON) and returns RC_OK, RC_INVALID or RC_FAIL.
 */
static int verify_offline(const struct cli *c, const struct input *in, const struct keyring *kr)
{
    struct pv_verdict v;
    const char *code = NULL;
    char msg[320] = "";
    json_t *fields = NULL, *res = NULL;
    int err = PV_EBASE64, rc;

    memset(&v, 0, sizeof v);
    if (in->bytes)
        err = pv_verify_offline(in->bytes, in->len, &kr->set, &v);
    if (v.decoded) {
        if (!(fields = pv_indicium_fields_json(&v.ind)))
            goto oom;
        key_message(kr, &v.ind, v.miss, v.key, msg, sizeof msg);
        if (err == PV_ECRYPTO)
            snprintf(msg, sizeof msg, "the public key for key_id %u is not a P-256 key",
                     v.ind.key_id);
        if (v.cert_why[0])
            pv_str_copy(msg, sizeof msg, v.cert_why);
    }
    if (err != PV_OK) {
        code = err == PV_ECRYPTO ? pv_error_code(PV_EUNKNOWNKEY) : pv_error_code(err);
        if (!msg[0])
            pv_str_copy(msg, sizeof msg, pv_strerror(err));
    }
    rc = err == PV_OK ? RC_OK : RC_INVALID;

    if (c->json) {
        /* null: not checked. Offline nothing knows what was issued or presented. */
        res = json_pack("{s:b, s:o, s:n, s:n, s:n, s:b}", "valid", err == PV_OK, "signature_valid",
                        v.sig_ok               ? json_true()
                        : err == PV_ESIGNATURE ? json_false()
                                               : json_null(),
                        "known", "duplicate", "presented_before", "offline", 1);
        if (!res)
            goto oom;
        if (fields && json_object_set(res, "fields", fields) != 0)
            goto oom;
        if (code && json_object_set_new(res, "error",
                                        json_pack("{s:s, s:s}", "code", code, "message", msg)) != 0)
            goto oom;
        if (cli_print_json(res) != RC_OK)
            rc = RC_FAIL;
        goto out;
    }
    if (fields) {
        print_fields(fields);
        putchar('\n');
        line("signature", v.sig_ok               ? "valid (checked offline)"
                          : err == PV_ESIGNATURE ? "INVALID"
                                                 : "not checked");
        line("certificate", !kr->set.ca_pem ? "not checked (the key list has no CA)"
                            : err == PV_OK  ? "valid: chains to the vendor CA, not revoked"
                            : v.cert_why[0] ? "REFUSED"
                                            : "not checked");
        line("issued here", "not checked (offline)");
        line("presented", "not checked (offline)");
    }
    if (err == PV_OK)
        line("verdict", is_test(fields) ? "VALID, but a TEST piece: not valid as postage "
                                          "(duplicates are not detected offline)"
                                        : "VALID (duplicates are not detected offline)");
    else
        printf("%-13sINVALID: %s (%s)\n", "verdict", cli_safe(msg), code);
    goto out;
oom:
    fprintf(stderr, "error: out of memory\n");
    rc = RC_FAIL;
out:
    json_decref(fields);
    json_decref(res);
    return rc;
}

/* is_indicium_error - a 400 that says the indicium itself is bad. */
static int is_indicium_error(const json_t *body)
{
    const char *code = cli_jstr(json_object_get(body, "error"), "code");

    return code && (strncmp(code, "indicium_", 9) == 0 || strcmp(code, "invalid_base64") == 0);
}

/* Online: where and when (both may be NULL) go with the indicium; only the
 * postal authority's key may send them (the server says so otherwise). */
static int verify_online(const struct cli *c, const struct input *in, const char *location,
                         const char *presented_at)
{
    json_t *req = NULL, *res = NULL;
    const json_t *fields, *first;
    char *body = NULL, buf[96];
    struct cli_reply meta;
    json_int_t presented = -1;
    int valid = 0, sig, known = -1, dup = -1, rc;

    req = json_pack("{s:s}", "data", in->b64);
    if (req && ((location && json_object_set_new(req, "location", json_string(location)) != 0) ||
                (presented_at &&
                 json_object_set_new(req, "presented_at", json_string(presented_at)) != 0))) {
        fprintf(stderr, "error: --location and --presented-at must be text\n");
        rc = RC_USAGE;
        goto out;
    }
    if (!req || !(body = json_dumps(req, JSON_COMPACT))) {
        /* json_pack refuses only non-UTF-8 text, or runs out of memory. */
        rc = req ? RC_FAIL : RC_INVALID;
        fprintf(stderr, "error: %s\n", req ? "out of memory" : "the data is not text");
        goto out;
    }
    rc = cli_call(c, "POST", "/v1/verify", body, NULL, CLI_KEEP_ERROR, &res, &meta);
    if (rc == RC_REFUSED) {
        const json_t *err = json_object_get(res, "error");
        if (!is_indicium_error(res)) {
            if (c->json && res)
                cli_print_json(res);
            cli_print_api_error(res, meta.status);
            goto out;
        }
        rc = RC_INVALID;
        if (c->json)
            cli_print_json(res);
        else
            printf("%-13sINVALID: %s (%s)\n", "verdict", cli_safe(cli_jstr(err, "message")),
                   cli_safe(cli_jstr(err, "code")));
        goto out;
    }
    if (rc != RC_OK)
        goto out;
    if (!cli_jbool(res, "valid", &valid)) {
        fprintf(stderr, "error: the server's verification has no \"valid\" flag\n");
        rc = RC_FAIL;
        goto out;
    }
    if (!cli_jbool(res, "signature_valid", &sig))
        sig = valid;
    cli_jbool(res, "known", &known);
    cli_jbool(res, "duplicate", &dup);
    cli_jint(res, "presented_before", &presented);
    if (dup < 0)
        dup = presented > 0;

    if (!sig)
        rc = RC_INVALID;
    else if (dup)
        rc = RC_DUPLICATE;
    else if (!valid)
        rc = RC_INVALID;
    else
        rc = RC_OK;

    if (c->json) {
        rc = cli_print_json(res) == RC_OK ? rc : RC_FAIL;
        goto out;
    }
    fields = json_object_get(res, "fields");
    if (json_is_object(fields)) {
        print_fields(fields);
        putchar('\n');
    }
    line("signature", sig ? "valid" : "INVALID");
    line("issued here", known < 0 ? "-" : known ? "yes" : "NO");
    if (presented >= 0) {
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT " time%s before", presented,
                 presented == 1 ? "" : "s");
        line("presented", buf);
    }
    /* The postal authority's own scan names where the piece was first seen. */
    first = json_object_get(res, "first_presentation");
    if (dup > 0 && json_is_object(first)) {
        const char *where = cli_jstr(first, "location");
        snprintf(buf, sizeof buf, "%.32s at %.40s", cli_safe(cli_jstr(first, "presented_at")),
                 where ? cli_safe(where) : "(place not given)");
        line("first seen", buf);
    }
    if (rc == RC_OK)
        line("verdict",
             is_test(fields) ? "VALID, but a TEST piece: not valid as postage" : "VALID");
    else if (rc == RC_DUPLICATE)
        line("verdict", "DUPLICATE: the signature is valid but the indicium was presented "
                        "before");
    else if (!sig)
        line("verdict", "INVALID: the signature does not verify");
    else if (known == 0)
        line("verdict", "INVALID: the signature verifies but this vendor has no record of "
                        "issuing it");
    else if (cli_jstr(res, "status") && strcmp(cli_jstr(res, "status"), "test") == 0)
        line("verdict", "INVALID as postage: a TEST piece (bought with a test key)");
    else if (cli_jstr(res, "status") && strcmp(cli_jstr(res, "status"), "refunded") == 0)
        line("verdict", "INVALID: the postage was refunded");
    else {
        snprintf(buf, sizeof buf, "INVALID%s%s", cli_jstr(res, "reason") ? ": " : "",
                 cli_jstr(res, "reason") ? cli_safe(cli_jstr(res, "reason")) : "");
        line("verdict", buf);
    }
out:
    json_decref(req);
    json_decref(res);
    free(body);
    return rc;
}

static int write_in(const char *dir, const char *name, const void *data, size_t len)
{
    char path[4096];

    if ((size_t) snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
        fprintf(stderr, "error: --export-dir path is too long\n");
        return RC_USAGE;
    }
    return cli_write_file(path, data, len);
}

/*
 * export_certs - the key's certificate, the vendor CA and its CRL as
 * cert.pem, ca.pem and crl.pem in dir, when the key list has them (stale
 * ones from another export are removed), so that openssl can check them.
 */
static int export_certs(FILE *msg, const char *dir, const struct keyring *kr,
                        const struct pv_indicium *ind)
{
    static const char *const names[] = {"cert.pem", "ca.pem", "crl.pem"};
    const struct pv_pubkey *k = NULL;
    const char *text[3] = {NULL, NULL, NULL};
    char old[4096];
    size_t i;
    int rc;

    if (kr->set.ca_pem && pv_keyset_find(&kr->set, ind, &k) == PV_KEY_FOUND && k->cert_pem) {
        text[0] = k->cert_pem;
        text[1] = kr->set.ca_pem;
        text[2] = kr->set.crl_pem;
    }
    for (i = 0; i < 3; i++) {
        if (text[i] && (rc = write_in(dir, names[i], text[i], strlen(text[i]))) != RC_OK)
            return rc;
        if (!text[i] && (size_t) snprintf(old, sizeof old, "%s/%s", dir, names[i]) < sizeof old)
            remove(old);
    }
    if (text[0])
        fprintf(msg,
                "wrote cert.pem, ca.pem%s; check the key's certificate with: openssl verify "
                "-CAfile %s/ca.pem%s%s%s %s/cert.pem\n",
                text[2] ? ", crl.pem" : "", cli_safe(dir), text[2] ? " -crl_check -CRLfile " : "",
                text[2] ? cli_safe(dir) : "", text[2] ? "/crl.pem" : "", cli_safe(dir));
    return RC_OK;
}

/*
 * export_files - body.bin, sig.der and (when the key is known) pub.pem in
 * dir. kr may be empty: then the key list is fetched unless offline.
 */
static int export_files(const struct cli *c, const struct input *in, struct keyring *kr,
                        int offline, const char *dir)
{
    FILE *msg = c->json ? stderr : stdout;
    struct pv_indicium ind;
    uint8_t der[DER_SIG_MAX];
    size_t body_len, der_len;
    const char *pem = NULL;
    char why[320];
    struct stat st;
    int err, rc;

    if (!in->bytes || (err = pv_indicium_decode(in->bytes, in->len, &ind, &body_len)) != PV_OK) {
        fprintf(stderr, "error: cannot export an indicium that does not decode\n");
        return RC_INVALID;
    }
    if (pv_sig_raw_to_der(ind.signature, der, sizeof der, &der_len) != PV_OK) {
        fprintf(stderr, "error: cannot convert the signature to DER\n");
        return RC_INVALID;
    }
    if (!kr->doc && !kr->pem && !offline) {
        json_t *doc = NULL;
        rc = cli_call(c, "GET", "/v1/keys", NULL, NULL, CLI_RETRY | CLI_NOAUTH, &doc, NULL);
        if (rc != RC_OK)
            return rc;
        if (keyring_from_doc(kr, doc) != 0) {
            fprintf(stderr, "error: the server's key list has no license or keys\n");
            return RC_FAIL;
        }
    }
    if (kr->doc || kr->pem)
        pem = keyring_find(kr, &ind, why, sizeof why);
    else
        snprintf(why, sizeof why, "no keys given");

    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "error: cannot create %s: %s\n", cli_safe(dir), strerror(errno));
        return RC_USAGE;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "error: %s is not a directory\n", cli_safe(dir));
        return RC_USAGE;
    }
    if ((rc = write_in(dir, "body.bin", in->bytes, body_len)) != RC_OK ||
        (rc = write_in(dir, "sig.der", der, der_len)) != RC_OK)
        return rc;
    if (pem && (rc = write_in(dir, "pub.pem", pem, strlen(pem))) != RC_OK)
        return rc;
    if (!pem) {
        /* A pub.pem left from another export must not pass for this one's key. */
        char old[4096];
        if ((size_t) snprintf(old, sizeof old, "%s/pub.pem", dir) < sizeof old)
            remove(old);
    }

    fprintf(msg, "\nwrote %s/body.bin (%zu signed bytes), sig.der%s\n", cli_safe(dir), body_len,
            pem ? ", pub.pem" : "");
    if (pem)
        fprintf(msg,
                "check with: openssl dgst -sha256 -verify %s/pub.pem -signature %s/sig.der "
                "%s/body.bin\n",
                cli_safe(dir), cli_safe(dir), cli_safe(dir));
    else
        fprintf(stderr, "warning: no pub.pem: %s\n", why);
    return pem ? export_certs(msg, dir, kr, &ind) : RC_OK;
}

int cmd_verify(const struct cli *c, int argc, char **argv)
{
    const char *data = NULL, *id = NULL, *file = NULL, *image = NULL, *keys = NULL,
               *export_dir = NULL, *location = NULL, *presented_at = NULL;
    int offline = 0;
    const struct cli_opt opts[] = {
        {"--data", &data, NULL},
        {"--id", &id, NULL},
        {"--file", &file, NULL},
        {"--image", &image, NULL},
        {"--keys", &keys, NULL},
        {"--offline", NULL, &offline},
        {"--export-dir", &export_dir, NULL},
        {"--location", &location, NULL},
        {"--presented-at", &presented_at, NULL},
        {NULL, NULL, NULL},
    };
    struct keyring kr;
    struct input in = {NULL, 0, NULL};
    int npos, rc, erc;

    memset(&kr, 0, sizeof kr);
    if ((rc = cli_parse_opts("verify", argc, argv, opts, NULL, 0, &npos)) != RC_OK)
        return rc;
    if (!!data + !!id + !!file + !!image != 1)
        return cli_usage_error("verify", "give exactly one of --data, --id, --file or --image");
    if (offline && !keys)
        return cli_usage_error("verify", "--offline needs --keys FILE (from `stamp keys --out`)");
    if (offline && id)
        return cli_usage_error("verify", "--id needs the server; use --data or --file offline");
    if (offline && (location || presented_at))
        return cli_usage_error("verify", "--location and --presented-at go to the server: "
                                         "not with --offline");

    if (keys && (rc = keyring_load(keys, &kr)) != RC_OK)
        goto out;
    if ((rc = load_input(c, data, id, file, image, &in)) != RC_OK)
        goto out;
    rc = offline ? verify_offline(c, &in, &kr) : verify_online(c, &in, location, presented_at);
    if (export_dir && (rc == RC_OK || rc == RC_INVALID || rc == RC_DUPLICATE)) {
        erc = export_files(c, &in, &kr, offline, export_dir);
        /* The verdict wins; an export failure matters only when all else went well. */
        if (rc == RC_OK && erc != RC_OK)
            rc = erc;
    }
out:
    keyring_free(&kr);
    input_free(&in);
    return rc;
}
