# Unit tests (cmocka). Each test program is one group; scripts/test.sh runs them with TAP output.
if HAVE_CMOCKA
UNIT_LDADD = $(PORTOLAN_LIBS) $(CMOCKA_LIBS) $(ZLIB_LIBS)
UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)

check_PROGRAMS += tests/unit/test_duration tests/unit/test_flags tests/unit/test_file tests/unit/test_log
tests_unit_test_log_SOURCES = tests/unit/test_log.c
tests_unit_test_log_LDADD = $(UNIT_LDADD)
tests_unit_test_log_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_duration_SOURCES = tests/unit/test_duration.c
tests_unit_test_duration_LDADD = $(UNIT_LDADD)
tests_unit_test_duration_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_flags_SOURCES = tests/unit/test_flags.c
tests_unit_test_flags_LDADD = $(UNIT_LDADD)
tests_unit_test_flags_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_file_SOURCES = tests/unit/test_file.c
tests_unit_test_file_LDADD = $(UNIT_LDADD)
tests_unit_test_file_CFLAGS = $(UNIT_CFLAGS)
check_PROGRAMS += tests/unit/test_strmap
tests_unit_test_strmap_SOURCES = tests/unit/test_strmap.c
tests_unit_test_strmap_LDADD = $(UNIT_LDADD)
tests_unit_test_strmap_CFLAGS = $(UNIT_CFLAGS)
check_PROGRAMS += tests/unit/test_xalloc
tests_unit_test_xalloc_SOURCES = tests/unit/test_xalloc.c
tests_unit_test_xalloc_LDADD = $(UNIT_LDADD)
tests_unit_test_xalloc_CFLAGS = $(UNIT_CFLAGS)
check_PROGRAMS += tests/unit/test_child
tests_unit_test_child_SOURCES = tests/unit/test_child.c
tests_unit_test_child_LDADD = $(UNIT_LDADD)
tests_unit_test_child_CFLAGS = $(UNIT_CFLAGS)
check_PROGRAMS += tests/unit/test_prom
tests_unit_test_prom_SOURCES = tests/unit/test_prom.c
tests_unit_test_prom_LDADD = $(UNIT_LDADD)
tests_unit_test_prom_CFLAGS = $(UNIT_CFLAGS)
# agent (owned by the agent helper)
check_PROGRAMS += tests/unit/test_agent_metadata tests/unit/test_agent_services tests/unit/test_agent_config
check_PROGRAMS += tests/unit/test_agent_owners
tests_unit_test_agent_owners_SOURCES = tests/unit/test_agent_owners.c
tests_unit_test_agent_owners_LDADD = agent/libagentcore.a $(UNIT_LDADD)
tests_unit_test_agent_owners_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_agent_owners_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/agent
tests_unit_test_agent_metadata_SOURCES = tests/unit/test_agent_metadata.c
tests_unit_test_agent_metadata_LDADD = agent/libagentcore.a $(UNIT_LDADD)
tests_unit_test_agent_metadata_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_agent_metadata_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/agent
tests_unit_test_agent_services_SOURCES = tests/unit/test_agent_services.c
tests_unit_test_agent_services_LDADD = agent/libagentcore.a $(UNIT_LDADD)
tests_unit_test_agent_services_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_agent_services_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/agent
tests_unit_test_agent_config_SOURCES = tests/unit/test_agent_config.c
tests_unit_test_agent_config_LDADD = agent/libagentcore.a $(UNIT_LDADD)
tests_unit_test_agent_config_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_agent_config_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/agent
endif
TESTS += $(check_PROGRAMS)
# clients (helper "clients"): lib/http_client, docker_client, consul_client, consul_watch
if HAVE_CMOCKA
CLIENT_TEST_CFLAGS = $(UNIT_CFLAGS) -DTOP_SRCDIR='"$(abs_top_srcdir)"'
check_PROGRAMS += tests/unit/test_http_client
tests_unit_test_http_client_SOURCES = tests/unit/test_http_client.c tests/unit/client_test_util.h
tests_unit_test_http_client_LDADD = $(UNIT_LDADD)
tests_unit_test_http_client_CFLAGS = $(CLIENT_TEST_CFLAGS)
check_PROGRAMS += tests/unit/test_client_pure
tests_unit_test_client_pure_SOURCES = tests/unit/test_client_pure.c
tests_unit_test_client_pure_LDADD = $(UNIT_LDADD)
tests_unit_test_client_pure_CFLAGS = $(UNIT_CFLAGS)
check_PROGRAMS += tests/unit/test_consul_client
tests_unit_test_consul_client_SOURCES = tests/unit/test_consul_client.c tests/unit/client_test_util.h
tests_unit_test_consul_client_LDADD = $(UNIT_LDADD)
tests_unit_test_consul_client_CFLAGS = $(CLIENT_TEST_CFLAGS)
check_PROGRAMS += tests/unit/test_docker_client
tests_unit_test_docker_client_SOURCES = tests/unit/test_docker_client.c tests/unit/client_test_util.h
tests_unit_test_docker_client_LDADD = $(UNIT_LDADD)
tests_unit_test_docker_client_CFLAGS = $(CLIENT_TEST_CFLAGS)
endif
# clients: a command-line driver of the lib/ clients for tests/clients/run.sh (real dockerd/catalog)
noinst_PROGRAMS += tests/clients/client_probe
tests_clients_client_probe_SOURCES = tests/clients/client_probe.c
tests_clients_client_probe_LDADD = $(PORTOLAN_LIBS)
# catalog (helper "catalog"): the store's index, check and KV rules
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_catalog_store
tests_unit_test_catalog_store_SOURCES = tests/unit/test_catalog_store.c
tests_unit_test_catalog_store_LDADD = catalog/libcatalog.a $(UNIT_LDADD)
tests_unit_test_catalog_store_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_catalog_store_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/catalog
check_PROGRAMS += tests/unit/test_catalog_check_rules
tests_unit_test_catalog_check_rules_SOURCES = tests/unit/test_catalog_check_rules.c
tests_unit_test_catalog_check_rules_LDADD = catalog/libcatalog.a $(UNIT_LDADD)
tests_unit_test_catalog_check_rules_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_catalog_check_rules_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/catalog
check_PROGRAMS += tests/unit/test_catalog_props
tests_unit_test_catalog_props_SOURCES = tests/unit/test_catalog_props.c
tests_unit_test_catalog_props_LDADD = catalog/libcatalog.a $(UNIT_LDADD)
tests_unit_test_catalog_props_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_catalog_props_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/catalog
endif
# catalog (lead): the request path without sockets
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_catalog_api
tests_unit_test_catalog_api_SOURCES = tests/unit/test_catalog_api.c tests/unit/catalog_fixture.h
tests_unit_test_catalog_api_LDADD = catalog/libcatalog.a $(UNIT_LDADD)
tests_unit_test_catalog_api_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_catalog_api_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/catalog
endif
# catalog DNS and node endpoints (helper "catalog2"): catalog/dns.c answers, api_node.c, without sockets
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_catalog_dns
tests_unit_test_catalog_dns_SOURCES = tests/unit/test_catalog_dns.c
tests_unit_test_catalog_dns_LDADD = catalog/libcatalog.a $(UNIT_LDADD) $(LDNS_LIBS)
tests_unit_test_catalog_dns_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_catalog_dns_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/catalog
check_PROGRAMS += tests/unit/test_catalog_node
tests_unit_test_catalog_node_SOURCES = tests/unit/test_catalog_node.c tests/unit/catalog_fixture.h
tests_unit_test_catalog_node_LDADD = catalog/libcatalog.a $(UNIT_LDADD)
tests_unit_test_catalog_node_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_catalog_node_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/catalog
check_PROGRAMS += tests/unit/test_catalog_external
tests_unit_test_catalog_external_SOURCES = tests/unit/test_catalog_external.c tests/unit/catalog_fixture.h
tests_unit_test_catalog_external_LDADD = catalog/libcatalog.a $(UNIT_LDADD) $(LDNS_LIBS)
tests_unit_test_catalog_external_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_catalog_external_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/catalog
check_PROGRAMS += tests/unit/test_catalog_misc
tests_unit_test_catalog_misc_SOURCES = tests/unit/test_catalog_misc.c tests/unit/catalog_fixture.h
tests_unit_test_catalog_misc_LDADD = catalog/libcatalog.a $(UNIT_LDADD)
tests_unit_test_catalog_misc_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_catalog_misc_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/catalog
check_PROGRAMS += tests/unit/test_catalog_session
check_PROGRAMS += tests/unit/test_catalog_wal
tests_unit_test_catalog_wal_SOURCES = tests/unit/test_catalog_wal.c tests/unit/catalog_fixture.h
tests_unit_test_catalog_wal_LDADD = catalog/libcatalog.a $(UNIT_LDADD) $(ZLIB_LIBS)
tests_unit_test_catalog_wal_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_catalog_wal_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/catalog
tests_unit_test_catalog_session_SOURCES = tests/unit/test_catalog_session.c tests/unit/catalog_fixture.h
tests_unit_test_catalog_session_LDADD = catalog/libcatalog.a $(UNIT_LDADD)
tests_unit_test_catalog_session_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_catalog_session_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/catalog
endif
# httpserver (helper "httpserver"): lib/http_server via run_buffer and real sockets
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_http_server
tests_unit_test_http_server_SOURCES = tests/unit/test_http_server.c
tests_unit_test_http_server_LDADD = $(UNIT_LDADD) -lpthread
tests_unit_test_http_server_CFLAGS = $(UNIT_CFLAGS)
endif
# replicator: lib/http_server TLS mode; agent replicate/scale pure part
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_http_server_tls
tests_unit_test_http_server_tls_SOURCES = tests/unit/test_http_server_tls.c
tests_unit_test_http_server_tls_LDADD = $(UNIT_LDADD)
tests_unit_test_http_server_tls_CFLAGS = $(UNIT_CFLAGS) -DTOP_SRCDIR='"$(abs_top_srcdir)"'
check_PROGRAMS += tests/unit/test_agent_replicate
tests_unit_test_agent_replicate_SOURCES = tests/unit/test_agent_replicate.c
tests_unit_test_agent_replicate_LDADD = agent/libagentcore.a $(UNIT_LDADD)
tests_unit_test_agent_replicate_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_agent_replicate_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/agent
check_PROGRAMS += tests/unit/test_agent_scaling
tests_unit_test_agent_scaling_SOURCES = tests/unit/test_agent_scaling.c
tests_unit_test_agent_scaling_LDADD = agent/libagentcore.a $(UNIT_LDADD)
tests_unit_test_agent_scaling_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_agent_scaling_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/agent
endif
