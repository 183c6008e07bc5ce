/*
 * fuzz_auth_body.c - the bodies of POST /v1/signup and POST /v1/login, read
 * the way pv_h_signup and pv_h_login read them (src/server/h_auth.c).
 *
 * The allowed keys and api_key_request are static in h_auth.c, so this file
 * compiles that file in (#include) and links the rest of the server
 * (stampd_fuzz_server). The input is one body; both handlers' parsing runs
 * on it, in their order: pv_body_object with their allowed keys, the
 * optional "api_key" object, the email and password strings (and login's
 * role), and then the domain validators sign-up applies before any hash or
 * store work, pv_email_valid and pv_password_policy. Not run: the rate
 * limits, the argon2id hash and the store, which parse nothing.
 *
 * Properties: bad input is always a 4xx answer with the error body; what
 * passes has an email of at most 254 bytes, a password the policy counts
 * as 10-128 characters when it accepts it, and a key name that fits.
 */
#include "fuzz.h"

#include "server/h_auth.c"

/* An error answer: 4xx with {"error": {"code": ...}}; frees its body. */
static void check_error(struct pv_reply *rp)
{
    json_t *e = json_object_get(rp->body, "error");

    FUZZ_CHECK(rp->status >= 400 && rp->status < 500);
    FUZZ_CHECK(json_is_string(json_object_get(e, "code")));
    json_decref(rp->body);
    memset(rp, 0, sizeof *rp);
}

/* UTF-8 characters (lead bytes) of s. */
static size_t chars(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char) *s & 0xc0) != 0x80;
    return n;
}

static void check_fields(const char *email, const char *password, const struct pv_key_wish *kw)
{
    FUZZ_CHECK(email && password && strlen(email) <= 254);
    FUZZ_CHECK(!kw->want || !kw->name || strlen(kw->name) < PV_KEYNAME_MAX);
    if (pv_email_valid(email))
        FUZZ_CHECK(strchr(email, '@') != NULL);
    if (pv_password_policy(password) == PV_OK)
        FUZZ_CHECK(chars(password) >= PV_PASSWORD_MIN && chars(password) <= PV_PASSWORD_MAX);
}

static void signup(const struct pv_request *rq)
{
    struct pv_reply rp;
    struct pv_key_wish kw;
    const char *email = NULL, *password = NULL;
    json_t *root;

    memset(&rp, 0, sizeof rp);
    if (!(root = pv_body_object(rq, signup_fields, &rp))) {
        check_error(&rp);
        return;
    }
    if (api_key_request(root, PV_ROLE_CUSTOMER, &kw, &rp) != PV_OK ||
        pv_body_string(root, "email", 1, 254, PV_EEMAIL, &email, &rp) != PV_OK ||
        pv_body_string(root, "password", 1, PV_PASSWORD_MAX * 4, PV_EPASSWORD, &password, &rp) !=
            PV_OK)
        check_error(&rp);
    else
        check_fields(email, password, &kw);
    json_decref(root);
}

static void login(const struct pv_request *rq)
{
    struct pv_reply rp;
    struct pv_key_wish kw;
    const char *email = NULL, *password = NULL, *role_name = NULL;
    int role = PV_ROLE_CUSTOMER;
    json_t *root;

    memset(&rp, 0, sizeof rp);
    if (!(root = pv_body_object(rq, login_fields, &rp))) {
        check_error(&rp);
        return;
    }
    if (pv_body_string(root, "email", 1, 254, PV_EEMAIL, &email, &rp) != PV_OK ||
        pv_body_string(root, "password", 1, PV_PASSWORD_MAX * 4, PV_ELOGIN, &password, &rp) !=
            PV_OK ||
        pv_body_string(root, "role", 0, 16, PV_EINVAL, &role_name, &rp) != PV_OK) {
        check_error(&rp);
        goto out;
    }
    if (role_name && strcmp(role_name, "operator") == 0) {
        role = PV_ROLE_OPERATOR;
    } else if (role_name && strcmp(role_name, "customer") != 0) {
        goto out; /* the handler answers invalid_request itself */
    }
    if (api_key_request(root, role, &kw, &rp) != PV_OK) {
        check_error(&rp);
        goto out;
    }
    FUZZ_CHECK(!kw.test || role == PV_ROLE_CUSTOMER);
    check_fields(email, password, &kw);
out:
    json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pv_request rq = {.method = "POST", .path = "/v1/signup"};

    rq.body = (const char *) data;
    rq.body_len = size;
    signup(&rq);
    rq.path = "/v1/login";
    login(&rq);
    return 0;
}
