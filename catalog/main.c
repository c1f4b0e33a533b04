/* main.c: portolan-catalog, a single-node catalog that speaks Consul's HTTP API.
 * Flags (also PORTOLAN_CATALOG_<FLAG> environment variables): -listen, -node, -node-id,
 * -datacenter, -advertise, -data-dir, -dns-* (the DNS interface), -log-level, -log-json,
 * --version. */
#include "api.h"
#include "dns_server.h"
#include "file.h"
#include "flags.h"
#include "log.h"
#include "durable.h"
#include "server.h"
#include "signals.h"
#include "uuid.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

static uv_loop_t *loop;
static catalog_server_t *server;
static dns_server_t *dns;

static void on_stop(void *data)
{
    (void)data;
    dns_server_close(dns);      /* borrows the store, which the catalog server owns */
    dns = NULL;
    catalog_server_close(server);
    server = NULL;
    uv_stop(loop);
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
            int ok = uuid_valid(buf + a, b - a);
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
    uuid_random(out);
    if (dir) {
        char line[38];
        snprintf(line, sizeof line, "%.36s\n", out);
        if (file_write_atomic(path, line, 37, 0644) != 0)
            log_warn("%s: cannot write the new node ID (%s); it will change at the next start", path, strerror(errno));
    }
    return 0;
}

/* Where this run's indexes start: the wall-clock time in microseconds since 1970. A run gives out
 * one index per write, and no run has written once per microsecond on average, so the next run
 * starts above the last index of this one, and a client still holding that index gets a fresh
 * answer at once instead of waiting out its blocking query (docs/catalog.md, Indexes). -data-dir
 * restores each entry's indexes on top; the clock only ever raises the global counter. */
static uint64_t index_base(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int main(int argc, char **argv)
{
    const char *listen, *node, *nid, *dc, *advertise, *data_dir, *level, *dns_listen, *dns_domain;
    int json_logs, version, dns_only_passing, dns_truncate;
    long long dns_udp_limit, compact_bytes;
    int64_t dns_service_ttl, dns_node_ttl;
    char host[256] = "portolan";
    gethostname(host, sizeof host);
    const flags_opt_t opts[] = {
        {"listen", FLAGS_STRING, &listen, "127.0.0.1:8500", "address of the HTTP API (host:port, [v6]:port or unix:/path)"},
        {"node", FLAGS_STRING, &node, NULL, "node name (default: the host name)"},
        {"node-id", FLAGS_STRING, &nid, NULL, "node ID, a UUID (default: random, kept in -data-dir)"},
        {"datacenter", FLAGS_STRING, &dc, "dc1", "datacenter name"},
        {"advertise", FLAGS_STRING, &advertise, "127.0.0.1", "the node's address in catalog answers"},
        {"data-dir", FLAGS_STRING, &data_dir, NULL, "keep state here across restarts: a write-ahead log and snapshots (every write fsync'd before it is answered)"},
        {"wal-compact-bytes", FLAGS_INT, &compact_bytes, "67108864", "with -data-dir: compact the log into a new snapshot once it is this large and twice the snapshot"},
        {"dns-listen", FLAGS_STRING, &dns_listen, "127.0.0.1:8600", "address of the DNS interface, UDP and TCP (host:port, [v6]:port, :port; \"off\": none)"},
        {"dns-domain", FLAGS_STRING, &dns_domain, "consul", "DNS domain answered"},
        {"dns-only-passing", FLAGS_BOOL, &dns_only_passing, NULL, "DNS leaves out instances in warning too (critical ones always are)"},
        {"dns-udp-answer-limit", FLAGS_INT, &dns_udp_limit, "3", "answers in a UDP reply to a query without EDNS (1..8)"},
        {"dns-enable-truncate", FLAGS_BOOL, &dns_truncate, "true", "set the TC bit when DNS answers were cut to fit"},
        {"dns-service-ttl", FLAGS_DURATION, &dns_service_ttl, "0s", "TTL of service records"},
        {"dns-node-ttl", FLAGS_DURATION, &dns_node_ttl, "0s", "TTL of node records"},
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
    if (compact_bytes < 4096) {
        log_error("-wal-compact-bytes must be at least 4096");
        return 2;
    }
    catalog_store_t *store = store_new_at(node ? node : host, uuid, dc, advertise, index_base());
    durable_t *durable = NULL;
    if (data_dir) {
        durable_opts_t dopt = {.compact_bytes = (size_t)compact_bytes};
        durable = durable_open(store, data_dir, &dopt, err, sizeof err);
        if (!durable) {
            log_error("%s", err);
            store_free(store);
            return 1;
        }
        durable_stats_t st;
        durable_stats(durable, &st);
        if (st.loaded)
            log_info("state loaded from %s: snapshot %zu bytes, %zu log records (index %llu)", data_dir,
                     st.snapshot_bytes, st.loaded_records, (unsigned long long)store_index(store));
    }
    loop = uv_default_loop();
    char leader[300];
    snprintf(leader, sizeof leader, "%s:8300", advertise);
    catalog_server_opts_t so = {.listen = listen, .durable = durable, .leader = leader, .version = PACKAGE_VERSION};
    server = catalog_server_new(loop, store, &so, err, sizeof err);
    if (!server) {
        log_error("listen %s: %s", listen, err);
        return 1;
    }
    int dns_listen_explicit = strcmp(dns_listen ? dns_listen : "", "127.0.0.1:8600") != 0;
    for (int i = 1; i < first; i++)
        if (strstr(argv[i], "dns-listen")) dns_listen_explicit = 1;
    if (getenv("PORTOLAN_CATALOG_DNS_LISTEN")) dns_listen_explicit = 1;
    if (dns_udp_limit < 1 || dns_udp_limit > 8 || dns_service_ttl < 0 || dns_node_ttl < 0) {
        log_error("-dns-udp-answer-limit must be 1..8 and DNS TTLs not negative");
        return 2;
    }
    if (dns_listen && *dns_listen && strcmp(dns_listen, "off") != 0) {
        dns_config_t dc_cfg = {.domain = dns_domain,
                               .service_ttl = (uint32_t)(dns_service_ttl / 1000000000),
                               .node_ttl = (uint32_t)(dns_node_ttl / 1000000000),
                               .only_passing = dns_only_passing,
                               .udp_answer_limit = (int)dns_udp_limit,
                               .enable_truncate = dns_truncate};
        dns = dns_server_new(loop, store, &dc_cfg, dns_listen, err, sizeof err);
        /* an address asked for must work; the default may be taken (several catalogs on one
         * host, tests): then the catalog runs without DNS and says so */
        if (!dns && dns_listen_explicit) {
            log_error("%s", err);
            return 1;
        }
        if (dns)
            log_info("DNS on %s (udp and tcp), domain %s", dns_listen, dns_domain);
        else
            log_warn("%s: running without DNS (set -dns-listen to choose an address)", err);
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
