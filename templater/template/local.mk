# templater/template/local.mk: the template engine, in a directory of its own under one name prefix
# (template_*: public API in template.h, the rest internal to the engine).
# A static library the templater daemon links, plus the render CLI the template suite uses.
noinst_LIBRARIES += templater/libtemplate.a
templater_libtemplate_a_SOURCES = \
	templater/template/template.h templater/template/template_ast.h templater/template/template_exec.h \
	templater/template/template_parse.h templater/template/template_value.h \
	templater/template/template_value.c templater/template/template_lex.c \
	templater/template/template_parse.c templater/template/template_exec.c \
	templater/template/template_fmt.c templater/template/template_funcs.c \
	templater/template/template_consul.c templater/template/template_snapshot.c \
	templater/template/template_store.c
templater_libtemplate_a_CFLAGS = $(AM_CFLAGS)

TEMPLATE_LIBS = templater/libtemplate.a $(PORTOLAN_LIBS)

noinst_PROGRAMS += tests/template/render
tests_template_render_SOURCES = tests/template/render.c
tests_template_render_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/templater/template
tests_template_render_LDADD = $(TEMPLATE_LIBS)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_template
tests_unit_test_template_SOURCES = tests/unit/test_template.c
tests_unit_test_template_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/templater/template
tests_unit_test_template_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_template_LDADD = $(TEMPLATE_LIBS) $(CMOCKA_LIBS)
endif
