/* test_file.c: file_read, the whole-file reader the daemons share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file.h"

static char path[64];

static void write_bytes(const char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

static void test_content_and_terminator(void **state)
{
    (void)state;
    write_bytes("a\0b\n", 4);
    size_t len = 99;
    char *b = file_read(path, 0, &len);
    assert_non_null(b);
    assert_int_equal(len, 4);
    assert_memory_equal(b, "a\0b\n", 4);
    assert_int_equal(b[4], '\0');
    free(b);
    write_bytes("", 0);
    b = file_read(path, 0, &len);
    assert_non_null(b);
    assert_int_equal(len, 0);
    assert_int_equal(b[0], '\0');
    free(b);
}

static void test_large_and_limit(void **state)
{
    (void)state;
    size_t n = 200000; /* past the first buffer */
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++) big[i] = (char)('a' + i % 26);
    write_bytes(big, n);
    size_t len = 0;
    char *b = file_read(path, 0, &len);
    assert_non_null(b);
    assert_int_equal(len, n);
    assert_memory_equal(b, big, n);
    free(b);
    b = file_read(path, n, &len); /* exactly the limit: fine */
    assert_non_null(b);
    free(b);
    errno = 0;
    assert_null(file_read(path, n - 1, &len));
    assert_int_equal(errno, EFBIG);
    free(big);
}

static void test_missing(void **state)
{
    (void)state;
    size_t len;
    errno = 0;
    assert_null(file_read("/nonexistent/portolan-test-file", 0, &len));
    assert_int_equal(errno, ENOENT);
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/portolan-test-file-%d", (int)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_and_terminator),
        cmocka_unit_test(test_large_and_limit),
        cmocka_unit_test(test_missing),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(path);
    return rc;
}
