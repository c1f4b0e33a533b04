/* Unit tests for lib/strmap.c, the one hash map of the project: put/get/replace/delete, growth past many buckets, iteration
 * that deletes the current entry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "strmap.h"

static void test_basic(void **state)
{
    (void)state;
    strmap_t *m = strmap_new();
    int a = 1, b = 2;
    assert_null(strmap_get(m, "x"));
    assert_int_equal(strmap_put(m, "x", &a), 0);
    assert_ptr_equal(strmap_get(m, "x"), &a);
    assert_int_equal(strmap_put(m, "x", &b), 0);
    assert_ptr_equal(strmap_get(m, "x"), &b);
    assert_int_equal(strmap_size(m), 1);
    assert_ptr_equal(strmap_del(m, "x"), &b);
    assert_null(strmap_del(m, "x"));
    assert_int_equal(strmap_size(m), 0);
    strmap_free(m);
}

static void test_many_and_iterate(void **state)
{
    (void)state;
    strmap_t *m = strmap_new();
    static int vals[5000];
    char k[32];
    for (int i = 0; i < 5000; i++) {
        vals[i] = i;
        snprintf(k, sizeof k, "key-%d", i);
        assert_int_equal(strmap_put(m, k, &vals[i]), 0);
    }
    assert_int_equal(strmap_size(m), 5000);
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof k, "key-%d", i);
        assert_ptr_equal(strmap_get(m, k), &vals[i]);
    }
    /* delete the odd ones while iterating */
    size_t seen = 0;
    strmap_iter_t it = strmap_iter(m);
    while (strmap_iter_next(&it)) {
        seen++;
        int v = *(int *)it.value;
        if (v % 2) {
            snprintf(k, sizeof k, "%s", it.key);
            strmap_del(m, k);
        }
    }
    assert_int_equal(seen, 5000);
    assert_int_equal(strmap_size(m), 2500);
    seen = 0;
    it = strmap_iter(m);
    while (strmap_iter_next(&it)) {
        assert_int_equal(*(int *)it.value % 2, 0);
        seen++;
    }
    assert_int_equal(seen, 2500);
    strmap_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_many_and_iterate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
