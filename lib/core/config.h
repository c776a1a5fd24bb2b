/* lib/core/config.h — the options database: one place for every knob.
 *
 * Keys are dotted paths ("trainer.max_epochs", "model.hidden"). Values come from, in
 * increasing precedence (later wins):
 *   1. declared defaults,
 *   2. YAML files, in the order given (nested mappings flatten to dotted keys; a
 *      sequence's items get their index as a segment: callbacks.0.monitor),
 *   3. command-line overrides --section.key=value (or --section.key value),
 *   4. environment variables VOLT_SECTION__KEY=value (double underscore between
 *      segments, case-insensitive: VOLT_TRAINER__MAX_EPOCHS sets trainer.max_epochs).
 * A sequence replaces a sequence as a whole: it drops every item that a source of the
 * same or a lower level gave before under its key ([a, b, c] then [x] leaves one item),
 * while a value of a higher level, or a single-key override such as
 * --callbacks.0.patience=3, changes only its one item and keeps the rest.
 *
 * Every key a program reads is declared first, with a type, a default and a line of
 * help. A declared key may contain "*" as a whole segment, matching any one segment
 * (callbacks.*.monitor). volt_config_resolve() rejects any supplied key that is not
 * declared, naming the closest declared key ("did you mean trainer.max_epochs?"), and
 * any value that does not parse as its declared type, naming the key, the value and
 * where it came from (file:line, command line, or environment variable). Malformed
 * YAML names the file and line; a missing file names the path.
 *
 * Values are kept as text with their origin; the typed getters parse them. The
 * resolved configuration (every declared key with its final value, nested) can be
 * written as YAML that volt_config_load_file reads back to the same values.
 *
 * Life cycle: create, declare..., load_file / parse_args / load_env (in any order; the
 * precedence above is kept), resolve, get..., destroy. */
#ifndef VOLT_CORE_CONFIG_H
#define VOLT_CORE_CONFIG_H

#include <stdio.h>

#include "core/error.h"

typedef struct volt_config volt_config;

typedef enum volt_config_type {
    VOLT_CONFIG_INT,    /* a decimal integer that fits in long */
    VOLT_CONFIG_FLOAT,  /* a decimal or scientific number; also inf/nan are rejected */
    VOLT_CONFIG_BOOL,   /* true/false, yes/no, on/off, 1/0 (YAML 1.1 spellings) */
    VOLT_CONFIG_STRING, /* any text */
} volt_config_type;

VOLT_NODISCARD int volt_config_create(volt_config **out);
void volt_config_destroy(volt_config *config);

/* default_value is text in the declared type's syntax, or NULL for "no default" (then
 * reading the key before it was set is an error). Declaring a key twice with the same
 * type updates its default and help; with another type it is an error. */
VOLT_NODISCARD int volt_config_declare(volt_config *config, const char *key,
                                       volt_config_type type, const char *default_value,
                                       const char *help);

/* Reads a YAML file (a mapping at the top). Missing file, malformed YAML, a top level
 * that is not a mapping, or a duplicate key: VOLT_ERR_CONFIG / VOLT_ERR_IO naming the
 * file and line. */
VOLT_NODISCARD int volt_config_load_file(volt_config *config, const char *path);

/* Consumes from argv, and removes, "--config FILE" / "--config=FILE" (loaded as files,
 * in order) and "--a.b=value" / "--a.b value" overrides; leaves every other argument
 * in argv and updates *argc. argv[0] is kept. */
VOLT_NODISCARD int volt_config_parse_args(volt_config *config, int *argc, char **argv);

/* Takes every VOLT_X__Y variable of envp (NULL-terminated, as environ). Variables
 * without a double underscore (VOLT_LOG_LEVEL) are not configuration keys. */
VOLT_NODISCARD int volt_config_load_env(volt_config *config, char *const *envp);

/* Sets one value with its origin ("command line", "test", ...), as an override. */
VOLT_NODISCARD int volt_config_set(volt_config *config, const char *key, const char *value,
                                   const char *origin);

/* Checks every supplied key and value against the declarations (see above). */
VOLT_NODISCARD int volt_config_resolve(volt_config *config);

/* Typed getters. Fail when the key is not declared, has no value, or (for a key set
 * through volt_config_set after resolve) does not parse. */
VOLT_NODISCARD int volt_config_get_int(const volt_config *config, const char *key, long *out);
VOLT_NODISCARD int volt_config_get_float(const volt_config *config, const char *key,
                                         double *out);
VOLT_NODISCARD int volt_config_get_bool(const volt_config *config, const char *key, int *out);
/* The string stays valid until the config is destroyed or the key's value is replaced
 * (set again, or dropped when a later file replaces the list it belongs to). */
VOLT_NODISCARD int volt_config_get_string(const volt_config *config, const char *key,
                                          const char **out);

/* Convenience getters for module code: the value if the key has one, else fallback.
 * They never fail; a value of the wrong type was already rejected by resolve. */
long volt_config_int(const volt_config *config, const char *key, long fallback);
double volt_config_float(const volt_config *config, const char *key, double fallback);
int volt_config_bool(const volt_config *config, const char *key, int fallback);
const char *volt_config_string(const volt_config *config, const char *key,
                               const char *fallback);

/* Whether the key was supplied by a file, the command line or the environment. */
int volt_config_is_set(const volt_config *config, const char *key);

/* Writes the resolved configuration as nested YAML, keys sorted, strings quoted when
 * needed so that reading it back gives the same text. */
VOLT_NODISCARD int volt_config_write_yaml(const volt_config *config, FILE *out);
/* Same, to a file: written to path.tmp, then renamed over path. */
VOLT_NODISCARD int volt_config_save(const volt_config *config, const char *path);

/* Levenshtein distance between two strings (used for "did you mean"). */
int volt_edit_distance(const char *a, const char *b);

#endif
