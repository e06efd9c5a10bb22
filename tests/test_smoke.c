#include "eddy/test.h"

static int child(void *arg)
{
    int *n = arg;
    int rc = eddy_sleep(EDDY_SEC(1));
    if (rc < 0) return rc;
    (*n)++;
    return 0;
}

EDDY_TEST(smoke_nursery_sleep)
{
    int n = 0, rc;
    int64_t t0 = eddy_now();
    EDDY_NURSERY(nu, &rc) {
        EDDY_OK(eddy_spawn(nu, child, &n));
        EDDY_OK(eddy_spawn(nu, child, &n));
    }
    EDDY_CHECK_EQ(rc, 0);
    EDDY_CHECK_EQ(n, 2);
    EDDY_CHECK_EQ(eddy_now() - t0, EDDY_SEC(1));
    return 0;
}
