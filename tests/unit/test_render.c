/*
 * test_render.c - printing: the layout table, format names, option errors,
 * document structure (PDF page sizes and counts, PNG pixel sizes, SVG
 * sizes, ZPL labels) and, above all, that what is printed scans: every
 * layout in every format is decoded by programs nobody here wrote -
 * dmtxread (libdmtx) on the whole page, ZXingReader (zxing-cpp) on the
 * symbol's region - and the bytes must equal the indicium exactly and
 * verify under the key that signed them. Vector formats are rasterised
 * with pdftoppm and rsvg-convert first; ZPL's ^GFA graphic field is turned
 * back into an image here. A full Avery 5160 sheet gives 30 decodes, each
 * at its own grid position.
 *
 * The decoders are required (scripts/deps.sh test installs them): a
 * missing one fails the suite rather than skipping it. Files go under
 * $STAMPD_TEST_TMP/render.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "crypto/crypto.h"
#include "render/render.h"
#include "stampd/error.h"
#include "stampd/indicium.h"

#include <cairo.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CMD_CAP  4096
#define PATH_CAP 1024
#define MAX_HITS 40

/* ---- fixtures: real indicia signed with a key made for the run -------------- */

struct sample {
    struct pv_indicium ind;
    uint8_t bytes[PV_INDICIUM_MAX];
    size_t len;
};

static char tmpdir[PATH_CAP];
static char keydir[PATH_CAP];
static struct pv_crypto *cm;
static char *key_ref, *pub_pem;

/* 32 characters: the longest medium serial the format allows. */
static const char long_medium[] = "AV5160-B0042-S000123-L07-K9QX2ZT";

static void make_sample(struct sample *s, uint32_t serial, const char *medium, uint8_t flags)
{
    uint8_t body[PV_INDICIUM_MAX];
    size_t body_len;

    memset(s, 0, sizeof *s);
    s->ind.version = PV_INDICIUM_V1;
    s->ind.sig_alg = PV_SIGALG_P256_SHA256;
    s->ind.flags = flags;
    snprintf(s->ind.license, sizeof s->ind.license, "PV1000001");
    s->ind.device_id = 3;
    s->ind.key_id = 3;
    s->ind.serial = serial;
    s->ind.ascending_mills = 740 * (int64_t) serial;
    s->ind.postage_mills = 740;
    s->ind.mail_date = 20261122;
    s->ind.mail_class = 1;
    s->ind.weight_tenth_oz = 10;
    snprintf(s->ind.from_zip, sizeof s->ind.from_zip, "94107");
    snprintf(s->ind.to_zip, sizeof s->ind.to_zip, serial % 2 ? "100011234" : "10001");
    snprintf(s->ind.software_id, sizeof s->ind.software_id, PV_SOFTWARE_ID);
    if (medium)
        snprintf(s->ind.medium_serial, sizeof s->ind.medium_serial, "%s", medium);
    assert_int_equal(pv_indicium_encode_body(&s->ind, body, sizeof body, &body_len), PV_OK);
    assert_int_equal(pv_crypto_sign(cm, key_ref, body, body_len, s->ind.signature), PV_OK);
    assert_int_equal(pv_indicium_encode(&s->ind, s->bytes, sizeof s->bytes, &s->len), PV_OK);
}

static struct pv_label_item item_of(const struct sample *s)
{
    struct pv_label_item it = {s->bytes, s->len, &s->ind, NULL, NULL, 0};
    return it;
}

static int tool_present(const char *name)
{
    char cmd[256];

    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

static int group_setup(void **state)
{
    static const char *const tools[] = {"dmtxread", "ZXingReader", "pdftoppm", "rsvg-convert"};
    const char *base = getenv("STAMPD_TEST_TMP");
    char spec[PATH_CAP + 16];
    size_t i;

    (void) state;
    for (i = 0; i < sizeof tools / sizeof tools[0]; i++)
        if (!tool_present(tools[i])) {
            fprintf(stderr, "test_render: %s is missing (scripts/deps.sh test installs it)\n",
                    tools[i]);
            return -1;
        }
    if (!base || !*base)
        base = "/tmp";
    if (mkdir(base, 0700) != 0 && errno != EEXIST)
        return -1;
    if (snprintf(tmpdir, sizeof tmpdir, "%s/render", base) >= (int) sizeof tmpdir - 64)
        return -1;
    if (mkdir(tmpdir, 0700) != 0 && errno != EEXIST)
        return -1;
    if (strchr(tmpdir, '\'')) /* paths go into shell commands in quotes */
        return -1;
    if (snprintf(keydir, sizeof keydir, "%.900s/keys-XXXXXX", tmpdir) >= (int) sizeof keydir)
        return -1;
    if (!mkdtemp(keydir))
        return -1;
    snprintf(spec, sizeof spec, "openssl:%s", keydir);
    if (pv_crypto_open(spec, &cm) != PV_OK ||
        pv_crypto_generate_key(cm, "psd-render", &key_ref, &pub_pem) != PV_OK)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void) state;
    pv_crypto_close(cm);
    if (key_ref)
        unlink(key_ref);
    rmdir(keydir);
    free(key_ref);
    free(pub_pem);
    cairo_debug_reset_static_data();
    return 0;
}

/* ---- helpers ------------------------------------------------------------------- */

static uint8_t *render_ok(const struct pv_layout *l, const struct pv_label_item *items, size_t n,
                          int format, unsigned dpi, unsigned row, unsigned col, int32_t ox,
                          int32_t oy, size_t *len)
{
    struct pv_render_opts o = {format, dpi, row, col, ox, oy};
    uint8_t *out = NULL;
    int rc = pv_render(l, items, n, &o, &out, len);

    if (rc != PV_OK)
        fail_msg("pv_render(%s, fmt %d, dpi %u): %d %s", l->name, format, dpi, rc, pv_strerror(rc));
    assert_non_null(out);
    assert_true(*len > 0);
    return out;
}

static int render_rc(const struct pv_layout *l, const struct pv_label_item *items, size_t n,
                     int format, unsigned dpi, unsigned row, unsigned col, int32_t ox, int32_t oy)
{
    struct pv_render_opts o = {format, dpi, row, col, ox, oy};
    uint8_t *out = (uint8_t *) &o; /* must come back NULL on error */
    size_t len = 1;
    int rc = pv_render(l, items, n, &o, &out, &len);

    if (rc == PV_OK)
        free(out);
    else {
        assert_null(out);
        assert_int_equal(len, 0);
    }
    return rc;
}

static void path_for(char *buf, size_t cap, const char *name)
{
    assert_true(snprintf(buf, cap, "%s/%s", tmpdir, name) < (int) cap);
}

static void write_file(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Runs cmd through the shell; returns its exit status and (owned) stdout. */
static int run(const char *cmd, uint8_t **out, size_t *out_len)
{
    FILE *p = popen(cmd, "r");
    size_t cap = 4096, len = 0, got;
    uint8_t *buf = malloc(cap);
    int st;

    assert_non_null(p);
    assert_non_null(buf);
    while ((got = fread(buf + len, 1, cap - len, p)) > 0) {
        len += got;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            assert_non_null(nb);
            buf = nb;
            cap *= 2;
        }
    }
    st = pclose(p);
    if (out) {
        *out = buf;
        *out_len = len;
    } else
        free(buf);
    return st;
}

static void run_ok(const char *cmd)
{
    if (run(cmd, NULL, NULL) != 0)
        fail_msg("command failed: %s", cmd);
}

static const uint8_t *find_bytes(const uint8_t *hay, size_t n, const char *needle, size_t from)
{
    size_t nl = strlen(needle), i;

    for (i = from; nl <= n && i <= n - nl; i++)
        if (memcmp(hay + i, needle, nl) == 0)
            return hay + i;
    return NULL;
}

/* ---- decoders ---------------------------------------------------------------- */

struct hit {
    uint8_t data[512];
    size_t len;
    int size;              /* modules per side */
    double x0, y0, x1, y1; /* bounding box of the corners, pixels from top left */
};

/* The length of the indicium at the start of p (n bytes available): the
 * format carries it (73 + medium serial length + 64), which is how the
 * messages dmtxread prints back to back are told apart. */
static size_t indicium_len_at(const uint8_t *p, size_t n)
{
    if (n < PV_INDICIUM_MIN)
        return n;
    return PV_INDICIUM_FIXED + p[PV_INDICIUM_FIXED - 1] + PV_SIG_LEN;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = malloc((size_t) n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t) n, f), (size_t) n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t) n;
    return buf;
}

/*
 * dmtxread -v writes each message to stdout (raw bytes, nothing between
 * two messages) and, before it, a block of details to stderr whose corners
 * are pixels from the image's top-left corner. The n-th block belongs to
 * the n-th message.
 */
static int dmtx_scan(const char *png, int max, struct hit *hits)
{
    char cmd[CMD_CAP], errpath[PATH_CAP];
    uint8_t *out, *err;
    size_t len, err_len, pos = 0;
    const char *blk;
    int n = 0;

    snprintf(errpath, sizeof errpath, "%s.dmtx", png);
    snprintf(cmd, sizeof cmd, "dmtxread -v -N%d '%s' 2>'%s'", max, png, errpath);
    run(cmd, &out, &len); /* exits 1 when it finds fewer than -N */
    err = read_file(errpath, &err_len);
    for (blk = strstr((char *) err, "Matrix Size:"); blk; blk = strstr(blk + 1, "Matrix Size:")) {
        const char *c;
        int i;

        assert_true(n < MAX_HITS);
        assert_int_equal(sscanf(blk, "Matrix Size: %d", &hits[n].size), 1);
        hits[n].x0 = hits[n].y0 = 1e9;
        hits[n].x1 = hits[n].y1 = -1e9;
        for (i = 0; i < 4; i++) {
            char key[32];
            double x, y;

            snprintf(key, sizeof key, "Corner %d:", i);
            c = strstr(blk, key);
            assert_non_null(c);
            assert_int_equal(sscanf(c + strlen(key), " (%lf, %lf)", &x, &y), 2);
            hits[n].x0 = x < hits[n].x0 ? x : hits[n].x0;
            hits[n].x1 = x > hits[n].x1 ? x : hits[n].x1;
            hits[n].y0 = y < hits[n].y0 ? y : hits[n].y0;
            hits[n].y1 = y > hits[n].y1 ? y : hits[n].y1;
        }
        hits[n].len = indicium_len_at(out + pos, len - pos);
        assert_true(hits[n].len <= len - pos && hits[n].len <= sizeof hits[n].data);
        memcpy(hits[n].data, out + pos, hits[n].len);
        pos += hits[n].len;
        n++;
    }
    /* Every byte printed belongs to one of the symbols. */
    assert_int_equal(pos, len);
    free(out);
    free(err);
    return n;
}

/* Copies the region (x, y, w, h) of a PNG into another PNG, white outside. */
static void crop_png(const char *src, const char *dst, int x, int y, int w, int h)
{
    cairo_surface_t *in = cairo_image_surface_create_from_png(src);
    cairo_surface_t *out = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    cairo_t *cr = cairo_create(out);

    assert_int_equal(cairo_surface_status(in), CAIRO_STATUS_SUCCESS);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_set_source_surface(cr, in, -x, -y);
    cairo_paint(cr);
    assert_int_equal(cairo_status(cr), CAIRO_STATUS_SUCCESS);
    cairo_destroy(cr);
    assert_int_equal(cairo_surface_write_to_png(out, dst), CAIRO_STATUS_SUCCESS);
    cairo_surface_destroy(out);
    cairo_surface_destroy(in);
}

/* ZXingReader on the symbol's region plus a margin of quiet white. */
static void zxing_region(const char *png, const struct hit *h, uint8_t **out, size_t *len)
{
    char crop[PATH_CAP], cmd[CMD_CAP];
    double module = (h->x1 - h->x0) / h->size;
    int margin = (int) (6 * module) + 4;
    int x = (int) h->x0 - margin, y = (int) h->y0 - margin;

    snprintf(crop, sizeof crop, "%s-crop.png", png);
    crop_png(png, crop, x, y, (int) (h->x1 - h->x0) + 2 * margin + 1,
             (int) (h->y1 - h->y0) + 2 * margin + 1);
    snprintf(cmd, sizeof cmd, "ZXingReader -bytes -format DataMatrix '%s' 2>/dev/null", crop);
    run(cmd, out, len);
}

static void assert_decodes_to(const uint8_t *got, size_t got_len, const struct sample *s,
                              const char *what)
{
    struct pv_indicium ind;

    if (got_len != s->len || memcmp(got, s->bytes, s->len) != 0)
        fail_msg("%s: decoded %zu bytes, expected the %zu indicium bytes", what, got_len, s->len);
    assert_int_equal(pv_indicium_verify(got, got_len, pub_pem, &ind), PV_OK);
    assert_int_equal(ind.serial, s->ind.serial);
}

/*
 * The one symbol on a page image: dmtxread finds it on the whole page, it
 * lies inside the label cell (row, col) of l at px_per_pt, and ZXingReader
 * reads the same bytes from its region.
 */
static void check_page_off(const char *png, const struct pv_layout *l, double px_per_pt,
                           unsigned row, unsigned col, double off_x, double off_y,
                           const struct sample *s, struct hit *out_hit)
{
    struct hit hits[MAX_HITS];
    uint8_t *zx;
    size_t zx_len;
    double x, y;
    char what[PATH_CAP + 32];
    int n = dmtx_scan(png, 1, hits);

    if (n != 1)
        fail_msg("%s: dmtxread found %d symbols", png, n);
    snprintf(what, sizeof what, "dmtxread %s", png);
    assert_decodes_to(hits[0].data, hits[0].len, s, what);
    pv_label_origin(l, row, col, &x, &y);
    x += off_x;
    y += off_y;
    assert_true(hits[0].x0 >= (x + l->padding) * px_per_pt - 2);
    assert_true(hits[0].y0 >= (y + l->padding) * px_per_pt - 2);
    assert_true(hits[0].x1 <= (x + l->label_w - l->padding) * px_per_pt + 2);
    assert_true(hits[0].y1 <= (y + l->label_h - l->padding) * px_per_pt + 2);

    zxing_region(png, &hits[0], &zx, &zx_len);
    snprintf(what, sizeof what, "ZXingReader %s", png);
    assert_decodes_to(zx, zx_len, s, what);
    free(zx);
    if (out_hit)
        *out_hit = hits[0];
}

static void check_page(const char *png, const struct pv_layout *l, double px_per_pt, unsigned row,
                       unsigned col, const struct sample *s, struct hit *out_hit)
{
    check_page_off(png, l, px_per_pt, row, col, 0, 0, s, out_hit);
}

/* ---- reading the documents ---------------------------------------------------- */

static void png_size(const uint8_t *p, size_t len, unsigned *w, unsigned *h)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

    assert_true(len > 24);
    assert_memory_equal(p, sig, 8);
    assert_memory_equal(p + 12, "IHDR", 4);
    *w = (unsigned) p[16] << 24 | (unsigned) p[17] << 16 | (unsigned) p[18] << 8 | p[19];
    *h = (unsigned) p[20] << 24 | (unsigned) p[21] << 16 | (unsigned) p[22] << 8 | p[23];
}

/* Number of pages; each one's /MediaBox must be [0 0 w h]. */
static int pdf_pages(const uint8_t *p, size_t len, double w, double h)
{
    const uint8_t *m;
    size_t pos = 0;
    int pages = 0;

    assert_true(len > 8);
    assert_memory_equal(p, "%PDF-", 5);
    while ((m = find_bytes(p, len, "/MediaBox", pos)) != NULL) {
        char box[128];
        double x0, y0, x1, y1;
        size_t take =
            (size_t) (p + len - m) < sizeof box - 1 ? (size_t) (p + len - m) : sizeof box - 1;

        memcpy(box, m, take);
        box[take] = '\0';
        assert_int_equal(sscanf(box, "/MediaBox [ %lf %lf %lf %lf", &x0, &y0, &x1, &y1), 4);
        assert_true(x0 == 0 && y0 == 0);
        if (x1 != w || y1 != h)
            fail_msg("MediaBox %g x %g, expected %g x %g", x1, y1, w, h);
        pages++;
        pos = (size_t) (m - p) + 1;
    }
    return pages;
}

static unsigned count_str(const uint8_t *p, size_t len, const char *s)
{
    unsigned n = 0;
    size_t pos = 0;
    const uint8_t *m;

    while ((m = find_bytes(p, len, s, pos)) != NULL) {
        n++;
        pos = (size_t) (m - p) + 1;
    }
    return n;
}

static long zpl_number_after(const uint8_t *p, size_t len, const char *cmd, size_t from,
                             long *second)
{
    const uint8_t *m = find_bytes(p, len, cmd, from);
    char num[64];
    size_t take;
    long a = -1, b = -1;

    assert_non_null(m);
    m += strlen(cmd);
    take = (size_t) (p + len - m) < sizeof num - 1 ? (size_t) (p + len - m) : sizeof num - 1;
    memcpy(num, m, take);
    num[take] = '\0';
    assert_true(sscanf(num, "%ld,%ld", &a, &b) >= 1);
    if (second)
        *second = b;
    return a;
}

/*
 * Draws the ^GFA graphic field of the ZPL label starting at offset from
 * into a PNG of the label's ^PW x ^LL dots: what a printer would print of
 * the symbol (the text fields are not rasterised here).
 */
static void zpl_symbol_png(const uint8_t *z, size_t len, size_t from, const char *png)
{
    long w = zpl_number_after(z, len, "^PW", from, NULL);
    long h = zpl_number_after(z, len, "^LL", from, NULL);
    long fy, fx = zpl_number_after(z, len, "^FO", from, &fy);
    long total, bpr, rows, r, b;
    const uint8_t *g = find_bytes(z, len, "^GFA,", from);
    cairo_surface_t *s;
    unsigned char *px;
    int stride;
    char head[64];

    assert_non_null(g);
    memcpy(head, g, sizeof head - 1);
    head[sizeof head - 1] = '\0';
    assert_int_equal(sscanf(head, "^GFA,%ld,%*d,%ld,", &total, &bpr), 2);
    g = (const uint8_t *) memchr(g + 5, ',', 20) + 1; /* after b */
    g = (const uint8_t *) memchr(g, ',', 20) + 1;     /* after c */
    g = (const uint8_t *) memchr(g, ',', 20) + 1;     /* after d */
    rows = total / bpr;
    assert_int_equal(rows * bpr, total);
    s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int) w, (int) h);
    assert_int_equal(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    cairo_surface_flush(s);
    px = cairo_image_surface_get_data(s);
    stride = cairo_image_surface_get_stride(s);
    memset(px, 0xff, (size_t) stride * (size_t) h);
    for (r = 0; r < rows; r++)
        for (b = 0; b < bpr; b++) {
            unsigned v, bit;
            char hx[3];

            while (*g == '\n' || *g == '\r')
                g++;
            hx[0] = (char) g[0];
            hx[1] = (char) g[1];
            hx[2] = '\0';
            g += 2;
            v = (unsigned) strtoul(hx, NULL, 16);
            for (bit = 0; bit < 8; bit++)
                if (v & (0x80u >> bit)) {
                    long x = fx + b * 8 + (long) bit, y = fy + r;

                    assert_true(x < w && y < h);
                    memset(px + y * stride + x * 4, 0, 4);
                }
        }
    while (*g == '\n' || *g == '\r')
        g++;
    assert_memory_equal(g, "^FS", 3);
    cairo_surface_mark_dirty(s);
    assert_int_equal(cairo_surface_write_to_png(s, png), CAIRO_STATUS_SUCCESS);
    cairo_surface_destroy(s);
}

/* Every dark pixel of a page image lies inside some label's padded area:
 * nothing clipped at, or touching, a label edge. */
static void check_inside_padding(const char *png, const struct pv_layout *l, double px_per_pt)
{
    cairo_surface_t *s = cairo_image_surface_create_from_png(png);
    const unsigned char *px;
    int stride, w, h, x, y;
    unsigned r, c;

    assert_int_equal(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    px = cairo_image_surface_get_data(s);
    stride = cairo_image_surface_get_stride(s);
    w = cairo_image_surface_get_width(s);
    h = cairo_image_surface_get_height(s);
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            uint32_t v;
            int inside = 0;

            memcpy(&v, px + y * stride + x * 4, 4);
            if ((v & 0xffffff) == 0xffffff)
                continue;
            for (r = 1; r <= l->rows && !inside; r++)
                for (c = 1; c <= l->cols && !inside; c++) {
                    double ox, oy;

                    pv_label_origin(l, r, c, &ox, &oy);
                    inside = x + 1 > (ox + l->padding) * px_per_pt - 1 &&
                             x < (ox + l->label_w - l->padding) * px_per_pt + 1 &&
                             y + 1 > (oy + l->padding) * px_per_pt - 1 &&
                             y < (oy + l->label_h - l->padding) * px_per_pt + 1;
                }
            if (!inside)
                fail_msg("%s: ink at pixel (%d, %d) outside every label's padding", png, x, y);
        }
    cairo_surface_destroy(s);
}

/* The quiet zone (2 modules round the symbol) is white: no text in it. */
static void check_quiet_zone(const char *png, const struct hit *hit)
{
    cairo_surface_t *s = cairo_image_surface_create_from_png(png);
    const unsigned char *px;
    double m = (hit->x1 - hit->x0) / hit->size;
    int stride, x, y;
    /* The ring between the symbol's box and that box grown by 2 modules,
     * one pixel of slack each side for dmtxread's corner estimate. */
    int ix0 = (int) (hit->x0 - 2), ix1 = (int) (hit->x1 + 2);
    int iy0 = (int) (hit->y0 - 2), iy1 = (int) (hit->y1 + 2);
    int ox0 = (int) (hit->x0 - 2 * m + 1), ox1 = (int) (hit->x1 + 2 * m - 1);
    int oy0 = (int) (hit->y0 - 2 * m + 1), oy1 = (int) (hit->y1 + 2 * m - 1);

    assert_int_equal(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    px = cairo_image_surface_get_data(s);
    stride = cairo_image_surface_get_stride(s);
    for (y = oy0; y <= oy1; y++)
        for (x = ox0; x <= ox1; x++) {
            uint32_t v;

            if (x >= ix0 && x <= ix1 && y >= iy0 && y <= iy1)
                continue;
            memcpy(&v, px + y * stride + x * 4, 4);
            if ((v & 0xffffff) != 0xffffff)
                fail_msg("%s: ink at (%d, %d) in the quiet zone", png, x, y);
        }
    cairo_surface_destroy(s);
}

/*
 * No ZPL text field starts inside the symbol or its quiet zone: each one is
 * right of it or below it (the items here have no addresses, which go left
 * of the symbol on envelopes).
 */
static void check_zpl_text_clear(const uint8_t *z, size_t len)
{
    long sy, sx = zpl_number_after(z, len, "^FO", 0, &sy);
    const uint8_t *g = find_bytes(z, len, "^GFA,", 0), *t;
    long total, bpr, h, k, size;
    size_t pos = 0;
    char head[64];

    assert_non_null(g);
    memcpy(head, g, sizeof head - 1);
    head[sizeof head - 1] = '\0';
    assert_int_equal(sscanf(head, "^GFA,%ld,%*d,%ld,", &total, &bpr), 2);
    h = total / bpr;
    size = h % 44 == 0 ? 44 : 48;
    assert_int_equal(h % size, 0);
    k = h / size;
    while ((t = find_bytes(z, len, "^FT", pos)) != NULL) {
        long x, y, fh;
        char field[64];
        size_t take =
            (size_t) (z + len - t) < sizeof field - 1 ? (size_t) (z + len - t) : sizeof field - 1;

        memcpy(field, t, take);
        field[take] = '\0';
        assert_int_equal(sscanf(field, "^FT%ld,%ld^A0N,%ld", &x, &y, &fh), 3);
        if (!(x >= sx + h + 2 * k || y - fh >= sy + h + 2 * k))
            fail_msg("ZPL text at (%ld,%ld) height %ld meets the symbol at (%ld,%ld) size %ld", x,
                     y, fh, sx, sy, h);
        pos = (size_t) (t - z) + 1;
    }
}

/* ---- the layout table and names ------------------------------------------------ */

static void test_layout_table(void **state)
{
    static const char *const names[] = {"label-4x6", "stamp-1x2", "envelope-10", "avery-5160",
                                        "netstamps-sheet"};
    size_t i;

    (void) state;
    assert_int_equal(pv_layout_count(), sizeof names / sizeof names[0]);
    for (i = 0; i < sizeof names / sizeof names[0]; i++)
        assert_ptr_equal(pv_layout_find(names[i]), pv_layout_at(i));
    assert_null(pv_layout_at(pv_layout_count()));
    assert_null(pv_layout_find("avery-5161"));
    assert_null(pv_layout_find(NULL));

    for (i = 0; i < pv_layout_count(); i++) {
        const struct pv_layout *l = pv_layout_at(i);
        double x, y;

        assert_non_null(l->description);
        /* The grid is on the page, labels do not overlap, padding leaves room. */
        pv_label_origin(l, l->rows, l->cols, &x, &y);
        assert_true(l->margin_left >= 0 && l->margin_top >= 0);
        assert_true(x + l->label_w <= l->page_w);
        assert_true(y + l->label_h <= l->page_h);
        assert_true(l->rows == 1 || l->pitch_y >= l->label_h);
        assert_true(l->cols == 1 || l->pitch_x >= l->label_w);
        assert_true(l->padding > 0 && 2 * l->padding < l->label_h);
    }
}

static void test_label_origins(void **state)
{
    const struct pv_layout *a = pv_layout_find("avery-5160"), *n;
    double x, y;

    (void) state;
    assert_non_null(a);
    assert_true(a->page_w == 612 && a->page_h == 792 && a->rows == 10 && a->cols == 3);
    assert_true(a->label_w == 189 && a->label_h == 72);
    pv_label_origin(a, 1, 1, &x, &y);
    assert_true(x == 13.5 && y == 36);
    pv_label_origin(a, 1, 2, &x, &y);
    assert_true(x == 13.5 + 198 && y == 36);
    pv_label_origin(a, 10, 3, &x, &y);
    assert_true(x == 13.5 + 2 * 198 && y == 36 + 9 * 72);
    /* The last row ends 0.5 in above the bottom edge, like the top margin. */
    assert_true(y + a->label_h == a->page_h - 36);

    n = pv_layout_find("netstamps-sheet");
    assert_non_null(n);
    assert_true(n->rows == 5 && n->cols == 4 && n->label_w == 126 && n->label_h == 72);
    pv_label_origin(n, 5, 4, &x, &y);
    assert_true(x == 27 + 3 * 144 && y == 108 + 4 * 90);

    n = pv_layout_find("label-4x6");
    assert_true(n->page_w == 288 && n->page_h == 432);
    n = pv_layout_find("envelope-10");
    assert_true(n->page_w == 684 && n->page_h == 297);
    n = pv_layout_find("stamp-1x2");
    assert_true(n->page_w == 144 && n->page_h == 72);
}

static void test_formats(void **state)
{
    static const struct {
        const char *name, *type;
        int fmt;
    } f[] = {{"pdf", "application/pdf", PV_FMT_PDF},
             {"png", "image/png", PV_FMT_PNG},
             {"svg", "image/svg+xml", PV_FMT_SVG},
             {"zpl", "application/zpl", PV_FMT_ZPL}};
    size_t i;
    int got;

    (void) state;
    for (i = 0; i < sizeof f / sizeof f[0]; i++) {
        got = 0;
        assert_int_equal(pv_format_parse(f[i].name, &got), PV_OK);
        assert_int_equal(got, f[i].fmt);
        assert_string_equal(pv_format_content_type(f[i].fmt), f[i].type);
        assert_string_equal(pv_format_extension(f[i].fmt), f[i].name);
    }
    assert_int_equal(pv_format_parse("PDF", &got), PV_OK);
    assert_int_equal(got, PV_FMT_PDF);
    assert_int_equal(pv_format_parse("jpeg", &got), PV_EFORMAT);
    assert_int_equal(pv_format_parse("", &got), PV_EFORMAT);
    assert_int_equal(pv_format_parse(NULL, &got), PV_EFORMAT);
    assert_null(pv_format_content_type(0));
    assert_null(pv_format_extension(99));
}

/* ---- structure --------------------------------------------------------------- */

static void check_structure(const struct pv_layout *l, const struct pv_label_item *it)
{
    uint8_t *out;
    size_t len;
    unsigned w, h;
    char want[128];
    long lw, lh;

    out = render_ok(l, it, 1, PV_FMT_PDF, 0, 0, 0, 0, 0, &len);
    assert_int_equal(pdf_pages(out, len, l->page_w, l->page_h), 1);
    /* The named fonts were found, not a silent fallback. */
    assert_non_null(find_bytes(out, len, "+DejaVuSans\n", 0));
    assert_non_null(find_bytes(out, len, "+DejaVuSans-Bold\n", 0));
    assert_non_null(find_bytes(out, len, "+DejaVuSansMono\n", 0));
    free(out);

    out = render_ok(l, it, 1, PV_FMT_PNG, 0, 0, 0, 0, 0, &len);
    png_size(out, len, &w, &h);
    /* Whole pixels, rounded up: #10 envelopes are 1237.5 px tall at 300 dpi. */
    assert_int_equal(w, (unsigned) (l->page_w * 300 / 72 + 0.99));
    assert_int_equal(h, (unsigned) (l->page_h * 300 / 72 + 0.99));
    free(out);

    out = render_ok(l, it, 1, PV_FMT_SVG, 0, 0, 0, 0, 0, &len);
    snprintf(want, sizeof want, "width=\"%gpt\" height=\"%gpt\"", l->page_w, l->page_h);
    assert_non_null(find_bytes(out, len, want, 0));
    assert_memory_equal(out + len - 7, "</svg>\n", 7);
    free(out);

    out = render_ok(l, it, 1, PV_FMT_ZPL, 203, 0, 0, 0, 0, &len);
    assert_memory_equal(out, "^XA", 3);
    assert_memory_equal(out + len - 4, "^XZ\n", 4);
    assert_int_equal(count_str(out, len, "^XA"), 1);
    lw = zpl_number_after(out, len, "^PW", 0, NULL);
    lh = zpl_number_after(out, len, "^LL", 0, NULL);
    assert_int_equal(lw, (long) (l->label_w * 203 / 72 + 0.5));
    assert_int_equal(lh, (long) (l->label_h * 203 / 72 + 0.5));
    assert_int_equal(count_str(out, len, "^GFA,"), 1);
    assert_non_null(find_bytes(out, len, "^FDUS POSTAGE^FS", 0));
    assert_non_null(find_bytes(out, len, "^FD$0.74^FS", 0));
    assert_non_null(find_bytes(out, len, "^FD2026-11-22^FS", 0));
    assert_non_null(find_bytes(out, len, "^FDFirst-Class Mail^FS", 0));
    assert_non_null(find_bytes(out, len, "^FDFROM ZIP 94107^FS", 0));
    assert_non_null(find_bytes(out, len, "^FDLIC PV1000001^FS", 0));
    assert_non_null(find_bytes(out, len, "^FDPSD 3  #", 0));
    check_zpl_text_clear(out, len);
    free(out);

    out = render_ok(l, it, 1, PV_FMT_ZPL, 300, 0, 0, 0, 0, &len);
    lw = zpl_number_after(out, len, "^PW", 0, NULL);
    assert_int_equal(lw, (long) (l->label_w * 300 / 72 + 0.5));
    free(out);
}

static void test_every_layout_every_format(void **state)
{
    struct sample plain, medium, test_piece;
    struct pv_label_item it;
    size_t i;

    (void) state;
    make_sample(&plain, 17, NULL, 0);
    make_sample(&medium, 18, long_medium, 0);
    make_sample(&test_piece, 19, long_medium, PV_IND_FLAG_TEST);
    for (i = 0; i < pv_layout_count(); i++) {
        const struct pv_layout *l = pv_layout_at(i);

        it = item_of(&plain);
        check_structure(l, &it);
        it = item_of(&medium);
        check_structure(l, &it);
        it = item_of(&test_piece);
        assert_int_equal(render_rc(l, &it, 1, PV_FMT_PNG, 0, 0, 0, 0, 0), PV_OK);
        {
            size_t len;
            uint8_t *out = render_ok(l, &it, 1, PV_FMT_ZPL, 0, 0, 0, 0, 0, &len);

            /* A test piece says so instead of "US POSTAGE". */
            assert_non_null(find_bytes(out, len, "^FDTEST - NOT POSTAGE^FS", 0));
            assert_null(find_bytes(out, len, "US POSTAGE", 0));
            free(out);
        }
    }
}

static void test_png_dpi(void **state)
{
    static const char *const names[] = {"label-4x6", "stamp-1x2", "envelope-10"};
    struct sample s;
    struct pv_label_item it;
    size_t i, len;
    unsigned w, h;
    uint8_t *out;

    (void) state;
    make_sample(&s, 20, NULL, 0);
    it = item_of(&s);
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        const struct pv_layout *l = pv_layout_find(names[i]);

        out = render_ok(l, &it, 1, PV_FMT_PNG, 600, 0, 0, 0, 0, &len);
        png_size(out, len, &w, &h);
        assert_int_equal(w, (unsigned) (l->page_w * 600 / 72));
        assert_int_equal(h, (unsigned) (l->page_h * 600 / 72));
        free(out);
    }
    /* Letter at 300 dpi is 2550 x 3300. */
    out = render_ok(pv_layout_find("avery-5160"), &it, 1, PV_FMT_PNG, 300, 0, 0, 0, 0, &len);
    png_size(out, len, &w, &h);
    assert_int_equal(w, 2550);
    assert_int_equal(h, 3300);
    free(out);
}

static void test_pdf_pages(void **state)
{
    const struct pv_layout *a = pv_layout_find("avery-5160");
    const struct pv_layout *l4 = pv_layout_find("label-4x6");
    const struct pv_layout *ns = pv_layout_find("netstamps-sheet");
    struct sample s[25];
    struct pv_label_item it[25];
    uint8_t *out;
    size_t i, len;

    (void) state;
    for (i = 0; i < 25; i++) {
        make_sample(&s[i], 100 + (uint32_t) i, NULL, 0);
        it[i] = item_of(&s[i]);
    }
    /* The last position of a sheet and one more: two pages. */
    out = render_ok(a, it, 2, PV_FMT_PDF, 0, 10, 3, 0, 0, &len);
    assert_int_equal(pdf_pages(out, len, 612, 792), 2);
    free(out);
    out = render_ok(a, it, 2, PV_FMT_PDF, 0, 10, 2, 0, 0, &len);
    assert_int_equal(pdf_pages(out, len, 612, 792), 1);
    free(out);
    out = render_ok(l4, it, 3, PV_FMT_PDF, 0, 0, 0, 0, 0, &len);
    assert_int_equal(pdf_pages(out, len, 288, 432), 3);
    free(out);
    out = render_ok(ns, it, 25, PV_FMT_PDF, 0, 0, 0, 0, 0, &len);
    assert_int_equal(pdf_pages(out, len, 612, 792), 2);
    free(out);
    out = render_ok(ns, it, 20, PV_FMT_PDF, 0, 1, 1, 0, 0, &len);
    assert_int_equal(pdf_pages(out, len, 612, 792), 1);
    free(out);
    /* ZPL: one label per item, whatever the layout. */
    out = render_ok(a, it, 5, PV_FMT_ZPL, 0, 10, 3, 0, 0, &len);
    assert_int_equal(count_str(out, len, "^XA"), 5);
    assert_int_equal(count_str(out, len, "^XZ"), 5);
    free(out);
}

static void test_option_errors(void **state)
{
    const struct pv_layout *a = pv_layout_find("avery-5160");
    const struct pv_layout *l4 = pv_layout_find("label-4x6");
    struct sample s;
    struct pv_label_item it[31], bad;
    struct pv_render_opts o = {PV_FMT_PDF, 0, 0, 0, 0, 0};
    uint8_t *out;
    size_t i, len;

    (void) state;
    make_sample(&s, 21, NULL, 0);
    for (i = 0; i < 31; i++)
        it[i] = item_of(&s);

    assert_int_equal(render_rc(a, it, 1, PV_FMT_PDF, 0, 11, 1, 0, 0), PV_EPOSITION);
    assert_int_equal(render_rc(a, it, 1, PV_FMT_PDF, 0, 1, 4, 0, 0), PV_EPOSITION);
    assert_int_equal(render_rc(l4, it, 1, PV_FMT_PDF, 0, 1, 2, 0, 0), PV_EPOSITION);
    assert_int_equal(render_rc(a, it, 1, PV_FMT_PDF, 0, 10, 3, 0, 0), PV_OK);
    assert_int_equal(render_rc(a, it, 1, PV_FMT_ZPL, 0, 11, 1, 0, 0), PV_EPOSITION);
    /* A medium's label number: within the grid, and a page holds what fits after it. */
    it[0].label = 31;
    assert_int_equal(render_rc(a, it, 1, PV_FMT_PDF, 0, 0, 0, 0, 0), PV_EPOSITION);
    it[0].label = 30;
    assert_int_equal(render_rc(a, it, 1, PV_FMT_PNG, 0, 0, 0, 0, 0), PV_OK);
    assert_int_equal(render_rc(a, it, 2, PV_FMT_PNG, 0, 0, 0, 0, 0), PV_EINVAL);
    assert_int_equal(render_rc(a, it, 2, PV_FMT_PDF, 0, 0, 0, 0, 0), PV_OK);
    it[0].label = 0;

    assert_int_equal(render_rc(a, it, 1, PV_FMT_PDF, 0, 0, 0, 1001, 0), PV_EOFFSET);
    assert_int_equal(render_rc(a, it, 1, PV_FMT_PDF, 0, 0, 0, 0, -1001), PV_EOFFSET);
    assert_int_equal(render_rc(a, it, 1, PV_FMT_ZPL, 0, 0, 0, INT32_MIN, 0), PV_EOFFSET);
    assert_int_equal(render_rc(a, it, 1, PV_FMT_PDF, 0, 0, 0, 1000, -1000), PV_OK);

    assert_int_equal(render_rc(a, it, 1, 0, 0, 0, 0, 0, 0), PV_EFORMAT);
    assert_int_equal(render_rc(a, it, 1, 5, 0, 0, 0, 0, 0), PV_EFORMAT);
    assert_int_equal(render_rc(a, it, 1, PV_FMT_PNG, 203, 0, 0, 0, 0), PV_EDPI);
    assert_int_equal(render_rc(a, it, 1, PV_FMT_PNG, 72, 0, 0, 0, 0), PV_EDPI);
    assert_int_equal(render_rc(a, it, 1, PV_FMT_ZPL, 600, 0, 0, 0, 0), PV_EDPI);
    assert_int_equal(render_rc(a, it, 1, PV_FMT_PDF, 1234, 0, 0, 0, 0), PV_OK); /* ignored */

    /* PNG and SVG are one page. */
    assert_int_equal(render_rc(a, it, 31, PV_FMT_PNG, 0, 0, 0, 0, 0), PV_EINVAL);
    assert_int_equal(render_rc(a, it, 2, PV_FMT_PNG, 0, 10, 3, 0, 0), PV_EINVAL);
    assert_int_equal(render_rc(l4, it, 2, PV_FMT_SVG, 0, 0, 0, 0, 0), PV_EINVAL);
    assert_int_equal(render_rc(a, it, 30, PV_FMT_SVG, 0, 0, 0, 0, 0), PV_OK);

    assert_int_equal(render_rc(a, it, 0, PV_FMT_PDF, 0, 0, 0, 0, 0), PV_EINVAL);
    bad = it[0];
    bad.ind = NULL;
    assert_int_equal(render_rc(a, &bad, 1, PV_FMT_PDF, 0, 0, 0, 0, 0), PV_EINVAL);
    bad = it[0];
    bad.len = 0;
    assert_int_equal(render_rc(a, &bad, 1, PV_FMT_PDF, 0, 0, 0, 0, 0), PV_EINVAL);
    assert_int_equal(pv_render(NULL, it, 1, &o, &out, &len), PV_EINVAL);
    assert_int_equal(pv_render(a, it, 1, NULL, &out, &len), PV_EINVAL);
}

static void test_too_small(void **state)
{
    /* A 1 x 0.5 in label: the symbol alone is about 0.5 in with its quiet
     * zone, so there is no room for the text beside or below it. */
    static const struct pv_layout tiny = {
        .name = "tiny",
        .description = "too small",
        .kind = PV_LAYOUT_LABEL,
        .page_w = 72,
        .page_h = 36,
        .rows = 1,
        .cols = 1,
        .pitch_x = 72,
        .pitch_y = 36,
        .label_w = 72,
        .label_h = 36,
        .padding = 3.6,
    };
    /* Room for the symbol but not for the text at 5 pt. */
    static const struct pv_layout narrow = {
        .name = "narrow",
        .description = "too narrow",
        .kind = PV_LAYOUT_SHEET,
        .page_w = 612,
        .page_h = 792,
        .rows = 2,
        .cols = 2,
        .margin_left = 36,
        .margin_top = 36,
        .pitch_x = 144,
        .pitch_y = 144,
        .label_w = 72,
        .label_h = 90,
        .padding = 4.5,
    };
    static const int formats[] = {PV_FMT_PDF, PV_FMT_PNG, PV_FMT_SVG, PV_FMT_ZPL};
    struct sample s;
    struct pv_label_item it[2];
    size_t i;

    (void) state;
    make_sample(&s, 22, long_medium, 0);
    it[0] = it[1] = item_of(&s);
    for (i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        assert_int_equal(render_rc(&tiny, it, 1, formats[i], 0, 0, 0, 0, 0), PV_ETOOSMALL);
        assert_int_equal(render_rc(&narrow, it, 2, formats[i], 0, 0, 0, 0, 0), PV_ETOOSMALL);
    }
}

static void test_addresses(void **state)
{
    const struct pv_layout *env = pv_layout_find("envelope-10");
    const struct pv_layout *l4 = pv_layout_find("label-4x6");
    struct sample s;
    struct pv_label_item it;
    uint8_t *out;
    size_t len;
    char huge[2048];

    (void) state;
    make_sample(&s, 23, NULL, 0);
    it = item_of(&s);
    it.from_address = "José Müller\r\nKönigstraße 1 ^FS\n~JA Stuttgart\n";
    it.to_address = "\nACME Corp\nAttn: Receiving\n200 Broadway Ste 5\nNew York NY 10001-1234";
    assert_int_equal(render_rc(env, &it, 1, PV_FMT_PDF, 0, 0, 0, 0, 0), PV_OK);
    assert_int_equal(render_rc(l4, &it, 1, PV_FMT_SVG, 0, 0, 0, 0, 0), PV_OK);
    /* Stamps and sheets have no room for addresses and leave them out. */
    assert_int_equal(render_rc(pv_layout_find("stamp-1x2"), &it, 1, PV_FMT_PNG, 0, 0, 0, 0, 0),
                     PV_OK);

    /* ZPL: UTF-8 under ^CI28, and '^' '~' escaped so an address cannot
     * inject commands. */
    out = render_ok(env, &it, 1, PV_FMT_ZPL, 0, 0, 0, 0, 0, &len);
    assert_non_null(find_bytes(out, len, "^CI28", 0));
    assert_non_null(find_bytes(out, len, "^FDJos_C3_A9 M_C3_BCller^FS", 0));
    assert_non_null(find_bytes(out, len, "1 _5EFS^FS", 0));
    assert_non_null(find_bytes(out, len, "^FD_7EJA Stuttgart^FS", 0));
    assert_null(find_bytes(out, len, "^JA", 0));
    assert_int_equal(count_str(out, len, "^XA"), 1);
    free(out);

    it.to_address = "bad \xc3\x28 utf-8";
    assert_int_equal(render_rc(env, &it, 1, PV_FMT_PDF, 0, 0, 0, 0, 0), PV_EINVAL);
    it.to_address = "tab\there";
    assert_int_equal(render_rc(env, &it, 1, PV_FMT_PDF, 0, 0, 0, 0, 0), PV_EINVAL);
    it.to_address = "1\n2\n3\n4\n5\n6\n7\n8\n9";
    assert_int_equal(render_rc(env, &it, 1, PV_FMT_PDF, 0, 0, 0, 0, 0), PV_EINVAL);
    memset(huge, 'W', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    it.to_address = huge;
    assert_int_equal(render_rc(env, &it, 1, PV_FMT_PDF, 0, 0, 0, 0, 0), PV_EINVAL);
    /* A line too long for the envelope even at the smallest size. */
    huge[95] = '\0';
    assert_int_equal(render_rc(env, &it, 1, PV_FMT_PDF, 0, 0, 0, 0, 0), PV_ETOOSMALL);
}

/* ---- offsets --------------------------------------------------------------------- */

static void test_offsets_move_everything(void **state)
{
    const struct pv_layout *l4 = pv_layout_find("label-4x6");
    struct sample s;
    struct pv_label_item it;
    struct hit base, moved;
    char png[PATH_CAP];
    uint8_t *out;
    size_t len;
    long a, b;

    (void) state;
    make_sample(&s, 24, NULL, 0);
    it = item_of(&s);
    path_for(png, sizeof png, "offset-0.png");
    out = render_ok(l4, &it, 1, PV_FMT_PNG, 300, 0, 0, 0, 0, &len);
    write_file(png, out, len);
    free(out);
    assert_int_equal(dmtx_scan(png, 1, &base), 1);

    /* +5 mm right, -3 mm up: 59.06 and -35.43 pixels at 300 dpi. */
    path_for(png, sizeof png, "offset-1.png");
    out = render_ok(l4, &it, 1, PV_FMT_PNG, 300, 0, 0, 500, -300, &len);
    write_file(png, out, len);
    free(out);
    assert_int_equal(dmtx_scan(png, 1, &moved), 1);
    assert_decodes_to(moved.data, moved.len, &s, "offset label");
    assert_true(moved.x0 - base.x0 > 59.06 - 1.5 && moved.x0 - base.x0 < 59.06 + 1.5);
    assert_true(moved.y0 - base.y0 > -35.43 - 1.5 && moved.y0 - base.y0 < -35.43 + 1.5);

    /* ZPL: a positive offset is the label home, a negative one ^LS / ^LT. */
    out = render_ok(l4, &it, 1, PV_FMT_ZPL, 203, 0, 0, 500, 300, &len);
    assert_int_equal(zpl_number_after(out, len, "^LH", 0, &b), 40);
    assert_int_equal(b, 24);
    assert_int_equal(zpl_number_after(out, len, "^LS", 0, NULL), 0);
    assert_null(find_bytes(out, len, "^LT", 0));
    free(out);
    out = render_ok(l4, &it, 1, PV_FMT_ZPL, 300, 0, 0, -1000, -1000, &len);
    a = zpl_number_after(out, len, "^LH", 0, &b);
    assert_true(a == 0 && b == 0);
    assert_int_equal(zpl_number_after(out, len, "^LS", 0, NULL), 118);
    assert_int_equal(zpl_number_after(out, len, "^LT", 0, NULL), -118);
    free(out);
}

/* ---- decoding ---------------------------------------------------------------------- */

/* Where docs/printing.md (calibration) says the symbol's top-left corner
 * is, from the label's top-left corner: padding plus the quiet zone. */
static void check_symbol_corner(const struct pv_layout *l, unsigned row, unsigned col,
                                const struct hit *hit)
{
    static const struct {
        const char *layout;
        double mm;
    } corner[] = {
        {"avery-5160", 2.4}, {"netstamps-sheet", 2.4}, {"stamp-1x2", 2.1}, {"label-4x6", 4.5}};
    double x, y, px = 300 / 25.4;
    size_t i;

    pv_label_origin(l, row, col, &x, &y);
    for (i = 0; i < sizeof corner / sizeof corner[0]; i++)
        if (strcmp(corner[i].layout, l->name) == 0) {
            double want_x = x * 300 / 72 + corner[i].mm * px,
                   want_y = y * 300 / 72 + corner[i].mm * px;

            /* label-4x6: the block is top right, so only the top is documented. */
            if (strcmp(l->name, "label-4x6") == 0)
                want_x = hit->x0;
            /* 0.05 mm of rounding in the table, a pixel of dmtxread's. */
            if (hit->x0 < want_x - 0.05 * px - 1.5 || hit->x0 > want_x + 0.05 * px + 1.5 ||
                hit->y0 < want_y - 0.05 * px - 1.5 || hit->y0 > want_y + 0.05 * px + 1.5)
                fail_msg("%s: symbol corner at (%.1f, %.1f) px, documented (%.1f, %.1f)", l->name,
                         hit->x0, hit->y0, want_x, want_y);
        }
}

/*
 * Every layout in PNG (300 dpi), PDF (pdftoppm -r 300), SVG (rsvg-convert
 * at 300 dpi) and ZPL (the ^GFA field at 203 dpi): one symbol, decoded from
 * the whole page by dmtxread and from its region by ZXingReader. The
 * medium serial alternates so both symbol sizes (44 and 48 modules) are
 * covered. PNG pages are also checked for ink outside the padding and in
 * the quiet zone.
 */
static void test_decode_every_layout(void **state)
{
    size_t i;

    (void) state;
    for (i = 0; i < pv_layout_count(); i++) {
        const struct pv_layout *l = pv_layout_at(i);
        /* The last position of sheets, to exercise the grid too. */
        unsigned row = l->rows, col = l->cols;
        struct sample s;
        struct pv_label_item it;
        struct hit hit;
        char png[PATH_CAP], vec[PATH_CAP], cmd[CMD_CAP];
        uint8_t *out;
        size_t len;

        make_sample(&s, 300 + (uint32_t) i, i % 2 ? long_medium : NULL, 0);
        it = item_of(&s);
        it.from_address = "Jane Sender\n1 Main St\nSan Francisco CA 94107";
        it.to_address = "John Receiver\n200 Broadway Apt 5\nNew York NY 10001";

        snprintf(vec, sizeof vec, "%s.png", l->name);
        path_for(png, sizeof png, vec);
        out = render_ok(l, &it, 1, PV_FMT_PNG, 300, row, col, 0, 0, &len);
        write_file(png, out, len);
        free(out);
        check_page(png, l, 300 / 72.0, row, col, &s, &hit);
        check_inside_padding(png, l, 300 / 72.0);
        check_quiet_zone(png, &hit);
        check_symbol_corner(l, row, col, &hit);

        snprintf(vec, sizeof vec, "%s.pdf", l->name);
        path_for(png, sizeof png, vec);
        out = render_ok(l, &it, 1, PV_FMT_PDF, 0, row, col, 0, 0, &len);
        write_file(png, out, len);
        free(out);
        snprintf(cmd, sizeof cmd, "pdftoppm -r 300 -png -singlefile '%s' '%s/%s-pdf'", png, tmpdir,
                 l->name);
        run_ok(cmd);
        snprintf(vec, sizeof vec, "%s-pdf.png", l->name);
        path_for(png, sizeof png, vec);
        check_page(png, l, 300 / 72.0, row, col, &s, NULL);

        snprintf(vec, sizeof vec, "%s.svg", l->name);
        path_for(png, sizeof png, vec);
        out = render_ok(l, &it, 1, PV_FMT_SVG, 0, row, col, 0, 0, &len);
        write_file(png, out, len);
        free(out);
        snprintf(cmd, sizeof cmd, "rsvg-convert -d 300 -p 300 -o '%s/%s-svg.png' '%s'", tmpdir,
                 l->name, png);
        run_ok(cmd);
        snprintf(vec, sizeof vec, "%s-svg.png", l->name);
        path_for(png, sizeof png, vec);
        check_page(png, l, 300 / 72.0, row, col, &s, NULL);

        /* ZPL prints each label in its own frame: position (1,1) of a
         * one-label layout. */
        out = render_ok(l, &it, 1, PV_FMT_ZPL, 203, row, col, 0, 0, &len);
        snprintf(vec, sizeof vec, "%s-zpl.png", l->name);
        path_for(png, sizeof png, vec);
        zpl_symbol_png(out, len, 0, png);
        free(out);
        {
            struct pv_layout frame = *l;

            frame.rows = frame.cols = 1;
            frame.margin_left = frame.margin_top = 0;
            frame.page_w = l->label_w;
            frame.page_h = l->label_h;
            check_page(png, &frame, 203 / 72.0, 1, 1, &s, NULL);
        }
    }
}

/* A narrow portrait label (1.25 x 2 in): the text goes below the symbol. */
static void test_text_below(void **state)
{
    static const struct pv_layout portrait = {
        .name = "portrait",
        .description = "1.25 x 2 in portrait",
        .kind = PV_LAYOUT_LABEL,
        .page_w = 90,
        .page_h = 144,
        .rows = 1,
        .cols = 1,
        .pitch_x = 90,
        .pitch_y = 144,
        .label_w = 90,
        .label_h = 144,
        .padding = 4.5,
    };
    struct sample s;
    struct pv_label_item it;
    struct hit hit;
    char png[PATH_CAP];
    uint8_t *out;
    size_t len;

    (void) state;
    make_sample(&s, 450, "NS-1", 0);
    it = item_of(&s);
    path_for(png, sizeof png, "portrait.png");
    out = render_ok(&portrait, &it, 1, PV_FMT_PNG, 300, 0, 0, 0, 0, &len);
    write_file(png, out, len);
    free(out);
    check_page(png, &portrait, 300 / 72.0, 1, 1, &s, &hit);
    check_inside_padding(png, &portrait, 300 / 72.0);
    check_quiet_zone(png, &hit);
    /* Wider than the space beside a 1.25 in label's symbol: text below. */
    out = render_ok(&portrait, &it, 1, PV_FMT_ZPL, 203, 0, 0, 0, 0, &len);
    check_zpl_text_clear(out, len);
    assert_true(zpl_number_after(out, len, "^FT", 0, NULL) < 90 * 203 / 72 / 2);
    free(out);
}

/* The 4x6 label at 600 dpi and in ZPL at 300 dpi. */
static void test_decode_other_dpi(void **state)
{
    const struct pv_layout *l4 = pv_layout_find("label-4x6");
    struct pv_layout frame = *l4;
    struct sample s;
    struct pv_label_item it;
    char png[PATH_CAP];
    uint8_t *out;
    size_t len;

    (void) state;
    make_sample(&s, 400, long_medium, 0);
    it = item_of(&s);
    path_for(png, sizeof png, "label-4x6-600.png");
    out = render_ok(l4, &it, 1, PV_FMT_PNG, 600, 0, 0, 0, 0, &len);
    write_file(png, out, len);
    free(out);
    check_page(png, l4, 600 / 72.0, 1, 1, &s, NULL);

    path_for(png, sizeof png, "stamp-1x2-zpl300.png");
    frame = *pv_layout_find("stamp-1x2");
    out = render_ok(&frame, &it, 1, PV_FMT_ZPL, 300, 0, 0, 0, 0, &len);
    zpl_symbol_png(out, len, 0, png);
    free(out);
    check_page(png, &frame, 300 / 72.0, 1, 1, &s, NULL);
}

/*
 * 30 different indicia on one Avery 5160 sheet: dmtxread on the whole
 * 300 dpi page finds all 30, each exactly the bytes of the item that
 * belongs at that grid position (items fill row by row).
 */
static void check_sheet(const char *png, const struct pv_layout *l, const struct sample *s,
                        size_t n, size_t first)
{
    struct hit hits[MAX_HITS];
    int seen[MAX_HITS] = {0};
    int found = dmtx_scan(png, (int) n, hits), k;

    if ((size_t) found != n)
        fail_msg("%s: dmtxread found %d of %zu symbols", png, found, n);
    for (k = 0; k < found; k++) {
        double cx = (hits[k].x0 + hits[k].x1) / 2 * 72 / 300;
        double cy = (hits[k].y0 + hits[k].y1) / 2 * 72 / 300;
        int col = (int) ((cx - l->margin_left) / l->pitch_x);
        int row = (int) ((cy - l->margin_top) / l->pitch_y);
        size_t idx = (size_t) row * l->cols + (size_t) col - first;
        double ox, oy;

        assert_true(row >= 0 && row < (int) l->rows && col >= 0 && col < (int) l->cols);
        pv_label_origin(l, (unsigned) row + 1, (unsigned) col + 1, &ox, &oy);
        assert_true(cx < ox + l->label_w && cy < oy + l->label_h);
        assert_true(idx < n);
        assert_int_equal(seen[idx], 0);
        seen[idx] = 1;
        assert_decodes_to(hits[k].data, hits[k].len, &s[idx], png);
    }
}

static void test_avery_sheet_30(void **state)
{
    const struct pv_layout *a = pv_layout_find("avery-5160");
    struct sample s[30];
    struct pv_label_item it[30];
    char png[PATH_CAP], pdf[PATH_CAP], cmd[CMD_CAP];
    uint8_t *out;
    size_t i, len;

    (void) state;
    for (i = 0; i < 30; i++) {
        /* Every third one on serial-numbered media: both symbol sizes. */
        char medium[PV_MEDIUM_MAX + 1];

        snprintf(medium, sizeof medium, "AV5160-B0042-S000123-L%02u", (unsigned) i + 1);
        make_sample(&s[i], 1000 + (uint32_t) i, i % 3 == 0 ? medium : NULL, 0);
        it[i] = item_of(&s[i]);
    }
    path_for(png, sizeof png, "avery-30.png");
    out = render_ok(a, it, 30, PV_FMT_PNG, 300, 0, 0, 0, 0, &len);
    write_file(png, out, len);
    free(out);
    check_sheet(png, a, s, 30, 0);
    check_inside_padding(png, a, 300 / 72.0);

    /* The same sheet as a PDF, with a calibration offset. */
    path_for(pdf, sizeof pdf, "avery-30.pdf");
    out = render_ok(a, it, 30, PV_FMT_PDF, 0, 0, 0, 150, 150, &len);
    write_file(pdf, out, len);
    free(out);
    snprintf(cmd, sizeof cmd, "pdftoppm -r 300 -png -singlefile '%s' '%s/avery-30-pdf'", pdf,
             tmpdir);
    run_ok(cmd);
    path_for(png, sizeof png, "avery-30-pdf.png");
    check_sheet(png, a, s, 30, 0);
}

/* A partly used sheet: start at (10,3), the second item goes to (1,1) of
 * page 2; calibration offsets move both pages alike. */
static void start_pages(const char *name, int32_t ox, int32_t oy, struct hit *h1, struct hit *h2)
{
    const struct pv_layout *a = pv_layout_find("avery-5160");
    struct sample s[2];
    struct pv_label_item it[2];
    char pdf[PATH_CAP], png[PATH_CAP], cmd[CMD_CAP];
    uint8_t *out;
    size_t len;
    int page;

    make_sample(&s[0], 500, NULL, 0);
    make_sample(&s[1], 501, NULL, 0);
    it[0] = item_of(&s[0]);
    it[1] = item_of(&s[1]);
    snprintf(cmd, sizeof cmd, "%s.pdf", name);
    path_for(pdf, sizeof pdf, cmd);
    out = render_ok(a, it, 2, PV_FMT_PDF, 0, 10, 3, ox, oy, &len);
    assert_int_equal(pdf_pages(out, len, 612, 792), 2);
    write_file(pdf, out, len);
    free(out);
    for (page = 1; page <= 2; page++) {
        snprintf(cmd, sizeof cmd, "pdftoppm -r 300 -png -f %d -l %d -singlefile '%s' '%s/%s-%d'",
                 page, page, pdf, tmpdir, name, page);
        run_ok(cmd);
        snprintf(cmd, sizeof cmd, "%s-%d.png", name, page);
        path_for(png, sizeof png, cmd);
        if (page == 1)
            check_page_off(png, a, 300 / 72.0, 10, 3, ox * 72 / 2540.0, oy * 72 / 2540.0, &s[0],
                           h1);
        else
            check_page_off(png, a, 300 / 72.0, 1, 1, ox * 72 / 2540.0, oy * 72 / 2540.0, &s[1], h2);
    }
}

static void test_start_position_pages(void **state)
{
    struct hit a1, a2, b1, b2;

    (void) state;
    start_pages("start", 0, 0, &a1, &a2);
    /* 2 mm right, 1 mm up: 23.6 and -11.8 pixels at 300 dpi, on both pages. */
    start_pages("start-offset", 200, -100, &b1, &b2);
    assert_true(b1.x0 - a1.x0 > 23.6 - 1.5 && b1.x0 - a1.x0 < 23.6 + 1.5);
    assert_true(b1.y0 - a1.y0 > -11.8 - 1.5 && b1.y0 - a1.y0 < -11.8 + 1.5);
    assert_true(b2.x0 - a2.x0 > 23.6 - 1.5 && b2.x0 - a2.x0 < 23.6 + 1.5);
    assert_true(b2.y0 - a2.y0 > -11.8 - 1.5 && b2.y0 - a2.y0 < -11.8 + 1.5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_table),
        cmocka_unit_test(test_label_origins),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_every_layout_every_format),
        cmocka_unit_test(test_png_dpi),
        cmocka_unit_test(test_pdf_pages),
        cmocka_unit_test(test_option_errors),
        cmocka_unit_test(test_too_small),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_offsets_move_everything),
        cmocka_unit_test(test_decode_every_layout),
        cmocka_unit_test(test_decode_other_dpi),
        cmocka_unit_test(test_text_below),
        cmocka_unit_test(test_avery_sheet_30),
        cmocka_unit_test(test_start_position_pages),
    };

    int failed = cmocka_run_group_tests(tests, group_setup, group_teardown);

    pv_render_shutdown(); /* fontconfig's caches: a clean exit for LeakSanitizer */
    return failed;
}
