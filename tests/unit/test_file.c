/* test_file.c: file_read, the whole-file reader, and the atomic writers the daemons share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

/* Regular files only: a FIFO (no writer: a plain open would block forever), a device, a symlink
 * to one, a directory are refused at once, before anything is read. The FIFO case runs in a
 * child with an alarm, so a regression fails the test instead of hanging the suite. */
static void test_not_regular(void **state)
{
    (void)state;
    char fifo[80], link[80];
    snprintf(fifo, sizeof fifo, "%s.fifo", path);
    snprintf(link, sizeof link, "%s.zero", path);
    unlink(fifo);
    unlink(link);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(symlink("/dev/zero", link), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(5);
        size_t len;
        errno = 0;
        char *b = file_read(fifo, 0, &len);
        _exit(b == NULL && errno == EINVAL ? 0 : 1);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st)); /* killed by SIGALRM: file_read blocked on the FIFO */
    assert_int_equal(WEXITSTATUS(st), 0);
    size_t len;
    errno = 0;
    assert_null(file_read(link, 0, &len)); /* would read gigabytes of zeros */
    assert_int_equal(errno, EINVAL);
    assert_null(file_read("/dev/null", 0, &len));
    assert_int_equal(errno, EINVAL);
    assert_null(file_read("/tmp", 0, &len));
    assert_int_equal(errno, EISDIR);
    assert_string_equal(file_strerror(EINVAL), "not a regular file");
    unlink(fifo);
    unlink(link);
}

/* file_write_atomic replaces the content whole, leaves no temporary file, keeps the mode it is
 * given for a new file, and fails (old content intact, errno set) where it cannot write. */
static void test_write_atomic(void **state)
{
    (void)state;
    char tmp[80];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    write_bytes("old", 3);
    assert_int_equal(file_write_atomic(path, "new content\n", 12, 0600), 0);
    size_t len = 0;
    char *b = file_read(path, 0, &len);
    assert_non_null(b);
    assert_int_equal(len, 12);
    assert_memory_equal(b, "new content\n", 12);
    free(b);
    assert_int_equal(access(tmp, F_OK), -1); /* renamed, not left behind */
    assert_int_equal(file_write_atomic(path, "", 0, 0600), 0);
    b = file_read(path, 0, &len);
    assert_int_equal(len, 0);
    free(b);
    /* a new file gets the mode asked for (less the umask, which 0600 never loses to) */
    unlink(path);
    assert_int_equal(file_write_atomic(path, "x", 1, 0600), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* a directory that does not exist: -1, ENOENT */
    errno = 0;
    assert_int_equal(file_write_atomic("/nonexistent/portolan-test-file", "x", 1, 0600), -1);
    assert_int_equal(errno, ENOENT);
    /* the target is a directory: the rename fails, the old one stays and tmp is removed */
    char dir[80], dtmp[90];
    snprintf(dir, sizeof dir, "%s.dir", path);
    snprintf(dtmp, sizeof dtmp, "%s.tmp", dir);
    rmdir(dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    char inner[120];
    snprintf(inner, sizeof inner, "%s/f", dir);
    assert_int_equal(file_write_atomic(inner, "in", 2, 0600), 0); /* a name inside it works */
    errno = 0;
    assert_int_equal(file_write_atomic(dir, "x", 1, 0600), -1);
    assert_int_equal(errno, EISDIR);
    assert_int_equal(access(dtmp, F_OK), -1);
    unlink(inner);
    assert_int_equal(rmdir(dir), 0);
}

/* The two steps: file_write_sync leaves path alone until file_commit; a failing write removes the
 * temporary file (here: /dev/full, every write ENOSPC, through a symlink named as the tmp). */
static void test_write_sync_commit(void **state)
{
    (void)state;
    char tmp[80];
    snprintf(tmp, sizeof tmp, "%s.stage", path);
    write_bytes("live", 4);
    assert_int_equal(file_write_sync(tmp, "next", 4, 0644), 0);
    size_t len = 0;
    char *b = file_read(path, 0, &len);
    assert_memory_equal(b, "live", 4); /* not yet */
    free(b);
    assert_int_equal(file_commit(tmp, path), 0);
    b = file_read(path, 0, &len);
    assert_int_equal(len, 4);
    assert_memory_equal(b, "next", 4);
    free(b);
    assert_int_equal(access(tmp, F_OK), -1);
    errno = 0;
    assert_int_equal(file_commit(tmp, path), -1); /* nothing staged */
    assert_int_equal(errno, ENOENT);
    if (access("/dev/full", W_OK) == 0) {
        assert_int_equal(symlink("/dev/full", tmp), 0);
        errno = 0;
        assert_int_equal(file_write_sync(tmp, "data", 4, 0644), -1);
        assert_int_equal(errno, ENOSPC);
        assert_int_equal(access(tmp, F_OK), -1); /* removed */
    }
    /* a bare name (no directory part) commits in the current directory */
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir("/tmp"), 0);
    char bare[64], bare_tmp[80];
    snprintf(bare, sizeof bare, "portolan-test-bare-%d", (int)getpid());
    snprintf(bare_tmp, sizeof bare_tmp, "%s.t", bare);
    assert_int_equal(file_write_sync(bare_tmp, "b", 1, 0600), 0);
    assert_int_equal(file_commit(bare_tmp, bare), 0);
    assert_int_equal(unlink(bare), 0);
    assert_int_equal(chdir(cwd), 0);
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/portolan-test-file-%d", (int)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_and_terminator),
        cmocka_unit_test(test_large_and_limit),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_not_regular),
        cmocka_unit_test(test_write_atomic),
        cmocka_unit_test(test_write_sync_commit),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(path);
    return rc;
}
