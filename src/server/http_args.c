/*
 * http_args.c - the query arguments and headers of a libmicrohttpd
 * connection, for struct pv_request (http_args.h).
 */
#include "server/http_args.h"

#include "server/app.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

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

const char *pv_http_client_address(void *ctx, char *buf, size_t n)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(ctx, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    if (!sa)
        return NULL;
    if (sa->sa_family == AF_INET)
        return inet_ntop(AF_INET, &((const struct sockaddr_in *) (const void *) sa)->sin_addr, buf,
                         (socklen_t) n);
    if (sa->sa_family == AF_INET6) {
        /* One host gets a /64: count the /64, or every address of it guesses anew. */
        struct in6_addr a = ((const struct sockaddr_in6 *) (const void *) sa)->sin6_addr;
        if (!IN6_IS_ADDR_V4MAPPED(&a))
            memset(&a.s6_addr[8], 0, 8);
        return inet_ntop(AF_INET6, &a, buf, (socklen_t) n);
    }
    return NULL;
}

static enum MHD_Result count_xff(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void) kind;
    (void) value;
    if (key && strcasecmp(key, "X-Forwarded-For") == 0)
        (*(int *) cls)++;
    return MHD_YES;
}

const char *pv_http_source_address(const struct pv_app *app, void *ctx, char *buf, size_t n)
{
    struct MHD_Connection *c = ctx;
    const char *peer = pv_http_client_address(c, buf, n), *xff, *last;
    size_t len;
    int lines = 0;

    if (!peer || !app->trusted_proxy[0] || strcmp(peer, app->trusted_proxy) != 0)
        return peer;
    /* Two header lines mean the client sent one of them: believe neither. */
    if (MHD_get_connection_values(c, MHD_HEADER_KIND, count_xff, &lines) < 0 || lines != 1)
        return peer;
    xff = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For");
    if (!xff)
        return peer;
    last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    while (*last == ' ')
        last++;
    len = strcspn(last, " ");
    if (len == 0 || len >= n)
        return peer;
    memcpy(buf, last, len);
    buf[len] = '\0';
    return buf;
}
