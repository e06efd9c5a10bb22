/* eddy — HTTP/1.1 (RFC 9110, RFC 9112): the types shared by the server and the client, and
 * the server (W2).
 *
 * Messages are parsed in place: every string a parsed message exposes (method, target,
 * field names and values) is an eddy_http_str pointing into the connection's read buffer,
 * not a copy and not NUL-terminated. Such a view stays valid while the message is being
 * handled (for the server: until the handler returns); copy what must outlive it.
 *
 * The parser is strict where leniency lets two parsers disagree on where a message ends
 * (request smuggling, response splitting): see "What the server rejects" below. */
#ifndef EDDY_HTTP_H
#define EDDY_HTTP_H

#include <sys/types.h>

#include "base.h"
#include "net.h"
#include "server.h"
#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- shared types ------------------------------------------------------------------------ */

/* A view of bytes (not NUL-terminated). ptr may be NULL when len is 0. */
typedef struct eddy_http_str {
    const char *ptr;
    size_t len;
} eddy_http_str;

/* One field line ("Name: value"): the name as sent (case preserved), the value without the
 * whitespace around it. */
typedef struct eddy_http_field {
    eddy_http_str name;
    eddy_http_str value;
} eddy_http_field;

/* Request methods the parser recognises (by exact, case-sensitive spelling); any other token
 * is EDDY_HTTP_OTHER and is still a valid method (see eddy_http_request.method). */
enum {
    EDDY_HTTP_OTHER = 0,
    EDDY_HTTP_GET,
    EDDY_HTTP_HEAD,
    EDDY_HTTP_POST,
    EDDY_HTTP_PUT,
    EDDY_HTTP_DELETE,
    EDDY_HTTP_CONNECT,
    EDDY_HTTP_OPTIONS,
    EDDY_HTTP_TRACE,
    EDDY_HTTP_PATCH,
};

/* The reason phrase of a status code ("OK", "Not Found"); "" for a code it does not know. */
EDDY_API const char *eddy_http_reason(int status);

/* True if s equals the NUL-terminated lit, ignoring ASCII case (field names, tokens). */
EDDY_API bool eddy_http_str_ieq(eddy_http_str s, const char *lit);

/* The first field named name (ASCII case-insensitive) in fields[from, n), or NULL. To visit
 * every field of that name, call again with from = index of the last match + 1. */
EDDY_API const eddy_http_field *eddy_http_field_find(const eddy_http_field *fields, size_t n,
                                                     size_t from, const char *name);

/* True if the comma-separated list value (a field value such as Connection's) has an element
 * equal to token, ignoring ASCII case and the whitespace around elements. */
EDDY_API bool eddy_http_list_has(eddy_http_str value, const char *token);

#ifdef __cplusplus
}
#endif
#endif
