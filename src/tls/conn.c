/* eddy tls: the TLS stream (N10).
 *
 * OpenSSL reads and writes ciphertext through a BIO of ours over two fixed buffers in the
 * stream (in: ciphertext read from the inner stream, not yet taken by OpenSSL; out:
 * ciphertext OpenSSL produced, not yet written to the inner stream). The BIO never blocks:
 * an empty in says "retry" (SSL_ERROR_WANT_READ), a full out too (WANT_WRITE), and the task
 * that called into OpenSSL then moves bytes through the inner stream with the ordinary
 * blocking stream calls, and calls OpenSSL again. So no OpenSSL call is ever suspended
 * half-way: a reader and a writer task can take turns on one SSL object.
 *
 * Moving ciphertext, with a reader and a writer at once:
 *  - pump: one task at a time reads the inner stream (the pumper); any other task that needs
 *    input waits for that read to end and tries OpenSSL again. Whoever needs input pumps: a
 *    writer whose SSL_write waits for a renegotiation to finish reads for itself when no
 *    reader is there, and gets the reader's bytes when one is.
 *  - flush: one task at a time writes out to the inner stream (the flusher), the whole of
 *    what is queued, and keeps going while more arrives; others wait for it. Data in out is
 *    never moved while a flush is writing from it (the inner stream may hold the pointer
 *    until its write returns).
 *  - a read never waits for a flush: what SSL_read queued goes out with the writer's bytes.
 *    Before it waits for input, though, a reader sends what is queued if nobody is sending
 *    (the peer may be waiting for it: a handshake message, a cancelled write's tail).
 *  - a write puts at most one record into out per SSL_write, and only when out has room
 *    for a whole record: the BIO always takes all of it, so SSL_write never has to be
 *    repeated with the same arguments (a repeat a cancelled write could not make). */
#ifdef EDDY_HAVE_OPENSSL
#include <arpa/inet.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "io/io.h"
#include "tls/tls_impl.h"

/* ---- the BIO ------------------------------------------------------------------------- */

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int bio_write(BIO *b, const char *data, int len)
{
    eddy__tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0) return 0;
    /* The inner stream failed for writing: nothing can go out any more. Take the bytes so a
     * read that queues an alert or a handshake message still goes on (the write side
     * reports the failure). */
    if (t->out_err) return len;
    size_t room = EDDY__TLS_OUT_CAP - t->otail;
    if (room < (size_t)len && t->ohead > 0 && !t->flusher) {
        memmove(t->out, t->out + t->ohead, t->otail - t->ohead);
        t->otail -= t->ohead;
        t->ohead = 0;
        room = EDDY__TLS_OUT_CAP - t->otail;
    }
    if (room == 0) {
        BIO_set_retry_write(b);
        return -1;
    }
    size_t n = (size_t)len < room ? (size_t)len : room;
    memcpy(t->out + t->otail, data, n);
    t->otail += n;
    t->queued += n;
    return (int)n;
}

static int bio_read(BIO *b, char *buf, int len)
{
    eddy__tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0) return 0;
    size_t avail = t->itail - t->ihead;
    if (avail == 0) {
        if (t->in_eof) return 0;  /* end of stream */
        if (t->in_err) return -1; /* an error, not "retry" */
        BIO_set_retry_read(b);
        return -1;
    }
    size_t n = (size_t)len < avail ? (size_t)len : avail;
    memcpy(buf, t->in + t->ihead, n);
    t->ihead += n;
    return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    eddy__tls *t = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH: return 1; /* the task that called OpenSSL flushes after it */
    case BIO_CTRL_PENDING: return (long)(t->itail - t->ihead);
    case BIO_CTRL_WPENDING: return (long)(t->otail - t->ohead);
    case BIO_CTRL_EOF: return t->in_eof && t->itail == t->ihead;
    default: return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void bio_method_make(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "eddy stream");
    if (!m) return;
    if (!BIO_meth_set_write(m, bio_write) || !BIO_meth_set_read(m, bio_read) ||
        !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create)) {
        BIO_meth_free(m);
        return;
    }
    bio_method = m;
}

/* ---- moving ciphertext ------------------------------------------------------------------ */

/* rc, from a call on the inner stream, is the calling task's own cancellation (not a
 * failure of the stream). */
static bool own_cancel(int rc)
{
    return (rc == -ECANCELED || rc == -ETIMEDOUT) && eddy_checkpoint_if_cancelled() != 0;
}

/* Bring ciphertext in, or wait for the task doing it. 0: there is news (bytes, the end of
 * the inner stream, its error): call OpenSSL again. Else the cancel code, or -EBADF when
 * close interrupted it. */
static int pump(eddy__tls *t)
{
    if (t->pumper) {
        eddy__waiter w;
        return eddy__waitq_wait(&t->in_wait, &w, "tls input", t);
    }
    if (t->ihead == t->itail) {
        t->ihead = t->itail = 0;
    } else if (t->ihead > 0) {
        memmove(t->in, t->in + t->ihead, t->itail - t->ihead);
        t->itail -= t->ihead;
        t->ihead = 0;
    }
    t->pumper = eddy_task_current();
    unsigned gen = t->interrupts;
    ssize_t n = eddy_stream_read(t->inner, t->in + t->itail, EDDY__TLS_IN_CAP - t->itail);
    t->pumper = NULL;
    eddy__waitq_wake_all(&t->in_wait, 0);
    if (n > 0) {
        t->itail += (size_t)n;
        return 0;
    }
    if (n == 0) {
        t->in_eof = true;
        return 0;
    }
    if (n == -EBADF && t->interrupts != gen) return -EBADF;
    if (own_cancel((int)n)) return (int)n;
    t->in_err = (int)n;
    return 0;
}

/* Write out everything queued before mark (a value of t->queued) to the inner stream, as
 * the flusher or by waiting for it. 0 once it is out; the cancel code; -EBADF when close
 * interrupted it; the inner stream's error (then sticky in out_err). */
static int flush_to(eddy__tls *t, uint64_t mark)
{
    while (t->sent < mark) {
        if (t->out_err) return t->out_err;
        if (t->flusher) {
            eddy__waiter w;
            int rc = eddy__waitq_wait(&t->out_wait, &w, "tls output", t);
            if (rc < 0) return rc;
            continue;
        }
        size_t done = 0;
        t->flusher = eddy_task_current();
        unsigned gen = t->interrupts;
        int rc = eddy_stream_write(t->inner, t->out + t->ohead, t->otail - t->ohead, &done);
        t->flusher = NULL;
        t->ohead += done;
        t->sent += done;
        if (t->ohead == t->otail) t->ohead = t->otail = 0;
        eddy__waitq_wake_all(&t->out_wait, 0);
        if (rc < 0) {
            if (rc == -EBADF && t->interrupts != gen) return -EBADF;
            if (own_cancel(rc)) return rc;
            t->out_err = rc;
            return rc;
        }
    }
    return 0;
}

static int flush_all(eddy__tls *t) { return flush_to(t, t->queued); }

/* OpenSSL said WANT_READ or WANT_WRITE: make it possible to go on. */
static int wait_io(eddy__tls *t, int want)
{
    if (want == SSL_ERROR_WANT_WRITE) return flush_all(t);
    /* Before waiting for the peer, send what is queued, unless a flush is under way (it
     * sends these bytes too, after its own; waiting for it could stop this task reading
     * while the peer waits for us to read). A failed write side does not stop reads, except
     * in a handshake: the peer waits for the flight that did not go out, and would never
     * answer (both sides waiting for ever). */
    if (!t->flusher && t->sent < t->queued && !t->out_err) {
        int rc = flush_all(t);
        if (rc < 0 && rc != t->out_err) return rc;
    }
    if (t->out_err && t->sent < t->queued && (!t->hs_done || SSL_in_init(t->ssl)))
        return t->out_err;
    /* News a task pumping for us brought (bytes, the end, an error) while OpenSSL was not
     * looking, or bytes OpenSSL left: call it again before reading more. */
    if (t->itail > t->ihead || t->in_eof || t->in_err) return 0;
    return pump(t);
}

/* A failed SSL call: the code (sticky in t->dead), or 0 for an end of stream. */
static int fail(eddy__tls *t, int ret)
{
    int rc = eddy__tls_error(t, ret, !t->hs_done);
    if (rc == 0)
        t->got_close = true;
    else
        t->dead = rc;
    return rc;
}

static void handshake_done(eddy__tls *t)
{
    t->hs_done = true;
    const unsigned char *p;
    unsigned n;
    SSL_get0_alpn_selected(t->ssl, &p, &n);
    if (n) memcpy(t->alpn, p, n);
    t->alpn[n] = 0;
    int mfl = SSL_SESSION_get_max_fragment_length(SSL_get_session(t->ssl));
    t->max_frag = mfl >= TLSEXT_max_fragment_length_512 && mfl <= TLSEXT_max_fragment_length_4096
                      ? 512u << (mfl - TLSEXT_max_fragment_length_512)
                      : EDDY__TLS_CHUNK;
    t->tickets_due = t->server && t->ctx->tickets && SSL_version(t->ssl) >= TLS1_3_VERSION;
}

/* TLS 1.3 session tickets ride on the server's first write (see ctx.c): as many as OpenSSL
 * would have sent, two after a full handshake, one after a resumption. (Asked for earlier,
 * OpenSSL would send them with the next read too.) */
static void queue_tickets(eddy__tls *t)
{
    t->tickets_due = false;
    for (int i = SSL_session_reused(t->ssl) ? 1 : 2; i > 0; i--)
        if (!SSL_new_session_ticket(t->ssl)) break;
    ERR_clear_error();
}

/* Call op (SSL_do_handshake, SSL_shutdown) until it stops asking for ciphertext to be moved:
 * 1 when it returned ok or more, 0 when the peer's close_notify came instead, or the code of
 * the failure (sticky in t->dead) or of the wait (cancellation, close). */
static int drive(eddy__tls *t, int (*op)(SSL *), int ok)
{
    for (;;) {
        if (t->dead) return t->dead;
        ERR_clear_error();
        int r = op(t->ssl);
        if (r >= ok) return 1;
        int e = SSL_get_error(t->ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return fail(t, r);
        int rc = wait_io(t, e);
        if (rc < 0) return rc;
    }
}

/* Drive the handshake (the first one, a renegotiation in progress, a key update asked for)
 * until OpenSSL is out of it, then send its last flight. */
static int settle(eddy__tls *t)
{
    while (!t->hs_done || SSL_in_init(t->ssl)) {
        int rc = drive(t, SSL_do_handshake, 1);
        if (rc == 1) {
            if (!t->hs_done) handshake_done(t);
            break;
        }
        if (rc == 0) rc = t->dead = t->hs_done ? -ECONNRESET : EDDY_ETLS_TRUNCATED;
        /* A failure: tell the peer why (the alert OpenSSL queued), under the caller's own
         * scope, best effort. (Not after a cancellation: the handshake can go on.) */
        if (t->dead) (void)flush_all(t);
        return rc;
    }
    return flush_all(t);
}

/* ---- the stream operations --------------------------------------------------------------- */

static ssize_t tls_read(eddy_stream *s, void *buf, size_t len)
{
    eddy__tls *t = (eddy__tls *)s;
    if (!t->hs_done) {
        int rc = settle(t);
        if (rc < 0) return rc;
    }
    if (len > INT_MAX) len = INT_MAX;
    for (;;) {
        if (t->got_close) return 0;
        if (t->dead) return t->dead;
        size_t got = 0;
        ERR_clear_error();
        int r = SSL_read_ex(t->ssl, buf, len, &got);
        if (r == 1) {
            /* Fill the caller's buffer from records already here, without waiting. */
            size_t total = got;
            while (total < len && (SSL_pending(t->ssl) > 0 || t->itail > t->ihead)) {
                ERR_clear_error();
                r = SSL_read_ex(t->ssl, (char *)buf + total, len - total, &got);
                if (r == 1) {
                    total += got;
                    continue;
                }
                int e = SSL_get_error(t->ssl, r);
                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) (void)fail(t, r);
                break; /* an error is the next call's */
            }
            return (ssize_t)total;
        }
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            int rc = wait_io(t, e);
            if (rc < 0) return rc;
            continue;
        }
        if (e == SSL_ERROR_ZERO_RETURN) {
            t->got_close = true;
            return 0;
        }
        return fail(t, r);
    }
}

/* Room in out for n more bytes, counting the space a compaction would free when allowed. */
static size_t out_room(const eddy__tls *t)
{
    return EDDY__TLS_OUT_CAP - (t->flusher ? t->otail : t->otail - t->ohead);
}

#define GATHER 1024 /* small pieces (frame and HTTP headers) share one record */

/* Move (*i, *off) on by n bytes of iov. */
static void advance(const struct iovec *iov, int *i, size_t *off, size_t n)
{
    while (n) {
        size_t left = iov[*i].iov_len - *off;
        if (n < left) {
            *off += n;
            return;
        }
        n -= left;
        (*i)++;
        *off = 0;
    }
}

static ssize_t tls_writev(eddy_stream *s, const struct iovec *iov, int iovcnt)
{
    eddy__tls *t = (eddy__tls *)s;
    int rc = eddy_checkpoint_if_cancelled();
    if (rc < 0) return rc;
    if (!t->hs_done && (rc = settle(t)) < 0) return rc;
    if (t->tickets_due) queue_tickets(t);
    size_t accepted = 0, off = 0;
    int i = 0;
    char small[GATHER];
    while (i < iovcnt) {
        if (t->dead) return accepted ? (ssize_t)accepted : t->dead;
        if (t->out_err) return t->out_err;
        if (t->sent_close) return accepted ? (ssize_t)accepted : -EPIPE;
        /* The next record's plaintext: a piece, or several small ones copied together. */
        int i0 = i;
        size_t off0 = off, n;
        const char *p;
        size_t cap = t->max_frag < GATHER ? t->max_frag : GATHER;
        if (iov[i].iov_len - off < cap && i + 1 < iovcnt) {
            n = 0;
            while (i < iovcnt && n < cap) {
                size_t take = iov[i].iov_len - off;
                if (take > cap - n) take = cap - n;
                memcpy(small + n, (const char *)iov[i].iov_base + off, take);
                n += take;
                off += take;
                if (off == iov[i].iov_len) {
                    i++;
                    off = 0;
                }
            }
            p = small;
        } else {
            p = (const char *)iov[i].iov_base + off;
            n = iov[i].iov_len - off;
            if (n > t->max_frag) n = t->max_frag;
            off += n;
            if (off == iov[i].iov_len) {
                i++;
                off = 0;
            }
        }
        if (out_room(t) < n + EDDY__TLS_SLACK) {
            i = i0;
            off = off0;
            if (accepted) break; /* send what there is, report it */
            if ((rc = flush_all(t)) < 0) return rc;
            continue;
        }
        ERR_clear_error();
        size_t w = 0;
        int r = SSL_write_ex(t->ssl, p, n, &w);
        if (r == 1) {
            accepted += w;
            if (w < n) { /* (one record is always taken whole; in case it was not) */
                i = i0;
                off = off0;
                advance(iov, &i, &off, w);
            }
            continue;
        }
        i = i0;
        off = off0;
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            /* A renegotiation in progress (no record of ours was written). */
            if (accepted) break;
            if ((rc = wait_io(t, e)) < 0) return rc;
            continue;
        }
        rc = fail(t, r);
        if (rc == 0) rc = t->dead = -EPIPE; /* cannot happen for a write */
        return accepted ? (ssize_t)accepted : rc;
    }
    rc = flush_all(t);
    /* A dead transport never delivers them: nothing was written. Cancelled or interrupted
     * by close: they are TLS's now and go out with the next flush (or close's). */
    if (rc < 0 && rc == t->out_err) return rc;
    return (ssize_t)accepted;
}

static ssize_t tls_write(eddy_stream *s, const void *buf, size_t len)
{
    struct iovec v = {(void *)buf, len};
    return tls_writev(s, &v, 1);
}

/* Queue close_notify once. */
static int queue_close_notify(eddy__tls *t)
{
    if (t->sent_close) return 0;
    int rc = drive(t, SSL_shutdown, 0);
    if (rc == 1) {
        t->sent_close = true;
        return 0;
    }
    return rc ? rc : -EPIPE;
}

static int tls_shutdown_write(eddy_stream *s)
{
    eddy__tls *t = (eddy__tls *)s;
    int rc;
    if (t->dead) return t->dead;
    if (t->out_err) return t->out_err;
    /* SSL_shutdown refuses while a handshake is in progress: finish it first. */
    if ((rc = settle(t)) < 0 || (rc = queue_close_notify(t)) < 0 || (rc = flush_all(t)) < 0)
        return rc;
    if (!t->borrow) {
        /* And the transport's own end of stream, for peers that wait for it. */
        rc = eddy_stream_shutdown_write(t->inner);
        if (own_cancel(rc)) return rc;
    }
    return 0;
}

static void tls_interrupt(eddy_stream *s)
{
    eddy__tls *t = (eddy__tls *)s;
    t->interrupts++;
    eddy__waitq_wake_all(&t->in_wait, -EBADF);
    eddy__waitq_wake_all(&t->out_wait, -EBADF);
    /* The pumper and the flusher are inside the inner stream: wake them there. */
    if ((t->pumper || t->flusher) && t->inner->vt->interrupt) t->inner->vt->interrupt(t->inner);
}

/* Graceful close: the bytes still queued and close_notify, shielded, within close_timeout.
 * Whatever did not go out shows in t->sent < t->queued. */
static void goodbye(eddy__tls *t)
{
    /* A shield needs a deadline (cleanup must not hang): with no limit of its own the close
     * runs under the caller's scopes instead. */
    bool shield = t->close_timeout != EDDY_FOREVER;
    eddy_cancel_scope cs;
    if (shield && eddy_cancel_scope_enter(&cs, .timeout = t->close_timeout,
                                          .shield = true, .fail = true) < 0)
        return;
    /* No close_notify in the middle of a handshake (OpenSSL refuses it): the peer sees the
     * end of the inner stream. After a TLS error the queue holds the alert. */
    if (t->hs_done && !t->dead && !SSL_in_init(t->ssl)) (void)queue_close_notify(t);
    (void)flush_all(t);
    if (shield) eddy_cancel_scope_exit(&cs);
}

static void tls_free(eddy__tls *t)
{
    SSL_free(t->ssl); /* and the BIO */
    eddy__tls_ctx_unref(t->ctx);
    free(t);
}

/* As a TCP close, this reports only the transport's own close error: bytes the peer never
 * took (it did not read within close_timeout, or it was gone) are not an error of close. */
static int tls_close(eddy_stream *s, bool graceful)
{
    eddy__tls *t = (eddy__tls *)s;
    if (graceful && t->close_timeout > 0 && eddy_task_current()) goodbye(t);
    /* A record cut in the middle, or data that never went: the peer must not take the end
     * of the inner stream for a clean one. */
    bool clean = graceful && t->sent == t->queued;
    eddy_stream *inner = t->borrow ? NULL : t->inner;
    tls_free(t);
    if (!inner) return 0;
    if (clean) return eddy_stream_close(inner);
    eddy_stream_abort(inner);
    return 0;
}

static int tls_fd(eddy_stream *s) { return eddy_stream_fd(((eddy__tls *)s)->inner); }

const eddy_stream_vt eddy__tls_vt = {
    .kind = "tls",
    .read = tls_read,
    .write = tls_write,
    .shutdown_write = tls_shutdown_write,
    .interrupt = tls_interrupt,
    .close = tls_close,
    .fd = tls_fd,
    .writev = tls_writev,
};

/* ---- making TLS streams -------------------------------------------------------------------- */

static bool is_ip_literal(const char *h)
{
    unsigned char a[16];
    return inet_pton(AF_INET, h, a) == 1 || inet_pton(AF_INET6, h, a) == 1;
}

static int client_setup(eddy__tls *t, const char *host)
{
    eddy_tls_ctx *c = t->ctx;
    SSL_set_connect_state(t->ssl);
    bool ip = host && is_ip_literal(host);
    /* SNI carries DNS names only (RFC 6066). */
    if (host && !ip && !SSL_set_tlsext_host_name(t->ssl, host)) return -EINVAL;
    if (c->verify) {
        if (ip ? !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host)
               : !SSL_set1_host(t->ssl, host))
            return -EINVAL;
        SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    }
    if (t->session_key) {
        SSL_SESSION *sess = eddy__tls_sess_take(c, t->session_key);
        if (sess) {
            int ok = SSL_set_session(t->ssl, sess);
            SSL_SESSION_free(sess);
            if (!ok) return -ENOMEM;
        }
    }
    return 0;
}

static int tls_new(eddy_stream *inner, eddy_tls_ctx *ctx, const char *host,
                   const eddy_tls_opts *o, bool server, eddy_stream **out, const char *site)
{
    if (!out) return -EINVAL;
    *out = NULL;
    eddy_tls_opts d = EDDY_TLS_OPTS_INIT;
    if (!o) o = &d;
    if (!inner || !ctx || ctx->server != server) return -EINVAL;
    if (o->close_timeout < 0) return -EINVAL;
    if (!server && ctx->verify && (!host || !*host)) return -EINVAL;
    if (!eddy_task_current()) return -EPERM;
    pthread_once(&bio_once, bio_method_make);
    if (!bio_method) return -ENOMEM;
    const char *key = server || !ctx->max_sess ? NULL : o->session_key ? o->session_key : host;
    size_t klen = key ? strlen(key) + 1 : 0;
    eddy__tls *t = malloc(sizeof *t + klen);
    if (!t) return -ENOMEM;
    /* Everything but the buffers starts zeroed. */
    memset(t, 0, offsetof(eddy__tls, in));
    t->inner = inner;
    t->ctx = ctx;
    t->close_timeout = o->close_timeout;
    t->borrow = o->borrow;
    t->allow_trunc = o->allow_truncation;
    t->server = server;
    t->max_frag = EDDY__TLS_CHUNK;
    eddy__waitq_init(&t->in_wait);
    eddy__waitq_init(&t->out_wait);
    if (key) {
        t->session_key = (char *)(t + 1);
        memcpy(t->session_key, key, klen);
    }
    ERR_clear_error();
    BIO *b = NULL;
    if (!(t->ssl = SSL_new(ctx->ssl)) || !(b = BIO_new(bio_method))) {
        ERR_clear_error();
        SSL_free(t->ssl);
        free(t);
        return -ENOMEM;
    }
    BIO_set_data(b, t);
    SSL_set_bio(t->ssl, b, b);
    SSL_set_app_data(t->ssl, t);
    eddy__tls_ctx_ref(ctx);
    int rc = server ? (SSL_set_accept_state(t->ssl), 0) : client_setup(t, host);
    ERR_clear_error();
    if (rc < 0) {
        tls_free(t);
        return rc;
    }
    eddy__stream_init(&t->base, &eddy__tls_vt, site);
    if (!o->defer_handshake && (rc = settle(t)) < 0) {
        /* inner stays the caller's: take nothing with us. */
        eddy__handle_del(&t->base.handle);
        tls_free(t);
        return rc;
    }
    *out = &t->base;
    return 0;
}

int eddy__tls_client(eddy_stream *inner, eddy_tls_ctx *ctx, const char *hostname,
                     const eddy_tls_opts *opts, eddy_stream **out, const char *site)
{
    return tls_new(inner, ctx, hostname, opts, false, out, site);
}

int eddy__tls_server(eddy_stream *inner, eddy_tls_ctx *ctx, const eddy_tls_opts *opts,
                     eddy_stream **out, const char *site)
{
    return tls_new(inner, ctx, NULL, opts, true, out, site);
}

int eddy_tls_handshake(eddy_stream *s)
{
    eddy__tls *t = eddy__tls_of(s);
    if (!t) return -EINVAL;
    if (t->hs_done) return 0;
    int rc = eddy__stream_write_begin(s);
    if (rc < 0) return rc;
    rc = settle(t);
    eddy__stream_write_end(s);
    return rc;
}

int eddy_tls_key_update(eddy_stream *s, bool request_peer)
{
    eddy__tls *t = eddy__tls_of(s);
    if (!t) return -EINVAL;
    int rc = eddy__stream_write_begin(s);
    if (rc < 0) return rc;
    if ((rc = settle(t)) < 0) goto out;
    if (SSL_version(t->ssl) < TLS1_3_VERSION) {
        rc = -ENOTSUP;
    } else if (t->out_err) {
        rc = t->out_err;
    } else if (t->sent_close) {
        rc = -EPIPE;
    } else {
        ERR_clear_error();
        /* OpenSSL sends it with the next handshake step or write: settle makes that step. */
        rc = SSL_key_update(t->ssl, request_peer ? SSL_KEY_UPDATE_REQUESTED
                                                 : SSL_KEY_UPDATE_NOT_REQUESTED)
                 ? settle(t)
                 : fail(t, -1);
    }
out:
    eddy__stream_write_end(s);
    return rc;
}
#endif
