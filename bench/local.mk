# bench/: benchmark programs, built but not installed; each bench/run-*.sh runs its own.
# bench_catalog: wake-up latency, registrations/s and RSS of portolan-catalog (bench/run-catalog.sh).
noinst_PROGRAMS += bench/catalog/bench_catalog
bench_catalog_bench_catalog_SOURCES = bench/catalog/bench_catalog.c
bench_catalog_bench_catalog_CFLAGS = $(AM_CFLAGS) -O2
bench_catalog_bench_catalog_LDADD = $(PORTOLAN_LIBS) -lpthread
# bench_dns: DNS queries per second against the catalog's DNS interface (bench/run-catalog.sh).
noinst_PROGRAMS += bench/catalog/bench_dns
bench_catalog_bench_dns_SOURCES = bench/catalog/bench_dns.c
bench_catalog_bench_dns_CFLAGS = $(AM_CFLAGS) -O2
bench_catalog_bench_dns_LDADD = $(PORTOLAN_LIBS) $(LDNS_LIBS)
