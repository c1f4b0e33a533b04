/* Unit tests for agent/agent_config.c: registrator's flags, defaults and checks, portolan's
 * flags, PORTOLAN_<FLAG> environment variables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_config.h"
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "duration.h"

static int parse(agent_config_t *c, char **argv, char *err, size_t errlen)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    FILE *devnull = fopen("/dev/null", "w");
    int rc = agent_config_parse(c, argc, argv, devnull, err, errlen);
    fclose(devnull);
    return rc;
}

static void test_defaults(void **state)
{
    (void)state;
    agent_config_t c;
    char err[256];
    char *argv[] = {"portolan-agent", "consul://", NULL};
    assert_int_equal(parse(&c, argv, err, sizeof err), 0);
    assert_string_equal(c.ip, "");
    assert_int_equal(c.internal, 0);
    assert_int_equal(c.explicit_only, 0);
    assert_string_equal(c.use_ip_from_label, "");
    assert_string_equal(c.tags, "");
    assert_int_equal(c.ttl_ns, 0);
    assert_int_equal(c.ttl_refresh_ns, 0);
    assert_int_equal(c.resync_ns, 0);
    assert_string_equal(c.deregister, "always");
    assert_int_equal(c.deregister_on_success, 0);
    assert_int_equal(c.retry_attempts, 0);
    assert_int_equal(c.retry_interval_ms, 2000);
    assert_int_equal(c.cleanup, 0);
    assert_string_equal(c.node_id, "");
    assert_string_equal(c.listen, "");
    assert_int_equal(c.deregister_on_exit, 0);
    assert_int_equal(c.level, LOG_INFO);
    assert_int_equal(c.consul_poll_ns, DURATION_SEC);
    assert_string_equal(c.registry_uri, "consul://");
}

static void test_all_flags(void **state)
{
    (void)state;
    agent_config_t c;
    char err[256];
    char *argv[] = {"portolan-agent", "-ip", "10.0.0.1", "-internal", "-explicit", "-useIpFromLabel", "ip",
                    "-tags", "a,b", "-ttl", "30", "-ttl-refresh=10", "-resync", "60", "-deregister",
                    "on-success", "-retry-attempts", "-1", "-retry-interval", "500", "-cleanup",
                    "-node-id", "n1", "-listen", "127.0.0.1:9401", "-deregister-on-exit",
                    "-log-level", "debug", "-log-json", "consul://127.0.0.1:8500", NULL};
    assert_int_equal(parse(&c, argv, err, sizeof err), 0);
    assert_string_equal(c.ip, "10.0.0.1");
    assert_int_equal(c.internal, 1);
    assert_int_equal(c.explicit_only, 1);
    assert_string_equal(c.use_ip_from_label, "ip");
    assert_string_equal(c.tags, "a,b");
    assert_int_equal(c.ttl_ns, 30 * DURATION_SEC);
    assert_int_equal(c.ttl_refresh_ns, 10 * DURATION_SEC);
    assert_int_equal(c.resync_ns, 60 * DURATION_SEC);
    assert_int_equal(c.deregister_on_success, 1);
    assert_int_equal(c.retry_attempts, -1);
    assert_int_equal(c.retry_interval_ms, 500);
    assert_int_equal(c.cleanup, 1);
    assert_string_equal(c.node_id, "n1");
    assert_string_equal(c.listen, "127.0.0.1:9401");
    assert_int_equal(c.deregister_on_exit, 1);
    assert_int_equal(c.level, LOG_DEBUG);
    assert_int_equal(c.log_json, 1);
    assert_string_equal(c.registry_uri, "consul://127.0.0.1:8500");
}

static void test_env(void **state)
{
    (void)state;
    agent_config_t c;
    char err[256];
    setenv("PORTOLAN_IP", "1.2.3.4", 1);
    setenv("PORTOLAN_USEIPFROMLABEL", "lbl", 1);
    setenv("PORTOLAN_RETRY_ATTEMPTS", "3", 1);
    setenv("PORTOLAN_CLEANUP", "true", 1);
    setenv("PORTOLAN_RESYNC", "1m", 1);
    setenv("PORTOLAN_NODE_ID", "envnode", 1);
    char *argv[] = {"portolan-agent", "-retry-attempts", "5", "consul://", NULL};
    assert_int_equal(parse(&c, argv, err, sizeof err), 0);
    assert_string_equal(c.ip, "1.2.3.4");
    assert_string_equal(c.use_ip_from_label, "lbl");
    assert_int_equal(c.retry_attempts, 5); /* flag beats env */
    assert_int_equal(c.cleanup, 1);
    assert_int_equal(c.resync_ns, 60 * DURATION_SEC);
    assert_string_equal(c.node_id, "envnode");
    unsetenv("PORTOLAN_IP");
    unsetenv("PORTOLAN_USEIPFROMLABEL");
    unsetenv("PORTOLAN_RETRY_ATTEMPTS");
    unsetenv("PORTOLAN_CLEANUP");
    unsetenv("PORTOLAN_RESYNC");
    unsetenv("PORTOLAN_NODE_ID");
}

typedef struct {
    const char *args[8];
    const char *err; /* substring */
} bad_case_t;

static const bad_case_t bad[] = {
    {{NULL}, "Missing required argument for registry URI"},
    {{"consul://", "extra"}, "Extra unparsed arguments"},
    {{"-ttl", "30", "consul://"}, "-ttl and -ttl-refresh must be specified together"},
    {{"-ttl-refresh", "30", "consul://"}, "-ttl and -ttl-refresh must be specified together"},
    {{"-ttl", "10", "-ttl-refresh", "10", "consul://"}, "-ttl must be greater than -ttl-refresh"},
    {{"-retry-interval", "0", "consul://"}, "-retry-interval must be greater than 0"},
    {{"-deregister", "never", "consul://"}, "-deregister must be \"always\" or \"on-success\""},
    {{"-log-level", "loud", "consul://"}, "-log-level"},
    {{"-resync", "soon", "consul://"}, "resync"},
    {{"-nope", "consul://"}, "nope"},
    {{"-node-id", "a:b", "consul://"}, "node-id"},
};

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[10] = {"portolan-agent"};
        int n = 1;
        for (; bad[i].args[n - 1]; n++)
            argv[n] = (char *)bad[i].args[n - 1];
        argv[n] = NULL;
        agent_config_t c;
        char err[256] = "";
        if (parse(&c, argv, err, sizeof err) != -1)
            fail_msg("case %zu: accepted", i);
        if (!strstr(err, bad[i].err))
            fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, err, bad[i].err);
    }
}

static void test_env_uri(void **state)
{
    (void)state;
    agent_config_t c;
    char err[256];
    setenv("PORTOLAN_REGISTRY_URI", "consul://10.1.1.1:8500", 1);
    char *a1[] = {"portolan-agent", NULL};
    assert_int_equal(parse(&c, a1, err, sizeof err), 0);
    assert_string_equal(c.registry_uri, "consul://10.1.1.1:8500");
    char *a2[] = {"portolan-agent", "consul://x:1", NULL};
    assert_int_equal(parse(&c, a2, err, sizeof err), 0);
    assert_string_equal(c.registry_uri, "consul://x:1"); /* the argument beats the environment */
    unsetenv("PORTOLAN_REGISTRY_URI");
}

static void test_version_help(void **state)
{
    (void)state;
    agent_config_t c;
    char err[256];
    char *v[] = {"portolan-agent", "--version", NULL};
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    assert_non_null(f);
    assert_int_equal(agent_config_parse(&c, 2, v, f, err, sizeof err), 1);
    fclose(f);
    /* the version, then the HTTP stack it runs on (libcurl and its TLS library) */
    assert_non_null(strstr(out, "portolan-agent " PACKAGE_VERSION " (libcurl/"));
    assert_non_null(strstr(out, "OpenSSL/"));
    free(out);
    char *h[] = {"portolan-agent", "-h", NULL};
    assert_int_equal(parse(&c, h, err, sizeof err), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_all_flags),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_env_uri),
        cmocka_unit_test(test_version_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
