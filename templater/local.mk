# templater (helper "templater"): Consul -> HAProxy. The pure core is a static library so the unit
# tests link exactly what the daemon runs; the template engine lives in templater/template/.
noinst_LIBRARIES += templater/libtemplatercore.a
templater_libtemplatercore_a_SOURCES = \
	templater/validate.c templater/validate.h \
	templater/routes.c templater/routes.h \
	templater/haproxy_cfg.c templater/haproxy_cfg.h \
	templater/diff.c templater/diff.h \
	templater/dataplane.c templater/dataplane.h \
	templater/haproxy_runtime.c templater/haproxy_runtime.h \
	templater/haproxy_check.c templater/haproxy_check.h \
	templater/haproxy_base.h
nodist_templater_libtemplatercore_a_SOURCES = templater/haproxy_base_builtin.c
templater_libtemplatercore_a_CFLAGS = $(AM_CFLAGS)
templater_libtemplatercore_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/templater

# The default -base, built in (haproxy_base.h): haproxy/haproxy.cfg.base stays the one source and
# becomes a NUL-terminated byte array here (od: no tool beyond POSIX), rebuilt when the file changes.
templater/haproxy_base_builtin.c: $(top_srcdir)/haproxy/haproxy.cfg.base
	$(AM_V_GEN)$(MKDIR_P) templater && { \
	  echo '/* generated from haproxy/haproxy.cfg.base by templater/local.mk: do not edit */'; \
	  echo '#include "haproxy_base.h"'; \
	  echo 'const char haproxy_base_builtin[] = {'; \
	  od -An -v -tx1 $(top_srcdir)/haproxy/haproxy.cfg.base | sed -e 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0x00 };'; \
	} >$@.tmp && mv $@.tmp $@
CLEANFILES += templater/haproxy_base_builtin.c templater/haproxy_base_builtin.c.tmp

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_routes
tests_unit_test_routes_SOURCES = tests/unit/test_routes.c
tests_unit_test_routes_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/templater -DHAPROXY_BASE='"$(abs_top_srcdir)/haproxy/haproxy.cfg.base"'
tests_unit_test_routes_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_routes_LDADD = templater/libtemplatercore.a $(PORTOLAN_LIBS) $(CMOCKA_LIBS)
# dataplane.c: the -routing maps decision as a table, and the maps configuration under haproxy -c
check_PROGRAMS += tests/unit/test_dataplane
tests_unit_test_dataplane_SOURCES = tests/unit/test_dataplane.c
tests_unit_test_dataplane_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/templater
tests_unit_test_dataplane_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_dataplane_LDADD = templater/libtemplatercore.a $(PORTOLAN_LIBS) $(CMOCKA_LIBS)
# apply.c and haproxy_proc.c (effects) against a fake master CLI and a fake `haproxy -c`
check_PROGRAMS += tests/unit/test_apply
tests_unit_test_apply_SOURCES = tests/unit/test_apply.c \
	templater/apply.c templater/apply.h templater/haproxy_proc.c templater/haproxy_proc.h
tests_unit_test_apply_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/templater
tests_unit_test_apply_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_apply_LDADD = templater/libtemplatercore.a $(PORTOLAN_LIBS) $(CMOCKA_LIBS)
endif

bin_PROGRAMS += portolan-templater
portolan_templater_SOURCES = \
	templater/main.c \
	templater/mirror.c templater/mirror.h \
	templater/watcher.c templater/watcher.h \
	templater/apply.c templater/apply.h \
	templater/haproxy_proc.c templater/haproxy_proc.h \
	templater/tmpl_mode.c templater/tmpl_mode.h
portolan_templater_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/templater -I$(top_srcdir)/templater/template \
	-DPORTOLAN_PKGDATADIR='"$(pkgdatadir)"'
portolan_templater_LDADD = templater/libtemplatercore.a templater/libtemplate.a $(PORTOLAN_LIBS)
dist_pkgdata_DATA = haproxy/haproxy.cfg.base

# bench (helper "templater"): the pure core at scale (bench/run-templater.sh core)
noinst_PROGRAMS += bench/templater/bench_routes
bench_templater_bench_routes_SOURCES = bench/templater/bench_routes.c
bench_templater_bench_routes_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/templater
bench_templater_bench_routes_LDADD = templater/libtemplatercore.a $(PORTOLAN_LIBS)
