/*
 * test_account.c - accounts, passwords, API keys and sessions
 * (src/domain/account.c) on a fresh SQLite store: sign-up and login with a
 * key, refusals that leave nothing behind, the CLI's customer and operator
 * creation (inside the caller's transaction, and in one of its own),
 * password reset; ids in time order, session tokens all random.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "domain_env.h"

#include "domain/account.h"
#include "domain/ledger.h"
#include "server/keycache.h"
#include "stampd/timeutil.h"

#include <sqlite3.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PASSWORD "correct horse battery"

static int setup(void **state)
{
    *state = denv_empty("account");
    return 0;
}

static int teardown(void **state)
{
    denv_close(*state);
    return 0;
}

static void test_email(void **state)
{
    (void) state;
    assert_true(pv_email_valid("a@example.com"));
    assert_false(pv_email_valid(NULL));
    assert_false(pv_email_valid("example.com"));
    assert_false(pv_email_valid("@example.com"));
    assert_false(pv_email_valid("a@.example.com"));
    assert_false(pv_email_valid("a@example.com."));
    assert_false(pv_email_valid("a@b@example.com"));
    assert_false(pv_email_valid("a b@example.com"));
    assert_false(pv_email_valid("<a>@example.com"));
}

static void test_api_keys(void **state)
{
    struct denv *e = *state;
    struct pv_apikey_rec rec;
    struct pv_principal who;
    char key[64];

    denv_customer(e->st, "cus_a", "a@example.com");
    assert_int_equal(pv_apikey_mint(e->st, PV_ROLE_CUSTOMER, "cus_a", 1, "ci", 5, key, &rec),
                     PV_OK);
    assert_int_equal(strlen(key), PV_APIKEY_LEN);
    assert_memory_equal(key, "sk_test_", 8);
    assert_memory_equal(rec.prefix, key, 12);
    assert_string_equal(rec.name, "ci");
    assert_int_equal(rec.created, 5);
    assert_int_equal(pv_apikey_lookup(e->st, key, &who), PV_OK);
    assert_int_equal(who.role, PV_ROLE_CUSTOMER);
    assert_string_equal(who.owner_id, "cus_a");
    assert_true(who.test);
    assert_int_equal(pv_store_apikey_revoke(e->st, "cus_a", rec.id, 6), PV_OK);
    assert_int_equal(pv_apikey_lookup(e->st, key, &who), PV_ENOTFOUND);
    assert_int_equal(pv_apikey_lookup(e->st, "sk_live_nothing_of_ours", &who), PV_ENOTFOUND);
    assert_int_equal(pv_apikey_lookup(e->st, "short", &who), PV_EUNAUTH);
    assert_int_equal(pv_apikey_lookup(e->st, "sk_live_has space", &who), PV_EUNAUTH);
    /* Operators have live keys only. */
    assert_int_equal(pv_apikey_mint(e->st, PV_ROLE_OPERATOR, "op_x", 1, NULL, 5, key, &rec),
                     PV_EINVAL);
}

/*
 * The fronts' API-key cache (src/server/keycache.c, issue 15, session 12):
 * from memory only while the watch vouches, never past a forget, and a key
 * read before a change is not kept after it. Statements counted to tell a
 * read from memory from one from the store.
 */
static void test_key_cache(void **state)
{
    struct denv *e = *state;
    struct pv_keycache *kc = NULL;
    struct pv_apikey_rec rec, rec2;
    struct pv_principal who;
    char key[64], key2[64];
    uint64_t n;

    denv_customer(e->st, "cus_a", "a@example.com");
    assert_int_equal(pv_apikey_mint(e->st, PV_ROLE_CUSTOMER, "cus_a", 0, "ci", 5, key, &rec),
                     PV_OK);
    assert_int_equal(pv_apikey_mint(e->st, PV_ROLE_CUSTOMER, "cus_a", 1, "t", 5, key2, &rec2),
                     PV_OK);
    assert_int_equal(pv_keycache_new_unwatched(&kc), PV_OK);

    /* Not vouched for: every lookup reads the store, and nothing is kept. */
    n = pv_store_statements(e->st);
    assert_int_equal(pv_keycache_lookup(kc, e->st, key, &who), PV_OK);
    assert_int_equal(pv_keycache_lookup(kc, e->st, key, &who), PV_OK);
    assert_int_equal(pv_store_statements(e->st), n + 2);
    assert_string_equal(who.owner_id, "cus_a");
    assert_string_equal(who.key_id, rec.id);
    assert_false(who.test);

    /* Vouched for: the second lookup is memory's, with the same principal. */
    pv_keycache_vouch(kc, pv_mono_ms());
    n = pv_store_statements(e->st);
    assert_int_equal(pv_keycache_lookup(kc, e->st, key, &who), PV_OK);
    memset(&who, 0x5a, sizeof who);
    assert_int_equal(pv_keycache_lookup(kc, e->st, key, &who), PV_OK);
    assert_int_equal(pv_store_statements(e->st), n + 1);
    assert_int_equal(who.role, PV_ROLE_CUSTOMER);
    assert_string_equal(who.owner_id, "cus_a");
    assert_string_equal(who.key_id, rec.id);
    assert_false(who.test);
    assert_false(who.session);
    assert_int_equal(pv_keycache_lookup(kc, e->st, key2, &who), PV_OK);
    assert_true(who.test);

    /* Malformed and unknown keys: answered as pv_apikey_lookup does, never kept. */
    pv_keycache_vouch(kc, pv_mono_ms());
    assert_int_equal(pv_keycache_lookup(kc, e->st, "short", &who), PV_EUNAUTH);
    n = pv_store_statements(e->st);
    assert_int_equal(pv_keycache_lookup(kc, e->st, "sk_live_nothing_of_ours", &who), PV_ENOTFOUND);
    assert_int_equal(pv_keycache_lookup(kc, e->st, "sk_live_nothing_of_ours", &who), PV_ENOTFOUND);
    assert_int_equal(pv_store_statements(e->st), n + 2);

    /* Revoked behind the cache's back: memory still answers (what the watch is for)... */
    pv_keycache_vouch(kc, pv_mono_ms());
    assert_int_equal(pv_store_apikey_revoke(e->st, "cus_a", rec.id, 6), PV_OK);
    assert_int_equal(pv_keycache_lookup(kc, e->st, key, &who), PV_OK);
    /* ...until a forget (the watch's notification, or this process's revocation). */
    pv_keycache_forget(kc);
    assert_int_equal(pv_keycache_lookup(kc, e->st, key, &who), PV_ENOTFOUND);
    assert_int_equal(pv_keycache_lookup(kc, e->st, key2, &who), PV_OK);

    /* A watch silent for longer than the trust: back to the store. */
    assert_int_equal(pv_store_apikey_revoke(e->st, "cus_a", rec2.id, 7), PV_OK);
    pv_keycache_vouch(kc, pv_mono_ms() - PV_KEYCACHE_TRUST_MS - 1);
    assert_int_equal(pv_keycache_lookup(kc, e->st, key2, &who), PV_ENOTFOUND);

    /* No cache at all (a processor's, which takes no key): the store's answer. */
    assert_int_equal(pv_keycache_lookup(NULL, e->st, key2, &who), PV_ENOTFOUND);
    pv_keycache_stop(kc);
}

/* A key revoked (and the cache told) while a lookup of it is between its read of the store,
 * which found it active, and its keeping of it. */
struct race {
    struct pv_store *st;
    struct pv_keycache *kc;
    const char *key_id;
    int runs;
};

static void revoke_between(void *arg)
{
    struct race *r = arg;

    if (r->runs++ == 0) {
        assert_int_equal(pv_store_apikey_revoke(r->st, "cus_a", r->key_id, 8), PV_OK);
        pv_keycache_forget(r->kc);
    }
}

/* A key read before a change is not kept after it: the generation is read before the store. */
static void test_key_cache_race(void **state)
{
    struct denv *e = *state;
    struct pv_keycache *kc = NULL;
    struct pv_apikey_rec rec;
    struct pv_principal who;
    struct race r;
    char key[64];

    denv_customer(e->st, "cus_a", "a@example.com");
    assert_int_equal(pv_apikey_mint(e->st, PV_ROLE_CUSTOMER, "cus_a", 0, "r", 5, key, &rec), PV_OK);
    assert_int_equal(pv_keycache_new_unwatched(&kc), PV_OK);
    memset(&r, 0, sizeof r);
    r.st = e->st;
    r.kc = kc;
    r.key_id = rec.id;
    pv_keycache_between(kc, revoke_between, &r);
    pv_keycache_vouch(kc, pv_mono_ms());
    assert_int_equal(pv_keycache_lookup(kc, e->st, key, &who), PV_OK); /* read before */
    assert_int_equal(r.runs, 1);
    pv_keycache_vouch(kc, pv_mono_ms());
    assert_int_equal(pv_keycache_lookup(kc, e->st, key, &who), PV_ENOTFOUND);
    pv_keycache_stop(kc);
}

/* Waits up to 5 s for the cache to be on (want 1) or off (0). */
static void cache_turns(struct pv_keycache *kc, int want)
{
    const struct timespec ms20 = {0, 20000000};
    int i;

    for (i = 0; i < 250 && pv_keycache_on(kc) != want; i++)
        nanosleep(&ms20, NULL);
    assert_int_equal(pv_keycache_on(kc), want);
}

static void sql(const char *path, const char *text)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, text, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/*
 * The watching thread (SQLite's watch: the change count): a key revoked while the watch
 * was lost - here its count's row gone, so the revocation bumps nothing - is refused once
 * the watch is back, though the count then reads as before: a lost watch forgets.
 */
static void test_key_cache_watch_lost(void **state)
{
    struct denv *e = *state;
    struct pv_keycache *kc = NULL;
    struct pv_apikey_rec rec;
    struct pv_principal who;
    char key[64], dsn[320], path[300];
    uint64_t n;

    denv_customer(e->st, "cus_a", "a@example.com");
    assert_int_equal(pv_apikey_mint(e->st, PV_ROLE_CUSTOMER, "cus_a", 0, "w", 5, key, &rec), PV_OK);
    snprintf(path, sizeof path, "%s/db.sqlite", e->dir);
    snprintf(dsn, sizeof dsn, "sqlite:%s", path);
    assert_int_equal(pv_keycache_start(dsn, &kc), PV_OK);
    cache_turns(kc, 1);
    assert_int_equal(pv_keycache_lookup(kc, e->st, key, &who), PV_OK);
    n = pv_store_statements(e->st);
    assert_int_equal(pv_keycache_lookup(kc, e->st, key, &who), PV_OK); /* from memory */
    assert_int_equal(pv_store_statements(e->st), n);

    sql(path, "DELETE FROM watch_versions");
    cache_turns(kc, 0);
    assert_int_equal(pv_store_apikey_revoke(e->st, "cus_a", rec.id, 6), PV_OK);
    sql(path, "INSERT INTO watch_versions(channel, version) VALUES ('stampd_api_keys', 0)");
    cache_turns(kc, 1);
    assert_int_equal(pv_keycache_lookup(kc, e->st, key, &who), PV_ENOTFOUND);
    pv_keycache_stop(kc);
}

/* The milliseconds the first PV_ID_TIME_CHARS characters after the '_' spell. */
static int64_t id_ms(const char *id)
{
    static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
    const char *tail = strchr(id, '_') + 1;
    int64_t v = 0;
    size_t i;

    assert_int_equal(strlen(tail), PV_ID_CHARS);
    assert_int_equal(strspn(tail, alphabet), PV_ID_CHARS);
    for (i = 0; i < PV_ID_TIME_CHARS; i++)
        v = v * 32 + (strchr(alphabet, tail[i]) - alphabet);
    return v;
}

/* Ids sort by the time they were made (issue 15: they append to the indexes on
 * them); two made in the same millisecond differ; session tokens give no time. */
static void test_ids_in_time_order(void **state)
{
    const struct timespec ms2 = {0, 2000000};
    char prev[PV_ID_MAX], id[PV_ID_MAX], same[PV_ID_MAX];
    int64_t before, after;
    int i;

    (void) state;
    assert_int_equal(pv_new_id("ind", prev), PV_OK);
    for (i = 0; i < 20; i++) {
        nanosleep(&ms2, NULL);
        before = pv_now_ms();
        assert_int_equal(pv_new_id("ind", id), PV_OK);
        assert_int_equal(pv_new_id("ind", same), PV_OK);
        after = pv_now_ms();
        assert_memory_equal(id, "ind_", 4);
        assert_true(strcmp(prev, id) < 0);
        assert_string_not_equal(id, same);
        assert_in_range(id_ms(id), before, after);
        snprintf(prev, sizeof prev, "%s", same);
    }
    assert_int_equal(pv_new_token("sess", id), PV_OK);
    assert_memory_equal(id, "sess_", 5);
    assert_false(id_ms(id) > before - 86400000 && id_ms(id) < after + 86400000);
}

/* Ids take their random part from a per-thread buffer (ledger.c): a forked
 * child must not hand out the parent's next bytes. */
static void test_ids_after_fork(void **state)
{
    char mine[PV_ID_MAX], theirs[PV_ID_MAX] = "";
    int fd[2], status;
    pid_t pid;

    (void) state;
    assert_int_equal(pv_new_id("ind", mine), PV_OK); /* the buffer filled */
    assert_int_equal(pipe(fd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char id[PV_ID_MAX];
        ssize_t w = -1;
        if (pv_new_id("ind", id) == PV_OK)
            w = write(fd[1], id, sizeof id);
        _exit(w == (ssize_t) sizeof id ? 0 : 1);
    }
    close(fd[1]);
    assert_int_equal(read(fd[0], theirs, sizeof theirs), (ssize_t) sizeof theirs);
    close(fd[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(pv_new_id("ind", mine), PV_OK);
    /* The random characters (after "ind_" and 9 of time) differ. */
    assert_string_not_equal(mine + 4 + PV_ID_TIME_CHARS, theirs + 4 + PV_ID_TIME_CHARS);
}

static void test_signup_login_sessions(void **state)
{
    struct denv *e = *state;
    struct pv_key_wish kw = {1, "laptop", 1};
    struct pv_session_rec s;
    struct pv_principal who;
    struct pv_login *in = calloc(1, sizeof *in), *again = calloc(1, sizeof *again);
    char id[PV_ID_MAX], owner[PV_ID_MAX];
    int64_t now = pv_now();

    assert_int_equal(pv_account_signup(e->st, "Jo@Example.com", PASSWORD, &kw, now, id, in), PV_OK);
    assert_memory_equal(id, "cus_", 4);
    assert_true(in->has_key);
    assert_int_equal(pv_apikey_lookup(e->st, in->key, &who), PV_OK);
    assert_string_equal(who.owner_id, id);
    assert_int_equal(pv_session_lookup(e->st, in->token, now, &s), PV_OK);
    assert_string_equal(s.owner_id, id);
    assert_int_equal(s.expires, now + PV_SESSION_TTL_S);
    assert_int_equal(pv_session_csrf(&s, in->session.csrf), PV_OK);
    assert_int_equal(pv_session_csrf(&s, NULL), PV_ECSRF);
    assert_int_equal(pv_session_csrf(&s, "0123"), PV_ECSRF);
    assert_int_equal(pv_session_lookup(e->st, in->token, now + PV_SESSION_TTL_S + 1, &s),
                     PV_ENOTFOUND);
    /* The same email again (in any case), a bad email, a weak password: nothing written. */
    assert_int_equal(pv_account_signup(e->st, "jo@example.com", PASSWORD, NULL, now, owner, again),
                     PV_EEXIST);
    assert_false(again->has_key);
    assert_string_equal(again->token, "");
    assert_int_equal(pv_account_signup(e->st, "jo", PASSWORD, NULL, now, owner, again), PV_EEMAIL);
    assert_int_equal(pv_account_signup(e->st, "k@example.com", "short", NULL, now, owner, again),
                     PV_EPASSWORD);
    assert_int_equal(
        pv_account_check_password(e->st, PV_ROLE_CUSTOMER, "k@example.com", PASSWORD, owner),
        PV_ELOGIN);
    /* Login. */
    assert_int_equal(
        pv_account_check_password(e->st, PV_ROLE_CUSTOMER, "jo@example.com", PASSWORD, owner),
        PV_OK);
    assert_string_equal(owner, id);
    assert_int_equal(pv_account_check_password(e->st, PV_ROLE_CUSTOMER, "jo@example.com",
                                               "wrong password", owner),
                     PV_ELOGIN);
    assert_string_equal(owner, "");
    assert_int_equal(pv_account_open_session(e->st, PV_ROLE_CUSTOMER, id, NULL, now, again), PV_OK);
    assert_false(again->has_key);
    assert_string_not_equal(again->token, in->token);
    assert_int_equal(pv_session_delete(e->st, again->token), PV_OK);
    assert_int_equal(pv_session_lookup(e->st, again->token, now, &s), PV_ENOTFOUND);
    assert_int_equal(pv_session_lookup(e->st, in->token, now, &s), PV_OK);
    /* A test key for an operator: no session either. */
    assert_int_equal(pv_account_open_session(e->st, PV_ROLE_OPERATOR, "op_x", &kw, now, again),
                     PV_EINVAL);
    assert_string_equal(again->token, "");
    free(in);
    free(again);
}

static void test_create_and_set_password(void **state)
{
    struct denv *e = *state;
    struct pv_principal who;
    char id[PV_ID_MAX], oid[PV_ID_MAX], owner[PV_ID_MAX], key[64], okey[64], acct[PV_ACCOUNT_MAX];

    assert_int_equal(pv_store_begin(e->st), PV_OK);
    assert_int_equal(
        pv_account_create_customer(e->st, "c@example.com", 25000, NULL, pv_now(), id, key), PV_OK);
    assert_int_equal(
        pv_account_create_operator(e->st, "o@example.com", PASSWORD, pv_now(), oid, okey), PV_OK);
    assert_int_equal(pv_store_commit(e->st), PV_OK);
    pv_account_customer(id, acct);
    assert_int_equal(denv_balance(e, acct), 25000);
    assert_int_equal(pv_apikey_lookup(e->st, key, &who), PV_OK);
    assert_string_equal(who.owner_id, id);
    assert_false(who.test);
    assert_int_equal(pv_apikey_lookup(e->st, okey, &who), PV_OK);
    assert_int_equal(who.role, PV_ROLE_OPERATOR);
    assert_int_equal(
        pv_account_check_password(e->st, PV_ROLE_OPERATOR, "o@example.com", PASSWORD, owner),
        PV_OK);
    assert_string_equal(owner, oid);
    /* No password yet: cannot log in until one is set. */
    assert_int_equal(
        pv_account_check_password(e->st, PV_ROLE_CUSTOMER, "c@example.com", PASSWORD, owner),
        PV_ELOGIN);
    assert_int_equal(
        pv_account_set_password(e->st, PV_ROLE_CUSTOMER, "c@example.com", PASSWORD, owner), PV_OK);
    assert_string_equal(owner, id);
    assert_int_equal(
        pv_account_check_password(e->st, PV_ROLE_CUSTOMER, "c@example.com", PASSWORD, owner),
        PV_OK);
    assert_int_equal(
        pv_account_set_password(e->st, PV_ROLE_CUSTOMER, "x@example.com", PASSWORD, owner),
        PV_ENOTFOUND);
    assert_int_equal(
        pv_account_set_password(e->st, PV_ROLE_CUSTOMER, "c@example.com", "short", owner),
        PV_EPASSWORD);
    /* Refusals inside the caller's transaction. */
    assert_int_equal(pv_store_begin(e->st), PV_OK);
    assert_int_equal(pv_account_create_customer(e->st, "bad", 0, NULL, 1, id, key), PV_EEMAIL);
    assert_int_equal(pv_account_create_customer(e->st, "n@example.com", -1, NULL, 1, id, key),
                     PV_EAMOUNT);
    assert_int_equal(pv_account_create_customer(e->st, "c@example.com", 0, NULL, 1, id, key),
                     PV_EEXIST);
    assert_int_equal(pv_store_rollback(e->st), PV_OK);
}

static void test_create_owns_its_transaction(void **state)
{
    struct denv *e = *state;
    struct pv_store *r = denv_reader(e);
    struct pv_principal who;
    struct pv_credential cred;
    char id[PV_ID_MAX], oid[PV_ID_MAX], key[64], okey[64], acct[PV_ACCOUNT_MAX];
    pv_mills v = -1;

    assert_int_equal(pv_account_create(e->st, PV_ROLE_CUSTOMER, "c@example.com", 25000, PASSWORD,
                                       pv_now(), id, key),
                     PV_OK);
    denv_no_tx(e->st);
    assert_int_equal(
        pv_account_create(e->st, PV_ROLE_OPERATOR, "o@example.com", 0, NULL, pv_now(), oid, okey),
        PV_OK);
    denv_no_tx(e->st);
    /* Committed: another connection finds the accounts, their keys and the opening balance. */
    pv_account_customer(id, acct);
    assert_int_equal(pv_balance(r, acct, &v), PV_OK);
    assert_int_equal(v, 25000);
    assert_int_equal(pv_apikey_lookup(r, key, &who), PV_OK);
    assert_string_equal(who.owner_id, id);
    assert_int_equal(who.role, PV_ROLE_CUSTOMER);
    assert_int_equal(pv_apikey_lookup(r, okey, &who), PV_OK);
    assert_string_equal(who.owner_id, oid);
    assert_int_equal(who.role, PV_ROLE_OPERATOR);
    assert_int_equal(pv_account_check_password(r, PV_ROLE_CUSTOMER, "c@example.com", PASSWORD, id),
                     PV_OK);

    /* A password refused after the customer and its balance were written: none of it is kept. */
    assert_int_equal(pv_account_create(e->st, PV_ROLE_CUSTOMER, "n@example.com", 5000, "short",
                                       pv_now(), id, key),
                     PV_EPASSWORD);
    denv_no_tx(e->st);
    assert_string_equal(id, "");
    assert_string_equal(key, "");
    assert_int_equal(pv_store_credential_get(r, PV_ROLE_CUSTOMER, "n@example.com", &cred),
                     PV_ENOTFOUND);
    assert_int_equal(pv_balance(r, PV_ACCT_FUNDING, &v), PV_OK);
    assert_int_equal(v, -25000);
    /* The email is still free. */
    assert_int_equal(
        pv_account_create(e->st, PV_ROLE_CUSTOMER, "n@example.com", 0, NULL, pv_now(), id, key),
        PV_OK);
    /* Taken emails, an operator's balance, no such role. */
    assert_int_equal(
        pv_account_create(e->st, PV_ROLE_CUSTOMER, "c@example.com", 0, NULL, pv_now(), id, key),
        PV_EEXIST);
    denv_no_tx(e->st);
    assert_string_equal(key, "");
    assert_int_equal(
        pv_account_create(e->st, PV_ROLE_OPERATOR, "o@example.com", 0, NULL, pv_now(), oid, okey),
        PV_EEXIST);
    denv_no_tx(e->st);
    assert_int_equal(
        pv_account_create(e->st, PV_ROLE_OPERATOR, "p@example.com", 100, NULL, pv_now(), oid, okey),
        PV_EINVAL);
    assert_int_equal(pv_account_create(e->st, 7, "p@example.com", 0, NULL, pv_now(), oid, okey),
                     PV_EINVAL);
    denv_no_tx(e->st);
    assert_int_equal(pv_store_credential_get(r, PV_ROLE_OPERATOR, "p@example.com", &cred),
                     PV_ENOTFOUND);
    pv_store_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_email),
        cmocka_unit_test(test_ids_in_time_order),
        cmocka_unit_test(test_ids_after_fork),
        cmocka_unit_test_setup_teardown(test_api_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_cache_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_cache_watch_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signup_login_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_and_set_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_owns_its_transaction, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
