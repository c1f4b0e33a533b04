/* main.c: portolan-catalog, a single-node catalog that speaks Consul's HTTP API.
 * Flags (also PORTOLAN_CATALOG_<FLAG> environment variables): -listen, -node, -node-id,
 * -datacenter, -advertise, -data-dir, -log-level, -log-json, --version. */
#include "api.h"
#include "file.h"
#include "flags.h"
#include "log.h"
#include "persist.h"
#include "server.h"
#include "signals.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

static uv_loop_t *loop;
static catalog_server_t *server;

static void on_stop(void *data)
{
    (void)data;
    catalog_server_close(server);
    server = NULL;
    uv_stop(loop);
}

static void make_uuid(char out[37])
{
    unsigned char b[16];
    RAND_bytes(b, sizeof b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
             b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* 1 when s is a UUID in its text form: 8-4-4-4-12 hex digits. */
static int is_uuid(const char *s, size_t n)
{
    if (n != 36)
        return 0;
    for (size_t i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

/* The node ID is kept in the data dir so it survives restarts, like Consul's node-id file. A
 * missing file gets a new random ID; a file that is there but unreadable or does not hold a UUID
 * (surrounding white space aside) is refused, never replaced: replacing it would silently give
 * the node a new identity. Returns 0, or -1 with err saying why. */
static int node_id(const char *dir, char out[37], char *err, size_t errlen)
{
    char path[4096];
    if (dir) {
        snprintf(path, sizeof path, "%s/node-id", dir);
        size_t len = 0;
        char *buf = file_read(path, 4096, &len);
        if (!buf && errno != ENOENT) {
            snprintf(err, errlen, "%.700s: cannot read it (%s); fix or remove it (a new node ID is made only when there is no file)",
                     path, errno == EFBIG ? "larger than 4096 bytes: not a node ID" : strerror(errno));
            return -1;
        }
        if (buf) {
            size_t a = 0, b = len;
            while (a < b && isspace((unsigned char)buf[a]))
                a++;
            while (b > a && isspace((unsigned char)buf[b - 1]))
                b--;
            int ok = is_uuid(buf + a, b - a);
            if (ok)
                snprintf(out, 37, "%.36s", buf + a);
            free(buf);
            if (!ok) {
                snprintf(err, errlen, "%.700s: not a node ID (want a UUID, 8-4-4-4-12 hex digits, got %zu bytes); "
                         "refusing to replace it: fix it, or remove it to get a new node ID", path, len);
                return -1;
            }
            return 0;
        }
    }
    make_uuid(out);
    if (dir) {
        FILE *f = fopen(path, "w");
        if (!f || fprintf(f, "%s\n", out) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0)
            log_warn("%s: cannot write the new node ID (%s); it will change at the next start", path, strerror(errno));
        if (f)
            fclose(f);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *listen, *node, *nid, *dc, *advertise, *data_dir, *level;
    int json_logs, version;
    char host[256] = "portolan";
    gethostname(host, sizeof host);
    const flags_opt_t opts[] = {
        {"listen", FLAGS_STRING, &listen, "127.0.0.1:8500", "address of the HTTP API (host:port, [v6]:port or unix:/path)"},
        {"node", FLAGS_STRING, &node, NULL, "node name (default: the host name)"},
        {"node-id", FLAGS_STRING, &nid, NULL, "node ID, a UUID (default: random, kept in -data-dir)"},
        {"datacenter", FLAGS_STRING, &dc, "dc1", "datacenter name"},
        {"advertise", FLAGS_STRING, &advertise, "127.0.0.1", "the node's address in catalog answers"},
        {"data-dir", FLAGS_STRING, &data_dir, NULL, "keep state here across restarts (every write fsync'd before it is answered)"},
        {"log-level", FLAGS_STRING, &level, "info", "debug, info, warn or error"},
        {"log-json", FLAGS_BOOL, &json_logs, NULL, "log JSON lines"},
        {"version", FLAGS_BOOL, &version, NULL, "print the version and exit"},
    };
    const size_t nopts = sizeof opts / sizeof opts[0];
    char err[1024];
    int first;
    int rc = flags_parse("PORTOLAN_CATALOG", opts, nopts, argc, argv, &first, err, sizeof err);
    if (rc == 1) {
        flags_usage(stdout, "portolan-catalog [flags]", "PORTOLAN_CATALOG", opts, nopts);
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "portolan-catalog: %s\n", err);
        return 2;
    }
    if (version) {
        printf("portolan-catalog %s\n", PACKAGE_VERSION);
        return 0;
    }
    if (first < argc) {
        fprintf(stderr, "portolan-catalog: unexpected argument %s\n", argv[first]);
        return 2;
    }
    log_level_t lv;
    if (log_level_parse(level, &lv) != 0) {
        fprintf(stderr, "portolan-catalog: invalid -log-level %s\n", level);
        return 2;
    }
    log_init("portolan-catalog", lv, json_logs);
    if (data_dir && mkdir(data_dir, 0700) != 0 && access(data_dir, W_OK) != 0) {
        log_error("data dir %s: not writable", data_dir);
        return 1;
    }
    char uuid[37];
    if (nid)
        snprintf(uuid, sizeof uuid, "%s", nid);
    else if (node_id(data_dir, uuid, err, sizeof err) != 0) {
        log_error("%s", err);
        return 1;
    }
    catalog_store_t *store = store_new(node ? node : host, uuid, dc, advertise);
    if (data_dir) {
        int l = persist_load(store, data_dir, err, sizeof err);
        if (l < 0) {
            log_error("%s", err);
            store_free(store);
            return 1;
        }
        if (l > 0)
            log_info("state loaded from %s/state.json (index %llu)", data_dir, (unsigned long long)store_index(store));
    }
    loop = uv_default_loop();
    char leader[300];
    snprintf(leader, sizeof leader, "%s:8300", advertise);
    catalog_server_opts_t so = {.listen = listen, .data_dir = data_dir, .leader = leader, .version = PACKAGE_VERSION};
    server = catalog_server_new(loop, store, &so, err, sizeof err);
    if (!server) {
        log_error("listen %s: %s", listen, err);
        return 1;
    }
    signals_t *sig = signals_new(loop, on_stop, NULL, NULL);
    log_info("listening on %s (node %s, datacenter %s%s%s)", listen, node ? node : host, dc,
             data_dir ? ", data dir " : "", data_dir ? data_dir : "");
    uv_run(loop, UV_RUN_DEFAULT);
    signals_free(sig);
    uv_run(loop, UV_RUN_NOWAIT);
    uv_loop_close(loop);
    return 0;
}
