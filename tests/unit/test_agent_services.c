/* Unit tests for agent/services.c + agent/registration.c: container inspect JSON + config -> the
 * exact register bodies Consul receives. One table row per rule of shared/reference/registrator.md
 * and per portolan extension; each row patches a base container and lists the expected bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>

#include "duration.h"
#include "registration.h"
#include "services.h"

static json_t *J(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &e);
    if (!j)
        fail_msg("bad JSON in test: %s: %s", s, e.text);
    return j;
}

/* A running container "web1" from image gliderlabs/foo:1, port 80/tcp published on 0.0.0.0:32768,
 * default network with IP 172.17.0.2. */
static const char *BASE =
    "{\"Id\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
    "\"Name\":\"/web1\",\"Image\":\"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
    "\"State\":{\"Running\":true,\"ExitCode\":0},"
    "\"Config\":{\"Image\":\"gliderlabs/foo:1\",\"Env\":[\"PATH=/bin\"],\"Labels\":{},"
    "\"ExposedPorts\":{\"80/tcp\":{}}},"
    "\"HostConfig\":{\"NetworkMode\":\"default\"},"
    "\"NetworkSettings\":{\"IPAddress\":\"172.17.0.2\",\"GlobalIPv6Address\":\"\","
    "\"Ports\":{\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"32768\"}]},"
    "\"Networks\":{\"bridge\":{\"IPAddress\":\"172.17.0.2\",\"GlobalIPv6Address\":\"\"}}}}";

/* Two-level merge: top-level objects (Config, NetworkSettings, ...) merge key by key; their
 * members (ExposedPorts, Ports, Env, Networks, ...) are replaced whole. */
static void merge2(json_t *dst, json_t *patch, int depth)
{
    const char *k;
    json_t *v;
    json_object_foreach(patch, k, v) {
        json_t *d = json_object_get(dst, k);
        if (depth == 0 && json_is_object(d) && json_is_object(v))
            merge2(d, v, 1);
        else
            json_object_set(dst, k, v);
    }
}

typedef struct {
    const char *what;
    int cfgv;        /* config variant, see cfg_for */
    const char *patch;
    const char *want; /* JSON array of register bodies */
    const char *warn; /* expected warning substring, or NULL: no warnings */
    const char *netc; /* container:<id> network container inspect, or NULL */
} svc_case_t;

enum { C_DEF, C_INTERNAL, C_IP, C_TAGS, C_EXPLICIT, C_LABELIP, C_NORESOLVE, C_TTL };

static services_config_t cfg_for(int v)
{
    services_config_t c = {.node = "node1", .resolved_ip = "192.168.1.10",
                           .health_ttl_ns = 30 * (int64_t)1000000000};
    switch (v) {
    case C_INTERNAL: c.internal = 1; break;
    case C_IP: c.host_ip = "10.9.9.9"; break;
    case C_TAGS: c.tags = "a,b"; break;
    case C_EXPLICIT: c.explicit_only = 1; break;
    case C_LABELIP: c.use_ip_from_label = "ip"; break;
    case C_NORESOLVE: c.resolved_ip = NULL; break;
    case C_TTL: c.ttl_ns = 20 * (int64_t)1000000000; break;
    }
    return c;
}

#define TWO_PORTS "\"Config\":{\"ExposedPorts\":{\"80/tcp\":{},\"443/tcp\":{}}},\"NetworkSettings\":{\"Ports\":{" \
    "\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"8080\"}],\"443/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"8443\"}]}}"

static const svc_case_t cases[] = {
    {"published port, 0.0.0.0 -> resolved host IP", C_DEF, "{}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":32768,\"Address\":\"192.168.1.10\"}]", NULL, NULL},
    {"binding HostIp kept", C_DEF,
     "{\"NetworkSettings\":{\"Ports\":{\"80/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"5000\"}]}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":5000,\"Address\":\"127.0.0.1\"}]", NULL, NULL},
    {"first binding only", C_DEF,
     "{\"NetworkSettings\":{\"Ports\":{\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"1\"},{\"HostIp\":\"::\",\"HostPort\":\"2\"}]}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":1,\"Address\":\"192.168.1.10\"}]", NULL, NULL},
    {"unresolvable host: Address left to Consul", C_NORESOLVE, "{}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":32768}]", NULL, NULL},
    {"unpublished port dropped", C_DEF, "{\"NetworkSettings\":{\"Ports\":{\"80/tcp\":null}}}", "[]", NULL, NULL},
    {"no ports at all", C_DEF, "{\"Config\":{\"ExposedPorts\":null},\"NetworkSettings\":{\"Ports\":null}}", "[]", NULL, NULL},
    {"-internal: container IP and exposed port, unpublished eligible", C_INTERNAL,
     "{\"NetworkSettings\":{\"Ports\":{\"80/tcp\":null}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":80,\"Address\":\"172.17.0.2\"}]", NULL, NULL},
    {"-ip beats resolved", C_IP, "{}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":32768,\"Address\":\"10.9.9.9\"}]", NULL, NULL},
    {"two ports: -<port> suffix", C_DEF, "{" TWO_PORTS "}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo-80\",\"Port\":8080,\"Address\":\"192.168.1.10\"},"
     "{\"ID\":\"node1:web1:443\",\"Name\":\"foo-443\",\"Port\":8443,\"Address\":\"192.168.1.10\"}]", NULL, NULL},
    {"two ports: port-specific name has no suffix, generic name has", C_DEF,
     "{" TWO_PORTS ",\"Config\":{\"Env\":[\"SERVICE_80_NAME=www\",\"SERVICE_NAME=app\"]}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"www\",\"Port\":8080,\"Address\":\"192.168.1.10\"},"
     "{\"ID\":\"node1:web1:443\",\"Name\":\"app-443\",\"Port\":8443,\"Address\":\"192.168.1.10\"}]", NULL, NULL},
    {"two exposed, one published: no suffix", C_DEF,
     "{\"Config\":{\"ExposedPorts\":{\"80/tcp\":{},\"443/tcp\":{}}},\"NetworkSettings\":{\"Ports\":{"
     "\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"8080\"}],\"443/tcp\":null}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":8080,\"Address\":\"192.168.1.10\"}]", NULL, NULL},
    {"ignored port still counts for the suffix", C_DEF,
     "{" TWO_PORTS ",\"Config\":{\"Env\":[\"SERVICE_443_IGNORE=1\"]}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo-80\",\"Port\":8080,\"Address\":\"192.168.1.10\"}]", NULL, NULL},
    {"udp: ID suffix and tag", C_DEF,
     "{\"Config\":{\"ExposedPorts\":{\"53/udp\":{}}},\"NetworkSettings\":{\"Ports\":{\"53/udp\":[{\"HostIp\":\"\",\"HostPort\":\"5353\"}]}}}",
     "[{\"ID\":\"node1:web1:53:udp\",\"Name\":\"foo\",\"Port\":5353,\"Address\":\"192.168.1.10\",\"Tags\":[\"udp\"]}]", NULL, NULL},
    {"tags: service, then -tags, then udp", C_TAGS,
     "{\"Config\":{\"Env\":[\"SERVICE_TAGS=x\\\\,y,z\"],\"ExposedPorts\":{\"53/udp\":{}}},\"NetworkSettings\":{\"Ports\":{\"53/udp\":[{\"HostIp\":\"\",\"HostPort\":\"5353\"}]}}}",
     "[{\"ID\":\"node1:web1:53:udp\",\"Name\":\"foo\",\"Port\":5353,\"Address\":\"192.168.1.10\",\"Tags\":[\"x,y\",\"z\",\"a\",\"b\",\"udp\"]}]", NULL, NULL},
    {"SERVICE_ID, SERVICE_NAME, Meta", C_DEF,
     "{\"Config\":{\"Env\":[\"SERVICE_ID=custom\",\"SERVICE_NAME=api\",\"SERVICE_VERSION=2\"],\"Labels\":{\"SERVICE_REGION\":\"eu\"}}}",
     "[{\"ID\":\"custom\",\"Name\":\"api\",\"Port\":32768,\"Address\":\"192.168.1.10\",\"Meta\":{\"version\":\"2\",\"region\":\"eu\"}}]", NULL, NULL},
    {"SERVICE_IGNORE", C_DEF, "{\"Config\":{\"Labels\":{\"SERVICE_IGNORE\":\"true\"}}}", "[]", NULL, NULL},
    /* found by tests/fuzz/fuzz_agent_services: an inspect with neither Name nor Config.Image gave
     * a service with an empty Name, which Consul refuses at every resync */
    {"no name, no image, no SERVICE_NAME: skipped with a warning", C_DEF,
     "{\"Name\":\"\",\"Config\":{\"Image\":\"\"}}", "[]", "no service name", NULL},
    {"-explicit without a name", C_EXPLICIT, "{}", "[]", NULL, NULL},
    {"-explicit with SERVICE_80_NAME", C_EXPLICIT, "{\"Config\":{\"Env\":[\"SERVICE_80_NAME=n\"]}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"n\",\"Port\":32768,\"Address\":\"192.168.1.10\"}]", NULL, NULL},
    {"host network: exposed ports seeded as host ports", C_DEF,
     "{\"HostConfig\":{\"NetworkMode\":\"host\"},\"NetworkSettings\":{\"IPAddress\":\"\",\"Ports\":{},\"Networks\":{\"host\":{}}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":80,\"Address\":\"192.168.1.10\"}]", NULL, NULL},
    {"named network: its IP with the host port", C_DEF,
     "{\"HostConfig\":{\"NetworkMode\":\"mynet\"},\"NetworkSettings\":{\"IPAddress\":\"\",\"Networks\":{\"bridge\":null,\"mynet\":{\"IPAddress\":\"10.0.1.5\"}}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":32768,\"Address\":\"10.0.1.5\"}]", NULL, NULL},
    {"-ip beats the named network", C_IP,
     "{\"HostConfig\":{\"NetworkMode\":\"mynet\"},\"NetworkSettings\":{\"Networks\":{\"mynet\":{\"IPAddress\":\"10.0.1.5\"}}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":32768,\"Address\":\"10.9.9.9\"}]", NULL, NULL},
    {"-useIpFromLabel strips /nn", C_LABELIP, "{\"Config\":{\"Labels\":{\"ip\":\"10.1.2.3/24\"}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":32768,\"Address\":\"10.1.2.3\"}]", NULL, NULL},
    {"-useIpFromLabel missing label: unchanged", C_LABELIP, "{}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":32768,\"Address\":\"192.168.1.10\"}]", NULL, NULL},
    {"-useIpFromLabel hostile value ignored", C_LABELIP, "{\"Config\":{\"Labels\":{\"ip\":\"1.2.3.4\\n5\"}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":32768,\"Address\":\"192.168.1.10\"}]", "not an address", NULL},
    {"-useIpFromLabel with user info or a shell word ignored", C_LABELIP,
     "{\"Config\":{\"Labels\":{\"ip\":\"x@127.0.0.1\"},\"Env\":[\"SERVICE_CHECK_HTTP=/h\"]}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":32768,\"Address\":\"192.168.1.10\","
     "\"Meta\":{\"check_http\":\"/h\"},\"Check\":{\"HTTP\":\"http://192.168.1.10:32768/h\",\"Interval\":\"10s\"}}]",
     "not an address", NULL},
    {"-useIpFromLabel host name accepted", C_LABELIP, "{\"Config\":{\"Labels\":{\"ip\":\"db-1.internal\"}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":32768,\"Address\":\"db-1.internal\"}]", NULL, NULL},
    {"container:<id> network mode: that container's IP", C_DEF,
     "{\"HostConfig\":{\"NetworkMode\":\"container:abcdef\"},\"NetworkSettings\":{\"IPAddress\":\"\",\"Ports\":{},\"Networks\":{}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":80,\"Address\":\"172.17.0.9\"}]", NULL,
     "{\"Id\":\"abcdef\",\"NetworkSettings\":{\"IPAddress\":\"172.17.0.9\"}}"},
    {"SERVICE_ADDRESS_MODE=container", C_DEF,
     "{\"Config\":{\"Env\":[\"SERVICE_ADDRESS_MODE=container\"]},\"NetworkSettings\":{\"Ports\":{\"80/tcp\":null}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":80,\"Address\":\"172.17.0.2\",\"Meta\":{\"address_mode\":\"container\"}}]", NULL, NULL},
    {"SERVICE_ADDRESS_MODE=host beats -internal", C_INTERNAL,
     "{\"Config\":{\"Labels\":{\"SERVICE_ADDRESS_MODE\":\"host\"}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":32768,\"Address\":\"192.168.1.10\",\"Meta\":{\"address_mode\":\"host\"}}]", NULL, NULL},
    {"SERVICE_ADDRESS_MODE=host on a named network: the binding address", C_DEF,
     "{\"Config\":{\"Env\":[\"SERVICE_ADDRESS_MODE=host\"]},\"HostConfig\":{\"NetworkMode\":\"mynet\"},"
     "\"NetworkSettings\":{\"Ports\":{\"80/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"5000\"}]},"
     "\"Networks\":{\"mynet\":{\"IPAddress\":\"10.0.1.5\"}}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":5000,\"Address\":\"127.0.0.1\",\"Meta\":{\"address_mode\":\"host\"}}]", NULL, NULL},
    {"bad SERVICE_ADDRESS_MODE warned", C_DEF, "{\"Config\":{\"Env\":[\"SERVICE_ADDRESS_MODE=both\"]}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":32768,\"Address\":\"192.168.1.10\",\"Meta\":{\"address_mode\":\"both\"}}]",
     "SERVICE_ADDRESS_MODE", NULL},
    {"SERVICE_NETWORK picks that network's IP", C_DEF,
     "{\"Config\":{\"Env\":[\"SERVICE_NETWORK=backend\"]},\"NetworkSettings\":{\"Networks\":{\"backend\":{\"IPAddress\":\"10.5.0.7\"}}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":80,\"Address\":\"10.5.0.7\",\"Meta\":{\"network\":\"backend\"}}]", NULL, NULL},
    {"SERVICE_NETWORK unknown: default container IP, warned", C_DEF,
     "{\"Config\":{\"Env\":[\"SERVICE_NETWORK=nope\"]}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":80,\"Address\":\"172.17.0.2\",\"Meta\":{\"network\":\"nope\"}}]",
     "not attached", NULL},
    {"IPv6-only container with -internal", C_INTERNAL,
     "{\"NetworkSettings\":{\"IPAddress\":\"\",\"GlobalIPv6Address\":\"fd00::2\",\"Networks\":{\"bridge\":{\"IPAddress\":\"\",\"GlobalIPv6Address\":\"fd00::2\"}}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":80,\"Address\":\"fd00::2\"}]", NULL, NULL},
    {"IPv6 network via SERVICE_NETWORK", C_DEF,
     "{\"Config\":{\"Env\":[\"SERVICE_NETWORK=v6\",\"SERVICE_CHECK_TCP=1\"]},\"NetworkSettings\":{\"Networks\":{\"v6\":{\"IPAddress\":\"\",\"GlobalIPv6Address\":\"fd00::7\"}}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":80,\"Address\":\"fd00::7\",\"Meta\":{\"network\":\"v6\",\"check_tcp\":\"1\"},"
     "\"Check\":{\"TCP\":\"[fd00::7]:80\",\"Interval\":\"10s\"}}]", NULL, NULL},
    {"SERVICE_ADDRESS_FAMILY=ipv6 on a dual-stack network", C_INTERNAL,
     "{\"Config\":{\"Env\":[\"SERVICE_ADDRESS_FAMILY=ipv6\"]},\"NetworkSettings\":{\"IPAddress\":\"172.17.0.2\",\"GlobalIPv6Address\":\"fd00::2\"}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":80,\"Address\":\"fd00::2\",\"Meta\":{\"address_family\":\"ipv6\"}}]", NULL, NULL},
    {"SERVICE_ADDRESS_FAMILY=ipv6 with SERVICE_NETWORK", C_DEF,
     "{\"Config\":{\"Env\":[\"SERVICE_NETWORK=ds\",\"SERVICE_ADDRESS_FAMILY=ipv6\"]},\"NetworkSettings\":{\"Networks\":{\"ds\":{\"IPAddress\":\"10.1.0.2\",\"GlobalIPv6Address\":\"fd01::2\"}}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":80,\"Address\":\"fd01::2\",\"Meta\":{\"address_family\":\"ipv6\",\"network\":\"ds\"}}]", NULL, NULL},
    {"dual-stack default is IPv4", C_DEF,
     "{\"Config\":{\"Env\":[\"SERVICE_NETWORK=ds\"]},\"NetworkSettings\":{\"Networks\":{\"ds\":{\"IPAddress\":\"10.1.0.2\",\"GlobalIPv6Address\":\"fd01::2\"}}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":80,\"Address\":\"10.1.0.2\",\"Meta\":{\"network\":\"ds\"}}]", NULL, NULL},
    {"bad SERVICE_ADDRESS_FAMILY warned", C_INTERNAL, "{\"Config\":{\"Env\":[\"SERVICE_ADDRESS_FAMILY=v7\"]}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":80,\"Address\":\"172.17.0.2\",\"Meta\":{\"address_family\":\"v7\"}}]",
     "SERVICE_ADDRESS_FAMILY", NULL},
    {"image by digest", C_DEF, "{\"Config\":{\"Image\":\"registry:5000/team/bar@sha256:0123\"}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"bar\",\"Port\":32768,\"Address\":\"192.168.1.10\"}]", NULL, NULL},
    {"image with registry port and tag", C_DEF, "{\"Config\":{\"Image\":\"localhost:5000/bar:2\"}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"bar\",\"Port\":32768,\"Address\":\"192.168.1.10\"}]", NULL, NULL},
    {"image by ID: container name", C_DEF, "{\"Config\":{\"Image\":\"sha256:aaaaaaaaaaaa\"}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"web1\",\"Port\":32768,\"Address\":\"192.168.1.10\"}]", NULL, NULL},
    {"image by short ID: container name", C_DEF, "{\"Config\":{\"Image\":\"aaaaaaaaaaaa\"}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"web1\",\"Port\":32768,\"Address\":\"192.168.1.10\"}]", NULL, NULL},
    {"swarm task: swarm service name", C_DEF,
     "{\"Name\":\"/web.1.xyz\",\"Config\":{\"Labels\":{\"com.docker.swarm.service.name\":\"web\",\"com.docker.swarm.task.id\":\"xyz\"}}}",
     "[{\"ID\":\"node1:web.1.xyz:80\",\"Name\":\"web\",\"Port\":32768,\"Address\":\"192.168.1.10\"}]", NULL, NULL},
    {"VIRTUAL_HOST on the only port", C_DEF, "{\"Config\":{\"Env\":[\"VIRTUAL_HOST=a.example.com\"]}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":32768,\"Address\":\"192.168.1.10\",\"Meta\":{\"virtual_host\":\"a.example.com\"}}]", NULL, NULL},
    {"VIRTUAL_PORT picks the port", C_DEF,
     "{" TWO_PORTS ",\"Config\":{\"Env\":[\"VIRTUAL_HOST=a.example.com\",\"VIRTUAL_PORT=443\"]}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo-80\",\"Port\":8080,\"Address\":\"192.168.1.10\"},"
     "{\"ID\":\"node1:web1:443\",\"Name\":\"foo-443\",\"Port\":8443,\"Address\":\"192.168.1.10\",\"Meta\":{\"virtual_host\":\"a.example.com\"}}]", NULL, NULL},
    {"VIRTUAL_HOST with several ports defaults to 80", C_DEF,
     "{" TWO_PORTS ",\"Config\":{\"Env\":[\"VIRTUAL_HOST=a.example.com\"]}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo-80\",\"Port\":8080,\"Address\":\"192.168.1.10\",\"Meta\":{\"virtual_host\":\"a.example.com\"}},"
     "{\"ID\":\"node1:web1:443\",\"Name\":\"foo-443\",\"Port\":8443,\"Address\":\"192.168.1.10\"}]", NULL, NULL},
    {"registrator check: one Check, keys also in Meta", C_DEF, "{\"Config\":{\"Env\":[\"SERVICE_CHECK_HTTP=/health\"]}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":32768,\"Address\":\"192.168.1.10\",\"Meta\":{\"check_http\":\"/health\"},"
     "\"Check\":{\"HTTP\":\"http://192.168.1.10:32768/health\",\"Interval\":\"10s\"}}]", NULL, NULL},
    {"Docker HEALTHCHECK mirrored as a TTL check", C_DEF, "{\"State\":{\"Health\":{\"Status\":\"healthy\"}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":32768,\"Address\":\"192.168.1.10\","
     "\"Check\":{\"CheckID\":\"service:node1:web1:80:docker-health\",\"Name\":\"Docker HEALTHCHECK\",\"TTL\":\"30s\",\"Status\":\"passing\","
     "\"Notes\":\"Mirrors the container's Docker health status (portolan-agent)\"}}]", NULL, NULL},
    {"several checks: SERVICE_CHECK_*, numbered set, health, -ttl", C_TTL,
     "{\"State\":{\"Health\":{\"Status\":\"starting\"}},\"Config\":{\"Env\":[\"SERVICE_CHECK_TCP=1\",\"SERVICE_CHECK_2_HTTP=/r\"]}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":32768,\"Address\":\"192.168.1.10\",\"Meta\":{\"check_tcp\":\"1\",\"check_2_http\":\"/r\"},"
     "\"Checks\":[{\"TCP\":\"192.168.1.10:32768\",\"Interval\":\"10s\"},{\"HTTP\":\"http://192.168.1.10:32768/r\",\"Interval\":\"10s\"},"
     "{\"CheckID\":\"service:node1:web1:80:docker-health\",\"Name\":\"Docker HEALTHCHECK\",\"TTL\":\"30s\",\"Status\":\"critical\","
     "\"Notes\":\"Mirrors the container's Docker health status (portolan-agent)\"},"
     "{\"CheckID\":\"service:node1:web1:80:ttl\",\"Name\":\"portolan-agent TTL\",\"TTL\":\"20s\",\"Status\":\"passing\","
     "\"Notes\":\"Refreshed by portolan-agent every -ttl-refresh\"}]}]", NULL, NULL},
    {"invalid Meta key skipped, service still registers", C_DEF,
     "{\"Config\":{\"Labels\":{\"SERVICE_BAD.KEY\":\"x\",\"SERVICE_OK\":\"y\"}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":32768,\"Address\":\"192.168.1.10\",\"Meta\":{\"ok\":\"y\"}}]",
     "Key contains invalid characters", NULL},
    {"hostile port keys skipped", C_DEF,
     "{\"Config\":{\"ExposedPorts\":{\"80/tcp\":{},\"x/tcp\":{},\"99999/tcp\":{},\"0/tcp\":{}}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":32768,\"Address\":\"192.168.1.10\"}]", "ignored", NULL},
    {"hostile host port skipped", C_DEF,
     "{\"NetworkSettings\":{\"Ports\":{\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"abc\"}]}}}", "[]", "not a port", NULL},
    {"HostPort \"0\" is no published port (never port 0)", C_DEF,
     "{\"NetworkSettings\":{\"Ports\":{\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"0\"}]}}}", "[]",
     "not a port number 1-65535", NULL},
    {"HostPort out of range is no published port", C_DEF,
     "{\"NetworkSettings\":{\"Ports\":{\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"65536\"}]}}}", "[]",
     "not a port number 1-65535", NULL},
    {"HostPort with a leading zero or sign is no published port", C_DEF,
     "{\"NetworkSettings\":{\"Ports\":{\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"-1\"}]}}}", "[]",
     "not a port number 1-65535", NULL},
    {"empty HostPort: unpublished, silently", C_DEF,
     "{\"NetworkSettings\":{\"Ports\":{\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"\"}]}}}", "[]", NULL, NULL},
    {"HostPort 0 on one of two ports: the other is the only service (no name suffix)", C_DEF,
     "{\"Config\":{\"ExposedPorts\":{\"80/tcp\":{},\"443/tcp\":{}}},\"NetworkSettings\":{\"Ports\":{"
     "\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"8080\"}],\"443/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"0\"}]}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":8080,\"Address\":\"192.168.1.10\"}]", "host port \"0\"", NULL},
    {"HostPort 0 with -internal: container IP and exposed port", C_INTERNAL,
     "{\"NetworkSettings\":{\"Ports\":{\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"0\"}]}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":80,\"Address\":\"172.17.0.2\"}]", "not a port number", NULL},
    {"name with newline and quotes passes through", C_DEF, "{\"Config\":{\"Env\":[\"SERVICE_NAME=a\\\"b\\nc\"]}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"a\\\"b\\nc\",\"Port\":32768,\"Address\":\"192.168.1.10\"}]", NULL, NULL},
    {"duplicate SERVICE_ID on two ports: second skipped", C_DEF,
     "{" TWO_PORTS ",\"Config\":{\"Env\":[\"SERVICE_ID=same\"]}}",
     "[{\"ID\":\"same\",\"Name\":\"foo-80\",\"Port\":8080,\"Address\":\"192.168.1.10\"}]", "already used", NULL},
    {"port without protocol is tcp", C_DEF, "{\"Config\":{\"ExposedPorts\":{\"80\":{}}}}",
     "[{\"ID\":\"node1:web1:80\",\"Name\":\"foo\",\"Port\":32768,\"Address\":\"192.168.1.10\"}]", NULL, NULL},
};

static void test_services_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const svc_case_t *c = &cases[i];
        json_t *in = J(BASE), *patch = J(c->patch), *want = J(c->want);
        json_t *netc = c->netc ? J(c->netc) : NULL;
        merge2(in, patch, 0);
        services_config_t cfg = cfg_for(c->cfgv);
        service_list_t l;
        warn_list_t w = {0};
        assert_int_equal(services_build(&cfg, in, netc, &l, &w), 0);
        json_t *got = json_array();
        for (size_t k = 0; k < l.n; k++)
            json_array_append_new(got, registration_body(&l.items[k]));
        if (!json_equal(got, want)) {
            char *g = json_dumps(got, JSON_COMPACT);
            fail_msg("%s:\n want %s\n got  %s", c->what, c->want, g);
        }
        if (c->warn && !warn_list_contains(&w, c->warn))
            fail_msg("%s: want a warning containing \"%s\" (got %zu: %s)", c->what, c->warn, w.n,
                     w.n ? w.items[0] : "");
        if (!c->warn && w.n)
            fail_msg("%s: unexpected warning: %s", c->what, w.items[0]);
        /* every service matches its own Consul view (what /v1/agent/services would answer) */
        for (size_t k = 0; k < l.n; k++) {
            json_t *view = json_pack("{s:s,s:s,s:O,s:O,s:i,s:s,s:{s:i,s:i}}", "ID", l.items[k].id,
                                     "Service", l.items[k].name, "Tags", l.items[k].tags,
                                     "Meta", l.items[k].meta, "Port", l.items[k].port,
                                     "Address", l.items[k].address, "Weights", "Passing", 1, "Warning", 1);
            assert_true(registration_matches(&l.items[k], view));
            json_decref(view);
        }
        json_decref(got);
        warn_list_free(&w);
        service_list_free(&l);
        json_decref(in);
        json_decref(patch);
        json_decref(want);
        json_decref(netc);
    }
}

static void test_matches(void **state)
{
    (void)state;
    json_t *in = J(BASE);
    json_object_set_new(json_object_get(in, "Config"), "Env", J("[\"SERVICE_TAGS=a,b\",\"SERVICE_X=1\"]"));
    services_config_t cfg = cfg_for(C_DEF);
    service_list_t l;
    assert_int_equal(services_build(&cfg, in, NULL, &l, NULL), 0);
    assert_int_equal(l.n, 1);
    const char *base = "{\"ID\":\"node1:web1:80\",\"Service\":\"foo\",\"Tags\":[\"a\",\"b\"],\"Meta\":{\"x\":\"1\"},"
                       "\"Port\":32768,\"Address\":\"192.168.1.10\",\"Datacenter\":\"dc1\"}";
    json_t *v = J(base);
    assert_true(registration_matches(&l.items[0], v));
    struct { const char *k; const char *val; } diffs[] = {
        {"Service", "\"bar\""}, {"Tags", "[\"b\",\"a\"]"}, {"Tags", "[]"}, {"Meta", "{}"},
        {"Meta", "{\"x\":\"2\"}"}, {"Port", "80"}, {"Address", "\"\""}, {"ID", "\"x\""},
    };
    for (size_t i = 0; i < sizeof diffs / sizeof diffs[0]; i++) {
        json_t *d = J(base);
        json_object_set_new(d, diffs[i].k, J(diffs[i].val));
        if (registration_matches(&l.items[0], d))
            fail_msg("difference in %s=%s not seen", diffs[i].k, diffs[i].val);
        json_decref(d);
    }
    assert_false(registration_matches(&l.items[0], NULL));
    char *desc = registration_describe(&l.items[0]);
    assert_non_null(strstr(desc, "192.168.1.10:32768"));
    free(desc);
    json_decref(v);
    service_list_free(&l);
    json_decref(in);
}

static void test_hostile_inspect(void **state)
{
    (void)state;
    services_config_t cfg = cfg_for(C_DEF);
    service_list_t l;
    const char *bad[] = {"{}", "[]", "null", "{\"Id\":5}", "{\"Id\":\"x\"}",
                         "{\"Id\":\"x\",\"Config\":[],\"NetworkSettings\":\"s\",\"HostConfig\":1}",
                         "{\"Id\":\"x\",\"Config\":{\"ExposedPorts\":{\"80/tcp\":{}},\"Env\":{},\"Labels\":[]}}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *in = J(bad[i]);
        warn_list_t w = {0};
        int rc = services_build(&cfg, in, NULL, &l, &w);
        if (i < 4)
            assert_int_equal(rc, -1);
        service_list_free(&l);
        warn_list_free(&w);
        json_decref(in);
    }
    /* thousands of tags and hundreds of ports */
    json_t *in = J(BASE);
    json_t *exposed = json_object(), *ports = json_object();
    for (int p = 1000; p < 1300; p++) {
        char k[32], hp[16];
        snprintf(k, sizeof k, "%d/tcp", p);
        snprintf(hp, sizeof hp, "%d", p + 30000);
        json_object_set_new(exposed, k, json_object());
        json_object_set_new(ports, k, json_pack("[{s:s,s:s}]", "HostIp", "0.0.0.0", "HostPort", hp));
    }
    json_object_set_new(json_object_get(in, "Config"), "ExposedPorts", exposed);
    json_object_set_new(json_object_get(in, "NetworkSettings"), "Ports", ports);
    char *tags = malloc(3000 * 8 + 32);
    strcpy(tags, "SERVICE_TAGS=");
    size_t off = strlen(tags);
    for (int i = 0; i < 3000; i++)
        off += (size_t)sprintf(tags + off, "t%d,", i);
    json_object_set_new(json_object_get(in, "Config"), "Env", json_pack("[s]", tags));
    free(tags);
    assert_int_equal(services_build(&cfg, in, NULL, &l, NULL), 0);
    assert_int_equal(l.n, 300);
    assert_int_equal(json_array_size(l.items[0].tags), 3000);
    assert_string_equal(l.items[0].name, "foo-1000");
    assert_int_equal(l.items[299].port, 31299);
    service_list_free(&l);
    json_decref(in);
}

static void test_helpers(void **state)
{
    (void)state;
    json_t *in = J(BASE);
    assert_null(services_network_container(in));
    assert_null(services_health(in));
    char *n = services_default_name(in);
    assert_string_equal(n, "foo");
    free(n);
    json_decref(in);
    in = J("{\"Id\":\"x\",\"Name\":\"/c\",\"HostConfig\":{\"NetworkMode\":\"container:abc\"},"
           "\"State\":{\"Health\":{\"Status\":\"unhealthy\"}},\"Config\":{\"Image\":\"\"}}");
    assert_string_equal(services_network_container(in), "abc");
    assert_string_equal(services_health(in), "unhealthy");
    n = services_default_name(in);
    assert_string_equal(n, "c");
    free(n);
    json_decref(in);
}


/* ---- randomized hostile input: whatever the labels/env/ports, every register body is one
 * Consul accepts (section 1 of consul-api.md) ---- */
static uint64_t rng = 88172645463325252ULL;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static const char *const frag[] = {
    "NAME", "ID", "TAGS", "IGNORE", "CHECK_HTTP", "CHECK_HTTPS", "CHECK_TCP", "CHECK_TTL", "CHECK_SCRIPT",
    "CHECK_GRPC", "CHECK_INTERVAL", "CHECK_TIMEOUT", "CHECK_INITIAL_STATUS", "CHECK_DEREGISTER_AFTER",
    "CHECK_HTTP_METHOD", "CHECK_2_HTTP", "CHECK_2_INTERVAL", "NETWORK", "ADDRESS_MODE", "80", "8080",
    "x.y", "a b", "consul-k", "K\"Q", "", "_", "-", "80_", "99999999999999999999",
};
static const char *const vals[] = {
    "", "x", "10s", "0s", "-1s", "1", "abc", "/p", "/a b", "passing", "critical", "bogus", "GET", "G T",
    "container", "host", "net1", "a,b\\,c", "\n", "\"q\"", "0.0.0.0", "::", "10.0.0.1/8",
};

static void rand_str(char *buf, size_t len)
{
    size_t n = rnd() % (len - 1);
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)(1 + rnd() % 126);
    buf[n] = '\0';
}

static int go_duration_ok(const char *s, int ttl)
{
    (void)ttl;
    int64_t ns;
    return s && duration_parse(s, &ns, NULL, 0) == 0 && ns > 0;
}

static void assert_consul_accepts(const json_t *b)
{
    assert_true(json_is_string(json_object_get(b, "Name")) && *json_string_value(json_object_get(b, "Name")));
    const char *addr = json_string_value(json_object_get(b, "Address"));
    if (addr)
        assert_true(strcmp(addr, "0.0.0.0") && strcmp(addr, "::"));
    json_t *meta = json_object_get(b, "Meta");
    assert_true(json_object_size(meta) <= 64);
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v) {
        assert_true(*k && strlen(k) <= 128 && strncmp(k, "consul-", 7) != 0);
        for (const char *c = k; *c; c++)
            assert_true(isalnum((unsigned char)*c) || *c == '_' || *c == '-');
        assert_true(json_is_string(v) && strlen(json_string_value(v)) <= 512);
    }
    json_t *checks = json_object_get(b, "Checks");
    json_t *one = json_object_get(b, "Check");
    size_t n = one ? 1 : json_array_size(checks);
    for (size_t i = 0; i < n; i++) {
        json_t *c = one ? one : json_array_get(checks, i);
        const char *iv = json_string_value(json_object_get(c, "Interval"));
        const char *ttl = json_string_value(json_object_get(c, "TTL"));
        const char *st = json_string_value(json_object_get(c, "Status"));
        assert_false(iv && ttl); /* "Interval and TTL cannot both be specified" */
        if (iv)
            assert_true(go_duration_ok(iv, 0));
        if (ttl)
            assert_true(go_duration_ok(ttl, 1));
        if (!ttl)
            assert_non_null(iv); /* "Interval must be > 0 for Script, HTTP, TCP" */
        if (st)
            assert_true(!strcmp(st, "passing") || !strcmp(st, "warning") || !strcmp(st, "critical"));
    }
}

static void test_random_hostile(void **state)
{
    (void)state;
    for (int iter = 0; iter < 3000; iter++) {
        json_t *in = J(BASE);
        json_t *env = json_array(), *labels = json_object(), *exposed = json_object(), *ports = json_object();
        int nkeys = (int)(rnd() % 12);
        for (int i = 0; i < nkeys; i++) {
            char key[300], val[300];
            if (rnd() % 4 == 0) {
                char r[40];
                rand_str(r, sizeof r);
                snprintf(key, sizeof key, "SERVICE_%s", r);
            } else if (rnd() % 3 == 0) {
                snprintf(key, sizeof key, "SERVICE_%s_%s", frag[rnd() % 30], frag[rnd() % 30]);
            } else {
                snprintf(key, sizeof key, "SERVICE_%s", frag[rnd() % 30]);
            }
            if (rnd() % 4 == 0)
                rand_str(val, sizeof val);
            else
                snprintf(val, sizeof val, "%s", vals[rnd() % 23]);
            if (rnd() % 2) {
                char kv[620];
                snprintf(kv, sizeof kv, "%s=%s", key, val);
                json_array_append_new(env, json_string(kv));
            } else {
                json_object_set_new(labels, key, json_string(val));
            }
        }
        if (rnd() % 3 == 0)
            json_array_append_new(env, json_string("VIRTUAL_HOST=h.example"));
        int nports = (int)(rnd() % 4);
        for (int i = 0; i < nports; i++) {
            char k[32], hp[16];
            const char *protos[] = {"tcp", "udp", "sctp", "", "x y"};
            snprintf(k, sizeof k, "%u/%s", rnd() % 3 == 0 ? rnd() : 80 + rnd() % 3, protos[rnd() % 5]);
            snprintf(hp, sizeof hp, "%u", rnd() % 5 == 0 ? rnd() : rnd() % 65536);
            json_object_set_new(exposed, k, json_object());
            if (rnd() % 2)
                json_object_set_new(ports, k, json_pack("[{s:s,s:s}]", "HostIp", rnd() % 2 ? "0.0.0.0" : "::", "HostPort", hp));
            else
                json_object_set_new(ports, k, json_null());
        }
        json_object_set_new(json_object_get(in, "Config"), "Env", env);
        json_object_set_new(json_object_get(in, "Config"), "Labels", labels);
        if (nports) {
            json_object_set_new(json_object_get(in, "Config"), "ExposedPorts", exposed);
            json_object_set_new(json_object_get(in, "NetworkSettings"), "Ports", ports);
        } else {
            json_decref(exposed);
            json_decref(ports);
        }
        if (rnd() % 4 == 0)
            json_object_set_new(json_object_get(in, "State"), "Health", json_pack("{ss}", "Status", "starting"));
        services_config_t cfg = cfg_for((int)(rnd() % 8));
        cfg.resolved_ip = rnd() % 2 ? "192.168.1.10" : NULL;
        service_list_t l;
        warn_list_t w = {0};
        assert_int_equal(services_build(&cfg, in, NULL, &l, &w), 0);
        for (size_t k = 0; k < l.n; k++) {
            json_t *b = registration_body(&l.items[k]);
            assert_consul_accepts(b);
            for (size_t j = 0; j < k; j++)
                assert_string_not_equal(l.items[j].id, l.items[k].id);
            json_decref(b);
        }
        warn_list_free(&w);
        service_list_free(&l);
        json_decref(in);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_services_table),
        cmocka_unit_test(test_matches),
        cmocka_unit_test(test_hostile_inspect),
        cmocka_unit_test(test_helpers),
        cmocka_unit_test(test_random_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
