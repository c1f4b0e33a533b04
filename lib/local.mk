# lib/: the shared library linked into every binary.
noinst_LIBRARIES += lib/libportolan.a
lib_libportolan_a_SOURCES = \
	lib/log.c lib/log.h \
	lib/duration.c lib/duration.h \
	lib/backoff.c lib/backoff.h \
	lib/flags.c lib/flags.h \
	lib/signals.c lib/signals.h
