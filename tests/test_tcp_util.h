/* Shared helper for test files that need a connected pair of TCP streams over loopback. */
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

#endif
