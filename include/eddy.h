/* eddy — asynchronous I/O and structured concurrency for C on Linux.
 * Umbrella header: include this one. docs/api.md states the rules every header follows; codes
 * such as A2 or N7 in the headers name capabilities listed in docs/capabilities.md. */
#ifndef EDDY_H
#define EDDY_H

#include "eddy/base.h"
#include "eddy/version.h"
#include "eddy/error.h"
#include "eddy/loop.h"
#include "eddy/task.h"
#include "eddy/time.h"
#include "eddy/sync.h"
#include "eddy/chan.h"
#include "eddy/debug.h"
#include "eddy/stream.h"
#include "eddy/net.h"
#include "eddy/dns.h"
#include "eddy/udp.h"
#include "eddy/unix.h"
#include "eddy/sendfile.h"
#include "eddy/server.h"
#include "eddy/http.h"
#include "eddy/protocol.h"
#include "eddy/bufio.h"
#include "eddy/memstream.h"
#include "eddy/signal.h"
#include "eddy/process.h"
#include "eddy/tls.h"
#include "eddy/http_client.h"
#include "eddy/retry.h"
#include "eddy/thread.h"
#include "eddy/file.h"

#endif
