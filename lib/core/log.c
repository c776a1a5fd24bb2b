/* lib/core/log.c — leveled messages with a rank prefix. */
#include "core/log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Set by volt_log_setup() during volt_init, before threads; read-only afterwards. */
static volt_level log_level = VOLT_LEVEL_INFO;
static int log_all_ranks = 0;

static const char *const level_names[] = {"debug", "info", "warning", "error"};

int volt_log_setup(void) {
    const char *level = getenv("VOLT_LOG_LEVEL");
    if (level && *level) {
        static const char *const accepted[] = {"debug", "info", "warn", "error"};
        int found = -1;
        for (int i = 0; i < 4; i++)
            if (strcmp(level, accepted[i]) == 0) found = i;
        if (found < 0)
            return VOLT_ERROR(VOLT_ERR_CONFIG,
                              "VOLT_LOG_LEVEL=%s: expected debug, info, warn or error", level);
        log_level = (volt_level)found;
    }
    const char *all = getenv("VOLT_LOG_ALL_RANKS");
    if (all && *all) {
        if (strcmp(all, "0") && strcmp(all, "1"))
            return VOLT_ERROR(VOLT_ERR_CONFIG, "VOLT_LOG_ALL_RANKS=%s: expected 0 or 1", all);
        log_all_ranks = all[0] == '1';
    }
    return VOLT_OK;
}

void volt_log_set_level(volt_level level) { log_level = level; }
void volt_log_set_all_ranks(int all_ranks) { log_all_ranks = all_ranks != 0; }

int volt_log_enabled(volt_level level) {
    if (level < log_level) return 0;
    return log_all_ranks || volt_core_rank() <= 0;
}

static void emit(volt_level level, const char *fmt, va_list ap) {
    FILE *out = level >= VOLT_LEVEL_WARN ? stderr : stdout;
    char line[2048];
    int n = 0;
    if (volt_core_world_size() > 1)
        n = snprintf(line, sizeof line, "[rank %d] ", volt_core_rank());
    if (level != VOLT_LEVEL_INFO)
        n += snprintf(line + n, sizeof line - (size_t)n, "%s: ", level_names[level]);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    /* one write per line, so that ranks sharing a terminal do not interleave mid-line */
    fprintf(out, "%s\n", line);
    fflush(out);
}

void volt_message(volt_level level, const char *fmt, ...) {
    if (!volt_log_enabled(level)) return;
    va_list ap;
    va_start(ap, fmt);
    emit(level, fmt, ap);
    va_end(ap);
}

void volt_message_any_rank(volt_level level, const char *fmt, ...) {
    if (level < log_level) return;
    va_list ap;
    va_start(ap, fmt);
    emit(level, fmt, ap);
    va_end(ap);
}
