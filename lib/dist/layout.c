/* lib/dist/layout.c — the rank layout: parsing "dp=8,tp=4" and splitting the world into
 * its data-parallel and tensor-parallel groups.
 *
 * Grammar: empty, or a comma-separated list of <dim>=<degree> with dim in {dp, tp},
 * each at most once, degree a positive decimal integer; blanks around items are
 * allowed. A missing tp is 1; a missing dp is world / tp. Checks run in this order:
 * syntax, degrees, product == world size. */
#include "dist/layout.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum { LAYOUT_DIMS = 2 };
static const char *const dim_names[LAYOUT_DIMS] = {"dp", "tp"};

/* Parses the degree text [begin, end) (no blanks inside) as an int >= 1. */
static int parse_degree(const char *text, const char *dim, const char *begin,
                        const char *end, int *out) {
    size_t length = (size_t)(end - begin);
    char digits[32];
    int all_digits = length > 0 && length < sizeof digits;
    for (const char *p = begin; all_digits && p < end; p++)
        all_digits = isdigit((unsigned char)*p) != 0;
    if (!all_digits)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "layout '%s': %s=%.*s is not a whole number (write e.g. dp=4)", text,
                          dim, (int)length, begin);
    memcpy(digits, begin, length);
    digits[length] = '\0';
    errno = 0;
    long value = strtol(digits, NULL, 10);
    if (errno == ERANGE || value > INT_MAX)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "layout '%s': %s=%s is too large", text, dim, digits);
    if (value < 1)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "layout '%s': %s=%ld, a degree must be at least 1",
                          text, dim, value);
    *out = (int)value;
    return VOLT_OK;
}

static const char *skip_blanks(const char *p, const char *end) {
    while (p < end && isspace((unsigned char)*p)) p++;
    return p;
}

static const char *trim_end(const char *begin, const char *end) {
    while (end > begin && isspace((unsigned char)end[-1])) end--;
    return end;
}

int volt_layout_parse(const char *text, int world_size, volt_layout *out) {
    VOLT_CHECK_ARG(out);
    if (world_size < 1)
        return VOLT_ERROR(VOLT_ERR_ARG, "layout: world size %d must be at least 1", world_size);
    if (!text) text = "";
    int degree[LAYOUT_DIMS] = {0, 0}; /* 0: not given */
    const char *text_end = text + strlen(text);
    const char *item = skip_blanks(text, text_end);
    while (item < text_end) {
        const char *comma = memchr(item, ',', (size_t)(text_end - item));
        const char *item_end = comma ? comma : text_end;
        const char *equals = memchr(item, '=', (size_t)(item_end - item));
        const char *name_end = trim_end(item, equals ? equals : item_end);
        if (!equals || name_end == item)
            return VOLT_ERROR(VOLT_ERR_CONFIG,
                              "layout '%s': cannot read '%.*s' (expected <dim>=<degree> items "
                              "separated by commas, e.g. dp=4 or dp=2,tp=2)",
                              text, (int)(trim_end(item, item_end) - item), item);
        int dim = -1;
        for (int d = 0; d < LAYOUT_DIMS; d++)
            if ((size_t)(name_end - item) == strlen(dim_names[d]) &&
                strncmp(item, dim_names[d], strlen(dim_names[d])) == 0)
                dim = d;
        if (dim < 0)
            return VOLT_ERROR(VOLT_ERR_CONFIG,
                              "layout '%s': unknown dimension '%.*s' (known: dp, tp)", text,
                              (int)(name_end - item), item);
        if (degree[dim] != 0)
            return VOLT_ERROR(VOLT_ERR_CONFIG, "layout '%s': %s is given more than once", text,
                              dim_names[dim]);
        const char *value = skip_blanks(equals + 1, item_end);
        VOLT_CHECK(parse_degree(text, dim_names[dim], value, trim_end(value, item_end),
                                &degree[dim]));
        if (!comma) break;
        item = skip_blanks(comma + 1, text_end);
        if (item == text_end)
            return VOLT_ERROR(VOLT_ERR_CONFIG, "layout '%s': nothing after the last comma",
                              text);
    }

    int tp = degree[1] ? degree[1] : 1;
    int dp = degree[0] ? degree[0] : world_size / tp;
    if ((long long)dp * tp != world_size)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "layout '%s': dp x tp = %d x %d = %lld ranks, but the job has %d "
                          "(the product of the degrees must equal the world size)",
                          text, dp, tp, (long long)dp * tp, world_size);
    out->dp = dp;
    out->tp = tp;
    return VOLT_OK;
}

int volt_groups_create(volt_comm *world, const volt_layout *layout, volt_groups *out) {
    VOLT_CHECK_ARG(world && layout && out);
    memset(out, 0, sizeof *out);
    int world_size = volt_comm_size(world), rank = volt_comm_rank(world);
    /* every rank holds the same layout, so every rank fails here together */
    if (layout->dp < 1 || layout->tp < 1 || (long long)layout->dp * layout->tp != world_size)
        return VOLT_ERROR(VOLT_ERR_ARG,
                          "rank layout dp=%d, tp=%d does not cover the %d ranks of the job",
                          layout->dp, layout->tp, world_size);
    int tp_rank = rank % layout->tp, dp_rank = rank / layout->tp;
    volt_comm *dp = NULL, *tp = NULL;
    VOLT_CHECK(volt_comm_split(world, tp_rank, dp_rank, &dp));
    int status = volt_comm_split(world, dp_rank, tp_rank, &tp);
    if (status != VOLT_OK) {
        volt_comm_destroy(dp);
        VOLT_CHECK(status);
    }
    volt_comm_set_name(dp, "dp");
    volt_comm_set_name(tp, "tp");
    out->world = world;
    out->dp = dp;
    out->tp = tp;
    out->dp_rank = dp_rank;
    out->tp_rank = tp_rank;
    return VOLT_OK;
}

void volt_groups_destroy(volt_groups *groups) {
    if (!groups) return;
    if (groups->dp) volt_comm_destroy(groups->dp);
    if (groups->tp) volt_comm_destroy(groups->tp);
    groups->dp = groups->tp = NULL;
}
