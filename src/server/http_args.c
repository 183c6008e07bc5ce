/*
 * http_args.c - the query arguments and headers of a libmicrohttpd
 * connection, for struct pv_request (http_args.h).
 */
#include "server/http_args.h"

#include <microhttpd.h>

const char *pv_http_query_arg(void *ctx, const char *name)
{
    return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, name);
}

const char *pv_http_header(void *ctx, const char *name)
{
    return MHD_lookup_connection_value(ctx, MHD_HEADER_KIND, name);
}

struct arg_walk {
    int (*fn)(void *cls, const char *name, const char *value);
    void *cls;
};

static enum MHD_Result arg_step(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    struct arg_walk *w = cls;

    (void) kind;
    return key && w->fn(w->cls, key, value ? value : "") ? MHD_NO : MHD_YES;
}

void pv_http_query_each(void *ctx, int (*fn)(void *cls, const char *name, const char *value),
                        void *cls)
{
    struct arg_walk w = {fn, cls};

    MHD_get_connection_values(ctx, MHD_GET_ARGUMENT_KIND, arg_step, &w);
}
