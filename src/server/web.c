/*
 * web.c - the web UI's static files, compiled into stampd (docs/web.md).
 *
 * cmake/embed_web.cmake turns web/ into pv_web_files[]: path, bytes, length
 * and an ETag from the file's hash. Nothing is read from disk at run time,
 * so the installed binary needs no path and serves exactly the UI it was
 * built with. Only the files in the table exist: no directory listings, no
 * path arithmetic, nothing to traverse. The security headers every answer
 * carries (a strict Content-Security-Policy among them) are set in http.c.
 */
#include "server/web.h"

#include <string.h>

struct pv_web_file {
    const char *path;
    const unsigned char *data;
    size_t len;
    const char *etag;
};

/* web_assets.c, generated at build time; ends with a NULL path. */
extern const struct pv_web_file pv_web_files[];

static const char *content_type(const char *path)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
        {".webmanifest", "application/manifest+json"},
    };
    const char *dot = strrchr(path, '.');
    size_t i;

    for (i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i][0]) == 0)
            return types[i][1];
    return "application/octet-stream";
}

const struct pv_web_file *pv_web_find(const char *path)
{
    const struct pv_web_file *f;

    if (strcmp(path, "/") == 0)
        path = "/index.html";
    for (f = pv_web_files; f->path; f++)
        if (strcmp(f->path, path) == 0)
            return f;
    return NULL;
}

void pv_web_answer(const struct pv_web_file *f, const struct pv_request *rq, struct pv_reply *rp)
{
    const char *inm = rq->header ? rq->header(rq->arg_ctx, "If-None-Match") : NULL;

    /* Revalidate every time (a new build changes the ETag), send only when changed. */
    rp->cache_control = "no-cache";
    rp->etag = f->etag;
    rp->content_type = content_type(f->path);
    if (inm && strstr(inm, f->etag)) {
        rp->status = 304;
        return;
    }
    rp->status = 200;
    rp->asset = f->data;
    rp->asset_len = f->len;
}
