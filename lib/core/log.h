/* lib/core/log.h — messages for people, with a rank prefix.
 *
 * Four levels. By default only rank 0 prints, at level info and above; VOLT_LOG_LEVEL
 * (debug|info|warn|error) and VOLT_LOG_ALL_RANKS=1 change that, read once by
 * volt_log_setup(). Warnings and errors go to stderr, the rest to stdout. A line is
 * "[rank N] warning: message" when the world has more than one rank, "warning: message"
 * otherwise; info lines carry no level word ("[rank N] message"). (Metrics are not messages: see lib/log for those.) */
#ifndef VOLT_CORE_LOG_H
#define VOLT_CORE_LOG_H

#include "core/error.h"

typedef enum volt_level {
    VOLT_LEVEL_DEBUG = 0,
    VOLT_LEVEL_INFO,
    VOLT_LEVEL_WARN,
    VOLT_LEVEL_ERROR,
} volt_level;

/* Reads VOLT_LOG_LEVEL and VOLT_LOG_ALL_RANKS. Fails on a value it does not know. */
VOLT_NODISCARD int volt_log_setup(void);
void volt_log_set_level(volt_level level);
void volt_log_set_all_ranks(int all_ranks);
/* Whether a message at this level would print on this rank. */
int volt_log_enabled(volt_level level);

/* Prints on this rank if its level is enabled (and this is rank 0, or all ranks print). */
void volt_message(volt_level level, const char *fmt, ...) VOLT_PRINTF(2, 3);
/* Prints on whichever rank calls it, whatever VOLT_LOG_ALL_RANKS says (level still applies). */
void volt_message_any_rank(volt_level level, const char *fmt, ...) VOLT_PRINTF(2, 3);

#define VOLT_DEBUG(...) volt_message(VOLT_LEVEL_DEBUG, __VA_ARGS__)
#define VOLT_INFO(...) volt_message(VOLT_LEVEL_INFO, __VA_ARGS__)
#define VOLT_WARN(...) volt_message(VOLT_LEVEL_WARN, __VA_ARGS__)

#endif
