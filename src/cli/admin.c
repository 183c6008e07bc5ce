/*
 * admin.c - `stamp admin`, the operator's commands: the processors
 * ("servers") that sign postage, with their health, PSD leases and share
 * of the traffic; draining, disabling and enabling one; and every PSD's
 * registers, lease holder and the postal deposit.
 *
 * These need an operator key. stampd answers any other key with 403
 * forbidden, which is an ordinary refused request here (exit 1): the CLI
 * cannot tell an operator key from a customer's by looking at it. Human
 * output never trusts a member's type: a missing or mistyped field prints
 * as "-" rather than crashing or lying.
 */
#include "cli.h"

#include "stampd/codec.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* A server id as stampd stores it (PV_ID_MAX is 40 with the NUL). */
#define SERVER_ID_MAX 39
/* A heartbeat younger than this is live: the window the fronts use (docs/operations.md). */
#define LIVE_MS 3000
/* Column widths grow with their contents up to these; longer values push the row out. */
#define ADDRESS_COL_MAX 40
#define LEASES_COL_MAX  24

/* The status changes `stamp admin servers VERB ID` makes, and what each means. */
static const struct change {
    const char *verb, *status, *meaning;
} changes[] = {
    {"drain", "draining", "no new purchases; its PSD leases pass to the other servers"},
    {"disable", "disabled", "no new purchases; its PSD leases pass to the other servers"},
    {"enable", "active", "takes purchases and its share of the PSD leases"},
};

#define NCHANGES (sizeof changes / sizeof changes[0])

/* now_ms - this machine's clock, in unix milliseconds. */

/* age_str - milliseconds as seconds: "0.6s", "42.0s", "3600s". */
static char *age_str(json_int_t ms, char *buf, size_t n)
{
    if (ms < 0)
        ms = 0;
    if (ms < 100000)
        snprintf(buf, n, "%.1fs", (double) ms / 1000.0);
    else
        snprintf(buf, n, "%" JSON_INTEGER_FORMAT "s", ms / 1000);
    return buf;
}

/*
 * health_str - "ok" for a server that heartbeats, else "STALE" and the age
 * of its last heartbeat. The server's `healthy` is true only for an
 * *active* live server; a draining or disabled one keeps heartbeating, and
 * whether it does is what an operator wants to know before stopping it,
 * so for those the age is judged here against the same window.
 */
static const char *health_str(const json_t *v, char *buf, size_t n)
{
    const char *status = cli_jstr(v, "status");
    json_int_t age;
    int healthy = 0;
    char a[32];

    if (cli_jbool(v, "healthy", &healthy) && healthy)
        return "ok";
    if (!cli_jint(v, "heartbeat_age_ms", &age))
        return "-";
    if (status && strcmp(status, "active") != 0 && age < LIVE_MS)
        return "ok";
    snprintf(buf, n, "STALE %s", age_str(age, a, sizeof a));
    return buf;
}

/* leases_str - the psd_leases array as "2,3", or "-" when empty or missing. */
static const char *leases_str(const json_t *v, char *buf, size_t n)
{
    const json_t *leases = json_object_get(v, "psd_leases"), *l;
    size_t i, used = 0;

    if (!json_is_array(leases) || json_array_size(leases) == 0)
        return "-";
    buf[0] = '\0';
    json_array_foreach(leases, i, l)
    {
        int w = snprintf(buf + used, n - used, "%s%s", i ? "," : "", cli_scalar(l));
        if (w < 0 || (size_t) w >= n - used) {
            /* Too many to show: end with "..." rather than with half a number. */
            memcpy(buf + (used + 4 <= n ? used : n - 4), "...", 4);
            break;
        }
        used += (size_t) w;
    }
    return buf;
}

/* traffic_str - "38  42.0%": a count and its share (0..1) as a percentage. */
static const char *traffic_str(const json_t *v, const char *count, const char *share, char *buf,
                               size_t n)
{
    const json_t *s = json_object_get(v, share);
    char pct[32] = "-";

    if (json_is_number(s))
        snprintf(pct, sizeof pct, "%.1f%%", json_number_value(s) * 100.0);
    snprintf(buf, n, "%6s %6s", cli_scalar(json_object_get(v, count)), pct);
    return buf;
}

/* servers_list - GET /v1/admin/servers as a table, or the server's JSON. */
static int servers_list(const struct cli *c)
{
    const json_t *list, *v;
    json_t *doc = NULL;
    char leases[256], health[48], hour[48], total[48];
    size_t i, len;
    int rc, idw = 2, addrw = 7, psdw = 4;

    if ((rc = cli_get_list(c, "/v1/admin/servers", "servers", &doc, &list)) != RC_OK || !list)
        goto out;
    if (json_array_size(list) == 0) {
        printf("No servers registered.\n");
        goto out;
    }
    json_array_foreach(list, i, v)
    {
        const char *id = cli_jstr(v, "id"), *addr = cli_jstr(v, "address");
        if (id && (len = strlen(id)) > (size_t) idw && len <= SERVER_ID_MAX)
            idw = (int) len;
        if (addr && (len = strlen(addr)) > (size_t) addrw && len <= ADDRESS_COL_MAX)
            addrw = (int) len;
        len = strlen(leases_str(v, leases, sizeof leases));
        if (len > (size_t) psdw && len <= LEASES_COL_MAX)
            psdw = (int) len;
    }
    printf("%-*s  %-*s  %-8s  %-12s  %-*s  %13s  %13s\n", idw, "ID", addrw, "ADDRESS", "STATUS",
           "HEALTH", psdw, "PSDS", "LAST HOUR", "TOTAL");
    json_array_foreach(list, i, v)
    {
        printf("%-*s  %-*s  %-8s  %-12s  %-*s  %13s  %13s\n", idw, cli_safe(cli_jstr(v, "id")),
               addrw, cli_safe(cli_jstr(v, "address")), cli_safe(cli_jstr(v, "status")),
               health_str(v, health, sizeof health), psdw, leases_str(v, leases, sizeof leases),
               traffic_str(v, "indicia_last_hour", "share_last_hour", hour, sizeof hour),
               traffic_str(v, "indicia_total", "share_total", total, sizeof total));
    }
out:
    json_decref(doc);
    return rc;
}

/* servers_change - POST /v1/admin/servers/{id} {"status": ...} and say what it means. */
static int servers_change(const struct cli *c, const struct change *ch, const char *id)
{
    char path[256], esc[SERVER_ID_MAX * 3 + 1], body[64];
    const char *status;
    json_t *doc = NULL;
    size_t i;
    int rc;

    cli_url_escape(id, esc, sizeof esc); /* cannot fail: the id is short and plain */
    snprintf(path, sizeof path, "/v1/admin/servers/%s", esc);
    snprintf(body, sizeof body, "{\"status\":\"%s\"}", ch->status);
    /* Setting a status twice is setting it once: safe to retry. */
    if ((rc = cli_call(c, "POST", path, body, NULL, CLI_RETRY, &doc, NULL)) != RC_OK)
        return rc;
    if (c->json) {
        rc = cli_print_json(doc);
        goto out;
    }
    /* Report the status the server says it set, and what that one means. */
    status = cli_jstr(doc, "status");
    for (i = 0; status && i < NCHANGES; i++)
        if (strcmp(status, changes[i].status) == 0)
            break;
    printf("server %s: %s", cli_safe(cli_jstr(doc, "id") ? cli_jstr(doc, "id") : id),
           cli_safe(status));
    if (status && i < NCHANGES)
        printf(" (%s)", changes[i].meaning);
    printf("\n");
out:
    json_decref(doc);
    return rc;
}

/* admin_servers - `stamp admin servers [list | drain|disable|enable ID]`. */
static int admin_servers(const struct cli *c, int n, const char **args)
{
    const struct change *ch = NULL;
    size_t i;
    int rc;

    if (n == 0 || strcmp(args[0], "list") == 0) {
        if (n > 1)
            return cli_usage_error("admin", "'stamp admin servers' lists; it takes no arguments");
        if ((rc = cli_need_key(c, "admin")) != RC_OK)
            return rc;
        return servers_list(c);
    }
    for (i = 0; i < NCHANGES; i++)
        if (strcmp(args[0], changes[i].verb) == 0)
            ch = &changes[i];
    if (!ch)
        return cli_usage_error("admin",
                               "unknown subcommand 'servers %s' (list, drain, disable or enable)",
                               cli_safe(args[0]));
    if (n < 2)
        return cli_usage_error("admin", "which server? stamp admin servers %s ID", ch->verb);
    if (n > 2)
        return cli_usage_error("admin", "unexpected argument '%s'", cli_safe(args[2]));
    if (!cli_valid_name(args[1], SERVER_ID_MAX))
        return cli_usage_error("admin",
                               "'%s': a server id is 1 to %d letters, digits, '.', '_' or '-'",
                               cli_safe(args[1]), SERVER_ID_MAX);
    if ((rc = cli_need_key(c, "admin")) != RC_OK)
        return rc;
    return servers_change(c, ch, args[1]);
}

/* money_str - the mills member key as "$12.34", or "-". */
static const char *money_str(const json_t *obj, const char *key, char *buf, size_t n)
{
    json_int_t mills;

    return cli_jint(obj, key, &mills) ? cli_money(mills, buf, n) : "-";
}

/*
 * lease_str - "p1 (4.2s left)", "p1 (expired 3.0s ago)", "-", or "test PSD
 * (no lease)" for the device that signs test pieces. The
 * expiry is the server's clock and is judged by this machine's, so the
 * seconds are as good as the two clocks agree.
 */
/* "YYYY-MM-DDTHH:MM:SS[.mmm]Z" (the API's times) into unix ms; 0 if not one. */
static int64_t time_ms(const char *s)
{
    int y, mo, d, h, mi, sec, ms = 0, len = 0;

    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &len) != 6)
        return 0;
    if (s[len] == '.' && sscanf(s + len, ".%3d", &ms) != 1)
        return 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return 0;
    return (pv_date_to_unix((uint32_t) (y * 10000 + mo * 100 + d)) + h * 3600 + mi * 60 + sec) *
               1000 +
           ms;
}

static const char *lease_str(const json_t *p, int64_t now, char *buf, size_t n)
{
    const char *holder = cli_jstr(p, "lease_holder");
    int64_t expires = time_ms(cli_jstr(p, "lease_expires_at"));
    char a[32];

    if (json_is_true(json_object_get(p, "test")))
        return "test PSD (no lease)";
    if (!holder || !*holder)
        return "-";
    if (!expires || now == 0)
        pv_str_copy(buf, n, cli_safe(holder));
    else if (expires > now)
        snprintf(buf, n, "%s (%s left)", cli_safe(holder), age_str(expires - now, a, sizeof a));
    else
        snprintf(buf, n, "%s (expired %s ago)", cli_safe(holder),
                 age_str(now - expires, a, sizeof a));
    return buf;
}

/* admin_psds - GET /v1/psds as the deposit and a table of registers, or the JSON. */
static int admin_psds(const struct cli *c)
{
    const json_t *list, *p;
    json_t *doc = NULL;
    char desc[48], asc[48], ctl[48], deposit[48], lease[128];
    int64_t now = pv_now_ms();
    size_t i;
    int rc;

    if ((rc = cli_need_key(c, "admin")) != RC_OK)
        return rc;
    if ((rc = cli_get_list(c, "/v1/psds", "psds", &doc, &list)) != RC_OK || !list)
        goto out;
    printf("postal deposit  %s\n\n", money_str(doc, "deposit_mills", deposit, sizeof deposit));
    if (json_array_size(list) == 0) {
        printf("No PSDs.\n");
        goto out;
    }
    printf("%4s  %-9s  %4s  %12s  %12s  %13s  %6s  %-20s  %-8s  %s\n", "PSD", "STATUS", "KEY",
           "DESCENDING", "ASCENDING", "CONTROL TOTAL", "PIECES", "LAST REFILL", "BALANCED",
           "LEASE");
    json_array_foreach(list, i, p)
    {
        int balanced = 0;
        const char *bal = !cli_jbool(p, "balanced", &balanced) ? "-" : balanced ? "yes" : "NO";
        printf("%4s  %-9s  %4s  %12s  %12s  %13s  %6s  %-20s  %-8s  %s\n",
               cli_scalar(json_object_get(p, "id")), cli_safe(cli_jstr(p, "status")),
               cli_scalar(json_object_get(p, "key_id")),
               money_str(p, "descending_mills", desc, sizeof desc),
               money_str(p, "ascending_mills", asc, sizeof asc),
               money_str(p, "control_total_mills", ctl, sizeof ctl),
               cli_scalar(json_object_get(p, "piece_count")),
               cli_safe(cli_jstr(p, "last_refill_at")), bal,
               lease_str(p, now, lease, sizeof lease));
    }
out:
    json_decref(doc);
    return rc;
}

/* stamp admin ledger: the server proves the books (GET /v1/admin/ledger). */
static int admin_ledger(const struct cli *c)
{
    const json_t *issues, *x;
    json_t *doc = NULL;
    char a[48], b[48];
    size_t i;
    int rc;

    if ((rc = cli_need_key(c, "admin")) != RC_OK)
        return rc;
    if ((rc = cli_call(c, "GET", "/v1/admin/ledger", NULL, NULL, CLI_RETRY, &doc, NULL)) != RC_OK)
        return rc;
    issues = json_object_get(doc, "issues");
    if (!json_is_array(issues) || !json_is_boolean(json_object_get(doc, "ok"))) {
        fprintf(stderr, "error: the server's answer is not a ledger report\n");
        rc = RC_FAIL;
        goto out;
    }
    if (c->json) {
        cli_print_json(doc);
    } else {
        json_array_foreach(issues, i, x)
        {
            printf(
                "%-18s  %-32s  recorded %s  computed %s\n", cli_safe(cli_jstr(x, "kind")),
                cli_safe(cli_jstr(x, "name")),
                cli_money(json_integer_value(json_object_get(x, "recorded_mills")), a, sizeof a),
                cli_money(json_integer_value(json_object_get(x, "computed_mills")), b, sizeof b));
        }
        printf("%lld journals, %lld accounts: %s\n",
               (long long) json_integer_value(json_object_get(doc, "journals")),
               (long long) json_integer_value(json_object_get(doc, "accounts")),
               json_is_true(json_object_get(doc, "ok")) ? "every journal balances"
                                                        : "THE BOOKS DO NOT BALANCE");
    }
    /* Exit 4 (like an invalid indicium) when the books are wrong. */
    rc = json_is_true(json_object_get(doc, "ok")) ? RC_OK : RC_INVALID;
out:
    json_decref(doc);
    return rc;
}

int cmd_admin(const struct cli *c, int argc, char **argv)
{
    const struct cli_opt opts[] = {{NULL, NULL, NULL}};
    const char *pos[4];
    int npos, rc;

    /* Media, affiliates and resupply have options of their own (media.c). */
    if (argc > 0 && (strcmp(argv[0], "media") == 0 || strcmp(argv[0], "affiliate") == 0 ||
                     strcmp(argv[0], "resupply") == 0))
        return cmd_admin_media(c, argc, argv);
    if ((rc = cli_parse_opts("admin", argc, argv, opts, pos, 4, &npos)) != RC_OK)
        return rc;
    if (npos == 0)
        return cli_usage_error("admin", "what? stamp admin servers, or stamp admin psds");
    if (strcmp(pos[0], "servers") == 0)
        return admin_servers(c, npos - 1, pos + 1);
    if (strcmp(pos[0], "ledger") == 0) {
        /* "stamp admin ledger check" reads as what it does; both spellings work. */
        if (npos > 2 || (npos == 2 && strcmp(pos[1], "check") != 0))
            return cli_usage_error("admin", "'stamp admin ledger [check]' takes no arguments");
        return admin_ledger(c);
    }
    if (strcmp(pos[0], "psds") == 0) {
        if (npos > 1)
            return cli_usage_error("admin", "'stamp admin psds' takes no arguments");
        return admin_psds(c);
    }
    return cli_usage_error("admin",
                           "unknown subcommand '%s' (servers, psds, ledger, media, affiliate "
                           "or resupply)",
                           cli_safe(pos[0]));
}
