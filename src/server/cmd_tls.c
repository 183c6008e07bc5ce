/*
 * cmd_tls.c - the internal CA and the certificates of the front <->
 * processor channel (docs/operations.md, "Internal TLS").
 *
 *   stampd tls init --dir DIR [--front NAME] --processor NAME=HOST[,HOST...]...
 *                   [--days N]
 *   stampd tls issue --dir DIR (--front NAME | --processor NAME=HOST[,HOST...])
 *                    [--days N]
 *
 * init makes a new internal CA (ca.pem, ca.key; ten years) in DIR, a client
 * certificate for the front (front.pem/.key, or NAME's) and a server
 * certificate for each processor, whose subjectAltName holds the HOSTs the
 * front will dial (the host of the address the processor registers). issue
 * adds or renews one certificate with the CA key of DIR. Keys are EC P-256,
 * PKCS#8 PEM, mode 0600; certificates 0644; no file is ever overwritten
 * (O_EXCL), and a run that fails removes what it wrote.
 *
 * At start-up stampd front and stampd processor read theirs from
 * --internal-tls-dir DIR (ca.pem, NAME.pem, NAME.key) and check them: a
 * key file group or others may read is refused, like the internal secret's.
 */
#include "server/cmd_tls.h"

#include "crypto/x509.h"
#include "stampd/card.h"
#include "stampd/codec.h"
#include "stampd/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 32
#define PEM_MAX   (64 * 1024)
#define CA_DAYS   3650
#define LEAF_DAYS 397
#define NAME_LEN  32
#define FILES_MAX (2 * (MAX_PROCS + 2))
#define DAY_S     86400

struct host_cert {
    const char *name; /* borrowed from argv (up to '=') */
    char name_buf[NAME_LEN];
    char hosts_buf[PV_X509_SAN_MAX * (PV_X509_NAME_MAX + 1)];
    const char *san[PV_X509_SAN_MAX];
};

/* The files one run wrote, removed again if it fails. */
struct written {
    char paths[FILES_MAX][512];
    size_t n;
};

/* A certificate or key name: [a-z0-9_-], 1..31, not "ca". */
static int good_name(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n >= NAME_LEN || (n == 2 && strncmp(s, "ca", 2) == 0))
        return 0;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
              s[i] == '_'))
            return 0;
    return 1;
}

/* "NAME=HOST[,HOST...]" into h. */
static int parse_proc(const char *arg, struct host_cert *h)
{
    const char *eq = strchr(arg, '=');
    char *p, *save = NULL;
    size_t k = 0;

    memset(h, 0, sizeof *h);
    if (!eq || !good_name(arg, (size_t) (eq - arg)) || strlen(eq + 1) >= sizeof h->hosts_buf ||
        !eq[1])
        return -1;
    memcpy(h->name_buf, arg, (size_t) (eq - arg));
    h->name = h->name_buf;
    pv_str_copy(h->hosts_buf, sizeof h->hosts_buf, eq + 1);
    for (p = strtok_r(h->hosts_buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (k == PV_X509_SAN_MAX)
            return -1;
        h->san[k++] = p;
    }
    return k ? 0 : -1;
}

/* Write len bytes to the new file dir/name with mode; recorded in w. */
static int write_new(struct written *w, const char *dir, const char *name, const char *text,
                     mode_t mode)
{
    char path[512];
    size_t len = strlen(text);
    int fd, ok;

    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int) sizeof path || w->n == FILES_MAX) {
        pv_cmd_err("tls: %s/%s: path too long\n", dir, name);
        return PV_ECONFIG;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        pv_cmd_err("tls: %s: %s%s\n", path, strerror(errno),
                   errno == EEXIST ? " (it exists: stampd never overwrites a key or certificate; "
                                     "remove it first, or use stampd tls issue with a new name)"
                                   : "");
        return PV_EIO;
    }
    pv_str_copy(w->paths[w->n++], sizeof w->paths[0], path);
    ok = fchmod(fd, mode) == 0 && write(fd, text, len) == (ssize_t) len && fsync(fd) == 0;
    if (close(fd) != 0)
        ok = 0;
    if (!ok) {
        pv_cmd_err("tls: %s: %s\n", path, strerror(errno));
        return PV_EIO;
    }
    return PV_OK;
}

/* A new key and a certificate for it from the CA, written as dir/name.{key,pem}. */
static int issue_one(struct written *w, const char *dir, const char *name, const char *const *san,
                     unsigned usage, uint64_t days, const char *ca_pem, const char *ca_key)
{
    struct pv_x509_spec spec;
    char *key = NULL, *pub = NULL, *cert = NULL, file[NAME_LEN + 8];
    int64_t now = (int64_t) time(NULL);
    size_t i;
    int rc;

    memset(&spec, 0, sizeof spec);
    spec.common_name = name;
    spec.organization = "stampd internal";
    spec.not_before = now - 300; /* a little clock skew between hosts */
    spec.not_after = now + (int64_t) days * DAY_S;
    spec.usage = usage;
    for (i = 0; san && i < PV_X509_SAN_MAX && san[i]; i++)
        spec.san[i] = san[i];
    if ((rc = pv_x509_key_new(&key)) != PV_OK || (rc = pv_x509_public_pem(key, &pub)) != PV_OK)
        goto out;
    if ((rc = pv_x509_issue(&spec, pub, ca_pem, ca_key, &cert)) != PV_OK) {
        if (rc == PV_EINVAL)
            pv_cmd_err("tls: %s: a host name or address is not valid\n", name);
        goto out;
    }
    snprintf(file, sizeof file, "%s.key", name);
    if ((rc = write_new(w, dir, file, key, S_IRUSR | S_IWUSR)) != PV_OK)
        goto out;
    snprintf(file, sizeof file, "%s.pem", name);
    rc = write_new(w, dir, file, cert, S_IRUSR | S_IWUSR | S_IRGRP | S_IROTH);
out:
    if (key)
        pv_card_wipe(key, strlen(key));
    free(key);
    free(pub);
    free(cert);
    return rc;
}

int pv_cmd_tls_read_pem(const char *path, int secret, char **out)
{
    struct stat sb;
    char *buf = NULL;
    size_t len = 0;
    ssize_t got;
    int fd, rc = PV_EIO;

    *out = NULL;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        pv_cmd_err("%s: %s\n", path, strerror(errno));
        return PV_EIO;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        pv_cmd_err("%s is not a regular file\n", path);
        rc = PV_ECONFIG;
        goto out;
    }
    if (secret && (sb.st_mode & (S_IRWXG | S_IRWXO))) {
        pv_cmd_err("private key %s has mode %04o: group or others may read it "
                   "(chmod 600 %s)\n",
                   path, (unsigned) (sb.st_mode & 07777), path);
        rc = PV_ECONFIG;
        goto out;
    }
    if (!(buf = malloc(PEM_MAX + 1))) {
        rc = PV_ENOMEM;
        goto out;
    }
    while (len <= PEM_MAX && (got = read(fd, buf + len, PEM_MAX + 1 - len)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            pv_cmd_err("%s: %s\n", path, strerror(errno));
            goto out;
        }
        len += (size_t) got;
    }
    if (len > PEM_MAX || len == 0 || memchr(buf, '\0', len)) {
        pv_cmd_err("%s is not a PEM file of at most %d bytes\n", path, PEM_MAX);
        rc = PV_ECONFIG;
        goto out;
    }
    buf[len] = '\0';
    *out = buf;
    buf = NULL;
    rc = PV_OK;
out:
    if (buf) {
        pv_card_wipe(buf, PEM_MAX + 1);
        free(buf);
    }
    close(fd);
    return rc;
}

static int path_in(char *buf, size_t n, const char *dir, const char *name, const char *ext)
{
    int w = snprintf(buf, n, "%s/%s%s", dir, name, ext);

    return w > 0 && (size_t) w < n ? 0 : -1;
}

void pv_tls_clear(struct pv_tls *t)
{
    if (!t)
        return;
    if (t->key_pem)
        pv_card_wipe(t->key_pem, strlen(t->key_pem));
    free(t->key_pem);
    free(t->cert_pem);
    free(t->ca_pem);
    memset(t, 0, sizeof *t);
}

int pv_cmd_tls_load(const struct opts *o, const char *mode, const char *dflt, int client,
                    struct pv_tls *out)
{
    const char *name = o->internal_tls_name ? o->internal_tls_name : dflt;
    char ca[600], crt[600], key[600], why[160];
    int rc;

    memset(out, 0, sizeof *out);
    if (!good_name(name, strlen(name))) {
        pv_cmd_err("%s: --internal-tls-name takes a certificate name: 1-31 of a-z 0-9 - _\n", mode);
        return PV_ECONFIG;
    }
    if (!o->internal_tls_dir[0] || path_in(ca, sizeof ca, o->internal_tls_dir, "ca", ".pem") ||
        path_in(crt, sizeof crt, o->internal_tls_dir, name, ".pem") ||
        path_in(key, sizeof key, o->internal_tls_dir, name, ".key")) {
        pv_cmd_err("%s: --internal-tls-dir is empty or too long\n", mode);
        return PV_ECONFIG;
    }
    if ((rc = pv_cmd_tls_read_pem(ca, 0, &out->ca_pem)) != PV_OK ||
        (rc = pv_cmd_tls_read_pem(crt, 0, &out->cert_pem)) != PV_OK ||
        (rc = pv_cmd_tls_read_pem(key, 1, &out->key_pem)) != PV_OK)
        goto fail;
    if (pv_x509_check(out->cert_pem, out->key_pem, out->ca_pem,
                      client ? PV_X509_CLIENT : PV_X509_SERVER, (int64_t) time(NULL), why,
                      sizeof why) != PV_OK) {
        pv_cmd_err("%s: %s is not a usable %s certificate of %s with %s: %s (stampd tls "
                   "issue makes one)\n",
                   mode, crt, client ? "client (front)" : "server (processor)", ca, key, why);
        rc = PV_ECONFIG;
        goto fail;
    }
    return PV_OK;
fail:
    pv_tls_clear(out);
    return rc;
}

static int usage_tls(void)
{
    fprintf(stderr, "usage:\n"
                    "  stampd tls init --dir DIR [--front NAME] --processor NAME=HOST[,HOST...] "
                    "... [--days N]\n"
                    "  stampd tls issue --dir DIR (--front NAME | --processor "
                    "NAME=HOST[,HOST...]) [--days N]\n"
                    "NAME: 1-31 of a-z 0-9 - _; HOST: a DNS name or an IP address the front "
                    "dials; --days: 1-3650 (default 397)\n");
    return 2;
}

/* mkdir DIR with mode 0700 unless it exists; refuse a DIR others may use. */
static int prepare_dir(const char *dir)
{
    struct stat sb;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        pv_cmd_err("tls: %s: %s\n", dir, strerror(errno));
        return PV_EIO;
    }
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        pv_cmd_err("tls: %s is not a directory\n", dir);
        return PV_ECONFIG;
    }
    if (sb.st_mode & (S_IWGRP | S_IWOTH)) {
        pv_cmd_err("tls: %s is writable by group or others (chmod 700 %s)\n", dir, dir);
        return PV_ECONFIG;
    }
    return PV_OK;
}

int pv_cmd_tls(int argc, char **argv)
{
    static struct host_cert procs[MAX_PROCS];
    static struct written w;
    const char *dir = NULL, *front = NULL, *days_s = NULL;
    char *ca_key = NULL, *ca_pem = NULL, path[600];
    size_t nprocs = 0, i;
    uint64_t days = LEAF_DAYS;
    int init, a, rc = PV_OK;

    if (argc < 3 || (strcmp(argv[2], "init") != 0 && strcmp(argv[2], "issue") != 0))
        return usage_tls();
    init = strcmp(argv[2], "init") == 0;
    memset(&w, 0, sizeof w);
    for (a = 3; a < argc; a++) {
        const char *v = a + 1 < argc ? argv[a + 1] : NULL;
        if (!v)
            return usage_tls();
        if (strcmp(argv[a], "--dir") == 0) {
            dir = v;
        } else if (strcmp(argv[a], "--front") == 0) {
            front = v;
        } else if (strcmp(argv[a], "--days") == 0) {
            days_s = v;
        } else if (strcmp(argv[a], "--processor") == 0) {
            if (nprocs == MAX_PROCS || parse_proc(v, &procs[nprocs]) != 0) {
                pv_cmd_err("tls: --processor NAME=HOST[,HOST...] (up to %d "
                           "processors, %d hosts each)\n",
                           MAX_PROCS, PV_X509_SAN_MAX);
                return 2;
            }
            nprocs++;
        } else {
            return usage_tls();
        }
        a++;
    }
    if (!dir || !dir[0] || (days_s && pv_parse_u64(days_s, 1, CA_DAYS, &days) != PV_OK) ||
        (front && !good_name(front, strlen(front))) ||
        (init ? nprocs == 0 : (nprocs + (front != NULL)) != 1))
        return usage_tls();
    for (i = 0; i < nprocs; i++) {
        size_t j;
        int dup = (front && strcmp(front, procs[i].name) == 0) ||
                  (!front && init && strcmp(procs[i].name, "front") == 0);
        for (j = 0; j < i; j++)
            dup |= strcmp(procs[i].name, procs[j].name) == 0;
        if (dup) {
            pv_cmd_err("tls: two certificates named %s\n", procs[i].name);
            return 2;
        }
    }
    if ((rc = prepare_dir(dir)) != PV_OK)
        return 1;
    if (init) {
        struct pv_x509_spec spec;
        int64_t now = (int64_t) time(NULL);

        memset(&spec, 0, sizeof spec);
        spec.common_name = "stampd internal CA";
        spec.organization = "stampd internal";
        spec.not_before = now - 300;
        spec.not_after = now + (int64_t) CA_DAYS * DAY_S;
        spec.usage = PV_X509_CA;
        if ((rc = pv_x509_key_new(&ca_key)) != PV_OK ||
            (rc = pv_x509_issue(&spec, NULL, NULL, ca_key, &ca_pem)) != PV_OK ||
            (rc = write_new(&w, dir, "ca.key", ca_key, S_IRUSR | S_IWUSR)) != PV_OK ||
            (rc = write_new(&w, dir, "ca.pem", ca_pem, S_IRUSR | S_IWUSR | S_IRGRP | S_IROTH)) !=
                PV_OK)
            goto out;
        if (!front)
            front = "front";
    } else {
        if (path_in(path, sizeof path, dir, "ca", ".pem") ||
            pv_cmd_tls_read_pem(path, 0, &ca_pem) != PV_OK ||
            path_in(path, sizeof path, dir, "ca", ".key") ||
            pv_cmd_tls_read_pem(path, 1, &ca_key) != PV_OK) {
            pv_cmd_err("tls issue needs the CA of stampd tls init in %s (ca.pem, "
                       "ca.key)\n",
                       dir);
            rc = PV_ECONFIG;
            goto out;
        }
    }
    if (front &&
        (rc = issue_one(&w, dir, front, NULL, PV_X509_CLIENT, days, ca_pem, ca_key)) != PV_OK)
        goto out;
    for (i = 0; i < nprocs; i++)
        if ((rc = issue_one(&w, dir, procs[i].name, procs[i].san, PV_X509_SERVER, days, ca_pem,
                            ca_key)) != PV_OK)
            goto out;
out:
    if (ca_key)
        pv_card_wipe(ca_key, strlen(ca_key));
    free(ca_key);
    free(ca_pem);
    if (rc != PV_OK) {
        /* Nothing half-made: a CA without its certificates, or a key without one. */
        for (i = 0; i < w.n; i++)
            unlink(w.paths[i]);
        return pv_cmd_fail("tls", rc);
    }
    for (i = 0; i < w.n; i++)
        printf("%s\n", w.paths[i]);
    pv_cmd_err("tls: wrote %zu files to %s. Give each host ca.pem and its own NAME.pem "
               "and NAME.key (stampd front/processor --internal-tls-dir); keep ca.key offline.\n",
               w.n, dir);
    return 0;
}
