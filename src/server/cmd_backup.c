/*
 * cmd_backup.c - `stampd backup` and `stampd restore` (issue 16): one archive
 * file that holds everything a vendor needs to come back.
 *
 * The archive is a POSIX tar (ustar) written and read by the small code
 * here (no dependency): first MANIFEST (the format, the schema version, the
 * time, then one line per member with its size, its sha256 and, for a key
 * file, the absolute path it came from), then database.sqlite - a copy made
 * with SQLite's online backup API (pv_store_backup) while servers go on
 * selling, so one moment of the database - or database.pgdump (pg_dump
 * --format=custom, one snapshot, run as a subprocess with the DSN, which holds
 * no password: libpq takes it from the environment), then files/N: every file of the
 * openssl: key directories the database names (its PSDs' module, the vendor
 * CA's, the postal authority's reset signer beside the DB) and of --keys-dir,
 * and with --config FILE that file and the files it names (secrets, TLS).
 * PKCS#11 keys stay in their token: the archive cannot hold them, and says so.
 * The archive is written to a temporary file of mode 0600, fsynced, renamed.
 *
 * restore checks every member against the manifest before it writes
 * anything, never overwrites a database (or a different key file), puts the
 * key files back where they were, and opens the restored database with the
 * schema check. PostgreSQL: into an empty database, pg_restore in one transaction.
 */
#include "server/cmd_backup.h"

#include "crypto/primitives.h"
#include "domain/config.h"
#include "domain/reset_auth.h"
#include "server/cmd.h"
#include "server/cmd_config.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MANIFEST_NAME "MANIFEST"
#define DB_MEMBER     "database.sqlite"
#define PG_MEMBER     "database.pgdump" /* pg_dump --format=custom */
#define MAX_MEMBERS   1024
#define MAX_ARCHIVE   ((size_t) 1 << 34) /* 16 GiB: the archive is read whole */

struct member {
    char name[100];
    char path[PATH_MAX]; /* a key file's original path; "" for the database */
    uint8_t *data;       /* owned when written by backup, borrowed from the archive in restore */
    size_t len;
    char sha[PV_HASH_HEX];
};

struct members {
    struct member *m;
    size_t n;
};

static void members_free(struct members *ms, int owned)
{
    size_t i;

    for (i = 0; owned && i < ms->n; i++)
        free(ms->m[i].data);
    free(ms->m);
    ms->m = NULL;
    ms->n = 0;
}

static struct member *members_add(struct members *ms)
{
    struct member *m;

    if (ms->n >= MAX_MEMBERS)
        return NULL;
    if (!(m = realloc(ms->m, (ms->n + 1) * sizeof *m)))
        return NULL;
    ms->m = m;
    memset(&m[ms->n], 0, sizeof *m);
    return &m[ms->n++];
}

static void hash_hex(const uint8_t *data, size_t len, char out[PV_HASH_HEX])
{
    uint8_t h[32];

    pv_sha256(data, len, h);
    pv_hex_encode(h, sizeof h, out);
}

/* The whole regular file at path into an owned buffer. PV_OK, PV_EIO, PV_ENOMEM. */
static int slurp(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct stat sb;
    uint8_t *buf;

    *out = NULL;
    *len = 0;
    if (!f)
        return PV_EIO;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t) sb.st_size > MAX_ARCHIVE) {
        fclose(f);
        return PV_EIO;
    }
    if (!(buf = malloc(sb.st_size ? (size_t) sb.st_size : 1))) {
        fclose(f);
        return PV_ENOMEM;
    }
    if (fread(buf, 1, (size_t) sb.st_size, f) != (size_t) sb.st_size) {
        free(buf);
        fclose(f);
        return PV_EIO;
    }
    fclose(f);
    *out = buf;
    *len = (size_t) sb.st_size;
    return PV_OK;
}

/* Write all of len bytes to fd. */
static int write_all(int fd, const void *p, size_t len)
{
    const uint8_t *b = p;

    while (len) {
        ssize_t w = write(fd, b, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return PV_EIO;
        b += w;
        len -= (size_t) w;
    }
    return PV_OK;
}

/* fsync the directory that holds path. */
static void sync_dir_of(const char *path)
{
    char tmp[PATH_MAX];
    int fd;

    pv_str_copy(tmp, sizeof tmp, path);
    if ((fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY)) >= 0) {
        (void) fsync(fd);
        close(fd);
    }
}

/* Run a PostgreSQL tool (argv[0], found on PATH) and wait: PV_OK when it exits 0.
 * The DSN in argv holds no password (main refuses one): libpq takes it from
 * PGPASSWORD or ~/.pgpass, inherited through the environment. */
static int run_tool(char *const argv[])
{
    pid_t pid = fork();
    int status;

    if (pid < 0)
        return PV_EIO;
    if (pid == 0) {
        execvp(argv[0], argv);
        fprintf(stderr, "stampd: %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return PV_EIO;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return PV_OK;
    pv_cmd_err("%s failed (exit status %d)\n", argv[0],
               WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return PV_ESTORE;
}

/* ---- tar (ustar) ------------------------------------------------------------------------- */

static unsigned tar_sum(const uint8_t h[512])
{
    unsigned s = 0;
    int i;

    for (i = 0; i < 512; i++)
        s += (i >= 148 && i < 156) ? ' ' : h[i];
    return s;
}

static int tar_member(int fd, const char *name, const uint8_t *data, size_t len, int64_t mtime)
{
    static const uint8_t zero[512];
    uint8_t h[512];

    memset(h, 0, sizeof h);
    pv_str_copy((char *) h, 100, name);
    snprintf((char *) h + 100, 8, "%07o", 0600);
    snprintf((char *) h + 108, 8, "%07o", 0);
    snprintf((char *) h + 116, 8, "%07o", 0);
    snprintf((char *) h + 124, 12, "%011llo", (unsigned long long) len);
    snprintf((char *) h + 136, 12, "%011llo", (unsigned long long) mtime);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    snprintf((char *) h + 148, 8, "%06o", tar_sum(h));
    h[155] = ' ';
    if (write_all(fd, h, sizeof h) != PV_OK || write_all(fd, data, len) != PV_OK)
        return PV_EIO;
    return len % 512 ? write_all(fd, zero, 512 - len % 512) : PV_OK;
}

/* The members of the tar image a[0..n) into ms (data borrowed from a). NULL: fine,
 * else what is wrong with it. */
static const char *tar_read(const uint8_t *a, size_t n, struct members *ms)
{
    size_t off = 0;

    for (;;) {
        const uint8_t *h = a + off;
        struct member *m;
        unsigned long long size;
        char field[13], *end;
        int i, zero = 1;

        if (n - off < 512)
            return "it ends inside a header";
        for (i = 0; i < 512 && zero; i++)
            zero = h[i] == 0;
        if (zero)
            return ms->n ? NULL : "it holds nothing";
        memcpy(field, h + 148, 8);
        field[8] = 0;
        if (strtoul(field, &end, 8) != tar_sum(h) || end == field)
            return "a header's checksum does not match";
        memcpy(field, h + 124, 12);
        field[12] = 0;
        size = strtoull(field, &end, 8);
        if (end == field || h[156] != '0' || memchr(h, 0, 100) == NULL)
            return "a header is not a plain file's";
        off += 512;
        if (size > n - off)
            return "it ends inside a member";
        if (!(m = members_add(ms)))
            return "too many members";
        memcpy(m->name, h, 100);
        m->data = (uint8_t *) a + off;
        m->len = (size_t) size;
        off += (size_t) ((size + 511) / 512 * 512);
        if (off > n)
            return "it ends inside a member";
    }
}

/* ---- backup -------------------------------------------------------------------------------- */

/* The regular file path (absolute) into ms as files/N, unless it is there already. */
static int add_file(struct members *ms, const char *path)
{
    struct member *m;
    size_t i;
    int rc;

    for (i = 0; i < ms->n && strcmp(ms->m[i].path, path) != 0; i++)
        ;
    if (i < ms->n)
        return PV_OK;
    if (!(m = members_add(ms)))
        return PV_ENOMEM;
    snprintf(m->name, sizeof m->name, "files/%zu", ms->n - 1);
    pv_str_copy(m->path, sizeof m->path, path);
    if ((rc = slurp(path, &m->data, &m->len)) != PV_OK)
        pv_cmd_err("%s: cannot read it\n", path);
    return rc;
}

/* Every regular file directly in dir into ms as files/N. */
static int add_dir(struct members *ms, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int rc = PV_OK;

    if (!d) {
        pv_cmd_err("keys directory %s: %s\n", dir, strerror(errno));
        return PV_EIO;
    }
    while (rc == PV_OK && (e = readdir(d))) {
        char path[PATH_MAX];
        struct stat sb;

        if (e->d_name[0] == '.' ||
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int) sizeof path ||
            lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || strchr(path, '\n'))
            continue;
        rc = add_file(ms, path);
    }
    closedir(d);
    return rc;
}

/* pv_cmd_config_files' callback: the configuration and what it names into ms. */
static int add_configured(void *ctx, const char *path, int dir)
{
    char abs[PATH_MAX];

    if (!realpath(path, abs) || strchr(abs, '\n')) {
        pv_cmd_err("%s (named by the configuration): %s\n", path, strerror(errno));
        return PV_EIO;
    }
    return dir ? add_dir(ctx, abs) : add_file(ctx, abs);
}

/* The key directory of a module spec in the database's configuration (key): an
 * openssl: directory is added to ms; a PKCS#11 token is named on stderr. */
static int add_spec(struct pv_store *st, const char *key, struct members *ms)
{
    char *spec = NULL, abs[PATH_MAX];
    int rc;

    if ((rc = pv_store_config_get(st, key, &spec)) != PV_OK)
        return rc == PV_ENOTFOUND ? PV_OK : rc;
    if (strncmp(spec, "openssl:", 8) == 0 && realpath(spec + 8, abs))
        rc = add_dir(ms, abs);
    else if (strncmp(spec, "openssl:", 8) == 0)
        pv_cmd_err("%s: the key directory %s is missing: not in the backup\n", key, spec + 8);
    else
        pv_cmd_err("%s: PKCS#11 keys stay in their token (%.40s...): back the token up with "
                   "its own tools\n",
                   key, spec);
    free(spec);
    return rc;
}

/* The manifest of ms (schema version, time) as an owned string. */
static char *manifest_text(const struct members *ms, int version, int64_t now)
{
    size_t cap = 256 + ms->n * (PATH_MAX + 200), used;
    char *t = malloc(cap), when[32];
    size_t i;

    if (!t)
        return NULL;
    pv_time_format(now, when, sizeof when);
    used =
        (size_t) snprintf(t, cap, "stampd-backup 1\nschema %d\ncreated %s\nbackend %s\n", version,
                          when, strcmp(ms->m[0].name, DB_MEMBER) ? "postgresql" : "sqlite");
    for (i = 0; i < ms->n; i++)
        used +=
            (size_t) snprintf(t + used, cap - used, "member %s %zu %s %s\n", ms->m[i].name,
                              ms->m[i].len, ms->m[i].sha, ms->m[i].path[0] ? ms->m[i].path : "-");
    return t;
}

/* The archive: manifest and members into a temporary file, fsynced, renamed to out. */
static int write_archive(const char *out, const struct members *ms, const char *manifest,
                         int64_t now)
{
    char tmp[PATH_MAX];
    size_t i;
    int fd, rc;

    if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", out, (long) getpid()) >= (int) sizeof tmp)
        return PV_EINVAL;
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0) {
        pv_cmd_err("%s: %s\n", tmp, strerror(errno));
        return PV_EIO;
    }
    rc = tar_member(fd, MANIFEST_NAME, (const uint8_t *) manifest, strlen(manifest), now);
    for (i = 0; rc == PV_OK && i < ms->n; i++)
        rc = tar_member(fd, ms->m[i].name, ms->m[i].data, ms->m[i].len, now);
    if (rc == PV_OK) {
        static const uint8_t end[1024];
        rc = write_all(fd, end, sizeof end);
    }
    if (rc == PV_OK && fsync(fd) != 0)
        rc = PV_EIO;
    if (close(fd) != 0)
        rc = PV_EIO;
    if (rc == PV_OK && rename(tmp, out) != 0)
        rc = PV_EIO;
    if (rc != PV_OK) {
        pv_cmd_err("%s: cannot write it: %s\n", out, strerror(errno));
        unlink(tmp);
        return rc;
    }
    sync_dir_of(out);
    return PV_OK;
}

int pv_cmd_backup(const struct opts *o)
{
    const char *path = pv_cmd_sqlite_path(o->db);
    struct pv_store *st = NULL;
    struct members ms = {0};
    struct member *db;
    char tmp[PATH_MAX], *manifest = NULL;
    int64_t now = pv_now();
    int rc, version = 0;
    size_t i;

    if (!o->out) {
        pv_cmd_err("--out FILE is required\n");
        return 2;
    }
    if (!pv_cmd_db_exists(o->db))
        return 1;
    if ((rc = pv_store_open_checked(o->db, &st)) != PV_OK)
        return pv_cmd_fail("open database", rc);
    rc = pv_store_schema_version(st, &version);
    if (rc == PV_OK && !(db = members_add(&ms)))
        rc = PV_ENOMEM;
    if (rc == PV_OK) {
        snprintf(db->name, sizeof db->name, path ? DB_MEMBER : PG_MEMBER);
        if (snprintf(tmp, sizeof tmp, "%s.db-tmp%ld", o->out, (long) getpid()) >= (int) sizeof tmp)
            rc = PV_EINVAL;
        else if (path)
            rc = pv_store_backup(st, tmp);
        else {
            /* One snapshot (pg_dump's serializable transaction), while servers write. */
            char *argv[] = {"pg_dump", "--format=custom", "--no-owner",   "--file",
                            tmp,       "--dbname",        (char *) o->db, NULL};
            rc = run_tool(argv);
        }
        if (rc == PV_OK)
            rc = slurp(tmp, &db->data, &db->len);
        unlink(tmp);
    }
    if (rc == PV_OK)
        rc = add_spec(st, PV_CFG_CRYPTO, &ms);
    if (rc == PV_OK)
        rc = add_spec(st, PV_CFG_CA_MODULE, &ms);
    if (rc == PV_OK)
        rc = add_spec(st, PV_CFG_AUTH_SPEC, &ms);
    pv_store_close(st);
    if (rc == PV_OK && o->keys_dir)
        rc = add_dir(&ms, o->keys_dir);
    if (rc == PV_OK && o->config && pv_cmd_config_files(o->config, add_configured, &ms) != 0)
        rc = PV_EINVAL;
    if (rc == PV_OK) {
        for (i = 0; i < ms.n; i++)
            hash_hex(ms.m[i].data, ms.m[i].len, ms.m[i].sha);
        if (!(manifest = manifest_text(&ms, version, now)))
            rc = PV_ENOMEM;
    }
    if (rc == PV_OK)
        rc = write_archive(o->out, &ms, manifest, now);
    if (rc == PV_OK)
        fprintf(stderr,
                "stampd: backed up %s (schema v%d, %zu key and configuration files) to %s\n",
                pv_cmd_db_name(o->db), version, ms.n - 1, o->out);
    free(manifest);
    members_free(&ms, 1);
    return rc == PV_OK ? 0 : pv_cmd_fail("backup", rc);
}

/* ---- restore ------------------------------------------------------------------------------- */

/* Check every member against the manifest (its first member) and take the key
 * files' paths from it. NULL: the archive is whole; else what is wrong. */
static const char *check_manifest(struct members *ms, int *version)
{
    const struct member *man = &ms->m[0];
    char *text, *line, *save = NULL;
    size_t listed = 0, i;
    const char *why = NULL;

    if (strcmp(man->name, MANIFEST_NAME) != 0)
        return "its first member is not the manifest";
    if (!(text = malloc(man->len + 1)))
        return "out of memory";
    memcpy(text, man->data, man->len);
    text[man->len] = 0;
    if (strncmp(text, "stampd-backup 1\n", 16) != 0)
        why = "it is not a stampd backup (version 1)";
    for (line = strtok_r(text, "\n", &save); line && !why; line = strtok_r(NULL, "\n", &save)) {
        char name[100], sha[PV_HASH_HEX], real[PV_HASH_HEX];
        unsigned long long len;
        int at = 0;

        if (sscanf(line, "schema %d", version) == 1)
            continue;
        if (strncmp(line, "member ", 7) != 0)
            continue;
        if (sscanf(line, "member %99s %llu %64s %n", name, &len, sha, &at) != 3 || !at) {
            why = "a manifest line is malformed";
            break;
        }
        for (i = 1; i < ms->n && strcmp(ms->m[i].name, name) != 0; i++)
            ;
        if (i == ms->n) {
            why = "a member the manifest lists is missing";
            break;
        }
        hash_hex(ms->m[i].data, ms->m[i].len, real);
        if (ms->m[i].len != len || strcmp(real, sha) != 0) {
            why = "a member's sha256 does not match the manifest";
            break;
        }
        if (strcmp(line + at, "-") != 0)
            pv_str_copy(ms->m[i].path, sizeof ms->m[i].path, line + at);
        memcpy(ms->m[i].sha, real, sizeof real);
        listed++;
    }
    free(text);
    if (!why && listed != ms->n - 1)
        why = "it holds a member the manifest does not list";
    if (!why && (ms->n < 2 ||
                 (strcmp(ms->m[1].name, DB_MEMBER) != 0 && strcmp(ms->m[1].name, PG_MEMBER) != 0)))
        why = "it holds no database";
    return why;
}

/* mkdir -p of path's directory, mode 0700. */
static void make_parents(const char *path)
{
    char tmp[PATH_MAX], *p;

    pv_str_copy(tmp, sizeof tmp, path);
    for (p = tmp + 1; (p = strchr(p, '/')); p++) {
        *p = 0;
        (void) mkdir(tmp, 0700);
        *p = '/';
    }
}

/* data into a new file at path (0600): a temporary, fsynced, linked (never over another). */
static int put_file(const char *path, const uint8_t *data, size_t len)
{
    char tmp[PATH_MAX];
    int fd, rc;

    if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long) getpid()) >= (int) sizeof tmp)
        return PV_EINVAL;
    make_parents(path);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0) {
        pv_cmd_err("%s: %s\n", tmp, strerror(errno));
        return PV_EIO;
    }
    rc = write_all(fd, data, len);
    if (rc == PV_OK && fsync(fd) != 0)
        rc = PV_EIO;
    if (close(fd) != 0)
        rc = PV_EIO;
    if (rc == PV_OK && link(tmp, path) != 0) {
        pv_cmd_err("%s: %s\n", path, strerror(errno));
        rc = errno == EEXIST ? PV_EEXIST : PV_EIO;
    }
    unlink(tmp);
    if (rc == PV_OK)
        sync_dir_of(path);
    return rc;
}

/* 0: path is missing; 1: it holds exactly m's bytes; -1: something else is there. */
static int existing(const struct member *m)
{
    uint8_t *data;
    size_t len;
    int same;
    struct stat sb;

    if (lstat(m->path, &sb) != 0 && errno == ENOENT)
        return 0;
    if (slurp(m->path, &data, &len) != PV_OK)
        return -1;
    same = len == m->len && memcmp(data, m->data, len) == 0;
    free(data);
    return same ? 1 : -1;
}

/* 1 when the target database exists (a SQLite file, or a PostgreSQL database
 * with a schema in it), said on stderr; 0 when restore may fill it. */
static int target_taken(const struct opts *o, const char *path)
{
    char side[PATH_MAX + 8];
    struct pv_store *st = NULL;
    struct stat sb;
    int version = -1, rc;

    if (path) {
        snprintf(side, sizeof side, "%s-wal", path);
        if (stat(path, &sb) != 0 && stat(side, &sb) != 0)
            return 0;
        pv_cmd_err("%s already exists: restore never overwrites a database\n", path);
        return 1;
    }
    if ((rc = pv_store_open(o->db, &st)) == PV_OK)
        rc = pv_store_schema_version(st, &version);
    pv_store_close(st);
    if (rc == PV_OK && version == 0)
        return 0;
    if (rc != PV_OK)
        pv_cmd_fail("open the target database (create it empty first)", rc);
    else
        pv_cmd_err("%s already holds a stampd database (schema v%d): restore never overwrites "
                   "a database\n",
                   pv_cmd_db_name(o->db), version);
    return 1;
}

/* The database member m into the target: a SQLite file (put_file), or pg_restore
 * of the dump into the empty PostgreSQL database in one transaction. */
static int put_db(const struct opts *o, const char *path, const struct member *m)
{
    char tmp[PATH_MAX];
    int rc;

    if (path)
        return put_file(path, m->data, m->len);
    if (snprintf(tmp, sizeof tmp, "%s.pg-tmp%ld", o->in, (long) getpid()) >= (int) sizeof tmp)
        return PV_EINVAL;
    if ((rc = put_file(tmp, m->data, m->len)) == PV_OK) {
        char *argv[] = {"pg_restore",
                        "--no-owner",
                        "--exit-on-error",
                        "--single-transaction",
                        "--dbname",
                        (char *) o->db,
                        tmp,
                        NULL};
        rc = run_tool(argv);
    }
    unlink(tmp);
    return rc;
}

int pv_cmd_restore(const struct opts *o)
{
    const char *path = pv_cmd_sqlite_path(o->db), *why;
    struct members ms = {0};
    struct pv_store *st = NULL;
    uint8_t *a = NULL;
    size_t n = 0, i, put = 0;
    int rc, version = 0;

    if (!o->in) {
        pv_cmd_err("--in FILE is required\n");
        return 2;
    }
    if (target_taken(o, path))
        return 1;
    if ((rc = slurp(o->in, &a, &n)) != PV_OK) {
        pv_cmd_err("%s: cannot read it: %s\n", o->in, strerror(errno));
        return 1;
    }
    if (!(why = tar_read(a, n, &ms)))
        why = check_manifest(&ms, &version);
    if (!why && strcmp(ms.m[1].name, path ? DB_MEMBER : PG_MEMBER) != 0)
        why = path ? "it holds a PostgreSQL dump, and --db names SQLite"
                   : "it holds a SQLite database, and --db names PostgreSQL";
    for (i = 2; !why && i < ms.n; i++)
        if (!ms.m[i].path[0] || ms.m[i].path[0] != '/' || strstr(ms.m[i].path, "/../"))
            why = "a key file's path is not absolute";
        else if (existing(&ms.m[i]) < 0) {
            pv_cmd_err("%s exists and differs from the backup's: restore never overwrites a "
                       "key\n",
                       ms.m[i].path);
            members_free(&ms, 0);
            free(a);
            return 1;
        }
    if (why) {
        pv_cmd_err("%s: the archive is corrupt or not a stampd backup: %s; nothing restored\n",
                   o->in, why);
        members_free(&ms, 0);
        free(a);
        return 1;
    }
    rc = put_db(o, path, &ms.m[1]);
    for (i = 2; rc == PV_OK && i < ms.n; i++)
        if (existing(&ms.m[i]) == 0 &&
            (rc = put_file(ms.m[i].path, ms.m[i].data, ms.m[i].len)) == PV_OK)
            put++;
    members_free(&ms, 0);
    free(a);
    if (rc != PV_OK)
        return pv_cmd_fail("restore", rc);
    if ((rc = pv_store_open_checked(o->db, &st)) != PV_OK)
        return pv_cmd_fail("restored database: schema check", rc);
    pv_store_close(st);
    fprintf(stderr,
            "stampd: restored %s (schema v%d) and %zu key files from %s; the schema "
            "checks\n",
            pv_cmd_db_name(o->db), version, put, o->in);
    return 0;
}
