/* agent_config.c: the flag table and the checks registrator's main() made on it. */
#include "agent_config.h"

#include "duration.h"
#include "flags.h"
#include "http_client.h"

#include <stdlib.h>
#include <string.h>

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.0.0"
#endif

static agent_config_t cur;

static const flags_opt_t opts[] = {
    {"ip", FLAGS_STRING, &cur.ip, "", "IP for ports mapped to the host (beats the resolved hostname and the network IP)"},
    {"internal", FLAGS_BOOL, &cur.internal, "false", "use internal ports instead of published ones (container IP + exposed port)"},
    {"explicit", FLAGS_BOOL, &cur.explicit_only, "false", "only register containers which have SERVICE_NAME label set"},
    {"useIpFromLabel", FLAGS_STRING, &cur.use_ip_from_label, "", "use IP which is stored in a label assigned to the container"},
    {"tags", FLAGS_STRING, &cur.tags, "", "append tags for all registered services (comma list)"},
    {"ttl", FLAGS_DURATION, &cur.ttl_ns, "0", "TTL of the heartbeat check on every service (seconds or Go duration; 0: none)"},
    {"ttl-refresh", FLAGS_DURATION, &cur.ttl_refresh_ns, "0", "frequency with which service TTLs are refreshed"},
    {"resync", FLAGS_DURATION, &cur.resync_ns, "0", "frequency with which services are resynchronized (0: never)"},
    {"deregister", FLAGS_STRING, &cur.deregister, "always", "deregister exited services \"always\" or \"on-success\""},
    {"retry-attempts", FLAGS_INT, &cur.retry_attempts, "0", "max retry attempts to establish a connection with the backend; -1 for infinite"},
    {"retry-interval", FLAGS_INT, &cur.retry_interval_ms, "2000", "interval (in millisecond) between retry-attempts"},
    {"cleanup", FLAGS_BOOL, &cur.cleanup, "false", "remove dangling services this node registered earlier"},
    {"version", FLAGS_BOOL, &cur.version, "false", "print version and exit"},
    {"node-id", FLAGS_STRING, &cur.node_id, "", "host part of service IDs (default: the Docker engine's Name from /info)"},
    {"listen", FLAGS_STRING, &cur.listen, "", "host:port for /metrics and /health (default: off)"},
    {"deregister-on-exit", FLAGS_BOOL, &cur.deregister_on_exit, "false", "deregister this node's services on SIGTERM/SIGINT"},
    {"log-level", FLAGS_STRING, &cur.log_level, "info", "debug, info, warn, error or off"},
    {"log-json", FLAGS_BOOL, &cur.log_json, "false", "log JSON lines instead of text"},
    {"api-listen", FLAGS_STRING, &cur.api_listen, "", "host:port for the HTTPS replicate/scale API with client certificates (default: off)"},
    {"api-cert", FLAGS_STRING, &cur.api_cert, "", "server certificate of the API (default: $DOCKER_CERT_PATH/cert.pem)"},
    {"api-key", FLAGS_STRING, &cur.api_key, "", "its private key (default: $DOCKER_CERT_PATH/key.pem)"},
    {"api-ca", FLAGS_STRING, &cur.api_ca, "", "CA that must have signed API clients' certificates (default: $DOCKER_CERT_PATH/ca.pem)"},
    {"scale-cooldown", FLAGS_DURATION, &cur.scale_cooldown_ns, "30s", "least time between two scale-service actions on one service (0: none)"},
    {"scale-drain", FLAGS_DURATION, &cur.scale_drain_ns, "2s", "scale-down: time between deregistering an instance and stopping it"},
    {"scale-nodes-cmd", FLAGS_STRING, &cur.scale_nodes_cmd, "", "command run by POST /v1/scale-nodes (\"machine\": the cluster scripts createSwarmNode.sh/removeNode.sh; default: off)"},
    {"scale-nodes-max", FLAGS_INT, &cur.scale_nodes_max, "1", "node commands run at the same time, at most"},
    {"consul-poll", FLAGS_DURATION, &cur.consul_poll_ns, "1s", "how often Consul's list of this agent's services is checked (a Consul that restarted empty is refilled within this)"},
};
#define NOPTS (sizeof opts / sizeof opts[0])

void agent_config_usage(FILE *f)
{
    flags_usage(f, "portolan-agent [options] <registry URI>", "PORTOLAN", opts, NOPTS);
}

int agent_config_parse(agent_config_t *c, int argc, char **argv, FILE *out, char *err, size_t errlen)
{
    memset(&cur, 0, sizeof cur);
    int first = argc;
    int rc = flags_parse("PORTOLAN", opts, NOPTS, argc, argv, &first, err, errlen);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        agent_config_usage(out);
        return 1;
    }
    if (cur.version) {
        fprintf(out, "portolan-agent %s (%s)\n", PACKAGE_VERSION, http_client_library());
        return 1;
    }
    if (log_level_parse(cur.log_level, &cur.level) != 0) {
        snprintf(err, errlen, "-log-level \"%s\": use debug, info, warn, error or off", cur.log_level);
        return -1;
    }
    const char *env_uri = getenv("PORTOLAN_REGISTRY_URI");
    if (argc - first == 0 && env_uri && *env_uri) {
        cur.registry_uri = env_uri; /* portolan: the URI from the environment too */
    } else if (argc - first != 1) {
        if (argc - first == 0)
            snprintf(err, errlen, "Missing required argument for registry URI.");
        else
            snprintf(err, errlen, "Extra unparsed arguments: %s ... (options must come before the registry URI)",
                     argv[first + 1]);
        return -1;
    } else {
        cur.registry_uri = argv[first];
    }
    if ((cur.ttl_ns == 0) != (cur.ttl_refresh_ns == 0)) {
        snprintf(err, errlen, "-ttl and -ttl-refresh must be specified together or not at all");
        return -1;
    }
    if (cur.ttl_ns < 0 || cur.ttl_refresh_ns < 0 || cur.resync_ns < 0) {
        snprintf(err, errlen, "-ttl, -ttl-refresh and -resync must not be negative");
        return -1;
    }
    if (cur.ttl_ns > 0 && cur.ttl_ns <= cur.ttl_refresh_ns) {
        snprintf(err, errlen, "-ttl must be greater than -ttl-refresh");
        return -1;
    }
    if (cur.retry_interval_ms <= 0) {
        snprintf(err, errlen, "-retry-interval must be greater than 0");
        return -1;
    }
    if (cur.retry_attempts < -1) {
        snprintf(err, errlen, "-retry-attempts must be -1 (forever) or >= 0");
        return -1;
    }
    if (strcmp(cur.deregister, "always") != 0 && strcmp(cur.deregister, "on-success") != 0) {
        snprintf(err, errlen, "-deregister must be \"always\" or \"on-success\"");
        return -1;
    }
    cur.deregister_on_success = strcmp(cur.deregister, "on-success") == 0;
    if (cur.consul_poll_ns < 100 * DURATION_MS) {
        snprintf(err, errlen, "-consul-poll must be at least 100ms");
        return -1;
    }
    if (cur.scale_cooldown_ns < 0 || cur.scale_drain_ns < 0) {
        snprintf(err, errlen, "-scale-cooldown and -scale-drain must not be negative");
        return -1;
    }
    if (cur.scale_nodes_max < 1 || cur.scale_nodes_max > 16) {
        snprintf(err, errlen, "-scale-nodes-max must be 1 to 16");
        return -1;
    }
    if (cur.node_id && strchr(cur.node_id, ':')) {
        snprintf(err, errlen, "-node-id \"%s\": must not contain ':' (it is the first part of service IDs)", cur.node_id);
        return -1;
    }
    *c = cur;
    return 0;
}
