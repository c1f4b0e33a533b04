# lib/: the shared library linked into every binary.
noinst_LIBRARIES += lib/libportolan.a
lib_libportolan_a_SOURCES = \
	lib/log.c lib/log.h \
	lib/duration.c lib/duration.h \
	lib/backoff.c lib/backoff.h \
	lib/flags.c lib/flags.h \
	lib/signals.c lib/signals.h
# clients (helper "clients"): HTTP client on libuv+libcurl, Docker Engine and Consul clients
lib_libportolan_a_SOURCES += \
	lib/http_client.c lib/http_client.h \
	lib/docker_client.c lib/docker_endpoint.c lib/docker_lines.c lib/docker_client.h \
	lib/consul_client.c lib/consul_client.h \
	lib/consul_watch.c lib/consul_watch.h
# httpserver (helper "httpserver"): HTTP/1.1 server on libuv + http-parser
lib_libportolan_a_SOURCES += lib/http_server.c lib/http_server.h lib/http_server_internal.h \
	lib/http_server_conn.c lib/http_server_request.c lib/http_server_response.c \
	lib/http_server_tls.c lib/http_server_limits.c
# shared data structures
lib_libportolan_a_SOURCES += lib/strmap.c lib/strmap.h lib/hostport.c lib/hostport.h lib/uuid.c lib/uuid.h
# small C-string helpers (bounded message formatting, NULL-passing strdup)
lib_libportolan_a_SOURCES += lib/cstr.c lib/cstr.h lib/file.c lib/file.h
# the Prometheus text writer behind every /metrics
lib_libportolan_a_SOURCES += lib/prom.c lib/prom.h
# the allocation policy (xalloc.h: what out of memory means, and the helpers that carry it out)
lib_libportolan_a_SOURCES += lib/xalloc.c lib/xalloc.h
# every child process the daemons run (uv_spawn, stderr capture, timeout, stop)
lib_libportolan_a_SOURCES += lib/child.c lib/child.h
