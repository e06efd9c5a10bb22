/* Shared helpers for test files that talk TCP over loopback: a connected pair of streams, and
 * reading an exact number of bytes. */
#ifndef EDDY_TEST_TCP_UTIL_H
#define EDDY_TEST_TCP_UTIL_H

#include "eddy/test.h"

/* *a connected to *b (accepted) on 127.0.0.1, through a listener closed again. */
static inline void tcp_pair(eddy_stream **a, eddy_stream **b)
{
    eddy_listener *l;
    eddy_sockaddr addr;
    EDDY_OK(eddy_tcp_listen("127.0.0.1", 0, NULL, &l));
    EDDY_OK(eddy_listener_local_addr(l, &addr));
    EDDY_OK(eddy_tcp_connect_addr(&addr, a));
    EDDY_OK(eddy_listener_accept(l, b, NULL));
    EDDY_OK(eddy_listener_close(l));
}

/* Read exactly len bytes from s (a check fails at an error or the end of the stream). */
static inline void tcp_read_exact(eddy_stream *s, char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = eddy_stream_read(s, buf + got, len - got);
        EDDY_CHECK(n > 0);
        got += (size_t)n;
    }
}

#endif
