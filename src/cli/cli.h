/*
 * cli.h - what the files of the `stamp` command share, and nothing else.
 *
 * `stamp` is the customer's command-line client: stamp.c parses the command
 * line and dispatches, http.c talks to stampd over libcurl with bounded
 * reads and safe retries, util.c holds the small checked helpers (JSON
 * accessors, bounded file I/O, output sanitising), commands.c implements
 * buy/show/list/balance/keys and verify.c implements verify. None of these
 * names leave the program, so they carry cli_/cmd_ prefixes instead of pv_.
 * Every command returns one of the RC_* exit codes below; docs/cli.md and
 * `stamp --help` document the same table.
 */
#ifndef STAMP_CLI_H
#define STAMP_CLI_H

#include <jansson.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define STAMP_VERSION        "0.1.0"
#define STAMP_DEFAULT_SERVER "http://127.0.0.1:8080"

/* Exit codes: a stable contract for scripts. */
enum {
    RC_OK = 0,       /* success */
    RC_REFUSED = 1,  /* the server refused the request (4xx) */
    RC_USAGE = 2,    /* usage error, or a file named on the command line is unusable */
    RC_FAIL = 3,     /* network error, or server error (5xx), after retries */
    RC_INVALID = 4,  /* verify: the indicium is invalid */
    RC_DUPLICATE = 5 /* verify: signature valid but presented before */
};

/* Largest HTTP response body, and largest file, the CLI will read. */
#define CLI_BODY_MAX ((size_t) 8 << 20)

/* Settings shared by every command, filled in by stamp.c. */
struct cli {
    const char *server; /* base URL without a trailing '/', borrowed */
    const char *key;    /* API key or NULL, borrowed */
    int json;           /* --json: print the server's JSON instead of human output */
};

/* One command option: either a value option (value != NULL) or a flag. */
struct cli_opt {
    const char *name;   /* "--class" */
    const char **value; /* receives a borrowed pointer into argv */
    int *flag;          /* set to 1 when present */
};

/*
 * cli_parse_opts - parse a command's arguments (argv[0..argc) after the
 * command word, global options already removed) against opts (terminated
 * by a zero entry). "--name value" and "--name=value" both work; "--" ends
 * options. Positional arguments go to pos[0..max_pos), their count to
 * *npos. Prints a usage message and returns RC_USAGE on error, else RC_OK.
 */
int cli_parse_opts(const char *cmd, int argc, char **argv, const struct cli_opt *opts,
                   const char **pos, int max_pos, int *npos);

/* cli_usage_error - print "stamp CMD: <message>" and a hint; returns RC_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* cli_need_key - RC_OK when an API key is set, else prints why and returns RC_USAGE. */
int cli_need_key(const struct cli *c, const char *cmd);

/* ---- http.c ---------------------------------------------------------- */

#define CLI_RETRY      0x1u /* request is idempotent: retry timeouts and 5xx */
#define CLI_NOAUTH     0x2u /* do not send the API key */
#define CLI_KEEP_ERROR 0x4u /* on 4xx return the error body in *out, print nothing */

struct cli_reply {
    long status;  /* HTTP status of the last attempt, 0 when none arrived */
    int replayed; /* the response carried "Idempotent-Replayed: true" */
    int attempts; /* how many attempts were made */
};

/*
 * cli_call - one API request. path (borrowed) starts with "/v1/" and is
 * already URL-escaped; body (borrowed, may be NULL) is the JSON text of a
 * POST; idem_key (borrowed, may be NULL) is sent as Idempotency-Key.
 * Returns RC_OK with *out an owned JSON object (json_decref) on 2xx;
 * RC_REFUSED on 4xx (error printed, or with CLI_KEEP_ERROR left unprinted
 * and the owned error body, possibly NULL, in *out); RC_FAIL on network
 * errors, 5xx or an unreadable response, after retries (error printed).
 * meta (may be NULL) receives status, replay flag and attempt count.
 */
int cli_call(const struct cli *c, const char *method, const char *path, const char *body,
             const char *idem_key, unsigned flags, json_t **out, struct cli_reply *meta);

/*
 * cli_print_api_error - print "error: <code>: <message> (field: f)" for an
 * error body (borrowed, may be NULL) that came with HTTP status.
 */
void cli_print_api_error(const json_t *body, long status);

/*
 * cli_url_escape - percent-encode s (borrowed) into out (n bytes). Returns
 * 0, or -1 when out is too small.
 */
int cli_url_escape(const char *s, char *out, size_t n);

/* ---- util.c ---------------------------------------------------------- */

/* JSON accessors: NULL / 0 when the member is missing or has another type. */
const char *cli_jstr(const json_t *obj, const char *key);
int cli_jint(const json_t *obj, const char *key, json_int_t *out);
int cli_jbool(const json_t *obj, const char *key, int *out);

/*
 * cli_safe - s (borrowed, may be NULL -> "-") with control characters
 * replaced by '?' and cut at 255 bytes, in one of a few rotating static
 * buffers: safe to print, valid until 8 more calls.
 */
const char *cli_safe(const char *s);

/*
 * cli_scalar - a human rendering of a JSON scalar (string, integer, real,
 * boolean "yes"/"no", null or NULL "-") in the same rotating buffers.
 */
const char *cli_scalar(const json_t *v);

/* cli_money - "$0.74" for mills into buf (>= 40 bytes); returns buf. */
char *cli_money(json_int_t mills, char *buf, size_t n);

/*
 * cli_print_json - pretty-print v (borrowed) on stdout with a newline.
 * Returns RC_OK, or RC_FAIL when it cannot be written.
 */
int cli_print_json(const json_t *v);

/*
 * cli_read_file - read all of path (borrowed; "-" is stdin), at most cap
 * bytes. *out is owned (free()), NUL-terminated, *len excludes the NUL.
 * Prints the error and returns RC_USAGE (missing, unreadable, too large)
 * or RC_FAIL (out of memory); RC_OK on success.
 */
int cli_read_file(const char *path, size_t cap, char **out, size_t *len);

/*
 * cli_write_file - write len borrowed bytes to path through a temporary
 * file and rename(), so a reader never sees half a file. Prints the error
 * and returns RC_USAGE on failure, RC_OK on success.
 */
int cli_write_file(const char *path, const void *data, size_t len);

/*
 * cli_parse_weight - "1", "2.5", "0.3": ounces with at most one decimal,
 * into tenths of an ounce (1 .. 99999). Returns 0 or -1.
 */
int cli_parse_weight(const char *s, uint32_t *tenths);

/* ---- commands.c, verify.c --------------------------------------------- */

int cmd_buy(const struct cli *c, int argc, char **argv);
int cmd_show(const struct cli *c, int argc, char **argv);
int cmd_list(const struct cli *c, int argc, char **argv);
int cmd_balance(const struct cli *c, int argc, char **argv);
int cmd_keys(const struct cli *c, int argc, char **argv);
int cmd_verify(const struct cli *c, int argc, char **argv);

/* cli_print_indicium - the human block for an indicium object (borrowed). */
void cli_print_indicium(const json_t *ind, int with_balance);

#endif
