/* bench_catalog.c: measures a running portolan-catalog (or any Consul agent) from the outside,
 * over plain keep-alive HTTP/1.1 connections on loopback:
 *
 *   wake   blocking-query wake-up latency. One connection holds a blocked
 *          GET /v1/health/service/<svc>?index=N&wait=30s; after a 2 ms pause (so the GET is
 *          parked in the server) a second connection sends a PUT agent/service/register that
 *          changes <svc> (a new tag each round). Latency = PUT request sent -> GET response
 *          fully received (also reported: PUT response received -> GET response received).
 *          p50/p99/max over -wakes rounds; a GET that answers with no index rise is an error.
 *          -bystanders N keeps N more queries parked on other services during the run (none
 *          of them may be answered): a wake-up should cost the same with or without them.
 *   reg    registrations per second: -clients threads, each with one keep-alive connection,
 *          PUT agent/service/register with a fresh service ID every time, for -reg-seconds
 *          (bounded also by -reg-max per client). 1 and 16 clients are run by the script.
 *   rss    registers -instances service instances (16 connections; 50 instances per service
 *          name, two tags, one meta pair, an IPv4 address) and reads VmRSS/VmHWM of -pid from
 *          /proc/<pid>/status before and after.
 *
 * Responses are parsed with nodejs http-parser; every response status is checked. The program
 * never sends to anything but the -addr it is given (loopback in bench/run-catalog.sh).
 * Output: one "key value" line per figure, easy to grep. */
#include <arpa/inet.h>
#include <errno.h>
#include <http_parser.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "flags.h"

static const char *opt_addr = "127.0.0.1:8500";
static const char *opt_mode = "wake,reg,rss";
static long long opt_pid = 0;
static long long opt_wakes = 1000;
static long long opt_clients = 1;
static long long opt_reg_seconds = 3;
static long long opt_reg_max = 200000;
static long long opt_instances = 50000;
static const char *opt_shape = "full";
static long long opt_bystanders = 0;

static struct sockaddr_in server;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- one keep-alive HTTP/1.1 connection --------------------------------------------------- */

typedef struct {
    int fd;
    http_parser parser;
    int done;           /* a full response was parsed */
    int status;
    uint64_t index;     /* X-Consul-Index of the last response */
    int hdr_is_index;   /* the header being parsed is X-Consul-Index */
    int last_was_value;
    char field[64];
    size_t field_len;
    char value[32];
    size_t value_len;
    size_t body_len;
} conn_t;

static int on_message_begin(http_parser *p)
{
    conn_t *c = p->data;
    c->done = 0;
    c->index = 0;
    c->body_len = 0;
    c->field_len = c->value_len = 0;
    c->last_was_value = 0;
    return 0;
}

static void header_finish(conn_t *c)
{
    if (c->field_len == strlen("X-Consul-Index") && strncasecmp(c->field, "X-Consul-Index", c->field_len) == 0) {
        c->value[c->value_len] = 0;
        c->index = strtoull(c->value, NULL, 10);
    }
    c->field_len = c->value_len = 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    if (c->last_was_value) header_finish(c);
    c->last_was_value = 0;
    size_t n = len < sizeof c->field - 1 - c->field_len ? len : sizeof c->field - 1 - c->field_len;
    memcpy(c->field + c->field_len, at, n);
    c->field_len += n;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    c->last_was_value = 1;
    size_t n = len < sizeof c->value - 1 - c->value_len ? len : sizeof c->value - 1 - c->value_len;
    memcpy(c->value + c->value_len, at, n);
    c->value_len += n;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    conn_t *c = p->data;
    if (c->last_was_value) header_finish(c);
    c->last_was_value = 0;
    c->status = (int)p->status_code;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    (void)at;
    ((conn_t *)p->data)->body_len += len;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    ((conn_t *)p->data)->done = 1;
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static int conn_open(conn_t *c)
{
    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&server, sizeof server) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    return 0;
}

static void conn_close(conn_t *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
}

static int conn_send(conn_t *c, const char *buf, size_t len)
{
    c->done = 0;
    while (len > 0) {
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* One read() and parse; returns 1 when a response is complete, 0 when more is needed, -1 on error. */
static int conn_pump(conn_t *c)
{
    char buf[65536];
    ssize_t n = read(c->fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) return 0;
    if (n <= 0) return -1;
    size_t used = http_parser_execute(&c->parser, &parser_settings, buf, (size_t)n);
    if (c->parser.http_errno != HPE_OK || used != (size_t)n) return -1;
    return c->done;
}

static int conn_wait(conn_t *c)
{
    int r;
    while ((r = conn_pump(c)) == 0) {}
    return r;
}

static int put_json(conn_t *c, const char *path, const char *body)
{
    char req[2048];
    int n = snprintf(req, sizeof req,
                     "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s", path, opt_addr, strlen(body), body);
    if (n < 0 || (size_t)n >= sizeof req) return -1;
    return conn_send(c, req, (size_t)n);
}

static int get(conn_t *c, const char *path)
{
    char req[1024];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, opt_addr);
    if (n < 0 || (size_t)n >= sizeof req) return -1;
    return conn_send(c, req, (size_t)n);
}

/* ---- statistics ---------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *sorted, size_t n, double p)
{
    size_t i = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (i == 0) i = 1;
    if (i > n) i = n;
    return sorted[i - 1];
}

/* ---- wake ---------------------------------------------------------------------------------- */

static int bench_wake(void)
{
    conn_t g, p;
    if (conn_open(&g) != 0 || conn_open(&p) != 0) { perror("connect"); return 1; }
    size_t n = (size_t)opt_wakes;
    double *sent_to_get = calloc(n, sizeof(double)), *resp_to_get = calloc(n, sizeof(double));
    if (!sent_to_get || !resp_to_get) return 1;
    char body[256], path[256];

    if (put_json(&p, "/v1/agent/service/register", "{\"Name\":\"wake\",\"ID\":\"wake-1\",\"Port\":1,\"Tags\":[\"start\"]}") ||
        conn_wait(&p) != 1 || p.status != 200) { fprintf(stderr, "wake: initial register failed (%d)\n", p.status); return 1; }
    if (get(&g, "/v1/health/service/wake") || conn_wait(&g) != 1 || g.status != 200 || g.index == 0) {
        fprintf(stderr, "wake: initial GET failed (%d, index %" PRIu64 ")\n", g.status, g.index);
        return 1;
    }
    uint64_t idx = g.index;
    size_t errors = 0;

    /* bystanders: other queries parked on other services for the whole run; a wake-up must not
     * have to look at them (and none of them may be answered) */
    size_t nby = (size_t)opt_bystanders;
    conn_t *by = calloc(nby ? nby : 1, sizeof *by);
    if (!by) return 1;
    for (size_t k = 0; k < nby; k++) {
        snprintf(path, sizeof path, "/v1/health/service/idle-%zu", k);
        if (conn_open(&by[k]) || get(&by[k], path) || conn_wait(&by[k]) != 1 || by[k].status != 200) {
            fprintf(stderr, "wake: bystander %zu failed\n", k);
            return 1;
        }
        snprintf(path, sizeof path, "/v1/health/service/idle-%zu?index=%" PRIu64 "&wait=10m", k, by[k].index);
        if (get(&by[k], path)) return 1;
    }
    if (nby) usleep(100000);
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "/v1/health/service/wake?index=%" PRIu64 "&wait=30s", idx);
        if (get(&g, path)) return 1;
        usleep(2000); /* let the GET park in the server */
        snprintf(body, sizeof body, "{\"Name\":\"wake\",\"ID\":\"wake-1\",\"Port\":1,\"Tags\":[\"t%zu\"]}", i);
        double t_sent = now_ms();
        if (put_json(&p, "/v1/agent/service/register", body)) return 1;
        double t_put = 0, t_get = 0;
        while (!t_put || !t_get) {
            struct pollfd fds[2] = { { .fd = p.fd, .events = POLLIN }, { .fd = g.fd, .events = POLLIN } };
            int pr = poll(fds, 2, 35000);
            if (pr <= 0) { fprintf(stderr, "wake: timeout at round %zu\n", i); return 1; }
            if (!t_put && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
                int r = conn_pump(&p);
                if (r < 0) { fprintf(stderr, "wake: PUT connection failed\n"); return 1; }
                if (r == 1) t_put = now_ms();
            }
            if (!t_get && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
                int r = conn_pump(&g);
                if (r < 0) { fprintf(stderr, "wake: GET connection failed\n"); return 1; }
                if (r == 1) t_get = now_ms();
            }
        }
        if (p.status != 200 || g.status != 200 || g.index <= idx) errors++;
        idx = g.index > idx ? g.index : idx;
        sent_to_get[i] = t_get - t_sent;
        resp_to_get[i] = t_get - t_put;
    }
    size_t woken = 0;
    for (size_t k = 0; k < nby; k++) {
        struct pollfd pf = { .fd = by[k].fd, .events = POLLIN };
        if (poll(&pf, 1, 0) > 0) woken++;
        conn_close(&by[k]);
    }
    free(by);
    qsort(sent_to_get, n, sizeof(double), cmp_double);
    qsort(resp_to_get, n, sizeof(double), cmp_double);
    printf("wake_rounds %zu\n", n);
    printf("wake_bystanders %zu\n", nby);
    printf("wake_bystanders_answered %zu\n", woken);
    printf("wake_errors %zu\n", errors);
    printf("wake_put_sent_to_get_ms_p50 %.3f\n", pct(sent_to_get, n, 50));
    printf("wake_put_sent_to_get_ms_p99 %.3f\n", pct(sent_to_get, n, 99));
    printf("wake_put_sent_to_get_ms_max %.3f\n", sent_to_get[n - 1]);
    printf("wake_put_answered_to_get_ms_p50 %.3f\n", pct(resp_to_get, n, 50));
    printf("wake_put_answered_to_get_ms_p99 %.3f\n", pct(resp_to_get, n, 99));
    fflush(stdout);
    free(sent_to_get);
    free(resp_to_get);
    conn_close(&g);
    conn_close(&p);
    return errors || woken ? 1 : 0;
}

/* ---- registrations ------------------------------------------------------------------------- */

typedef struct {
    int id;
    const char *prefix;
    long long max;
    double deadline;    /* ms, monotonic; 0 = none */
    long long done;
    long long failed;
} worker_t;

static void *reg_worker(void *arg)
{
    worker_t *w = arg;
    conn_t c;
    if (conn_open(&c) != 0) { w->failed = -1; return NULL; }
    char body[512];
    for (long long i = 0; i < w->max; i++) {
        if (w->deadline && (i & 15) == 0 && now_ms() > w->deadline) break;
        /* 50 instances per service name; "full": two tags, one meta pair, an IPv4 address;
         * "min": Name, ID and Port only (to tell per-instance overhead from field data) */
        if (strcmp(opt_shape, "min") == 0)
            snprintf(body, sizeof body, "{\"Name\":\"%s-%d-%lld\",\"ID\":\"%s-%d-%lld\",\"Port\":%lld}",
                     w->prefix, w->id, i / 50, w->prefix, w->id, i, 1024 + i % 50000);
        else
        snprintf(body, sizeof body,
                 "{\"Name\":\"%s-%d-%lld\",\"ID\":\"%s-%d-%lld\",\"Address\":\"10.%d.%lld.%lld\",\"Port\":%lld,"
                 "\"Tags\":[\"rest\",\"v%lld\"],\"Meta\":{\"owner\":\"team-%lld\"}}",
                 w->prefix, w->id, i / 50, w->prefix, w->id, i, w->id % 250, (i / 250) % 250, i % 250,
                 1024 + i % 50000, i % 7, i % 13);
        if (put_json(&c, "/v1/agent/service/register", body) || conn_wait(&c) != 1) { w->failed++; break; }
        if (c.status != 200) w->failed++;
        else w->done++;
    }
    conn_close(&c);
    return NULL;
}

/* Runs n workers; returns registrations per second (or -1), total in *total. */
static double run_workers(int n, const char *prefix, long long per_worker, double seconds, long long *total, long long *failed)
{
    pthread_t th[64];
    worker_t w[64];
    if (n > 64) n = 64;
    double t0 = now_ms();
    for (int i = 0; i < n; i++) {
        w[i] = (worker_t){ .id = i, .prefix = prefix, .max = per_worker,
                           .deadline = seconds > 0 ? t0 + seconds * 1e3 : 0 };
        pthread_create(&th[i], NULL, reg_worker, &w[i]);
    }
    *total = 0;
    *failed = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        *total += w[i].done;
        *failed += w[i].failed;
    }
    double el = (now_ms() - t0) / 1e3;
    return el > 0 ? (double)*total / el : -1;
}

static int bench_reg(void)
{
    long long total, failed;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "reg%lld", opt_clients);
    double rate = run_workers((int)opt_clients, prefix, opt_reg_max, (double)opt_reg_seconds, &total, &failed);
    printf("reg_clients %lld\n", opt_clients);
    printf("reg_total %lld\n", total);
    printf("reg_failed %lld\n", failed);
    printf("reg_per_second %.0f\n", rate);
    fflush(stdout);
    return failed ? 1 : 0;
}

/* ---- memory -------------------------------------------------------------------------------- */

static long status_kb(long long pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%lld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') { v = strtol(line + kl + 1, NULL, 10); break; }
    fclose(f);
    return v;
}

static int bench_rss(void)
{
    if (opt_pid <= 0) { fprintf(stderr, "rss: -pid is required\n"); return 1; }
    printf("rss_before_kb %ld\n", status_kb(opt_pid, "VmRSS"));
    int clients = 16;
    long long per = (opt_instances + clients - 1) / clients, total, failed;
    double t0 = now_ms();
    run_workers(clients, "mem", per, 0, &total, &failed);
    double el = (now_ms() - t0) / 1e3;
    usleep(300000);
    printf("rss_instances %lld\n", total);
    printf("rss_failed %lld\n", failed);
    printf("rss_load_seconds %.2f\n", el);
    printf("rss_after_kb %ld\n", status_kb(opt_pid, "VmRSS"));
    printf("rss_hwm_kb %ld\n", status_kb(opt_pid, "VmHWM"));
    /* spot check: one service name holds its 50 instances */
    conn_t c;
    int ok = 0;
    if (conn_open(&c) == 0 && get(&c, "/v1/catalog/service/mem-0-0") == 0 && conn_wait(&c) == 1 && c.status == 200)
        ok = 1;
    printf("rss_spot_check_body_bytes %zu\n", ok ? c.body_len : 0);
    conn_close(&c);
    fflush(stdout);
    return failed || !ok ? 1 : 0;
}

int main(int argc, char **argv)
{
    const flags_opt_t opts[] = {
        { "addr", FLAGS_STRING, &opt_addr, "127.0.0.1:8500", "catalog address host:port (IPv4)" },
        { "mode", FLAGS_STRING, &opt_mode, "wake,reg,rss", "comma list of wake, reg, rss" },
        { "pid", FLAGS_INT, &opt_pid, "0", "catalog pid, for rss" },
        { "wakes", FLAGS_INT, &opt_wakes, "1000", "wake-up rounds" },
        { "clients", FLAGS_INT, &opt_clients, "1", "concurrent keep-alive clients for reg (max 64)" },
        { "reg-seconds", FLAGS_INT, &opt_reg_seconds, "3", "duration of the reg run" },
        { "reg-max", FLAGS_INT, &opt_reg_max, "200000", "registrations per client at most" },
        { "instances", FLAGS_INT, &opt_instances, "50000", "service instances for rss" },
        { "bystanders", FLAGS_INT, &opt_bystanders, "0", "wake: other queries kept parked on other services (max 190)" },
        { "shape", FLAGS_STRING, &opt_shape, "full", "registration body: full (tags, meta, address) or min" },
    };
    int first;
    char err[256];
    int r = flags_parse("BENCH", opts, sizeof opts / sizeof opts[0], argc, argv, &first, err, sizeof err);
    if (r != 0) {
        if (r < 0) fprintf(stderr, "bench_catalog: %s\n", err);
        flags_usage(stderr, "bench_catalog [flags]", "BENCH", opts, sizeof opts / sizeof opts[0]);
        return r < 0 ? 2 : 0;
    }
    char host[64];
    const char *colon = strrchr(opt_addr, ':');
    if (!colon || (size_t)(colon - opt_addr) >= sizeof host) { fprintf(stderr, "bad -addr\n"); return 2; }
    memcpy(host, opt_addr, (size_t)(colon - opt_addr));
    host[colon - opt_addr] = 0;
    server.sin_family = AF_INET;
    server.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &server.sin_addr) != 1) { fprintf(stderr, "bad -addr host\n"); return 2; }
    if (opt_wakes < 1 || opt_clients < 1 || opt_clients > 64 || opt_instances < 1 || opt_bystanders < 0 || opt_bystanders > 190) { fprintf(stderr, "bad counts\n"); return 2; }

    int rc = 0;
    if (strstr(opt_mode, "wake")) rc |= bench_wake();
    if (strstr(opt_mode, "reg")) rc |= bench_reg();
    if (strstr(opt_mode, "rss")) rc |= bench_rss();
    return rc;
}
