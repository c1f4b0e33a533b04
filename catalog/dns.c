/* dns.c: see dns.h. The rules below are Consul's (agent/dns.go), one single-node agent
 * without recursors:
 *
 * - Names outside the domain: REFUSED (Consul has no handler for them without recursors).
 * - Unknown kind, unknown service, a service whose instances are all filtered out (critical;
 *   with only_passing also warning), an unknown node, another datacenter: NXDOMAIN with the
 *   domain's SOA in the authority section.
 * - A known service with no record of the asked type (an AAAA question for IPv4 instances):
 *   NOERROR, no answers, SOA in the authority section. A node asked for another type than
 *   A/AAAA/ANY/TXT: NOERROR, nothing else.
 * - Instances are shuffled per answer; A/AAAA answers are de-duplicated by address, SRV by
 *   address and port. SRV: priority 1, weight Weights.Passing (Weights.Warning for an instance
 *   in warning), target <node>.node.<dc>.<domain> when the service has no address of its own,
 *   else <hex ip>.addr.<dc>.<domain>; the target's A/AAAA goes to the additional section.
 * - A service address that is not an IP (external services): a CNAME to it (only when no
 *   other instance gave an address record), or the SRV target itself.
 * - UDP: a query without EDNS gets at most min(8, udp_answer_limit) answers and 512 bytes;
 *   with EDNS, its advertised size. TCP: 64 KiB. Answers are cut to fit (the SOA first), the
 *   additional section follows the answers kept, and TC is set when answers were cut and
 *   enable_truncate is on.
 * - Authoritative answers, RA clear, TTL 0 unless configured, an OPT record echoing the
 *   client's UDP size when the query had one.
 */
#include "dns.h"
#include "strmap.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DNS_MAX_UDP_ANSWERS 8
#define DNS_MAX_UDP_SIZE (65535 - 68)
#define DNS_MAX_TCP_SIZE 65523

int dns_label(const char *name, char out[64])
{
    size_t n = strlen(name);
    if (n == 0 || n > 63)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        out[i] = ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') ? (char)c : '-';
    }
    out[n] = '\0';
    return (int)n;
}

/* ---- the reply under construction ---- */

typedef struct {
    ldns_rr **an; ldns_rr **an_extra; size_t nan, can;  /* an_extra[i]: the SRV target's address or NULL */
    ldns_rr **ns; size_t nns, cns;
    ldns_rr **ex; size_t nex, cex;                       /* fixed additional records (NS glue) */
    uint8_t rcode;
} reply_t;

static void push(ldns_rr ***arr, size_t *n, size_t *cap, ldns_rr *rr)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        ldns_rr **a = realloc(*arr, c * sizeof *a);
        if (!a) {
            ldns_rr_free(rr);
            return;
        }
        *arr = a;
        *cap = c;
    }
    (*arr)[(*n)++] = rr;
}

static void add_answer(reply_t *r, ldns_rr *rr, ldns_rr *extra)
{
    size_t before = r->nan;
    if (r->nan == r->can) {
        size_t c = r->can ? r->can * 2 : 8;
        ldns_rr **e = realloc(r->an_extra, c * sizeof *e);
        if (!e) {
            ldns_rr_free(rr);
            if (extra) ldns_rr_free(extra);
            return;
        }
        r->an_extra = e;
    }
    push(&r->an, &r->nan, &r->can, rr);
    if (r->nan > before)
        r->an_extra[before] = extra;
    else if (extra)
        ldns_rr_free(extra);
}

static void reply_free(reply_t *r)
{
    for (size_t i = 0; i < r->nan; i++) {
        ldns_rr_free(r->an[i]);
        if (r->an_extra[i]) ldns_rr_free(r->an_extra[i]);
    }
    for (size_t i = 0; i < r->nns; i++) ldns_rr_free(r->ns[i]);
    for (size_t i = 0; i < r->nex; i++) ldns_rr_free(r->ex[i]);
    free(r->an); free(r->an_extra); free(r->ns); free(r->ex);
}

/* ---- records ---- */

static ldns_rr *rr_new(ldns_rr_type t, const ldns_rdf *owner, uint32_t ttl)
{
    ldns_rr *rr = ldns_rr_new();
    if (!rr) return NULL;
    ldns_rr_set_type(rr, t);
    ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
    ldns_rr_set_ttl(rr, ttl);
    ldns_rr_set_owner(rr, ldns_rdf_clone(owner));
    return rr;
}

/* The address record of ip (a literal) named owner, when qtype asks for its family (Consul's
 * makeARecord: SRV, ANY, NS and TXT take both). NULL otherwise, and for non-IPs. */
static ldns_rr *addr_rr(const char *ip, ldns_rr_type qt, const ldns_rdf *owner, uint32_t ttl)
{
    unsigned char b[16];
    int any = qt == LDNS_RR_TYPE_SRV || qt == LDNS_RR_TYPE_ANY || qt == LDNS_RR_TYPE_NS || qt == LDNS_RR_TYPE_TXT;
    if (inet_pton(AF_INET, ip, b) == 1) {
        if (!any && qt != LDNS_RR_TYPE_A) return NULL;
        ldns_rr *rr = rr_new(LDNS_RR_TYPE_A, owner, ttl);
        if (rr) ldns_rr_push_rdf(rr, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 4, b));
        return rr;
    }
    if (inet_pton(AF_INET6, ip, b) == 1) {
        if (!any && qt != LDNS_RR_TYPE_AAAA) return NULL;
        ldns_rr *rr = rr_new(LDNS_RR_TYPE_AAAA, owner, ttl);
        if (rr) ldns_rr_push_rdf(rr, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_AAAA, 16, b));
        return rr;
    }
    return NULL;
}

static int is_ip(const char *s)
{
    unsigned char b[16];
    return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

/* "<a>.<b>.<domain>." as a dname; labels made safe with dns_label where asked. */
static ldns_rdf *dname_join(const char *const *labels, size_t n, const char *domain)
{
    char buf[1024];
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(buf + off, sizeof buf - off, "%s.", labels[i]);
        if (w < 0 || (size_t)w >= sizeof buf - off) return NULL;
        off += (size_t)w;
    }
    int w = snprintf(buf + off, sizeof buf - off, "%s.", domain);
    if (w < 0 || (size_t)w >= sizeof buf - off) return NULL;
    return ldns_dname_new_frm_str(buf);
}

static ldns_rr *soa_rr(const char *domain, uint32_t now_s)
{
    const char *none[1] = {NULL};
    ldns_rdf *owner = dname_join(none, 0, domain);
    if (!owner) return NULL;
    ldns_rr *rr = rr_new(LDNS_RR_TYPE_SOA, owner, 0);
    ldns_rdf_deep_free(owner);
    if (!rr) return NULL;
    const char *ns[1] = {"ns"}, *hm[1] = {"hostmaster"};
    ldns_rr_push_rdf(rr, dname_join(ns, 1, domain));
    ldns_rr_push_rdf(rr, dname_join(hm, 1, domain));
    ldns_rr_push_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_INT32, now_s));
    ldns_rr_push_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, 3600));
    ldns_rr_push_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, 600));
    ldns_rr_push_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, 86400));
    ldns_rr_push_rdf(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, 0));
    return rr;
}

/* ---- the question ---- */

typedef struct {
    const dns_config_t *cfg;
    const catalog_store_t *s;
    const dns_query_t *q;
    const char *domain;          /* without the trailing dot, lower-case */
    ldns_rr_type qt;
    const ldns_rdf *qname;
    char labels[128][64];        /* the question's labels before the domain, lower-cased */
    size_t nlabels;
    reply_t r;
} ctx_t;

/* Splits qname into lower-cased labels; returns 1 when it lies in the domain (labels before
 * it kept), 0 when not, -1 when a label cannot be a name here (NUL byte). */
static int split_name(ctx_t *c)
{
    const uint8_t *d = ldns_rdf_data(c->qname);
    size_t len = ldns_rdf_size(c->qname), off = 0;
    char all[128][64];
    size_t n = 0;
    int bad = 0;
    while (off < len && d[off] != 0) {
        size_t l = d[off];
        if (l > 63 || off + 1 + l > len || n == 128) return -1;
        for (size_t i = 0; i < l; i++) {
            unsigned char ch = d[off + 1 + i];
            if (ch == 0) bad = 1;
            all[n][i] = (char)tolower(ch);
        }
        all[n][l] = '\0';
        n++;
        off += 1 + l;
    }
    /* the domain's labels */
    char dom[256];
    snprintf(dom, sizeof dom, "%s", c->domain);
    size_t nd = 0;
    char *dl[64];
    for (char *save = NULL, *t = strtok_r(dom, ".", &save); t && nd < 64; t = strtok_r(NULL, ".", &save))
        dl[nd++] = t;
    if (n < nd) return 0;
    for (size_t i = 0; i < nd; i++)
        if (strcmp(all[n - nd + i], dl[i]) != 0) return 0;
    if (bad) return -1;
    c->nlabels = n - nd;
    for (size_t i = 0; i < c->nlabels; i++)
        memcpy(c->labels[i], all[i], sizeof all[i]);
    return 1;
}

static void nxdomain(ctx_t *c)
{
    c->r.rcode = LDNS_RCODE_NXDOMAIN;
    ldns_rr *soa = soa_rr(c->domain, c->q->now_s);
    if (soa) push(&c->r.ns, &c->r.nns, &c->r.cns, soa);
}

static void nodata(ctx_t *c)
{
    c->r.rcode = LDNS_RCODE_NOERROR;
    ldns_rr *soa = soa_rr(c->domain, c->q->now_s);
    if (soa) push(&c->r.ns, &c->r.nns, &c->r.cns, soa);
}

/* Locality suffix: none, or the local datacenter. */
static int local_dc(ctx_t *c, size_t from)
{
    size_t n = c->nlabels - from;
    if (n == 0) return 1;
    if (n == 1) return strcasecmp(c->labels[from], store_datacenter(c->s)) == 0;
    return 0;
}

static int name_matches(const char *label, const char *name)
{
    char m[64];
    return strcasecmp(label, name) == 0 || (dns_label(name, m) > 0 && strcmp(label, m) == 0);
}

typedef struct {
    const catalog_store_t *s;
    const char *label;
    cat_service_t **out; size_t n, cap;
} collect_t;

static void on_name(void *ctx, const char *name, char **tags, size_t ntags)
{
    (void)tags; (void)ntags;
    collect_t *k = ctx;
    char m[64];
    if (dns_label(name, m) < 0 || strcmp(m, k->label) != 0) return;
    size_t n = 0;
    cat_service_t **inst = store_instances(k->s, name, &n);
    for (size_t i = 0; i < n; i++) {
        if (k->n == k->cap) {
            size_t cap = k->cap ? k->cap * 2 : 16;
            cat_service_t **a = realloc(k->out, cap * sizeof *a);
            if (!a) break;
            k->out = a;
            k->cap = cap;
        }
        k->out[k->n++] = inst[i];
    }
    free(inst);
}

/* Instances answered under label: the service of that name, else all whose label it is. */
static cat_service_t **instances(const catalog_store_t *s, const char *label, size_t *n)
{
    cat_service_t **inst = store_instances(s, label, n);
    if (*n > 0) return inst;
    free(inst);
    collect_t k = {.s = s, .label = label};
    store_each_name(s, on_name, &k);
    *n = k.n;
    return k.out;
}

static void shuffle(ctx_t *c, cat_service_t **a, size_t n)
{
    if (!c->q->rand) return;
    for (size_t i = n; i > 1; i--) {
        size_t j = c->q->rand(c->q->rand_ctx) % i;
        cat_service_t *t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

static void hex_of(const char *ip, char out[33])
{
    unsigned char b[16];
    size_t n = 0;
    if (inet_pton(AF_INET, ip, b) == 1) n = 4;
    else if (inet_pton(AF_INET6, ip, b) == 1) n = 16;
    for (size_t i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", b[i]);
    out[2 * n] = '\0';
}

static void service_lookup(ctx_t *c, const char *svc, const char *tag)
{
    size_t n = 0;
    cat_service_t **inst = instances(c->s, svc, &n);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const cat_service_t *sv = inst[i];
        if (tag && *tag) {
            int has = 0;
            for (size_t t = 0; t < sv->ntags && !has; t++) has = name_matches(tag, sv->tags[t]);
            if (!has) continue;
        }
        const char *st = store_instance_status(c->s, sv);
        /* critical, or in maintenance (a critical check of its own) */
        if (!strcmp(st, "critical") || !strcmp(st, "maintenance") || (c->cfg->only_passing && strcmp(st, "passing") != 0))
            continue;
        inst[k++] = inst[i];
    }
    if (k == 0) {
        free(inst);
        nxdomain(c);
        return;
    }
    shuffle(c, inst, k);
    const char *dc = store_datacenter(c->s);
    ldns_rr *cname = NULL;
    strmap_t *targets = strmap_new();     /* SRV targets given an address record; addresses answered */
    for (size_t i = 0; i < k; i++) {
        const cat_service_t *sv = inst[i];
        /* the node the instance is on: this one, or an external node of /v1/catalog/register */
        const cat_node_t *en = sv->node ? store_ext_node(c->s, sv->node) : NULL;
        const char *naddr = en ? en->address : store_address(c->s);
        char node_l[64];
        if (dns_label(en ? en->name : store_node(c->s), node_l) < 0) snprintf(node_l, sizeof node_l, "node");
        const char *addr = sv->address && *sv->address ? sv->address : naddr;
        uint32_t ttl = c->cfg->service_ttl;
        if (c->qt == LDNS_RR_TYPE_SRV) {
            /* de-duplicate on (node, address, port) */
            char tuple[700];
            snprintf(tuple, sizeof tuple, "\001%s\001%s\001%d", sv->node ? sv->node : "", sv->address ? sv->address : "", sv->port);
            if (strmap_get(targets, tuple)) continue;
            strmap_put(targets, tuple, (void *)1);
            ldns_rdf *target;
            ldns_rr *extra = NULL;
            if (!is_ip(addr)) {
                char fq[300];
                snprintf(fq, sizeof fq, "%s.", addr);
                target = ldns_dname_new_frm_str(fq);
            } else if (sv->address && *sv->address) {
                char hex[33];
                hex_of(addr, hex);
                const char *l[3] = {hex, "addr", dc};
                target = dname_join(l, 3, c->domain);
            } else {
                const char *l[3] = {node_l, "node", dc};
                target = dname_join(l, 3, c->domain);
            }
            if (!target) continue;
            /* one address record per target in the additional section */
            if (is_ip(addr)) {
                char *tk = ldns_rdf2str(target);
                if (tk && !strmap_get(targets, tk)) {
                    strmap_put(targets, tk, (void *)1);
                    extra = addr_rr(addr, c->qt, target, ttl);
                }
                free(tk);
            }
            ldns_rr *rr = rr_new(LDNS_RR_TYPE_SRV, c->qname, ttl);
            if (!rr) {
                ldns_rdf_deep_free(target);
                if (extra) ldns_rr_free(extra);
                continue;
            }
            const char *st = store_instance_status(c->s, sv);
            int w = !strcmp(st, "warning") ? sv->w_warning : sv->w_passing;
            ldns_rr_push_rdf(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 1));
            ldns_rr_push_rdf(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, (uint16_t)(w < 0 ? 0 : w)));
            ldns_rr_push_rdf(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, (uint16_t)sv->port));
            ldns_rr_push_rdf(rr, target);
            add_answer(&c->r, rr, extra);
            continue;
        }
        if (!is_ip(addr)) {
            if (!cname) {
                char fq[300];
                snprintf(fq, sizeof fq, "%s.", addr);
                ldns_rdf *t = ldns_dname_new_frm_str(fq);
                if (t && (cname = rr_new(LDNS_RR_TYPE_CNAME, c->qname, ttl))) ldns_rr_push_rdf(cname, t);
                else if (t) ldns_rdf_deep_free(t);
            }
            continue;
        }
        if (strmap_get(targets, addr)) continue;   /* one record per address */
        ldns_rr *rr = addr_rr(addr, c->qt, c->qname, ttl);
        if (!rr) continue;
        strmap_put(targets, addr, (void *)1);
        add_answer(&c->r, rr, NULL);
    }
    if (c->r.nan == 0 && cname) add_answer(&c->r, cname, NULL);
    else if (cname) ldns_rr_free(cname);
    strmap_free(targets);
    free(inst);
    if (c->r.nan == 0) nodata(c);
}

static void node_lookup(ctx_t *c, size_t nparts)
{
    char name[512] = "";
    size_t off = 0;
    for (size_t i = 0; i < nparts; i++)
        off += (size_t)snprintf(name + off, sizeof name - off, "%s%s", i ? "." : "", c->labels[i]);
    const char *addr = NULL;
    if (name_matches(name, store_node(c->s))) {
        addr = store_address(c->s);
    } else {
        size_t n;
        cat_node_t **nodes = store_ext_nodes(c->s, &n);
        for (size_t i = 0; i < n && !addr; i++)
            if (name_matches(name, nodes[i]->name)) addr = nodes[i]->address;
        free(nodes);
    }
    if (!addr) {
        nxdomain(c);
        return;
    }
    if (c->qt != LDNS_RR_TYPE_A && c->qt != LDNS_RR_TYPE_AAAA && c->qt != LDNS_RR_TYPE_ANY) return;
    if (!is_ip(addr)) {   /* an external node registered with a host name: a CNAME, as Consul */
        char fq[300];
        snprintf(fq, sizeof fq, "%s.", addr);
        ldns_rdf *t = ldns_dname_new_frm_str(fq);
        ldns_rr *cn = t ? rr_new(LDNS_RR_TYPE_CNAME, c->qname, c->cfg->node_ttl) : NULL;
        if (cn) {
            ldns_rr_push_rdf(cn, t);
            add_answer(&c->r, cn, NULL);
        } else if (t) {
            ldns_rdf_deep_free(t);
        }
        return;
    }
    ldns_rr *rr = addr_rr(addr, c->qt, c->qname, c->cfg->node_ttl);
    if (rr) add_answer(&c->r, rr, NULL);
}

static void addr_lookup(ctx_t *c, size_t nparts)
{
    if (nparts != 1) {
        nxdomain(c);
        return;
    }
    const char *h = c->labels[0];
    size_t len = strlen(h);
    unsigned char b[16];
    if (len != 8 && len != 32) {
        nxdomain(c);
        return;
    }
    for (size_t i = 0; i < len / 2; i++) {
        unsigned v;
        if (!isxdigit((unsigned char)h[2 * i]) || !isxdigit((unsigned char)h[2 * i + 1]) ||
            sscanf(h + 2 * i, "%2x", &v) != 1) {
            nxdomain(c);
            return;
        }
        b[i] = (unsigned char)v;
    }
    char ip[INET6_ADDRSTRLEN];
    inet_ntop(len == 8 ? AF_INET : AF_INET6, b, ip, sizeof ip);
    ldns_rr_type want = len == 8 ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA;
    ldns_rr *rr = addr_rr(ip, want, c->qname, c->cfg->node_ttl);
    if (!rr) return;
    if (c->qt == want || c->qt == LDNS_RR_TYPE_ANY) add_answer(&c->r, rr, NULL);
    else push(&c->r.ex, &c->r.nex, &c->r.cex, rr);   /* Consul puts it in the additional section */
}

/* NS records for the domain (this node) and their glue. */
static void ns_records(ctx_t *c, int to_answer)
{
    const char *none[1] = {NULL};
    ldns_rdf *zone = dname_join(none, 0, c->domain);
    char node_l[64];
    if (dns_label(store_node(c->s), node_l) < 0) snprintf(node_l, sizeof node_l, "node");
    const char *l[3] = {node_l, "node", store_datacenter(c->s)};
    ldns_rdf *target = dname_join(l, 3, c->domain);
    if (!zone || !target) {
        if (zone) ldns_rdf_deep_free(zone);
        if (target) ldns_rdf_deep_free(target);
        return;
    }
    ldns_rr *ns = rr_new(LDNS_RR_TYPE_NS, zone, c->cfg->node_ttl);
    ldns_rr *glue = addr_rr(store_address(c->s), LDNS_RR_TYPE_ANY, target, c->cfg->node_ttl);
    if (ns) ldns_rr_push_rdf(ns, ldns_rdf_clone(target));
    if (ns) {
        if (to_answer) add_answer(&c->r, ns, NULL);
        else push(&c->r.ns, &c->r.nns, &c->r.cns, ns);
    }
    if (glue) push(&c->r.ex, &c->r.nex, &c->r.cex, glue);
    ldns_rdf_deep_free(zone);
    ldns_rdf_deep_free(target);
}

static void dispatch(ctx_t *c)
{
    if (c->qt == LDNS_RR_TYPE_SOA) {
        ldns_rr *soa = soa_rr(c->domain, c->q->now_s);
        if (soa) add_answer(&c->r, soa, NULL);
        ns_records(c, 0);
        return;
    }
    if (c->qt == LDNS_RR_TYPE_NS) {
        ns_records(c, 1);
        return;
    }
    if (c->qt == LDNS_RR_TYPE_AXFR || c->qt == LDNS_RR_TYPE_IXFR) {
        c->r.rcode = LDNS_RCODE_NOTIMPL;
        return;
    }
    /* the kind is the right-most keyword label; an SRV question may leave "service" out */
    size_t i = c->nlabels;
    const char *kind = NULL;
    size_t nparts = 0, suffix = 0;
    while (i-- > 0) {
        const char *l = c->labels[i];
        if (!strcmp(l, "service") || !strcmp(l, "node") || !strcmp(l, "addr") || !strcmp(l, "connect") ||
            !strcmp(l, "virtual") || !strcmp(l, "ingress") || !strcmp(l, "query")) {
            kind = l;
            nparts = i;
            suffix = i + 1;
            break;
        }
        if (c->qt == LDNS_RR_TYPE_SRV && l[0] == '_') {
            kind = "service";
            nparts = i + 1;
            suffix = i + 1;
            break;
        }
    }
    if (!kind || nparts == 0) {
        nxdomain(c);
        return;
    }
    if (!strcmp(kind, "addr")) {
        addr_lookup(c, nparts);
        return;
    }
    if (!strcmp(kind, "service") || !strcmp(kind, "node")) {
        if (!local_dc(c, suffix)) {
            nxdomain(c);
            return;
        }
    } else {
        nxdomain(c);              /* Connect, virtual IPs, ingress and prepared queries: none here */
        return;
    }
    if (!strcmp(kind, "node")) {
        node_lookup(c, nparts);
        return;
    }
    if (nparts == 2 && c->labels[0][0] == '_' && c->labels[1][0] == '_') {
        const char *tag = c->labels[1] + 1;
        service_lookup(c, c->labels[0] + 1, strcmp(tag, "tcp") ? tag : NULL);
        return;
    }
    char tag[512] = "";
    size_t off = 0;
    for (size_t j = 0; j + 1 < nparts; j++)
        off += (size_t)snprintf(tag + off, sizeof tag - off, "%s%s", j ? "." : "", c->labels[j]);
    service_lookup(c, c->labels[nparts - 1], tag);
}

/* PTR questions (in-addr.arpa / ip6.arpa): this node, an external node, else the first service
 * with that address. */
static int reverse_lookup(ctx_t *c)
{
    ldns_rdf *rev = NULL;
    const char *naddr = store_address(c->s);
    char node_l[64];
    if (dns_label(store_node(c->s), node_l) < 0) snprintf(node_l, sizeof node_l, "node");
    ldns_rdf *target = NULL;
    ldns_rdf *a = ldns_rdf_new_frm_str(strchr(naddr, ':') ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A, naddr);
    if (a && (rev = ldns_rdf_address_reverse(a)) && ldns_dname_compare(rev, c->qname) == 0) {
        const char *l[3] = {node_l, "node", store_datacenter(c->s)};
        target = dname_join(l, 3, c->domain);
    }
    if (a) ldns_rdf_deep_free(a);
    if (rev) ldns_rdf_deep_free(rev);
    if (!target) {   /* an external node's address */
        size_t nn;
        cat_node_t **nodes = store_ext_nodes(c->s, &nn);
        for (size_t i = 0; i < nn && !target; i++) {
            const char *na = nodes[i]->address;
            char nl[64];
            if (!is_ip(na) || dns_label(nodes[i]->name, nl) < 0) continue;
            a = ldns_rdf_new_frm_str(strchr(na, ':') ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A, na);
            rev = a ? ldns_rdf_address_reverse(a) : NULL;
            if (rev && ldns_dname_compare(rev, c->qname) == 0) {
                const char *l[3] = {nl, "node", store_datacenter(c->s)};
                target = dname_join(l, 3, c->domain);
            }
            if (a) ldns_rdf_deep_free(a);
            if (rev) ldns_rdf_deep_free(rev);
        }
        free(nodes);
    }
    if (!target) {
        size_t n = 0;
        cat_service_t **all = store_all_services(c->s, &n);
        for (size_t i = 0; i < n && !target; i++) {
            const char *sa = all[i]->address;
            if (!sa || !is_ip(sa)) continue;
            a = ldns_rdf_new_frm_str(strchr(sa, ':') ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A, sa);
            rev = a ? ldns_rdf_address_reverse(a) : NULL;
            char sl[64];
            if (rev && ldns_dname_compare(rev, c->qname) == 0 && dns_label(all[i]->name, sl) > 0) {
                const char *l[3] = {sl, "service", store_datacenter(c->s)};
                target = dname_join(l, 3, c->domain);
            }
            if (a) ldns_rdf_deep_free(a);
            if (rev) ldns_rdf_deep_free(rev);
        }
        free(all);
    }
    if (!target) return 0;
    ldns_rr *rr = rr_new(LDNS_RR_TYPE_PTR, c->qname, 0);
    if (rr) {
        ldns_rr_push_rdf(rr, target);
        add_answer(&c->r, rr, NULL);
    } else {
        ldns_rdf_deep_free(target);
    }
    return 1;
}

/* ---- encoding and truncation ---- */

typedef struct {
    uint16_t id;
    int rd, tc;
    ldns_rr *question;
    int edns; uint16_t edns_size;
} header_t;

/* The wire form with the first nan answers (and the additional records they need). The
 * packet borrows the records (they are detached again before it is freed): a cut answer is
 * encoded several times. */
static int encode(const header_t *h, const reply_t *r, size_t nan, int with_ns, int tc, uint8_t **out, size_t *len)
{
    ldns_pkt *p = ldns_pkt_new();
    if (!p) return -1;
    ldns_pkt_set_id(p, h->id);
    ldns_pkt_set_qr(p, true);
    ldns_pkt_set_aa(p, true);
    ldns_pkt_set_rd(p, h->rd);
    ldns_pkt_set_ra(p, false);
    ldns_pkt_set_tc(p, tc);
    ldns_pkt_set_opcode(p, LDNS_PACKET_QUERY);
    ldns_pkt_set_rcode(p, r->rcode);
    if (h->question) ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, h->question);
    for (size_t i = 0; i < nan; i++) {
        ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, r->an[i]);
        if (r->an_extra[i]) ldns_pkt_push_rr(p, LDNS_SECTION_ADDITIONAL, r->an_extra[i]);
    }
    if (with_ns)
        for (size_t i = 0; i < r->nns; i++) ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, r->ns[i]);
    for (size_t i = 0; i < r->nex; i++) ldns_pkt_push_rr(p, LDNS_SECTION_ADDITIONAL, r->ex[i]);
    if (h->edns) ldns_pkt_set_edns_udp_size(p, h->edns_size);
    ldns_status st = ldns_pkt2wire(out, p, len);
    /* detach the borrowed records: free only the lists */
    ldns_rr_list *l;
    if ((l = ldns_pkt_question(p))) { ldns_rr_list_free(l); ldns_pkt_set_question(p, ldns_rr_list_new()); }
    if ((l = ldns_pkt_answer(p))) { ldns_rr_list_free(l); ldns_pkt_set_answer(p, ldns_rr_list_new()); }
    if ((l = ldns_pkt_authority(p))) { ldns_rr_list_free(l); ldns_pkt_set_authority(p, ldns_rr_list_new()); }
    if ((l = ldns_pkt_additional(p))) { ldns_rr_list_free(l); ldns_pkt_set_additional(p, ldns_rr_list_new()); }
    ldns_pkt_free(p);
    return st == LDNS_STATUS_OK ? 0 : -1;
}

/* Encodes r cut to max bytes (Consul's trimUDPResponse / trimTCPResponse). */
static int encode_fitting(const dns_config_t *cfg, const header_t *h, const reply_t *r, int tcp, ldns_rr_type qt,
                          uint8_t **out, size_t *len)
{
    size_t n = r->nan, max;
    int with_ns = 1;
    if (tcp) {
        max = DNS_MAX_TCP_SIZE;
        size_t cap = qt == LDNS_RR_TYPE_SRV ? 1024 : 4096;
        if (n > cap) n = cap;
    } else {
        max = 512;
        if (h->edns && h->edns_size > max) max = h->edns_size;
        if (max > DNS_MAX_UDP_SIZE) max = DNS_MAX_UDP_SIZE;
        size_t lim = cfg->udp_answer_limit > 0 && cfg->udp_answer_limit < DNS_MAX_UDP_ANSWERS
                         ? (size_t)cfg->udp_answer_limit : DNS_MAX_UDP_ANSWERS;
        if (max == 512 && n > lim) n = lim;
        max -= 8;
    }
    if (encode(h, r, n, with_ns, 0, out, len) < 0) return -1;
    if (*len > max && n > 1) {
        with_ns = 0;
        /* the most answers that fit: a guess from the average record size, then a step at a
         * time (compression makes records after the first about the same size) */
        size_t full = *len, base;
        uint8_t *b;
        free(*out);
        *out = NULL;
        if (encode(h, r, 0, 0, 0, &b, &base) < 0) return -1;
        free(b);
        size_t per = n ? (full - base) / n : 1;
        if (per == 0) per = 1;
        size_t g = max > base ? (max - base) / per : 1;
        if (g < 1) g = 1;
        if (g >= n) g = n - 1;
        size_t l;
        if (encode(h, r, g, 0, 0, &b, &l) < 0) return -1;
        free(b);
        if (l <= max) {
            while (g + 1 < n) {
                if (encode(h, r, g + 1, 0, 0, &b, &l) < 0) return -1;
                free(b);
                if (l > max) break;
                g++;
            }
        } else {
            while (g > 1) {
                g--;
                if (encode(h, r, g, 0, 0, &b, &l) < 0) return -1;
                free(b);
                if (l <= max) break;
            }
        }
        n = g;
        if (encode(h, r, n, 0, 0, out, len) < 0) return -1;
    }
    if (n < r->nan && cfg->enable_truncate) {
        free(*out);
        *out = NULL;
        if (encode(h, r, n, with_ns, 1, out, len) < 0) return -1;
    }
    return 0;
}

static int simple_reply(const uint8_t *w, size_t len, uint8_t rcode, const header_t *h, uint8_t **out, size_t *outlen)
{
    reply_t r = {.rcode = rcode};
    header_t hh = {0};
    if (h) hh = *h;
    else {
        hh.id = (uint16_t)(w[0] << 8 | w[1]);
        hh.rd = (w[2] & 1) != 0;
    }
    (void)len;
    return encode(&hh, &r, 0, 0, 0, out, outlen);
}

int dns_answer(const dns_config_t *cfg, const catalog_store_t *s, const dns_query_t *q, uint8_t **out,
               size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (q->len < 12 || (q->wire[2] & 0x80)) return -1;        /* no ID to answer, or a response */
    ldns_pkt *p = NULL;
    if (ldns_wire2pkt(&p, q->wire, q->len) != LDNS_STATUS_OK || !p)
        return simple_reply(q->wire, q->len, LDNS_RCODE_FORMERR, NULL, out, outlen);
    header_t h = {.id = ldns_pkt_id(p), .rd = ldns_pkt_rd(p), .edns = ldns_pkt_edns(p),
                  .edns_size = ldns_pkt_edns_udp_size(p)};
    if (ldns_pkt_get_opcode(p) != LDNS_PACKET_QUERY) {
        int rc = simple_reply(q->wire, q->len, LDNS_RCODE_NOTIMPL, &h, out, outlen);
        ldns_pkt_free(p);
        return rc;
    }
    if (ldns_pkt_qdcount(p) != 1 || ldns_rr_list_rr_count(ldns_pkt_question(p)) != 1) {
        int rc = simple_reply(q->wire, q->len, LDNS_RCODE_FORMERR, &h, out, outlen);
        ldns_pkt_free(p);
        return rc;
    }
    h.question = ldns_rr_list_rr(ldns_pkt_question(p), 0);
    char dom[256];
    snprintf(dom, sizeof dom, "%s", cfg->domain && *cfg->domain ? cfg->domain : "consul");
    size_t dl = strlen(dom);
    while (dl > 0 && dom[dl - 1] == '.') dom[--dl] = '\0';
    for (size_t i = 0; i < dl; i++) dom[i] = (char)tolower((unsigned char)dom[i]);

    ctx_t *c = calloc(1, sizeof *c);
    if (!c) {
        ldns_pkt_free(p);
        return -1;
    }
    c->cfg = cfg;
    c->s = s;
    c->q = q;
    c->domain = dom;
    c->qt = ldns_rr_get_type(h.question);
    c->qname = ldns_rr_owner(h.question);
    int in = split_name(c);
    int arpa = 0;
    if (c->qt == LDNS_RR_TYPE_PTR && in == 0) {
        ldns_rdf *v4 = ldns_dname_new_frm_str("in-addr.arpa."), *v6 = ldns_dname_new_frm_str("ip6.arpa.");
        arpa = (v4 && ldns_dname_is_subdomain(c->qname, v4)) || (v6 && ldns_dname_is_subdomain(c->qname, v6));
        if (v4) ldns_rdf_deep_free(v4);
        if (v6) ldns_rdf_deep_free(v6);
    }
    if (arpa) {
        if (!reverse_lookup(c)) nxdomain(c);
    } else if (in == 0) {
        c->r.rcode = LDNS_RCODE_REFUSED;
    } else if (in < 0) {
        nxdomain(c);
    } else {
        dispatch(c);
    }
    int rc = encode_fitting(cfg, &h, &c->r, q->tcp, c->qt, out, outlen);
    reply_free(&c->r);
    free(c);
    ldns_pkt_free(p);
    return rc;
}
