# Unit tests (cmocka). Each test program is one group; scripts/test.sh runs them with TAP output.
if HAVE_CMOCKA
UNIT_LDADD = $(PORTOLAN_LIBS) $(CMOCKA_LIBS)
UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)

check_PROGRAMS += tests/unit/test_duration tests/unit/test_flags
tests_unit_test_duration_SOURCES = tests/unit/test_duration.c
tests_unit_test_duration_LDADD = $(UNIT_LDADD)
tests_unit_test_duration_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_flags_SOURCES = tests/unit/test_flags.c
tests_unit_test_flags_LDADD = $(UNIT_LDADD)
tests_unit_test_flags_CFLAGS = $(UNIT_CFLAGS)
endif
TESTS += $(check_PROGRAMS)
