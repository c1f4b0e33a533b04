# templater/template.mk: the template engine (owned by the "template" part of templater/).
# A static library the templater daemon links, plus the render CLI the template suite uses.
noinst_LIBRARIES += templater/libtemplate.a
templater_libtemplate_a_SOURCES = \
	templater/template.h templater/template_ast.h templater/template_exec.h \
	templater/template_parse.h templater/template_value.h \
	templater/template_value.c templater/template_lex.c templater/template_parse.c \
	templater/template_exec.c templater/template_fmt.c templater/template_funcs.c \
	templater/template_consul.c templater/template_snapshot.c templater/template_store.c
templater_libtemplate_a_CFLAGS = $(AM_CFLAGS)

TEMPLATE_LIBS = templater/libtemplate.a $(PORTOLAN_LIBS)

noinst_PROGRAMS += tests/template/render
tests_template_render_SOURCES = tests/template/render.c
tests_template_render_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/templater
tests_template_render_LDADD = $(TEMPLATE_LIBS)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_template
tests_unit_test_template_SOURCES = tests/unit/test_template.c
tests_unit_test_template_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/templater
tests_unit_test_template_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_template_LDADD = $(TEMPLATE_LIBS) $(CMOCKA_LIBS)
endif
