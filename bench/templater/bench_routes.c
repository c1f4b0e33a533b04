/* bench_routes.c: the templater's pure core at scale, without Consul or HAProxy:
 * S services x I instances -> routes_build, haproxy_cfg_render, diff after one instance change.
 * Usage: bench_routes [S] [I] [rounds]. Prints milliseconds (best of rounds). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diff.h"
#include "haproxy_cfg.h"
#include "routes.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static routes_catalog_t *make(int s, int n, int variant)
{
    routes_catalog_t *c = routes_catalog_new();
    char name[64], id[64];
    for (int i = 0; i < s; i++) {
        snprintf(name, sizeof name, "svc-%d", i);
        routes_service_t *sv = routes_catalog_add_service(c, name);
        for (int j = 0; j < n; j++) {
            snprintf(id, sizeof id, "svc-%d-%d", i, j);
            int passing = !(variant && i == 7 && j == 0);
            routes_instance_t *in = routes_service_add_instance(sv, id, "node1", "127.0.0.1", 20000 + j, passing);
            routes_instance_add_tag(in, "rest");
        }
    }
    return c;
}

int main(int argc, char **argv)
{
    int s = argc > 1 ? atoi(argv[1]) : 10000, n = argc > 2 ? atoi(argv[2]) : 5, rounds = argc > 3 ? atoi(argv[3]) : 5;
    routes_catalog_t *c1 = make(s, n, 0), *c2 = make(s, n, 1);
    haproxy_cfg_opts_t o = { .base = "global\n    maxconn @MAXCONN@\n    stats socket @ADMIN_SOCKET@ level admin\n@TIMEOUTS@\n@STATS@\n",
                             .bind = ":80", .admin_socket = "/tmp/a.sock" };
    double best_build = 1e9, best_render = 1e9, best_diff = 1e9;
    size_t len = 0, nops = 0;
    for (int r = 0; r < rounds; r++) {
        double t0 = now_ms();
        routes_table_t *t1 = routes_build(c1, NULL, NULL, NULL);
        double t1ms = now_ms();
        char *cfg = haproxy_cfg_render(t1, &o, &len);
        double t2ms = now_ms();
        routes_table_t *t2 = routes_build(c2, NULL, NULL, NULL);
        double t3 = now_ms();
        diff_t d;
        diff_tables(t1, t2, &d);
        double t4 = now_ms();
        nops = d.nops;
        if (t1ms - t0 < best_build) best_build = t1ms - t0;
        if (t2ms - t1ms < best_render) best_render = t2ms - t1ms;
        if (t4 - t3 < best_diff) best_diff = t4 - t3;
        diff_clear(&d);
        free(cfg);
        routes_table_free(t1);
        routes_table_free(t2);
    }
    printf("{\"services\": %d, \"instances\": %d, \"build_ms\": %.1f, \"render_ms\": %.1f, \"config_bytes\": %zu, "
           "\"diff_ms\": %.2f, \"diff_ops\": %zu}\n", s, s * n, best_build, best_render, len, best_diff, nops);
    routes_catalog_free(c1);
    routes_catalog_free(c2);
    return 0;
}
