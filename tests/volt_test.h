/* tests/volt_test.h — a small test harness: checks that print what they compared.
 *
 *     VOLT_TEST(name) { VOLT_EXPECT(x == 3); VOLT_EXPECT_NEAR(a, b, 1e-6); }
 *     int main(void) { return volt_test_run_all(); }   (after registering, see below)
 *
 * Tests register themselves through a constructor attribute. Each test runs in order;
 * a failed check prints file:line, the expression and the values, and marks the test
 * failed (the test goes on). The binary ends with "N passed, N failed" and exits 1 if
 * any test failed. VOLT_TEST_SKIP() inside main's caller exits 77 (CTest's skip code). */
#ifndef VOLT_TESTS_VOLT_TEST_H
#define VOLT_TESTS_VOLT_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef void (*volt_test_fn)(void);
void volt_test_register(const char *name, volt_test_fn fn);
/* Runs every registered test whose name contains filter (NULL: all). */
int volt_test_run_all(int argc, char **argv);
/* Marks the current test failed and prints where and why. */
void volt_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Writes this thread's error stack, as volt_error_print prints it, into text (always
 * terminated, cut to size), then clears the stack. */
void volt_test_take_errors(char *text, size_t size);
/* Makes a fresh directory /tmp/volt_<tag>_XXXXXX into path (size >= 64). Returns 1, or 0
 * after failing the current test. */
int volt_test_make_temp_dir(char *path, size_t size, const char *tag);
/* Removes path and everything below it; fails the current test if it remains. */
void volt_test_remove_tree(const char *path);
/* Relative difference |a - b| / max(|a|, |b|, floor). */
double volt_test_rel_diff(double a, double b, double floor);

#define VOLT_TEST(name)                                                                \
    static void test_##name(void);                                                     \
    __attribute__((constructor)) static void register_##name(void) {                   \
        volt_test_register(#name, test_##name);                                        \
    }                                                                                  \
    static void test_##name(void)

#define VOLT_EXPECT(cond)                                                              \
    do {                                                                               \
        if (!(cond)) volt_test_fail(__FILE__, __LINE__, "expected %s", #cond);         \
    } while (0)

#define VOLT_EXPECT_EQ_INT(a, b)                                                       \
    do {                                                                               \
        long long va_ = (long long)(a), vb_ = (long long)(b);                          \
        if (va_ != vb_)                                                                \
            volt_test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, va_, vb_); \
    } while (0)

#define VOLT_EXPECT_NEAR(a, b, tol)                                                    \
    do {                                                                               \
        double va_ = (double)(a), vb_ = (double)(b);                                   \
        if (!(fabs(va_ - vb_) <= (tol)))                                               \
            volt_test_fail(__FILE__, __LINE__, "%s ~ %s: %.17g vs %.17g (diff %.3g > %.3g)", \
                           #a, #b, va_, vb_, fabs(va_ - vb_), (double)(tol));          \
    } while (0)

#define VOLT_EXPECT_STR_CONTAINS(haystack, needle)                                     \
    do {                                                                               \
        const char *h_ = (haystack), *n_ = (needle);                                   \
        if (!h_ || !strstr(h_, n_))                                                    \
            volt_test_fail(__FILE__, __LINE__, "expected \"%s\" to contain \"%s\"",   \
                           h_ ? h_ : "(null)", n_);                                    \
    } while (0)

/* A Volt call that must succeed: prints the error stack if it does not. */
#define VOLT_EXPECT_OK(expr)                                                           \
    do {                                                                               \
        int s_ = (expr);                                                               \
        if (s_ != VOLT_OK) {                                                           \
            volt_test_fail(__FILE__, __LINE__, "%s returned %s", #expr, volt_status_name(s_)); \
            volt_error_print(stderr);                                                  \
            volt_error_clear();                                                        \
        }                                                                              \
    } while (0)

/* A Volt call that must fail with this status; the error stack is cleared after. */
#define VOLT_EXPECT_FAIL(expr, status)                                                 \
    do {                                                                               \
        int s_ = (expr);                                                               \
        if (s_ != (status))                                                            \
            volt_test_fail(__FILE__, __LINE__, "%s returned %s, expected %s", #expr,   \
                           volt_status_name(s_), volt_status_name(status));            \
        volt_error_clear();                                                            \
    } while (0)

#endif
