/* agent_config.h: portolan-agent's command line: every registrator flag with its name and
 * default, portolan's own flags, each also settable as PORTOLAN_<FLAG> (lib/flags.h), and the
 * registry URI positional argument. Validation happens here, once, before anything starts, with
 * registrator's messages where it had them. */
#ifndef PORTOLAN_AGENT_CONFIG_H
#define PORTOLAN_AGENT_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"

typedef struct {
    /* registrator's flags */
    const char *ip;                /* -ip */
    int internal;                  /* -internal */
    int explicit_only;             /* -explicit */
    const char *use_ip_from_label; /* -useIpFromLabel */
    const char *tags;              /* -tags */
    int64_t ttl_ns;                /* -ttl (seconds or Go duration) */
    int64_t ttl_refresh_ns;        /* -ttl-refresh */
    int64_t resync_ns;             /* -resync */
    const char *deregister;        /* -deregister always|on-success */
    long long retry_attempts;      /* -retry-attempts */
    long long retry_interval_ms;   /* -retry-interval (milliseconds) */
    int cleanup;                   /* -cleanup */
    int version;                   /* --version */
    /* portolan's */
    const char *node_id;           /* -node-id ("" = the engine's Name from /info) */
    const char *listen;            /* -listen host:port for /metrics and /health ("" = off) */
    int deregister_on_exit;        /* -deregister-on-exit */
    const char *log_level;         /* -log-level */
    int log_json;                  /* -log-json */
    int64_t consul_poll_ns;        /* -consul-poll: how often Consul's view is checked */
    const char *api_listen;        /* -api-listen host:port for the replicate/scale API ("" = off) */
    const char *api_cert;          /* -api-cert ("" = $DOCKER_CERT_PATH/cert.pem) */
    const char *api_key;           /* -api-key ("" = $DOCKER_CERT_PATH/key.pem) */
    const char *api_ca;            /* -api-ca: CA of client certificates ("" = $DOCKER_CERT_PATH/ca.pem) */
    int64_t scale_cooldown_ns;     /* -scale-cooldown */
    int64_t scale_drain_ns;        /* -scale-drain */
    const char *scale_nodes_cmd;   /* -scale-nodes-cmd ("" = scale-nodes refused) */
    long long scale_nodes_max;     /* -scale-nodes-max */
    /* derived */
    int deregister_on_success;     /* -deregister on-success */
    log_level_t level;
    const char *registry_uri;      /* the positional argument */
} agent_config_t;

/* Parses argv (and the environment). Returns 0 when the agent should run, 1 when it should exit
 * 0 (help or --version was printed to out), -1 on an error (message in err, exit status 1... the
 * caller prints usage for a missing URI). */
int agent_config_parse(agent_config_t *c, int argc, char **argv, FILE *out, char *err, size_t errlen);

void agent_config_usage(FILE *f);

#endif
