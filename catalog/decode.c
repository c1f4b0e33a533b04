/* decode.c: see decode.h. Field matching follows Go's encoding/json (an exact name first, then a
 * case-insensitive one) plus the snake_case aliases Consul's decode hook translates. */
#include "decode.h"
#include "check_rules.h"
#include "duration.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { F_STR, F_INT, F_BOOL, F_STRLIST, F_STRMAP, F_DUR, F_ANY, F_OBJ, F_OBJLIST } ftype_t;

typedef struct {
    const char *name;   /* Go field name */
    const char *alias;  /* snake_case alias or NULL */
    ftype_t type;
} field_t;

#define DECODE_FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); goto fail; } while (0)

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING: return "string";
    case JSON_INTEGER: case JSON_REAL: return "number";
    case JSON_TRUE: case JSON_FALSE: return "bool";
    case JSON_ARRAY: return "array";
    case JSON_OBJECT: return "object";
    default: return "null";
    }
}

static const char *go_type(ftype_t t)
{
    switch (t) {
    case F_STR: return "string";
    case F_INT: return "int";
    case F_BOOL: return "bool";
    case F_STRLIST: return "[]string";
    case F_STRMAP: return "map[string]string";
    case F_DUR: return "time.Duration";
    default: return "struct";
    }
}

/* Finds the field a JSON key names; -1 when unknown. */
static int match_field(const field_t *fields, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fields[i].name, key) == 0 || (fields[i].alias && strcmp(fields[i].alias, key) == 0))
            return (int)i;
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(fields[i].name, key) == 0 || (fields[i].alias && strcasecmp(fields[i].alias, key) == 0))
            return (int)i;
    return -1;
}

/* Checks each key of obj against fields; fills vals[i] with the value (NULL if absent or null).
 * Returns 0 or -1 with err. */
static int bind_fields(const json_t *obj, const char *structname, const field_t *fields, size_t n,
                json_t **vals, char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    for (size_t i = 0; i < n; i++)
        vals[i] = NULL;
    json_object_foreach((json_t *)obj, key, v) {
        int f = match_field(fields, n, key);
        if (f < 0) {
            snprintf(err, errlen, "Request decode failed: json: unknown field \"%s\"", key);
            return -1;
        }
        if (json_is_null(v))
            continue;
        int ok = 1;
        switch (fields[f].type) {
        case F_STR: ok = json_is_string(v); break;
        case F_INT: ok = json_is_integer(v); break;
        case F_BOOL: ok = json_is_boolean(v); break;
        case F_STRLIST:
            ok = json_is_array(v);
            for (size_t i = 0; ok && i < json_array_size(v); i++)
                ok = json_is_string(json_array_get(v, i));
            break;
        case F_STRMAP: {
            ok = json_is_object(v);
            const char *k2;
            json_t *v2;
            if (ok)
                json_object_foreach(v, k2, v2) if (!json_is_string(v2)) ok = 0;
            break;
        }
        case F_DUR: ok = json_is_string(v) || json_is_integer(v); break;
        case F_OBJ: ok = json_is_object(v); break;
        case F_OBJLIST: ok = json_is_array(v); break;
        case F_ANY: break;
        }
        if (!ok) {
            snprintf(err, errlen, "Request decode failed: json: cannot unmarshal %s into Go struct field %s.%s of type %s",
                     json_kind(v), structname, fields[f].name, go_type(fields[f].type));
            return -1;
        }
        vals[f] = v;
    }
    return 0;
}

static char *str_or(const json_t *v, const char *def) { return strdup(v ? json_string_value(v) : def); }

static int dur(const json_t *v, int64_t *out, char *err, size_t errlen)
{
    *out = 0;
    if (!v)
        return 0;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    char derr[200];
    if (duration_parse(json_string_value(v), out, derr, sizeof derr) != 0) {
        snprintf(err, errlen, "Request decode failed: %s", derr);
        return -1;
    }
    return 0;
}

/* A string anywhere in v that holds a NUL (JSON_ALLOW_NUL lets "\u0000" through so that the
 * answer is ours, not jansson's): every field is used as a C string, which would silently end
 * at the NUL ("a\u0000b" registered as "a"). jansson bounds the depth, so the recursion is too. */
static int has_nul(const json_t *v)
{
    size_t i;
    const char *k;
    json_t *e;
    switch (json_typeof(v)) {
    case JSON_STRING:
        return strlen(json_string_value(v)) != json_string_length(v);
    case JSON_ARRAY:
        json_array_foreach((json_t *)v, i, e) if (has_nul(e)) return 1;
        return 0;
    case JSON_OBJECT:
        json_object_foreach((json_t *)v, k, e) if (has_nul(e)) return 1;
        return 0;
    default:
        return 0;
    }
}

static json_t *parse_body(const char *body, size_t len, char *err, size_t errlen)
{
    size_t i = 0;
    while (i < len && isspace((unsigned char)body[i]))
        i++;
    if (i == len) {
        snprintf(err, errlen, "Request decode failed: EOF");
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, &je);
    if (!root) {
        /* Go's decoder takes bytes that are not UTF-8 inside strings and keeps U+FFFD for them;
         * jansson refuses them: retry once on a cleaned copy (only bodies that failed pay) */
        int high = 0;
        for (size_t k = 0; k < len && !high; k++)
            high = (unsigned char)body[k] >= 0x80;
        if (high) {
            size_t cl;
            char *clean = cat_utf8_clean(body, len, &cl);
            root = json_loadb(clean, cl, JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, &je);
            free(clean);
        }
    }
    if (!root) {
        snprintf(err, errlen, "Request decode failed: %s", je.text);
        return NULL;
    }
    if (has_nul(root)) {
        snprintf(err, errlen, "Request decode failed: a string holds a NUL character (\\u0000), which no field accepts");
        json_decref(root);
        return NULL;
    }
    return root;
}

/* ---- checks ---- */
static const field_t check_fields[] = {
    {"CheckID", "check_id", F_STR}, {"ID", NULL, F_STR}, {"Name", NULL, F_STR}, {"Status", NULL, F_STR},
    {"Notes", NULL, F_STR}, {"ScriptArgs", "script_args", F_STRLIST}, {"Args", NULL, F_STRLIST},
    {"HTTP", NULL, F_STR}, {"Header", NULL, F_OBJ}, {"Method", NULL, F_STR}, {"Body", NULL, F_STR},
    {"TCP", NULL, F_STR}, {"UDP", NULL, F_STR}, {"GRPC", NULL, F_STR}, {"GRPCUseTLS", "grpc_use_tls", F_BOOL},
    {"H2PING", "h2ping", F_STR}, {"H2PingUseTLS", "h2ping_use_tls", F_BOOL}, {"OSService", "os_service", F_STR},
    {"DockerContainerID", "docker_container_id", F_STR}, {"Shell", NULL, F_STR},
    {"Interval", NULL, F_DUR}, {"Timeout", NULL, F_DUR}, {"TTL", NULL, F_DUR},
    {"DeregisterCriticalServiceAfter", "deregister_critical_service_after", F_DUR},
    {"SuccessBeforePassing", "success_before_passing", F_INT},
    {"FailuresBeforeWarning", "failures_before_warning", F_INT},
    {"FailuresBeforeCritical", "failures_before_critical", F_INT},
    {"TLSSkipVerify", "tls_skip_verify", F_BOOL}, {"TLSServerName", "tls_server_name", F_STR},
    {"OutputMaxSize", "output_max_size", F_INT}, {"AliasNode", "alias_node", F_STR},
    {"AliasService", "alias_service", F_STR}, {"ServiceID", "service_id", F_STR},
    {"Definition", NULL, F_ANY}, {"Type", NULL, F_STR}, {"Namespace", NULL, F_STR}, {"Partition", NULL, F_STR},
};
enum { C_CHECKID, C_ID, C_NAME, C_STATUS, C_NOTES, C_SCRIPTARGS, C_ARGS, C_HTTP, C_HEADER, C_METHOD, C_BODY,
       C_TCP, C_UDP, C_GRPC, C_GRPCTLS, C_H2PING, C_H2TLS, C_OSSVC, C_DOCKER, C_SHELL, C_INTERVAL, C_TIMEOUT,
       C_TTL, C_DEREG, C_SBP, C_FBW, C_FBC, C_TLSSKIP, C_TLSNAME, C_OUTMAX, C_ALIASNODE, C_ALIASSVC,
       C_SERVICEID, C_DEF, C_TYPE, C_NS, C_PART, C_NFIELDS };

typedef struct {
    cat_check_t *c;
    int empty;       /* "Check": {} */
    int script;
    int interval_check;
    int has_status;
} decoded_check_t;

static int decode_check(const json_t *obj, const char *structname, decoded_check_t *out, char *err, size_t errlen)
{
    json_t *v[C_NFIELDS];
    memset(out, 0, sizeof *out);
    if (bind_fields(obj, structname, check_fields, C_NFIELDS, v, err, errlen) != 0)
        return -1;
    int any = 0;
    for (int i = 0; i < C_NFIELDS; i++)
        if (v[i]) any = 1;
    if (!any) {
        out->empty = 1;
        return 0;
    }
    cat_check_t *c = cat_check_new();
    out->c = c;
    c->id = v[C_CHECKID] ? str_or(v[C_CHECKID], "") : v[C_ID] ? str_or(v[C_ID], "") : NULL;
    if (c->id && !*c->id) { free(c->id); c->id = NULL; }
    c->name = v[C_NAME] && *json_string_value(v[C_NAME]) ? str_or(v[C_NAME], "") : NULL;
    out->has_status = v[C_STATUS] && *json_string_value(v[C_STATUS]);
    c->status = out->has_status ? str_or(v[C_STATUS], "") : strdup("critical");
    c->notes = str_or(v[C_NOTES], "");
    c->output = strdup("");
    c->service_id = v[C_SERVICEID] ? str_or(v[C_SERVICEID], "") : NULL;
    c->http = v[C_HTTP] ? str_or(v[C_HTTP], "") : NULL;
    c->method = v[C_METHOD] ? str_or(v[C_METHOD], "") : NULL;
    c->body = v[C_BODY] ? str_or(v[C_BODY], "") : NULL;
    c->tcp = v[C_TCP] ? str_or(v[C_TCP], "") : NULL;
    c->grpc = v[C_GRPC] ? str_or(v[C_GRPC], "") : NULL;
    c->tls_server_name = v[C_TLSNAME] ? str_or(v[C_TLSNAME], "") : NULL;
    c->tls_skip_verify = v[C_TLSSKIP] ? json_is_true(v[C_TLSSKIP]) : 0;
    c->grpc_use_tls = v[C_GRPCTLS] ? json_is_true(v[C_GRPCTLS]) : 0;
    c->success_before_passing = v[C_SBP] ? (int)json_integer_value(v[C_SBP]) : 0;
    c->failures_before_critical = v[C_FBC] ? (int)json_integer_value(v[C_FBC]) : 0;
    if (dur(v[C_INTERVAL], &c->interval_ns, err, errlen) || dur(v[C_TIMEOUT], &c->timeout_ns, err, errlen) ||
        dur(v[C_TTL], &c->ttl_ns, err, errlen) || dur(v[C_DEREG], &c->dereg_after_ns, err, errlen))
        return -1;
    if (v[C_HEADER]) {
        const char *k;
        json_t *hv;
        size_t n = json_object_size(v[C_HEADER]), i = 0;
        c->headers = calloc(n ? n : 1, sizeof *c->headers);
        json_object_foreach(v[C_HEADER], k, hv) {
            if (!json_is_array(hv)) {
                snprintf(err, errlen, "Request decode failed: json: cannot unmarshal %s into Go struct field %s.Header of type []string",
                         json_kind(hv), structname);
                c->nheaders = i;
                return -1;
            }
            c->headers[i].name = strdup(k);
            c->headers[i].values = calloc(json_array_size(hv) + 1, sizeof(char *));
            for (size_t j = 0; j < json_array_size(hv); j++) {
                json_t *s = json_array_get(hv, j);
                if (json_is_string(s))
                    c->headers[i].values[c->headers[i].nvalues++] = strdup(json_string_value(s));
            }
            i++;
        }
        c->nheaders = i;
    }
    out->script = (v[C_SCRIPTARGS] && json_array_size(v[C_SCRIPTARGS])) || (v[C_ARGS] && json_array_size(v[C_ARGS])) ||
                  (v[C_DOCKER] && *json_string_value(v[C_DOCKER])) || (v[C_SHELL] && *json_string_value(v[C_SHELL]));
    int is_udp = v[C_UDP] && *json_string_value(v[C_UDP]);
    int is_h2 = v[C_H2PING] && *json_string_value(v[C_H2PING]);
    int is_os = v[C_OSSVC] && *json_string_value(v[C_OSSVC]);
    out->interval_check = out->script || (c->http && *c->http) || (c->tcp && *c->tcp) || is_udp ||
                          (c->grpc && *c->grpc) || is_h2 || is_os;
    if (c->ttl_ns > 0) c->kind = CHECK_TTL;
    else if (c->http && *c->http) c->kind = CHECK_HTTP;
    else if (c->tcp && *c->tcp) c->kind = CHECK_TCP;
    else if (c->grpc && *c->grpc) c->kind = CHECK_GRPC;
    else c->kind = CHECK_TTL; /* decided invalid below when no TTL */
    if (is_udp || is_h2 || is_os) {
        snprintf(err, errlen, "UDP, H2PING and OSService checks are not supported by portolan-catalog");
        return -2;
    }
    return 0;
}

/* What the catalog's own probes would put on the wire (check_rules.h): every target given is
 * checked, whichever kind the check ends up being. Returns 400 or 0. */
static int validate_check_wire(const cat_check_t *c, char *err, size_t errlen)
{
    if (check_rules_method(c->method, err, errlen) != 0)
        return 400;
    for (size_t i = 0; i < c->nheaders; i++) {
        if (check_rules_header(c->headers[i].name, NULL, err, errlen) != 0)
            return 400;
        for (size_t j = 0; j < c->headers[i].nvalues; j++)
            if (check_rules_header(c->headers[i].name, c->headers[i].values[j], err, errlen) != 0)
                return 400;
    }
    if (c->http && *c->http && check_rules_http_url(c->http, err, errlen) != 0)
        return 400;
    if (c->tcp && *c->tcp && check_rules_hostport("TCP", c->tcp, 0, NULL, err, errlen) != 0)
        return 400;
    if (c->grpc && *c->grpc && check_rules_hostport("GRPC", c->grpc, 1, NULL, err, errlen) != 0)
        return 400;
    return 0;
}

/* Consul's CheckType.Validate, then the wire rules above; returns HTTP status (0 ok). */
static int validate_check(decoded_check_t *d, char *err, size_t errlen)
{
    cat_check_t *c = d->c;
    if (c->interval_ns > 0 && c->ttl_ns > 0) {
        snprintf(err, errlen, "Invalid check: Interval and TTL cannot both be specified");
        return 400;
    }
    if (d->interval_check && c->interval_ns <= 0) {
        snprintf(err, errlen, "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks");
        return 400;
    }
    if (!d->interval_check && c->ttl_ns <= 0) {
        snprintf(err, errlen, "Invalid check: TTL must be > 0 for TTL checks");
        return 400;
    }
    return validate_check_wire(c, err, errlen);
}

static int validate_status(decoded_check_t *d, char *err, size_t errlen)
{
    const char *st = d->c->status;
    if (strcmp(st, "passing") && strcmp(st, "warning") && strcmp(st, "critical")) {
        snprintf(err, errlen, "Status for checks must 'passing', 'warning', 'critical'");
        return 400;
    }
    return 0;
}

static void check_defaults(cat_check_t *c)
{
    if (c->kind != CHECK_TTL) {
        if (c->interval_ns < DURATION_SEC)
            c->interval_ns = DURATION_SEC;  /* Consul's minimum check interval */
        if (c->timeout_ns <= 0)
            c->timeout_ns = 10 * DURATION_SEC;
    }
    if (c->dereg_after_ns > 0 && c->dereg_after_ns < DURATION_MIN)
        c->dereg_after_ns = DURATION_MIN;   /* Consul's minimum */
}

int decode_meta_pair_valid(const char *k, const char *v, const char **reason)
{
    if (!*k) { *reason = "Key cannot be blank"; return -1; }
    for (const char *p = k; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-')) { *reason = "Key contains invalid characters"; return -1; }
    if (strlen(k) > 128) { *reason = "Key is too long (limit: 128 characters)"; return -1; }
    if (strncmp(k, "consul-", 7) == 0) { *reason = "Key prefix 'consul-' is reserved for internal use"; return -1; }
    if (strlen(v) > 512) { *reason = "Value is too long (limit: 512 characters)"; return -1; }
    return 0;
}

static int cmp_pair(const void *a, const void *b) { return strcmp(((const cat_pair_t *)a)->key, ((const cat_pair_t *)b)->key); }
static int cmp_taddr(const void *a, const void *b) { return strcmp(((const cat_taddr_t *)a)->key, ((const cat_taddr_t *)b)->key); }

static void add_taddr(cat_service_t *s, const char *key, const char *addr, int port)
{
    for (size_t i = 0; i < s->ntaddrs; i++)
        if (strcmp(s->taddrs[i].key, key) == 0)
            return;
    s->taddrs = realloc(s->taddrs, (s->ntaddrs + 1) * sizeof *s->taddrs);
    s->taddrs[s->ntaddrs].key = strdup(key);
    s->taddrs[s->ntaddrs].address = strdup(addr);
    s->taddrs[s->ntaddrs].port = port;
    s->ntaddrs++;
}

static const field_t svc_fields[] = {
    {"ID", NULL, F_STR}, {"Name", NULL, F_STR}, {"Tags", NULL, F_STRLIST}, {"Address", NULL, F_STR},
    {"TaggedAddresses", "tagged_addresses", F_OBJ}, {"Meta", NULL, F_STRMAP}, {"Port", NULL, F_INT},
    {"EnableTagOverride", "enable_tag_override", F_BOOL}, {"Weights", NULL, F_OBJ}, {"Check", NULL, F_OBJ},
    {"Checks", NULL, F_OBJLIST}, {"Kind", NULL, F_STR}, {"SocketPath", "socket_path", F_STR},
    {"Proxy", NULL, F_ANY}, {"Connect", NULL, F_ANY}, {"Namespace", NULL, F_STR}, {"Partition", NULL, F_STR},
    {"Locality", NULL, F_ANY},
};
enum { S_ID, S_NAME, S_TAGS, S_ADDR, S_TADDR, S_META, S_PORT, S_ETO, S_WEIGHTS, S_CHECK, S_CHECKS, S_KIND,
       S_SOCK, S_PROXY, S_CONNECT, S_NS, S_PART, S_LOC, S_NFIELDS };

int decode_service_register(const char *body, size_t len, cat_service_t **svcp, cat_check_t ***checksp,
                            size_t *nchecksp, char *err, size_t errlen)
{
    int status = 400;
    cat_service_t *s = NULL;
    decoded_check_t *dc = NULL;
    size_t ndc = 0;
    json_t *root = parse_body(body, len, err, errlen);
    json_t *v[S_NFIELDS];
    if (!root)
        return 400;
    if (!json_is_object(root))
        DECODE_FAIL("Request decode failed: json: cannot unmarshal %s into Go value of type structs.ServiceDefinition", json_kind(root));
    if (bind_fields(root, "ServiceDefinition", svc_fields, S_NFIELDS, v, err, errlen) != 0)
        goto fail;
    s = cat_service_new();
    s->name = str_or(v[S_NAME], "");
    s->id = v[S_ID] && *json_string_value(v[S_ID]) ? str_or(v[S_ID], "") : strdup(s->name);
    s->address = str_or(v[S_ADDR], "");
    s->port = v[S_PORT] ? (int)json_integer_value(v[S_PORT]) : 0;
    if (v[S_PORT] && (json_integer_value(v[S_PORT]) < 0 || json_integer_value(v[S_PORT]) > 65535))
        DECODE_FAIL("Request decode failed: json: cannot unmarshal number %lld into Go struct field ServiceDefinition.Port of type int",
                    (long long)json_integer_value(v[S_PORT]));
    s->enable_tag_override = v[S_ETO] ? json_is_true(v[S_ETO]) : 0;
    if (v[S_TAGS]) {
        s->ntags = json_array_size(v[S_TAGS]);
        s->tags = calloc(s->ntags ? s->ntags : 1, sizeof(char *));
        for (size_t i = 0; i < s->ntags; i++)
            s->tags[i] = strdup(json_string_value(json_array_get(v[S_TAGS], i)));
    }
    if (v[S_META]) {
        const char *k;
        json_t *mv;
        s->meta = calloc(json_object_size(v[S_META]) + 1, sizeof *s->meta);
        json_object_foreach(v[S_META], k, mv) {
            s->meta[s->nmeta].key = strdup(k);
            s->meta[s->nmeta].value = strdup(json_string_value(mv));
            s->nmeta++;
        }
        if (s->nmeta)
            qsort(s->meta, s->nmeta, sizeof *s->meta, cmp_pair);
    }
    if (v[S_WEIGHTS]) {
        static const field_t wf[] = {{"Passing", NULL, F_INT}, {"Warning", NULL, F_INT}};
        json_t *w[2];
        if (bind_fields(v[S_WEIGHTS], "Weights", wf, 2, w, err, errlen) != 0)
            goto fail;
        s->w_passing = w[0] ? (int)json_integer_value(w[0]) : 0;
        s->w_warning = w[1] ? (int)json_integer_value(w[1]) : 0;
    }
    if (v[S_TADDR]) {
        const char *k;
        json_t *tv;
        static const field_t tf[] = {{"Address", NULL, F_STR}, {"Port", NULL, F_INT}};
        json_object_foreach(v[S_TADDR], k, tv) {
            json_t *t[2];
            if (!json_is_object(tv))
                DECODE_FAIL("Request decode failed: json: cannot unmarshal %s into Go struct field ServiceDefinition.TaggedAddresses of type structs.ServiceAddress", json_kind(tv));
            if (bind_fields(tv, "ServiceAddress", tf, 2, t, err, errlen) != 0)
                goto fail;
            add_taddr(s, k, t[0] ? json_string_value(t[0]) : "", t[1] ? (int)json_integer_value(t[1]) : 0);
        }
    }
    /* checks: Check then Checks */
    size_t cap = 1 + (v[S_CHECKS] ? json_array_size(v[S_CHECKS]) : 0);
    dc = calloc(cap, sizeof *dc);
    if (v[S_CHECK]) {
        int r = decode_check(v[S_CHECK], "CheckType", &dc[ndc], err, errlen);
        ndc++;
        if (r == -2) { status = 400; goto fail; }
        if (r) goto fail;
        if (dc[ndc - 1].empty) ndc--;
    }
    for (size_t i = 0; v[S_CHECKS] && i < json_array_size(v[S_CHECKS]); i++) {
        json_t *co = json_array_get(v[S_CHECKS], i);
        if (json_is_null(co))
            continue;
        if (!json_is_object(co))
            DECODE_FAIL("Request decode failed: json: cannot unmarshal %s into Go struct field ServiceDefinition.Checks of type structs.CheckType", json_kind(co));
        int r = decode_check(co, "CheckType", &dc[ndc], err, errlen);
        ndc++;
        if (r) goto fail;
        if (dc[ndc - 1].empty) ndc--;
    }
    /* validation, in Consul's order */
    if (!*s->name)
        DECODE_FAIL("Missing service name");
    if (strcmp(s->address, "0.0.0.0") == 0 || strcmp(s->address, "::") == 0 || strcmp(s->address, "[::]") == 0)
        DECODE_FAIL("Invalid service address");
    if (v[S_WEIGHTS]) {
        if (s->w_passing <= 0)
            DECODE_FAIL("Invalid Weights: Passing must be greater than 0");
        if (s->w_warning < 0)
            DECODE_FAIL("Invalid Weights: Warning must be greater or equal than 0");
    }
    if (s->nmeta > 64)
        DECODE_FAIL("Invalid Service Meta: Node metadata cannot contain more than 64 key/value pairs");
    for (size_t i = 0; i < s->nmeta; i++) {
        const char *reason;
        if (decode_meta_pair_valid(s->meta[i].key, s->meta[i].value, &reason) != 0)
            DECODE_FAIL("Invalid Service Meta: Couldn't load metadata pair ('%s', '%s'): %s", s->meta[i].key,
                        s->meta[i].value, reason);
    }
    for (size_t i = 0; i < ndc; i++) {
        int r = validate_check(&dc[i], err, errlen);
        if (r) { status = r; goto fail; }
    }
    for (size_t i = 0; i < ndc; i++) {
        int r = validate_status(&dc[i], err, errlen);
        if (r) { status = r; goto fail; }
    }
    for (size_t i = 0; i < ndc; i++)
        if (dc[i].script) {
            snprintf(err, errlen, "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or 'enable_local_script_checks' to true");
            status = 500;
            goto fail;
        }
    /* lan_ipv4/wan_ipv4 (or _ipv6) derived from Address are not stored: render.c adds them */
    if (s->ntaddrs) /* qsort(NULL, 0) is undefined (UBSan) */
        qsort(s->taddrs, s->ntaddrs, sizeof *s->taddrs, cmp_taddr);
    cat_check_t **checks = calloc(ndc ? ndc : 1, sizeof *checks);
    for (size_t i = 0; i < ndc; i++) {
        cat_check_t *c = dc[i].c;
        if (!c->id) {
            char id[1200];
            if (ndc == 1)
                snprintf(id, sizeof id, "service:%s", s->id);
            else
                snprintf(id, sizeof id, "service:%s:%zu", s->id, i + 1);
            c->id = strdup(id);
        }
        if (!c->name) {
            size_t n = strlen(s->name) + 32;
            c->name = malloc(n);
            snprintf(c->name, n, "Service '%s' check", s->name);
        }
        free(c->service_id);
        c->service_id = strdup(s->id);
        check_defaults(c);
        checks[i] = c;
    }
    free(dc);
    json_decref(root);
    *svcp = s;
    *checksp = checks;
    *nchecksp = ndc;
    return 200;
fail:
    for (size_t i = 0; dc && i < cap; i++)
        cat_check_free(dc[i].c);
    free(dc);
    cat_service_free(s);
    json_decref(root);
    return status;
}

int decode_check_register(const char *body, size_t len, cat_check_t **out, char *err, size_t errlen)
{
    decoded_check_t d = {0};
    int status = 400;
    json_t *root = parse_body(body, len, err, errlen);
    if (!root)
        return 400;
    if (!json_is_object(root))
        DECODE_FAIL("Request decode failed: json: cannot unmarshal %s into Go value of type structs.CheckDefinition", json_kind(root));
    int r = decode_check(root, "CheckDefinition", &d, err, errlen);
    if (r)
        goto fail;
    if (d.empty || !d.c->name || !*d.c->name)
        DECODE_FAIL("Missing check name");
    if ((r = validate_check(&d, err, errlen)) || (r = validate_status(&d, err, errlen))) {
        status = r;
        goto fail;
    }
    if (d.script) {
        snprintf(err, errlen, "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or 'enable_local_script_checks' to true");
        status = 500;
        goto fail;
    }
    if (!d.c->id)
        d.c->id = strdup(d.c->name);
    if (!d.c->service_id)
        d.c->service_id = strdup("");
    check_defaults(d.c);
    json_decref(root);
    *out = d.c;
    return 200;
fail:
    cat_check_free(d.c);
    json_decref(root);
    return status;
}

int decode_check_update(const char *body, size_t len, char **status, char **output, char *err, size_t errlen)
{
    static const field_t uf[] = {{"Status", NULL, F_STR}, {"Output", NULL, F_STR}};
    json_t *v[2];
    json_t *root = parse_body(body, len, err, errlen);
    if (!root)
        return 400;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "Request decode failed: json: cannot unmarshal %s into Go value of type agent.checkUpdate", json_kind(root));
        json_decref(root);
        return 400;
    }
    if (bind_fields(root, "checkUpdate", uf, 2, v, err, errlen) != 0) {
        json_decref(root);
        return 400;
    }
    *status = str_or(v[0], "");
    *output = str_or(v[1], "");
    json_decref(root);
    return 200;
}

/* ---- for other decoders (decode.h) ---- */
json_t *decode_parse_body(const char *body, size_t len, char *err, size_t errlen)
{
    return parse_body(body, len, err, errlen);
}

int decode_bind(const json_t *obj, const char *structname, const decode_field_t *fields, size_t n, json_t **vals,
                char *err, size_t errlen)
{
    static const ftype_t map[] = {F_STR, F_INT, F_BOOL, F_STRLIST, F_STRMAP, F_DUR, F_ANY, F_OBJ, F_OBJLIST};
    field_t *f = calloc(n ? n : 1, sizeof *f);
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        f[i].name = fields[i].name;
        f[i].alias = fields[i].alias;
        f[i].type = fields[i].type >= 0 && (size_t)fields[i].type < sizeof map / sizeof map[0] ? map[fields[i].type] : F_ANY;
    }
    int rc = bind_fields(obj, structname, f, n, vals, err, errlen);
    free(f);
    return rc;
}
