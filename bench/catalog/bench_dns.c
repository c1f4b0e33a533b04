/* bench_dns.c: DNS queries per second against portolan-catalog's DNS interface (UDP, loopback).
 * Keeps -inflight queries outstanding on one UDP socket for -seconds, each for -name (type
 * -type, with EDNS 1232 so answers are not cut to 3), and counts answers that come back
 * NOERROR with at least -min-answers records. Queries and answers go through libldns.
 * Prints "dns_qps N", "dns_answers N", "dns_bad N", "dns_answer_records N" (of the last answer). */
#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "flags.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *addr, *name, *type;
    long long port, seconds, inflight, min_answers;
    const flags_opt_t opts[] = {
        {"addr", FLAGS_STRING, &addr, "127.0.0.1", "DNS server IPv4 address"},
        {"port", FLAGS_INT, &port, "8600", "DNS server port"},
        {"name", FLAGS_STRING, &name, "dnsbench.service.consul.", "name to ask for"},
        {"type", FLAGS_STRING, &type, "SRV", "record type (A, AAAA, SRV)"},
        {"seconds", FLAGS_INT, &seconds, "5", "duration"},
        {"inflight", FLAGS_INT, &inflight, "32", "queries outstanding at once"},
        {"min-answers", FLAGS_INT, &min_answers, "1", "answer records an answer needs to count as good"},
    };
    int first;
    char err[256];
    int rc = flags_parse("BENCH_DNS", opts, sizeof opts / sizeof opts[0], argc, argv, &first, err, sizeof err);
    if (rc != 0) {
        if (rc < 0) fprintf(stderr, "bench_dns: %s\n", err);
        flags_usage(stderr, "bench_dns [flags]", "BENCH_DNS", opts, sizeof opts / sizeof opts[0]);
        return rc < 0 ? 2 : 0;
    }
    ldns_rr_type t = ldns_get_rr_type_by_name(type);
    ldns_pkt *q = NULL;
    if (ldns_pkt_query_new_frm_str(&q, name, t, LDNS_RR_CLASS_IN, LDNS_RD) != LDNS_STATUS_OK) {
        fprintf(stderr, "bench_dns: bad name %s\n", name);
        return 2;
    }
    ldns_pkt_set_edns_udp_size(q, 1232);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, addr, &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror("connect");
        return 1;
    }
    uint8_t *w;
    size_t wl;
    uint16_t id = 1;
    long long sent = 0, good = 0, bad = 0, last_records = 0;
    long long outstanding = 0;
    double t0 = now_s(), end = t0 + (double)seconds;
    uint8_t buf[65536];
    while (now_s() < end) {
        while (outstanding < inflight) {
            ldns_pkt_set_id(q, id++);
            if (ldns_pkt2wire(&w, q, &wl) != LDNS_STATUS_OK) return 1;
            if (send(fd, w, wl, 0) == (ssize_t)wl) { outstanding++; sent++; }
            free(w);
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 200) <= 0) { outstanding = 0; continue; }   /* lost: refill */
        ssize_t n;
        while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
            outstanding--;
            ldns_pkt *a = NULL;
            if (ldns_wire2pkt(&a, buf, (size_t)n) == LDNS_STATUS_OK && ldns_pkt_get_rcode(a) == LDNS_RCODE_NOERROR &&
                ldns_pkt_ancount(a) >= (size_t)min_answers) {
                good++;
                last_records = ldns_pkt_ancount(a);
            } else {
                bad++;
            }
            ldns_pkt_free(a);
        }
    }
    double el = now_s() - t0;
    printf("dns_qps %.0f\n", good / el);
    printf("dns_answers %lld\n", good);
    printf("dns_bad %lld\n", bad);
    printf("dns_sent %lld\n", sent);
    printf("dns_answer_records %lld\n", last_records);
    ldns_pkt_free(q);
    close(fd);
    return bad > 0 || good == 0;
}
