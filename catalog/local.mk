# catalog/: portolan-catalog. The request path (store, decode, render, api) is a library of
# its own so unit tests and the fuzz target link exactly the code the daemon runs.
noinst_LIBRARIES += catalog/libcatalog.a
catalog_libcatalog_a_SOURCES = \
	catalog/store.c catalog/store.h catalog/store_priv.h catalog/store_kv.c catalog/objects.c \
	catalog/kv.c catalog/kv.h catalog/session.c catalog/session.h \
	catalog/api_session.c catalog/api_session.h \
	catalog/txn.c catalog/txn.h catalog/api_txn.c catalog/api_txn.h \
	catalog/decode.c catalog/decode.h \
	catalog/render.c catalog/render.h \
	catalog/api.c catalog/api.h catalog/api_ctx.h \
	catalog/api_kv.c catalog/api_kv.h \
	catalog/api_node.c catalog/api_node.h catalog/api_catalog.c catalog/api_catalog.h \
	catalog/api_misc.c catalog/api_misc.h catalog/node_maint.c catalog/node_maint.h \
	catalog/persist.c catalog/persist.h \
	catalog/wal.c catalog/wal.h catalog/durable.c catalog/durable.h \
	catalog/checks.c catalog/checks.h \
	catalog/check_rules.c catalog/check_rules.h \
	catalog/server.c catalog/server.h \
	catalog/dns.c catalog/dns.h \
	catalog/dns_server.c catalog/dns_server.h
CATALOG_LIBS = catalog/libcatalog.a $(PORTOLAN_LIBS) $(LDNS_LIBS) $(ZLIB_LIBS)

bin_PROGRAMS += portolan-catalog
portolan_catalog_SOURCES = catalog/main.c
portolan_catalog_LDADD = $(CATALOG_LIBS)
