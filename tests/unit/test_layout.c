/* tests/unit/test_layout.c — parsing the rank layout ("dp=4", "dp=2,tp=2", "").
 *
 * Every rank parses the same text, so these checks need no MPI: a good layout gives
 * the degrees, a bad one the error code and a message that names what is wrong (the
 * text, the product and the world size, the unknown dimension...). */
#include "dist/layout.h"

#include "volt_test.h"

/* Parses text at world_size and expects the degrees. */
static void expect_layout(const char *text, int world_size, int dp, int tp) {
    volt_layout layout = {0, 0};
    int status = volt_layout_parse(text, world_size, &layout);
    if (status != VOLT_OK) {
        volt_test_fail(__FILE__, __LINE__, "layout '%s' at world %d: %s (%s)",
                       text ? text : "(null)", world_size, volt_status_name(status),
                       volt_error_message());
        volt_error_clear();
        return;
    }
    if (layout.dp != dp || layout.tp != tp)
        volt_test_fail(__FILE__, __LINE__, "layout '%s' at world %d: dp=%d, tp=%d, expected %d, %d",
                       text ? text : "(null)", world_size, layout.dp, layout.tp, dp, tp);
}

/* Parses text at world_size, expects status, a message holding each non-NULL needle,
 * and the output left alone. */
static void expect_error(const char *text, int world_size, int status, const char *needle1,
                         const char *needle2) {
    volt_layout layout = {-7, -7};
    int got = volt_layout_parse(text, world_size, &layout);
    if (got != status)
        volt_test_fail(__FILE__, __LINE__, "layout '%s' at world %d: %s, expected %s", text,
                       world_size, volt_status_name(got), volt_status_name(status));
    const char *message = volt_error_message();
    if (needle1) VOLT_EXPECT_STR_CONTAINS(message, needle1);
    if (needle2) VOLT_EXPECT_STR_CONTAINS(message, needle2);
    VOLT_EXPECT(layout.dp == -7 && layout.tp == -7);
    volt_error_clear();
}

VOLT_TEST(layout_parses_degrees) {
    expect_layout("dp=4", 4, 4, 1);
    expect_layout("dp=2,tp=1", 2, 2, 1);
    expect_layout("tp=1,dp=2", 2, 2, 1);
    expect_layout(" dp = 8 , tp = 1 ", 8, 8, 1);
    expect_layout("dp=1", 1, 1, 1);
    expect_layout("tp=1", 3, 3, 1); /* dp defaults to world / tp */
}

VOLT_TEST(layout_empty_means_all_ranks_data_parallel) {
    expect_layout("", 1, 1, 1);
    expect_layout("", 4, 4, 1);
    expect_layout("  ", 6, 6, 1);
    expect_layout(NULL, 2, 2, 1);
}

VOLT_TEST(layout_product_must_equal_world_size) {
    /* the message names the text, the product and the world size */
    expect_error("dp=3", 4, VOLT_ERR_CONFIG, "'dp=3'", "= 3 ranks, but the job has 4");
    expect_error("dp=8,tp=1", 4, VOLT_ERR_CONFIG, "8 x 1 = 8 ranks", "has 4");
    expect_error("dp=1", 2, VOLT_ERR_CONFIG, "dp=1", "has 2");
}

VOLT_TEST(layout_with_tensor_parallelism) {
    expect_layout("tp=2", 4, 2, 2); /* dp = world / tp */
    expect_layout("dp=2,tp=2", 4, 2, 2);
    expect_layout("tp=4", 4, 1, 4);
    expect_error("tp=2", 1, VOLT_ERR_CONFIG, "tp=2", "has 1");
    expect_error("tp=3", 4, VOLT_ERR_CONFIG, "'tp=3'", "has 4");
}

VOLT_TEST(layout_rejects_bad_text) {
    expect_error("pp=2", 2, VOLT_ERR_CONFIG, "unknown dimension 'pp'", "dp, tp");
    expect_error("dp=2,pp=1", 2, VOLT_ERR_CONFIG, "unknown dimension 'pp'", NULL);
    expect_error("dp=0", 4, VOLT_ERR_CONFIG, "dp=0", "at least 1");
    expect_error("dp=2,dp=2", 4, VOLT_ERR_CONFIG, "dp is given more than once", NULL);
    expect_error("dp=-1", 4, VOLT_ERR_CONFIG, "dp=-1", "whole number");
    expect_error("dp=four", 4, VOLT_ERR_CONFIG, "dp=four", NULL);
    expect_error("dp=4x", 4, VOLT_ERR_CONFIG, "dp=4x", NULL);
    expect_error("dp=", 4, VOLT_ERR_CONFIG, "dp=", "whole number");
    expect_error("dp=99999999999999999999", 4, VOLT_ERR_CONFIG, "too large", NULL);
    expect_error("dp4", 4, VOLT_ERR_CONFIG, "cannot read 'dp4'", "<dim>=<degree>");
    expect_error("=4", 4, VOLT_ERR_CONFIG, "cannot read '=4'", NULL);
    expect_error("dp=4,", 4, VOLT_ERR_CONFIG, "after the last comma", NULL);
    expect_error("dp=2,,tp=1", 2, VOLT_ERR_CONFIG, "cannot read ''", NULL);
    expect_error("garbage!", 4, VOLT_ERR_CONFIG, "'garbage!'", NULL);
}

VOLT_TEST(layout_rejects_a_bad_world_size) {
    volt_layout layout;
    VOLT_EXPECT_FAIL(volt_layout_parse("dp=1", 0, &layout), VOLT_ERR_ARG);
    VOLT_EXPECT_FAIL(volt_layout_parse("dp=1", 1, NULL), VOLT_ERR_ARG);
}
