/* tests/unit/test_core.c — error stack, Philox known answers, arena steady state,
 * logging environment. */
#include <stdint.h>
#include <stdlib.h>

#include "core/arena.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/rng.h"
#include "volt_test.h"

static int fails_deep(int depth) {
    if (depth == 0) return VOLT_ERROR(VOLT_ERR_SHAPE, "innermost cause %d", 42);
    VOLT_CHECK(fails_deep(depth - 1));
    return VOLT_OK;
}

VOLT_TEST(error_stack_keeps_cause_and_frames) {
    VOLT_EXPECT_EQ_INT(fails_deep(3), VOLT_ERR_SHAPE);
    VOLT_EXPECT_EQ_INT(volt_error_depth(), 4);
    VOLT_EXPECT_EQ_INT(volt_error_status(), VOLT_ERR_SHAPE);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "innermost cause 42");
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    volt_error_print(out);
    fclose(out);
    VOLT_EXPECT_STR_CONTAINS(text, "error: innermost cause 42 (VOLT_ERR_SHAPE)");
    VOLT_EXPECT_STR_CONTAINS(text, "at fails_deep()");
    VOLT_EXPECT_STR_CONTAINS(text, "test_core.c:");
    VOLT_EXPECT_STR_CONTAINS(text, "from fails_deep()");
    free(text);
    volt_error_clear();
    VOLT_EXPECT_EQ_INT(volt_error_depth(), 0);
    VOLT_EXPECT_STR_CONTAINS(volt_status_name(VOLT_ERR_NOMEM), "VOLT_ERR_NOMEM");
}

VOLT_TEST(error_stack_overflow_keeps_innermost) {
    VOLT_EXPECT_EQ_INT(fails_deep(100), VOLT_ERR_SHAPE);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "innermost cause");
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    volt_error_print(out);
    fclose(out);
    VOLT_EXPECT_STR_CONTAINS(text, "outer frames not shown");
    free(text);
    volt_error_clear();
}

/* Known-answer vectors of Philox-4x32-10 from the Random123 distribution (Salmon et al.,
 * kat_vectors): counter, key -> output. */
VOLT_TEST(philox_known_answers) {
    static const struct {
        uint32_t counter[4], key[2], expected[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t k = 0; k < sizeof kat / sizeof *kat; k++) {
        uint32_t out[4];
        volt_philox4x32_10(kat[k].counter, kat[k].key, out);
        for (int i = 0; i < 4; i++) VOLT_EXPECT_EQ_INT(out[i], kat[k].expected[i]);
    }
}

VOLT_TEST(rng_is_counter_based_and_well_distributed) {
    enum { N = 200000 };
    float *all = malloc(N * sizeof *all), *part = malloc(1000 * sizeof *part);
    volt_rng_uniform_f32(7, 3, 0, all, N, 0.0f, 1.0f);
    /* a slice drawn on its own (another rank, say) equals the same slice of the whole */
    volt_rng_uniform_f32(7, 3, 12345, part, 1000, 0.0f, 1.0f);
    int same = 1;
    for (int i = 0; i < 1000; i++) same &= part[i] == all[12345 + i];
    VOLT_EXPECT(same);
    double mean = 0, var = 0;
    for (int i = 0; i < N; i++) mean += all[i];
    mean /= N;
    for (int i = 0; i < N; i++) var += (all[i] - mean) * (all[i] - mean);
    var /= N;
    VOLT_EXPECT_NEAR(mean, 0.5, 0.005);
    VOLT_EXPECT_NEAR(var, 1.0 / 12, 0.002);
    /* another stream or seed gives other numbers */
    volt_rng_uniform_f32(7, 4, 12345, part, 1000, 0.0f, 1.0f);
    int differ = 0;
    for (int i = 0; i < 1000; i++) differ += part[i] != all[12345 + i];
    VOLT_EXPECT(differ > 990);
    double *normal = malloc(N * sizeof *normal);
    volt_rng_normal_f64(11, 0, 0, normal, N, 2.0, 3.0);
    mean = var = 0;
    for (int i = 0; i < N; i++) mean += normal[i];
    mean /= N;
    for (int i = 0; i < N; i++) var += (normal[i] - mean) * (normal[i] - mean);
    var /= N;
    VOLT_EXPECT_NEAR(mean, 2.0, 0.03);
    VOLT_EXPECT_NEAR(sqrt(var), 3.0, 0.03);
    free(all);
    free(part);
    free(normal);
}

VOLT_TEST(arena_reaches_a_steady_state) {
    volt_arena *arena;
    VOLT_EXPECT_OK(volt_arena_create(1024, &arena));
    for (int cycle = 0; cycle < 4; cycle++) {
        for (int i = 0; i < 100; i++) {
            unsigned char *p = volt_arena_alloc(arena, 100 + (size_t)i);
            VOLT_EXPECT(p != NULL && ((uintptr_t)p % VOLT_ARENA_ALIGN) == 0);
            p[0] = 1, p[99] = 2;
        }
        if (cycle == 1) {
            /* the first cycle spilled over several chunks; after one reset they were
             * merged, so the second and later cycles allocate nothing from the system */
            size_t allocations = volt_arena_system_allocations(arena);
            volt_arena_reset(arena);
            for (int i = 0; i < 100; i++) (void)volt_arena_alloc(arena, 100 + (size_t)i);
            VOLT_EXPECT_EQ_INT(volt_arena_system_allocations(arena), allocations);
        }
        volt_arena_reset(arena);
        VOLT_EXPECT_EQ_INT(volt_arena_used(arena), 0);
    }
    VOLT_EXPECT(volt_arena_peak(arena) >= 100 * 100);
    volt_arena_destroy(arena);
}

/* A request whose 64-byte rounding (or the chunk it needs) overflows size_t is out of
 * memory, not a tiny block that the caller would then write far past. */
VOLT_TEST(arena_refuses_sizes_that_overflow) {
    volt_arena *arena;
    VOLT_EXPECT_OK(volt_arena_create(1024, &arena));
    VOLT_EXPECT(volt_arena_alloc(arena, SIZE_MAX) == NULL);
    VOLT_EXPECT_EQ_INT(volt_error_status(), VOLT_ERR_NOMEM);
    volt_error_clear();
    VOLT_EXPECT(volt_arena_alloc(arena, SIZE_MAX - 100) == NULL);
    VOLT_EXPECT_EQ_INT(volt_error_status(), VOLT_ERR_NOMEM);
    volt_error_clear();
    VOLT_EXPECT_EQ_INT(volt_arena_used(arena), 0);
    VOLT_EXPECT(volt_arena_alloc(arena, 100) != NULL);
    volt_arena_destroy(arena);
}

VOLT_TEST(log_environment_is_validated) {
    setenv("VOLT_LOG_LEVEL", "loud", 1);
    VOLT_EXPECT_FAIL(volt_log_setup(), VOLT_ERR_CONFIG);
    setenv("VOLT_LOG_LEVEL", "warn", 1);
    VOLT_EXPECT_OK(volt_log_setup());
    VOLT_EXPECT(!volt_log_enabled(VOLT_LEVEL_INFO));
    VOLT_EXPECT(volt_log_enabled(VOLT_LEVEL_WARN));
    setenv("VOLT_LOG_ALL_RANKS", "yes", 1);
    VOLT_EXPECT_FAIL(volt_log_setup(), VOLT_ERR_CONFIG);
    unsetenv("VOLT_LOG_ALL_RANKS");
    unsetenv("VOLT_LOG_LEVEL");
    volt_log_set_level(VOLT_LEVEL_INFO);
}

VOLT_TEST(clock_is_monotonic) {
    uint64_t a = volt_clock_ns(), b = volt_clock_ns();
    VOLT_EXPECT(b >= a);
    VOLT_EXPECT(volt_clock_seconds() > 0);
}
