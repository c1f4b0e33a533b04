/* http_server_tls.c: HTTPS for the HTTP server, OpenSSL over memory BIOs.
 *
 * Owns: the server's SSL_CTX (http_server_set_tls) and each connection's SSL with its two
 * memory BIOs; the only file of the server that calls OpenSSL.
 * Promises: OpenSSL never touches the socket. Records read from the socket go into the read BIO;
 * the handshake runs first, then every decrypted byte takes the path plain bytes take
 * (http_server_conn_on_plain), so limits, timeouts, backpressure and pipelining are the same
 * with and without TLS. Plaintext to send is SSL_written into the write BIO and what that holds
 * goes out through http_server_conn_send_raw. TLS 1.2 or newer, no renegotiation; with a client
 * CA, a peer without a certificate signed by it fails the handshake and is closed before any
 * request is parsed, and the verified certificate's subject CN is kept for
 * http_exchange_peer_cn. A failed handshake or record marks the connection tls_dead: nothing
 * more is encrypted for it.
 * Never: reads or writes a socket, sends plaintext on a TLS connection, or sends application
 * data before the handshake is finished.
 */
#include "http_server_internal.h"
#include "log.h"

#include <stdio.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* Sends whatever TLS records OpenSSL has produced (handshake, data, alerts). */
static void tls_flush(conn_t *c) {
    char *p = NULL;
    long n = BIO_get_mem_data(c->wbio, &p);
    if (n <= 0) return;
    uv_buf_t b = uv_buf_init(p, (unsigned)n);
    http_server_conn_send_raw(c, &b, 1);
    (void)BIO_reset(c->wbio);
}

/* Encrypts plaintext into TLS records and sends them; dropped before the handshake is done or
 * after it failed (e.g. a 429 to a client that has not said hello yet). */
void http_server_tls_send(conn_t *c, uv_buf_t *iov, unsigned n) {
    if (c->tls_dead || !SSL_is_init_finished(c->ssl)) return;
    for (unsigned i = 0; i < n; i++) {
        if (iov[i].len == 0) continue;
        int r = SSL_write(c->ssl, iov[i].base, (int)iov[i].len);
        if (r <= 0) {
            log_debug("http_server: TLS write to %s failed", c->peer);
            ERR_clear_error();
            c->tls_dead = 1;
            http_server_conn_close_now(c);
            return;
        }
    }
    tls_flush(c);
}

/* close_notify, sent before the FIN, on a TLS connection whose session is up. */
void http_server_tls_close_notify(conn_t *c) {
    if (c->ssl && !c->tls_dead && SSL_is_init_finished(c->ssl)) {
        SSL_shutdown(c->ssl);
        ERR_clear_error();
        tls_flush(c);
    }
}

/* Records from the socket: handshake first, then every plaintext byte to
 * http_server_conn_on_plain. */
void http_server_tls_on_read(conn_t *c, const char *data, size_t n) {
    if (BIO_write(c->rbio, data, (int)n) != (int)n) {
        http_server_conn_close_now(c);
        return;
    }
    if (!SSL_is_init_finished(c->ssl)) {
        int r = SSL_do_handshake(c->ssl);
        if (r <= 0) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                tls_flush(c);
                return;
            }
            unsigned long ee = ERR_peek_error();
            long vr = SSL_get_verify_result(c->ssl); /* why the client's certificate was refused */
            log_info("http_server: %s: TLS handshake refused: %s%s%s%s", c->peer,
                     ee ? ERR_reason_error_string(ee) : "protocol error", vr != X509_V_OK ? " (" : "",
                     vr != X509_V_OK ? X509_verify_cert_error_string(vr) : "", vr != X509_V_OK ? ")" : "");
            ERR_clear_error();
            tls_flush(c); /* the alert */
            c->tls_dead = 1;
            http_server_conn_close_graceful(c);
            return;
        }
        X509 *peer = SSL_get_peer_certificate(c->ssl);
        if (peer) {
            if (X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, c->peer_cn,
                                          sizeof c->peer_cn) < 0)
                c->peer_cn[0] = '\0';
            X509_free(peer);
        }
        tls_flush(c);
    }
    for (;;) {
        if (c->closing || c->lingering) return;
        int r = SSL_read(c->ssl, c->srv->tbuf, sizeof c->srv->tbuf);
        if (r > 0) {
            http_server_conn_on_plain(c, c->srv->tbuf, (size_t)r);
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            tls_flush(c); /* post-handshake messages (TLS 1.3 tickets, key updates) */
            return;
        }
        ERR_clear_error();
        if (e == SSL_ERROR_ZERO_RETURN) { /* close_notify: like a FIN */
            tls_flush(c);
            if (c->paused) http_server_conn_close_now(c);
            else http_server_conn_close_graceful(c);
            return;
        }
        log_debug("http_server: %s: TLS read error", c->peer);
        c->tls_dead = 1;
        http_server_conn_close_now(c);
        return;
    }
}

static int tls_conn_setup(conn_t *c) {
    c->ssl = SSL_new(c->srv->tls);
    if (!c->ssl) return -1;
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (!c->rbio || !c->wbio) {
        BIO_free(c->rbio);
        BIO_free(c->wbio);
        c->rbio = c->wbio = NULL;
        return -1;
    }
    BIO_set_mem_eof_return(c->rbio, -1); /* empty means "want more", not EOF */
    SSL_set_bio(c->ssl, c->rbio, c->wbio); /* the SSL owns them now */
    SSL_set_accept_state(c->ssl);
    return 0;
}

int http_server_tls_conn_init(conn_t *c) {
    if (tls_conn_setup(c) == 0) return 0;
    log_error("http_server: %s: cannot set up TLS", c->peer);
    ERR_clear_error();
    return -1;
}

void http_server_tls_conn_free(conn_t *c) {
    if (c->ssl) SSL_free(c->ssl);
    c->ssl = NULL;
}

void http_server_tls_ctx_free(http_server_t *srv) {
    if (srv->tls) SSL_CTX_free(srv->tls);
    srv->tls = NULL;
}

static int tls_fail(char *err, size_t errlen, const char *what, const char *file) {
    unsigned long e = ERR_peek_last_error();
    snprintf(err, errlen, "tls: %s %s: %s", what, file ? file : "", e ? ERR_reason_error_string(e) : "failed");
    ERR_clear_error();
    return -1;
}

int http_server_set_tls(http_server_t *srv, const char *cert_file, const char *key_file, const char *client_ca_file,
                        char *err, size_t errlen) {
    char dummy[8];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (!srv || !cert_file || !key_file || !*cert_file || !*key_file) {
        snprintf(err, errlen, "tls: a certificate and a key file are required");
        return -1;
    }
    if (srv->listening || srv->tls) {
        snprintf(err, errlen, "tls: must be set once, before listen");
        return -1;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) return tls_fail(err, errlen, "context", NULL);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        SSL_CTX_free(ctx);
        return tls_fail(err, errlen, "certificate", cert_file);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        SSL_CTX_free(ctx);
        return tls_fail(err, errlen, "key", key_file);
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        SSL_CTX_free(ctx);
        return tls_fail(err, errlen, "key does not match the certificate", key_file);
    }
    if (client_ca_file) {
        if (!*client_ca_file || SSL_CTX_load_verify_locations(ctx, client_ca_file, NULL) != 1) {
            SSL_CTX_free(ctx);
            return tls_fail(err, errlen, "client CA", client_ca_file);
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(client_ca_file);
        if (names) SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        static const unsigned char sid[] = "portolan-http-server";
        SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1);
    }
    srv->tls = ctx;
    return 0;
}
