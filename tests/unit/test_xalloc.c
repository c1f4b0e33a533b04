/* test_xalloc.c: lib/xalloc, the fatal half of the allocation policy (xalloc.h). The failing
 * cases run in a forked child, which must die by SIGABRT after logging the size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xalloc.h"

static void test_success(void **state)
{
    (void)state;
    char *p = xmalloc(0); /* a zero size is still a pointer */
    assert_non_null(p);
    free(p);
    int *z = xcalloc(16, sizeof *z);
    for (int i = 0; i < 16; i++) assert_int_equal(z[i], 0);
    z = xreallocarray(z, 1024, sizeof *z);
    z[1023] = 7;
    assert_int_equal(z[0], 0);
    free(z);
    char *s = xstrdup("portolan");
    assert_string_equal(s, "portolan");
    free(s);
    assert_null(xstrdup(NULL));
    s = xstrndup("abcdef", 3);
    assert_string_equal(s, "abc");
    free(s);
    s = xstrndup("ab", 10);
    assert_string_equal(s, "ab");
    free(s);
    s = xasprintf("%s-%d", "x", 42);
    assert_string_equal(s, "x-42");
    free(s);
}

/* runs f in a child with stderr captured; returns the signal it died of, its stderr in out */
static int die_in_child(void (*f)(void), char *out, size_t outlen)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        signal(SIGABRT, SIG_DFL);
        f();
        _exit(0); /* returned: the test fails on the exit status */
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < outlen && (r = read(fds[0], out + n, outlen - 1 - n)) > 0) n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

static void huge_malloc(void) { volatile size_t n = SIZE_MAX - 4096; free(xmalloc(n)); }
static void overflow_calloc(void) { free(xcalloc(SIZE_MAX / 2, 4)); }
static void overflow_reallocarray(void) { free(xreallocarray(NULL, SIZE_MAX / 8, 16)); }
static void limited_strdup(void)
{
    /* a real out-of-memory, not an impossible size: 64 MiB of address space, a 128 MiB string */
    size_t n = (size_t)128 << 20;
    char *big = malloc(n + 1);
    if (!big) _exit(3);
    memset(big, 'a', n);
    big[n] = '\0';
    struct rlimit rl = {(rlim_t)160 << 20, (rlim_t)160 << 20};
    setrlimit(RLIMIT_AS, &rl);
    free(xstrdup(big));
}

static void test_failure_is_fatal_and_logged(void **state)
{
    (void)state;
    char out[512];
#if !defined(__SANITIZE_ADDRESS__) /* ASan reports an impossible size itself, before malloc returns */
    assert_int_equal(die_in_child(huge_malloc, out, sizeof out), SIGABRT);
    assert_non_null(strstr(out, "out of memory ("));
    assert_non_null(strstr(out, "bytes for malloc)"));
#endif
    assert_int_equal(die_in_child(overflow_calloc, out, sizeof out), SIGABRT);
    assert_non_null(strstr(out, "size overflow"));
    assert_int_equal(die_in_child(overflow_reallocarray, out, sizeof out), SIGABRT);
    assert_non_null(strstr(out, "size overflow"));
}

static void test_real_oom(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    skip(); /* ASan's shadow memory cannot live under an RLIMIT_AS */
#else
    char out[512];
    assert_int_equal(die_in_child(limited_strdup, out, sizeof out), SIGABRT);
    assert_non_null(strstr(out, "out of memory (134217729 bytes for malloc)"));
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_success),
        cmocka_unit_test(test_failure_is_fatal_and_logged),
        cmocka_unit_test(test_real_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
