/* Unit tests for lib/log.c: every log line escapes control bytes and invalid UTF-8 from the
 * untrusted strings it carries (issue 8: a client certificate's subject with ESC sequences was
 * written raw), in the text and in the JSON format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static const struct {
    const char *what, *in, *want;
} cases[] = {
    {"plain ASCII unchanged", "registered web:1 name=web", "registered web:1 name=web"},
    {"ESC (terminal escape sequence)", "CN=\x1b[2J\x1b]0;owned\x07", "CN=\\x1b[2J\\x1b]0;owned\\x07"},
    {"newline cannot forge a second line", "a\n2026-01-01T00:00:00Z error x: forged", "a\\n2026-01-01T00:00:00Z error x: forged"},
    {"CR and tab", "a\rb\tc", "a\\rb\\tc"},
    {"DEL and other C0", "\x7f\x01\x1f", "\\x7f\\x01\\x1f"},
    {"valid UTF-8 unchanged", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb3", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb3"},
    {"C1 CSI as UTF-8", "x\xc2\x9b" "2Jy", "x\\xc2\\x9b2Jy"},
    {"invalid UTF-8 bytes", "a\xff\xfe" "b", "a\\xff\\xfeb"},
    {"lone continuation byte", "\x80z", "\\x80z"},
    {"truncated sequence at the end", "ok\xe2\x82", "ok\\xe2\\x82"},
    {"overlong encoding of '/'", "\xc0\xaf", "\\xc0\\xaf"},
    {"UTF-16 surrogate", "\xed\xa0\x80", "\\xed\\xa0\\x80"},
    {"sequence interrupted by ESC", "\xc3\x1b", "\\xc3\\x1b"},
    {"empty", "", ""},
};

static void test_escape_table(void **state)
{
    (void)state;
    char out[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = log_escape(cases[i].in, out, sizeof out);
        if (strcmp(out, cases[i].want) != 0 || n != strlen(cases[i].want))
            fail_msg("%s: want \"%s\" got \"%s\"", cases[i].what, cases[i].want, out);
    }
    /* a small buffer holds whole escapes only and stays terminated */
    char small[6];
    assert_int_equal(log_escape("ab\x1b" "cd", small, sizeof small), 2);
    assert_string_equal(small, "ab");
    assert_int_equal(log_escape("abcdefgh", small, sizeof small), 5);
    assert_string_equal(small, "abcde");
}

/* Runs log_msg with stderr sent to a file; returns what was written (malloc'd). */
static char *capture(int json, const char *fmt, const char *arg)
{
    char path[] = "/tmp/test_log_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    log_init("test", LOG_INFO, json);
    log_msg(LOG_WARN, fmt, arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char *buf = calloc(1, 65536);
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, buf, 65535);
    assert_true(n > 0);
    close(fd);
    unlink(path);
    return buf;
}

static void test_text_line(void **state)
{
    (void)state;
    char *line = capture(0, "api: request from %s", "127.0.0.1 (CN=\x1b[31mevil\nroot\xff)");
    assert_non_null(strstr(line, " warn test: api: request from 127.0.0.1 (CN=\\x1b[31mevil\\nroot\\xff)\n"));
    /* one line, no raw control byte but the final newline */
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20 && !(*p == '\n' && p[1] == '\0'))
            fail_msg("raw control byte 0x%02x in the text log line", (unsigned char)*p);
    free(line);
}

static void test_json_line(void **state)
{
    (void)state;
    /* invalid UTF-8 used to make jansson refuse the message and the line vanished */
    char *line = capture(1, "container %s: warning", "we\x1b[2Jb\xff");
    json_error_t e;
    json_t *o = json_loads(line, 0, &e);
    if (!o)
        fail_msg("not one JSON line: %s (%s)", line, e.text);
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "container we\\x1b[2Jb\\xff: warning");
    assert_string_equal(json_string_value(json_object_get(o, "level")), "warn");
    json_decref(o);
    free(line);
}

static void test_long_message_marked(void **state)
{
    (void)state;
    char *big = malloc(6000);
    memset(big, '\x1b', 5999);
    big[5999] = '\0';
    char *line = capture(0, "%s", big);
    size_t len = strlen(line);
    assert_true(len > 4 * 4000);
    assert_memory_equal(line + len - 4, "...\n", 4);
    free(line);
    free(big);
}

/* log_quote: JSON escaping, a cut that keeps within the buffer, "?" for invalid UTF-8 */
static void test_quote(void **state)
{
    (void)state;
    char b[16];
    assert_string_equal(log_quote("hello/v1", b, sizeof b), "\"hello/v1\"");
    assert_string_equal(log_quote("a\"b\nc", b, sizeof b), "\"a\\\"b\\nc\"");
    assert_string_equal(log_quote("abcdefghijklmnopqrstuvwxyz", b, sizeof b), "\"abcdefghijk...");
    assert_int_equal(strlen(b), sizeof b - 1);
    assert_string_equal(log_quote("\xff\xfe", b, sizeof b), "\"?\"");
    assert_string_equal(log_quote(NULL, b, sizeof b), "\"\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_table),
        cmocka_unit_test(test_text_line),
        cmocka_unit_test(test_json_line),
        cmocka_unit_test(test_long_message_marked),
        cmocka_unit_test(test_quote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
