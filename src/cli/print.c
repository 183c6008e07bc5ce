/*
 * print.c - `stamp print`, and the label download that `stamp buy --print`
 * shares (cli_job_run). `stamp printers` and `stamp layouts` are in printers.c.
 *
 * The server renders; the CLI chooses the endpoint (GET
 * /v1/indicia/ID/label for one indicium on a one-label layout, POST
 * /v1/sheets for several indicia or a sheet layout), checks what it can
 * check locally (format, start position, offsets, names) so that a typo
 * costs no round trip, and delivers the document: to a file written
 * through a temporary name and rename(), to stdout when asked (never to a
 * terminal), and to CUPS with `lp`, run with fork/execvp and no shell
 * because the printer and file names are user data. A document that was
 * rendered is always kept somewhere, even when lp is missing or fails:
 * reprints are free, but nobody should have to guess where it went.
 * Rendering moves no money, so render requests are retried like GETs.
 */
#include "cli.h"

#include "stampd/codec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define ID_MAX       128 /* indicium ids are "ind_" and a few dozen characters */
#define PROGRESS_MIN 10  /* labels in a job before a progress bar is worth drawing */
#define DPI_MAX      9600
#define LP_NAME      "lp"

static const struct format {
    const char *name;  /* "pdf": --format, file extension, query parameter */
    const char *upper; /* "PDF": for people */
    const char *type;  /* the Content-Type the server answers with */
} formats[] = {
    {"pdf", "PDF", "application/pdf"},
    {"png", "PNG", "image/png"},
    {"svg", "SVG", "image/svg+xml"},
    {"zpl", "ZPL", "application/zpl"},
};

#define NFORMATS (sizeof formats / sizeof formats[0])

static const struct format *find_format(const char *name)
{
    size_t i;

    for (i = 0; i < NFORMATS; i++)
        if (strcmp(formats[i].name, name) == 0)
            return &formats[i];
    return NULL;
}

const char *cli_format_from_path(const char *path)
{
    const char *base = strrchr(path, '/'), *dot;
    size_t i;

    base = base ? base + 1 : path;
    dot = strrchr(base, '.');
    if (!dot || dot == base)
        return NULL; /* no extension, or a dot file such as ".pdf" */
    for (i = 0; i < NFORMATS; i++)
        if (strcasecmp(dot + 1, formats[i].name) == 0)
            return formats[i].name;
    return NULL;
}

int cli_check_writable(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    struct stat st;
    size_t n;

    if (!*path) {
        fprintf(stderr, "error: empty file name\n");
        return RC_USAGE;
    }
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "error: %s is a directory\n", cli_safe(path));
        return RC_USAGE;
    }
    if (!slash) {
        memcpy(dir, ".", 2);
    } else {
        n = slash == path ? 1 : (size_t) (slash - path);
        if (n >= sizeof dir) {
            fprintf(stderr, "error: file name too long: %s\n", cli_safe(path));
            return RC_USAGE;
        }
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    /* The file is written as a temporary beside it and renamed into place. */
    if (access(dir, W_OK | X_OK) != 0) {
        fprintf(stderr, "error: cannot write %s: %s\n", cli_safe(path), strerror(errno));
        return RC_USAGE;
    }
    return RC_OK;
}

/* size_str - "512 bytes", "23.4 kB", "1.2 MB" into buf; returns buf. */
static const char *size_str(size_t n, char *buf, size_t len)
{
    if (n < 1000)
        snprintf(buf, len, "%zu bytes", n);
    else if (n < 1000000)
        snprintf(buf, len, "%.1f kB", (double) n / 1e3);
    else
        snprintf(buf, len, "%.1f MB", (double) n / 1e6);
    return buf;
}

/* appendf - printf at buf + *used; returns -1 once buf (n bytes) is full. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int
appendf(char *buf, size_t n, size_t *used, const char *fmt, ...)
{
    va_list ap;
    int k;

    if (*used >= n)
        return -1;
    va_start(ap, fmt);
    k = vsnprintf(buf + *used, n - *used, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t) k >= n - *used)
        return -1;
    *used += (size_t) k;
    return 0;
}

/*
 * label_path - "/v1/indicia/ID/label?format=...&layout=..." and the
 * optional parameters into path. Start and offset go out in the canonical
 * form the parsers produced, so they need no escaping. Returns 0 or -1.
 */
static int label_path(const struct cli_job *job, char *path, size_t n)
{
    char id[ID_MAX * 3 + 1], layout[CLI_NAME_MAX * 3 + 1], printer[CLI_NAME_MAX * 3 + 1];
    char x[16], y[16];
    size_t used = 0;

    if (cli_url_escape(job->ids[0], id, sizeof id) != 0 ||
        cli_url_escape(job->layout, layout, sizeof layout) != 0 ||
        (job->printer && cli_url_escape(job->printer, printer, sizeof printer) != 0))
        return -1;
    if (appendf(path, n, &used, "/v1/indicia/%s/label?format=%s&layout=%s", id, job->format,
                layout) != 0 ||
        (job->dpi && appendf(path, n, &used, "&dpi=%u", (unsigned) job->dpi) != 0) ||
        (job->row &&
         appendf(path, n, &used, "&start=%u,%u", (unsigned) job->row, (unsigned) job->col) != 0) ||
        (job->has_offset &&
         appendf(path, n, &used, "&offset=%s,%s", cli_format_mm(job->off_x, x, sizeof x),
                 cli_format_mm(job->off_y, y, sizeof y)) != 0) ||
        (job->printer && appendf(path, n, &used, "&printer=%s", printer) != 0))
        return -1;
    return 0;
}

/* sheet_body - the JSON text of POST /v1/sheets, owned (free()), or NULL. */
static char *sheet_body(const struct cli_job *job)
{
    json_t *obj = json_object(), *ids = json_array();
    char *text = NULL;
    size_t i;

    if (!obj || !ids)
        goto out;
    for (i = 0; i < job->nids; i++)
        if (json_array_append_new(ids, json_string(job->ids[i])) != 0)
            goto out;
    /* json_object_set (not _new) so that ids stays ours whichever step fails. */
    if (json_object_set(obj, "indicia", ids) != 0 ||
        json_object_set_new(obj, "layout", json_string(job->layout)) != 0 ||
        json_object_set_new(obj, "format", json_string(job->format)) != 0 ||
        (job->dpi && json_object_set_new(obj, "dpi", json_integer(job->dpi)) != 0) ||
        (job->row && json_object_set_new(obj, "start",
                                         json_pack("{s:I, s:I}", "row", (json_int_t) job->row,
                                                   "col", (json_int_t) job->col)) != 0) ||
        (job->has_offset &&
         json_object_set_new(obj, "offset_mm",
                             json_pack("{s:f, s:f}", "x", (double) job->off_x / 100.0, "y",
                                       (double) job->off_y / 100.0)) != 0) ||
        (job->printer && json_object_set_new(obj, "printer", json_string(job->printer)) != 0))
        goto out;
    /* Four significant digits print hundredths up to 10.00 exactly: 0.1, not 0.1000000001. */
    text = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(4));
out:
    json_decref(ids);
    json_decref(obj);
    return text;
}

/*
 * save_document - write len bytes to path: through a temporary file and
 * rename() for a regular file, directly for a device or FIFO that already
 * exists (a raw printer port, /dev/stdout). Prints the error; RC_*.
 */
static int save_document(const char *path, const char *data, size_t len)
{
    struct stat st;
    FILE *f;
    int ok;

    if (stat(path, &st) != 0 || S_ISREG(st.st_mode))
        return cli_write_file(path, data, len);
    if (!(f = fopen(path, "wb"))) {
        fprintf(stderr, "error: cannot write %s: %s\n", cli_safe(path), strerror(errno));
        return RC_USAGE;
    }
    ok = fwrite(data, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        fprintf(stderr, "error: cannot write %s: %s\n", cli_safe(path), strerror(errno));
        return RC_USAGE;
    }
    return RC_OK;
}

static int write_stdout(const char *data, size_t len)
{
    if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0) {
        fprintf(stderr, "error: cannot write to standard output\n");
        return RC_FAIL;
    }
    return RC_OK;
}

/*
 * find_program - the first executable regular file called name in $PATH
 * into buf. Empty $PATH entries (the current directory) are skipped: a
 * document printed from a download folder should not run a planted lp.
 * Returns 0, or -1 when there is none.
 */
static int find_program(const char *name, char *buf, size_t n)
{
    const char *path = getenv("PATH"), *p, *end;
    struct stat st;

    if (!path || !*path)
        path = "/usr/bin:/bin";
    for (p = path;; p = end + 1) {
        size_t len;
        end = strchr(p, ':');
        if (!end)
            end = p + strlen(p);
        len = (size_t) (end - p);
        if (len > 0 && (size_t) snprintf(buf, n, "%.*s/%s", (int) len, p, name) < n &&
            access(buf, X_OK) == 0 && stat(buf, &st) == 0 && S_ISREG(st.st_mode))
            return 0;
        if (!*end)
            break;
    }
    return -1;
}

/*
 * run_lp - `lp -d PRINTER [-o raw] FILE` through fork/execvp, waiting for
 * it. lp_path (found in $PATH) is executed as it is. With quiet_stdout,
 * lp's own stdout ("request id is ...") goes to stderr, because stdout
 * carries the document or JSON. Returns RC_OK or RC_FAIL (printed).
 */
static int run_lp(const char *lp_path, const char *printer, int raw, const char *file,
                  int quiet_stdout)
{
    static char arg0[] = LP_NAME, arg_d[] = "-d", arg_o[] = "-o", arg_raw[] = "raw";
    char dest[CLI_NAME_MAX + 1], path[4096 + 3], prog[4096];
    char *argv[7];
    int n = 0, status;
    pid_t pid;

    if (strlen(printer) >= sizeof dest || strlen(lp_path) >= sizeof prog ||
        strlen(file) >= sizeof path - 2) {
        fprintf(stderr, "error: printer or file name too long for lp\n");
        return RC_FAIL;
    }
    memcpy(dest, printer, strlen(printer) + 1);
    memcpy(prog, lp_path, strlen(lp_path) + 1);
    /* A file name starting with '-' would be read as an option. */
    snprintf(path, sizeof path, "%s%s", file[0] == '-' ? "./" : "", file);
    argv[n++] = arg0;
    argv[n++] = arg_d;
    argv[n++] = dest;
    if (raw) {
        argv[n++] = arg_o;
        argv[n++] = arg_raw;
    }
    argv[n++] = path;
    argv[n] = NULL;

    /* Buffered output would otherwise be written twice, by both processes. */
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "error: cannot start lp: %s\n", strerror(errno));
        return RC_FAIL;
    }
    if (pid == 0) {
        static const char msg[] = "error: cannot run lp\n";
        if (quiet_stdout)
            dup2(STDERR_FILENO, STDOUT_FILENO);
        execvp(prog, argv);
        if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
            /* nothing more to say */
        }
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "error: waiting for lp: %s\n", strerror(errno));
            return RC_FAIL;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return RC_OK;
    if (WIFEXITED(status))
        fprintf(stderr, "error: lp -d %s failed (exit status %d)\n", cli_safe(printer),
                WEXITSTATUS(status));
    else
        fprintf(stderr, "error: lp -d %s was killed by signal %d\n", cli_safe(printer),
                WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return RC_FAIL;
}

/* temp_document - write the document to a new private temporary file named into tmp. */
static int temp_document(const char *data, size_t len, char *tmp, size_t n)
{
    const char *dir = getenv("TMPDIR");
    size_t off = 0;
    int fd;

    if (!dir || !*dir)
        dir = "/tmp";
    if ((size_t) snprintf(tmp, n, "%s/stamp-print-XXXXXX", dir) >= n) {
        tmp[0] = '\0';
        fprintf(stderr, "error: TMPDIR is too long\n");
        return RC_FAIL;
    }
    if ((fd = mkstemp(tmp)) < 0) {
        fprintf(stderr, "error: cannot create a temporary file in %s: %s\n", cli_safe(dir),
                strerror(errno));
        tmp[0] = '\0';
        return RC_FAIL;
    }
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fprintf(stderr, "error: cannot write %s: %s\n", cli_safe(tmp), strerror(errno));
            close(fd);
            return RC_FAIL;
        }
        off += (size_t) w;
    }
    if (close(fd) != 0) {
        fprintf(stderr, "error: cannot write %s: %s\n", cli_safe(tmp), strerror(errno));
        return RC_FAIL;
    }
    return RC_OK;
}

/* report_refusal - a refused render with a printer named: the error, and a hint when useful. */
static void report_refusal(const struct cli *c, const struct cli_job *job,
                           const struct cli_doc *doc)
{
    const json_t *err = json_object_get(doc->error, "error");
    const char *code = cli_jstr(err, "code"), *field = cli_jstr(err, "field");

    if (c->json && doc->error)
        cli_print_json(doc->error);
    cli_print_api_error(doc->error, doc->status);
    if (code && strcmp(code, "not_found") == 0 && field && strcmp(field, "printer") == 0)
        fprintf(stderr, CLI_PRINTER_HINT, cli_safe(job->printer), cli_safe(job->printer));
}

int cli_job_run(const struct cli *c, const struct cli_job *job, struct cli_job_result *res)
{
    const struct format *f = find_format(job->format);
    struct cli_doc doc = {0};
    char path[2048], note[64], tmp[4096] = "", lp[4096];
    const char *target = NULL;
    char *body = NULL;
    int rc, to_stdout = job->out && strcmp(job->out, "-") == 0;

    memset(res, 0, sizeof *res);
    if (!f || job->nids == 0)
        return cli_usage_error(NULL, "internal: bad print job");
    if (job->sheet) {
        if (!(body = sheet_body(job))) {
            fprintf(stderr, "error: out of memory\n");
            return RC_FAIL;
        }
    } else if (label_path(job, path, sizeof path) != 0) {
        return cli_usage_error(NULL, "indicium id, layout or printer name is too long");
    }
    snprintf(note, sizeof note, "rendering %zu labels...", job->nids);
    rc = cli_fetch(c, job->sheet ? "POST" : "GET", job->sheet ? "/v1/sheets" : path, body, f->type,
                   CLI_RETRY | (job->printer ? CLI_KEEP_ERROR : 0u),
                   job->nids >= PROGRESS_MIN && isatty(STDERR_FILENO) ? note : NULL, &doc);
    if (rc == RC_REFUSED && job->printer)
        report_refusal(c, job, &doc);
    if (rc != RC_OK)
        goto out;
    res->bytes = doc.len;

    if (to_stdout) {
        if ((rc = write_stdout(doc.data, doc.len)) != RC_OK)
            goto out;
    } else if (job->out) {
        if ((rc = save_document(job->out, doc.data, doc.len)) != RC_OK)
            goto out;
        pv_str_copy(res->file, sizeof res->file, job->out);
    }
    if (job->printer && find_program(LP_NAME, lp, sizeof lp) != 0) {
        fprintf(stderr, "error: lp not found: install cups-client, or use --out FILE\n");
        rc = RC_FAIL;
    } else if (job->printer) {
        /* lp reads the whole file before it exits, so a temporary file will do. */
        if (res->file[0])
            target = res->file;
        else if ((rc = temp_document(doc.data, doc.len, tmp, sizeof tmp)) == RC_OK)
            target = tmp;
        if (rc == RC_OK)
            rc =
                run_lp(lp, job->printer, strcmp(f->name, "zpl") == 0, target, to_stdout || c->json);
        res->printed = rc == RC_OK;
    }
    if (!job->out && !res->printed) {
        /* No destination named, or the printer could not take it: keep it here. */
        int sr;
        if (!cli_valid_name(job->ids[0], ID_MAX) || !cli_valid_name(job->layout, CLI_NAME_MAX)) {
            fprintf(stderr, "error: cannot make a file name from '%s'; use --out FILE\n",
                    cli_safe(job->ids[0]));
            rc = rc == RC_OK ? RC_USAGE : rc;
            goto out;
        }
        snprintf(res->file, sizeof res->file, "%s-%s.%s", job->ids[0], job->layout, f->name);
        if ((sr = save_document(res->file, doc.data, doc.len)) != RC_OK) {
            res->file[0] = '\0';
            rc = rc == RC_OK ? sr : rc;
            goto out;
        }
    }
    if (rc != RC_OK && res->file[0])
        fprintf(stderr, "note: the document is saved in %s\n", cli_safe(res->file));
out:
    if (tmp[0])
        unlink(tmp);
    cli_doc_free(&doc);
    free(body);
    return rc;
}

int cli_lp_available(void)
{
    char lp[4096];

    return find_program(LP_NAME, lp, sizeof lp) == 0;
}

int cli_layout_lookup(const struct cli *c, const char *layout, int *found, int *sheet)
{
    const json_t *list, *l;
    json_t *doc = NULL;
    json_int_t per_page;
    size_t i;
    int rc;

    *found = *sheet = 0;
    if ((rc = cli_call(c, "GET", "/v1/layouts", NULL, NULL, CLI_RETRY, &doc, NULL)) != RC_OK)
        return rc;
    list = json_object_get(doc, "layouts");
    json_array_foreach(list, i, l)
    {
        const char *name = cli_jstr(l, "name"), *kind = cli_jstr(l, "kind");
        if (!name || strcmp(name, layout) != 0)
            continue;
        *found = 1;
        *sheet = (kind && strcmp(kind, "sheet") == 0) ||
                 (cli_jint(l, "labels_per_page", &per_page) && per_page > 1);
        break;
    }
    json_decref(doc);
    return RC_OK;
}

int cli_printer_lookup(const struct cli *c, const char *printer, int *found)
{
    const json_t *list, *p;
    json_t *doc = NULL;
    size_t i;
    int rc;

    *found = 0;
    rc = cli_call(c, "GET", "/v1/account/printers", NULL, NULL, CLI_RETRY, &doc, NULL);
    if (rc != RC_OK)
        return rc;
    list = json_object_get(doc, "printers");
    json_array_foreach(list, i, p)
    {
        const char *name = cli_jstr(p, "name");
        if (name && strcmp(name, printer) == 0) {
            *found = 1;
            break;
        }
    }
    json_decref(doc);
    return RC_OK;
}

/* print_summary - --json output of `stamp print`. */
static int print_summary(const struct cli_job *job, const struct cli_job_result *res)
{
    const struct format *f = find_format(job->format);
    json_t *o;
    int rc;

    o = json_pack("{s:s?, s:s, s:s, s:I, s:I, s:s, s:s?, s:b}", "file",
                  res->file[0] ? res->file : NULL, "format", f->name, "content_type", f->type,
                  "bytes", (json_int_t) res->bytes, "labels", (json_int_t) job->nids, "layout",
                  job->layout, "printer", job->printer, "printed", res->printed);
    if (!o) {
        fprintf(stderr, "error: out of memory\n");
        return RC_FAIL;
    }
    rc = cli_print_json(o);
    json_decref(o);
    return rc;
}

int cmd_print(const struct cli *c, int argc, char **argv)
{
    const char *layout = NULL, *start = NULL, *offset = NULL, *format = NULL, *dpi = NULL;
    const char *printer = NULL, *out = NULL;
    const struct cli_opt opts[] = {
        {"--layout", &layout, NULL}, {"--start", &start, NULL}, {"--offset", &offset, NULL},
        {"--format", &format, NULL}, {"--dpi", &dpi, NULL},     {"--printer", &printer, NULL},
        {"--out", &out, NULL},       {NULL, NULL, NULL},
    };
    const char *pos[CLI_PRINT_IDS_MAX + 1];
    struct cli_job job;
    struct cli_job_result res;
    const struct format *f;
    uint64_t v;
    int npos, i, rc, found;
    char size[32];

    memset(&job, 0, sizeof job);
    if ((rc = cli_parse_opts("print", argc, argv, opts, pos, CLI_PRINT_IDS_MAX + 1, &npos)) !=
        RC_OK)
        return rc;
    if (npos == 0)
        return cli_usage_error("print", "which indicia? stamp print ind_... [ind_...]");
    if (npos > CLI_PRINT_IDS_MAX)
        return cli_usage_error("print", "at most %d indicia in one print job", CLI_PRINT_IDS_MAX);
    for (i = 0; i < npos; i++)
        if (!cli_valid_name(pos[i], ID_MAX))
            return cli_usage_error("print", "'%s' is not an indicium id (ind_...)",
                                   cli_safe(pos[i]));
    if (layout && !cli_valid_name(layout, CLI_NAME_MAX))
        return cli_usage_error("print", "--layout '%s': not a layout name; see 'stamp layouts'",
                               cli_safe(layout));
    if (format && !find_format(format))
        return cli_usage_error("print", "--format '%s': expected pdf, png, svg or zpl",
                               cli_safe(format));
    if (out && !*out)
        return cli_usage_error("print", "--out needs a file name, or - for standard output");
    if (out && strcmp(out, "-") != 0) {
        const char *ext = cli_format_from_path(out);
        if (!format && !ext)
            return cli_usage_error("print",
                                   "cannot tell the format from '%s': name it .pdf, .png, .svg "
                                   "or .zpl, or give --format",
                                   cli_safe(out));
        if (format && ext && strcmp(format, ext) != 0)
            return cli_usage_error("print", "--format %s does not match the file name '%s'", format,
                                   cli_safe(out));
        if (!format)
            format = ext;
    }
    if (!format)
        format = "pdf";
    f = find_format(format);
    if (dpi) {
        if (pv_parse_u64(dpi, 1, DPI_MAX, &v) != 0)
            return cli_usage_error("print", "--dpi '%s': expected a whole number such as 300",
                                   cli_safe(dpi));
        job.dpi = (uint32_t) v;
    }
    if (start && cli_parse_start(start, &job.row, &job.col) != 0)
        return cli_usage_error("print",
                               "--start '%s': expected ROW,COLUMN of the first free label, "
                               "whole numbers from 1, such as 1,1 or 4,2",
                               cli_safe(start));
    if (offset) {
        if (cli_parse_offset(offset, &job.off_x, &job.off_y) != 0)
            return cli_usage_error("print",
                                   "--offset '%s': expected X,Y in millimetres such as "
                                   "0.5,-0.25: at most two decimals, each within 10 mm",
                                   cli_safe(offset));
        job.has_offset = 1;
    }
    if (printer && !cli_valid_name(printer, CLI_NAME_MAX))
        return cli_usage_error("print",
                               "--printer '%s': a printer name is 1 to %d letters, digits, "
                               "'.', '_' or '-'",
                               cli_safe(printer), CLI_NAME_MAX);
    if (out && strcmp(out, "-") == 0) {
        if (c->json)
            return cli_usage_error("print", "--out - and --json would both write to stdout");
        if (isatty(STDOUT_FILENO))
            return cli_usage_error("print",
                                   "will not write a %s document to a terminal; redirect "
                                   "standard output or use --out FILE",
                                   f->upper);
    } else if (out && (rc = cli_check_writable(out)) != RC_OK) {
        return rc;
    }
    if ((rc = cli_need_key(c, "print")) != RC_OK)
        return rc;

    job.ids = pos;
    job.nids = (size_t) npos;
    job.format = f->name;
    job.out = out;
    job.printer = printer;
    job.sheet = npos > 1;
    /* An unknown name goes to the label endpoint, whose unknown_layout says it best. */
    if (!job.sheet && layout && (rc = cli_layout_lookup(c, layout, &found, &job.sheet)) != RC_OK)
        return rc;
    job.layout = layout ? layout : CLI_DEFAULT_LAYOUT;

    rc = cli_job_run(c, &job, &res);
    if (rc != RC_OK)
        return rc;
    if (c->json)
        return print_summary(&job, &res);
    if (res.file[0])
        printf("saved %s (%s, %zu label%s, %s)\n", cli_safe(res.file), f->upper, job.nids,
               job.nids == 1 ? "" : "s", size_str(res.bytes, size, sizeof size));
    if (res.printed)
        fprintf(out && !res.file[0] ? stderr : stdout, "sent to printer %s\n", cli_safe(printer));
    return RC_OK;
}
