/*
 * cli.h - what the files of the `stamp` command share, and nothing else.
 *
 * `stamp` is the customer's command-line client, and with `stamp admin` the
 * operator's: stamp.c parses the command
 * line and dispatches, http.c talks to stampd over libcurl with bounded
 * reads and safe retries, util.c holds the small checked helpers (JSON
 * accessors, bounded file I/O, output sanitising, option parsers),
 * commands.c implements buy/show/list/balance/keys, verify.c implements
 * verify, print.c implements print/printers/layouts and the label
 * download that `buy --print` shares, and admin.c implements the
 * operator's `admin servers` and `admin psds`. None of these
 * names leave the program, so they carry cli_/cmd_ prefixes instead of pv_.
 * Every command returns one of the RC_* exit codes below; docs/cli.md and
 * `stamp --help` document the same table.
 */
#ifndef STAMP_CLI_H
#define STAMP_CLI_H

#include "stampd/version.h"

#include <jansson.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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
/* Largest document (label, sheet of labels) the CLI will download. */
#define CLI_DOC_MAX ((size_t) 256 << 20)

/* Printing limits, checked locally before the server checks them again. */
#define CLI_PRINT_IDS_MAX    100  /* indicia in one print job (POST /v1/sheets) */
#define CLI_GRID_MAX         999  /* --start row or column */
#define CLI_OFFSET_MAX       1000 /* --offset, either way, in 1/100 mm (10 mm) */
#define CLI_NAME_MAX         63   /* printer and layout names */
#define CLI_ADDRESS_LINES    6    /* --from-address, --to-address */
#define CLI_ADDRESS_LINE_MAX 60   /* characters per address line */
#define CLI_DEFAULT_LAYOUT   "label-4x6"

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

/*
 * cli_metadata_opts - take every "--metadata KEY=VALUE" (or
 * --metadata=KEY=VALUE) before a "--" out of argv (*argc shrinks; argv is
 * compacted) into *out: a JSON object of strings (owned), NULL when none.
 * RC_OK, or RC_USAGE (printed) for a pair without '=' or not UTF-8 (metadata.c).
 */
int cli_metadata_opts(const char *cmd, int *argc, char **argv, json_t **out);

/* The rate options of stamp buy (buyopts.c): --services LIST,
 * --non-machinable and --no-address-check. */
struct cli_buy_opts {
    const char *services; /* "certified_mail,return_receipt", or NULL (borrowed) */
    int non_machinable;
    int no_address_check;
};

/* cli_buy_opts_set - o's options (borrowed) into the purchase body obj
 * (borrowed): extra_services, non_machinable, address_check. 0, or -1 when
 * out of memory or a service name is not UTF-8. */
int cli_buy_opts_set(json_t *obj, const struct cli_buy_opts *o);

/* cli_print_options - the "services", "surcharge", "zone" and "address ...
 * corrected" lines of a piece (ind borrowed), when it has any. */
void cli_print_options(const json_t *ind);

/* cli_usage_error - print "stamp CMD: <message>" and a hint; returns RC_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/*
 * Idempotency keys of the commands that move money (buy, funds).
 * cli_check_idem_key - 0 when k (borrowed) is 1..CLI_IDEM_KEY_MAX printable
 * ASCII characters without leading or trailing space, else -1 (print
 * CLI_IDEM_KEY_USAGE with cli_usage_error). cli_new_idem_key - 32 random
 * hex digits into buf, returned; NULL (error printed) without randomness.
 */
#define CLI_IDEM_KEY_MAX 255
#define CLI_IDEM_KEY_USAGE                                                                         \
    "--idempotency-key must be 1 to %d printable ASCII characters without leading or "             \
    "trailing spaces"
int cli_check_idem_key(const char *k);
const char *cli_new_idem_key(char buf[33]);

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

/* A downloaded document (cli_fetch). */
struct cli_doc {
    char *data; /* owned, len bytes followed by a NUL */
    size_t len;
    char content_type[128]; /* as the server sent it */
    long status;            /* HTTP status, 0 when no answer arrived */
    json_t *error;          /* CLI_KEEP_ERROR and 4xx: the error body, owned, may be NULL */
};

/*
 * cli_fetch - a request whose successful answer is a document rather than
 * JSON: GET a label, POST a sheet. method, path and body (JSON text or
 * NULL) as for cli_call; type (borrowed) is the Content-Type expected,
 * such as "application/pdf". note (borrowed, may be NULL) turns the
 * progress display on: note is printed on stderr when the request goes
 * out and a bar follows while the document arrives; the caller passes it
 * only when stderr is a terminal. Fills *doc (release with cli_doc_free,
 * also after a failure). Returns RC_OK with doc->data owned by doc when a
 * 2xx answer of that type and at most CLI_DOC_MAX bytes arrived; otherwise
 * the codes and error reporting of cli_call, the kept error body (with
 * CLI_KEEP_ERROR) in doc->error.
 */
int cli_fetch(const struct cli *c, const char *method, const char *path, const char *body,
              const char *type, unsigned flags, const char *note, struct cli_doc *doc);

/* cli_doc_free - release what doc (borrowed, may be NULL) owns and zero it. */
void cli_doc_free(struct cli_doc *doc);

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

/*
 * cli_get_list - GET path and find the array member of the answer. *doc is
 * owned by the caller (json_decref, also on errors); *list borrows from it.
 * With --json the answer is printed and *list is NULL: nothing more to do.
 * Returns RC_OK, the request's error, or RC_FAIL when there is no such array.
 */
int cli_get_list(const struct cli *c, const char *path, const char *member, json_t **doc,
                 const json_t **list);

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

/*
 * cli_parse_start - "R,C": two whole numbers 1..CLI_GRID_MAX, nothing
 * else (no blanks, signs or third field). Returns 0 or -1.
 */
int cli_parse_start(const char *s, uint32_t *row, uint32_t *col);

/*
 * cli_parse_offset - "X,Y" in millimetres, each with an optional sign and
 * at most two decimals ("0.5,-0.25"), within +-10 mm, into hundredths of a
 * millimetre. Returns 0 or -1.
 */
int cli_parse_offset(const char *s, int32_t *x, int32_t *y);

/* cli_format_mm - hundredths of a millimetre as "-0.25" into buf; returns buf. */
char *cli_format_mm(int32_t hundredths, char *buf, size_t n);

/* cli_valid_name - 1..max characters of [A-Za-z0-9._-]: printer, layout or id. */
int cli_valid_name(const char *s, size_t max);

/*
 * cli_unescape_text - s (borrowed) with each backslash-n turned into a new
 * line and each double backslash into one backslash, so that a shell can
 * pass several lines in one argument. Returns owned text (free()), or
 * NULL when memory runs out.
 */
char *cli_unescape_text(const char *s);

/*
 * cli_check_address - text (borrowed) is a printable address as the
 * server takes it: 1..CLI_ADDRESS_LINES lines of 1..CLI_ADDRESS_LINE_MAX
 * characters (UTF-8 code points), no control characters but new lines. Returns 0, or -1 with *why a
 * static phrase ("has more than 6 lines").
 */
int cli_check_address(const char *text, const char **why);

/* ---- authority.c ----------------------------------------------------- */

/* cmd_authority - stamp authority ...: the postal authority's commands (a postal key). */
int cmd_authority(const struct cli *c, int argc, char **argv);

/* ---- print.c ---------------------------------------------------------- */

/* A print job: which indicia, how to render them, where the document goes. */
struct cli_job {
    const char *const *ids; /* borrowed; nids of them, 1..CLI_PRINT_IDS_MAX */
    size_t nids;
    const char *layout;  /* borrowed, never NULL (the CLI names the default) */
    const char *format;  /* "pdf", "png", "svg" or "zpl" */
    const char *out;     /* borrowed: a file, "-" for stdout, or NULL */
    const char *printer; /* saved printer and CUPS queue, or NULL */
    int sheet;           /* 1: POST /v1/sheets; 0: GET /v1/indicia/ID/label */
    uint32_t dpi;        /* 0: the server's default */
    uint32_t row, col;   /* start position; 0: the server's default (1,1) */
    int has_offset;      /* send off_x, off_y (1/100 mm) */
    int32_t off_x, off_y;
};

/* What a job did, for the command to report. */
struct cli_job_result {
    char file[4096]; /* where the document was saved; "" when on stdout or only printed */
    size_t bytes;
    int printed; /* lp accepted it */
};

/*
 * cli_format_from_path - the format named by path's extension (.pdf .png
 * .svg .zpl, any case) as a static "pdf"..."zpl", or NULL.
 */
const char *cli_format_from_path(const char *path);

/*
 * cli_check_writable - can a file be created at path (borrowed): it is not
 * a directory and its directory is writable. Prints why not and returns
 * RC_USAGE; RC_OK otherwise. Lets `buy --print` refuse before paying.
 */
int cli_check_writable(const char *path);

/* cli_lp_available - is CUPS `lp` an executable in $PATH? */
int cli_lp_available(void);

/*
 * cli_layout_lookup - GET /v1/layouts and look for layout (borrowed):
 * *found, and *sheet when it holds more than one label per page. Returns
 * RC_OK or the RC_* of the failed request (printed).
 */
int cli_layout_lookup(const struct cli *c, const char *layout, int *found, int *sheet);

/* cli_printer_lookup - is printer (borrowed) among the account's saved printers? As above. */
int cli_printer_lookup(const struct cli *c, const char *printer, int *found);

/* The advice after an unknown printer name; two %s, both the name. */
#define CLI_PRINTER_HINT                                                                           \
    "hint: save printer %s's calibration first: stamp printers set %s --offset 0,0\n"

/*
 * cli_job_run - render job (borrowed) on the server and deliver the
 * document: to job->out; else, with a printer, through a temporary file;
 * else to "<first id>-<layout>.<ext>" in the current directory. With a
 * printer the saved document then goes to `lp -d PRINTER` (-o raw for
 * ZPL). Errors are printed; the document, once downloaded, is saved even
 * when lp is missing or fails (RC_FAIL). Fills *res. Returns RC_*.
 */
int cli_job_run(const struct cli *c, const struct cli_job *job, struct cli_job_result *res);

/* ---- commands.c, verify.c, print.c, admin.c ----------------------------- */

int cmd_buy(const struct cli *c, int argc, char **argv);
/*
 * cli_buy_csv - `stamp buy --csv FILE` (bulk.c): the orders of the CSV
 * file as one batch under idem (NULL: a hash of the file), then, with
 * print, the bought pieces' labels saved there in format fmt on layout
 * (NULL: the default); card (may be NULL) pays every row without its own
 * payment_method_id. All borrowed. RC_OK only when every row was bought;
 * RC_REFUSED when some failed (each printed with its row).
 */
int cli_buy_csv(const struct cli *c, const char *file, const char *idem, const char *print,
                const char *fmt, const char *layout, const char *card);
int cmd_show(const struct cli *c, int argc, char **argv);
int cmd_list(const struct cli *c, int argc, char **argv);
int cmd_balance(const struct cli *c, int argc, char **argv);
int cmd_keys(const struct cli *c, int argc, char **argv);
int cmd_verify(const struct cli *c, int argc, char **argv);
int cmd_print(const struct cli *c, int argc, char **argv);
int cmd_printers(const struct cli *c, int argc, char **argv);
int cmd_layouts(const struct cli *c, int argc, char **argv);
int cmd_admin(const struct cli *c, int argc, char **argv);
/* cmd_admin_media - `stamp admin media|affiliate|resupply ...`; argv[0] is that word (media.c). */
int cmd_admin_media(const struct cli *c, int argc, char **argv);

/* account.c: the account and its money (docs/cli.md). */
int cmd_signup(const struct cli *c, int argc, char **argv);
int cmd_login(const struct cli *c, int argc, char **argv);
int cmd_api_keys(const struct cli *c, int argc, char **argv);
int cmd_cards(const struct cli *c, int argc, char **argv);
int cmd_funds(const struct cli *c, int argc, char **argv);
int cmd_auto_refill(const struct cli *c, int argc, char **argv);
int cmd_transactions(const struct cli *c, int argc, char **argv);
int cmd_refund(const struct cli *c, int argc, char **argv);

/* cli_print_indicium - the human block for an indicium object (borrowed). */
void cli_print_indicium(const json_t *ind, int with_balance);

#endif
