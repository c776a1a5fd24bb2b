/* lib/core/config.c — the options database behind config.h.
 *
 * Declarations and supplied values live in two malloc'd arrays, searched linearly: a
 * program has tens to a few hundred keys and reads them at startup. A supplied value is
 * kept once per concrete key, with its precedence level and origin; a new value replaces
 * it only from the same or a higher level, which is what lets the load functions run in
 * any order. A whole sequence replaces a whole sequence: before a file's values go in,
 * every item an earlier source of the same or a lower level gave under the key of one of
 * its sequences is dropped (drop_sequence_items). Values stay text until a getter (or
 * resolve) parses them.
 *
 * YAML comes in through libyaml's document API (the tree gives every node its line) and
 * goes out through its emitter (which does indentation and escapes); this file decides
 * which strings need quotes, because the emitter only knows YAML's syntax, not that a
 * plain `yes` or `3` would be read back as a boolean or a number by other tools. */
#define _POSIX_C_SOURCE 200809L /* fsync, fileno */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

/* Deeper than any real configuration; stops a recursive YAML alias (&a [*a]). */
enum { CONFIG_MAX_DEPTH = 64 };

/* Precedence of a supplied value; declared defaults sit below all of them. */
typedef enum config_level {
    LEVEL_FILE = 1,
    LEVEL_COMMAND_LINE, /* also volt_config_set: an override like --key=value */
    LEVEL_ENVIRONMENT,
} config_level;

typedef struct config_decl {
    char *key; /* may contain "*" segments */
    volt_config_type type;
    char *default_value; /* NULL: no default */
    char *help;          /* NULL: none given */
} config_decl;

typedef struct config_value {
    char *key; /* concrete: no "*" */
    char *text;
    char *origin; /* "file x.yaml:3", "command line", "environment variable VOLT_A__B" */
    config_level level;
} config_value;

struct volt_config {
    config_decl *decls;
    size_t decl_count, decl_capacity;
    config_value *values;
    size_t value_count, value_capacity;
};

/* ---- text helpers ------------------------------------------------------------------ */

static char *copy_range(const char *text, size_t length) {
    char *copy = malloc(length + 1);
    if (copy) {
        memcpy(copy, text, length);
        copy[length] = '\0';
    }
    return copy;
}

/* strdup is POSIX, not C11. */
static char *copy_string(const char *text) { return copy_range(text, strlen(text)); }

static int equal_ignoring_case(const char *a, size_t a_length, const char *b,
                               size_t b_length) {
    if (a_length != b_length) return 0;
    for (size_t i = 0; i < a_length; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i])) return 0;
    return 1;
}

static int same_text(const char *a, size_t a_length, const char *b, size_t b_length,
                     int ignore_case) {
    if (ignore_case) return equal_ignoring_case(a, a_length, b, b_length);
    return a_length == b_length && memcmp(a, b, a_length) == 0;
}

static int is_wildcard(const char *segment, size_t length) {
    return length == 1 && segment[0] == '*';
}

/* A sequence index as written by the loader: digits, no leading zero. */
static int is_index(const char *segment, size_t length) {
    if (length == 0 || (length > 1 && segment[0] == '0')) return 0;
    for (size_t i = 0; i < length; i++)
        if (!isdigit((unsigned char)segment[i])) return 0;
    return 1;
}

/* Segment number `index` of a dotted key, or NULL (length 0) when the key has fewer. */
static const char *key_segment(const char *key, size_t index, size_t *length) {
    *length = 0;
    for (size_t i = 0; i < index; i++) {
        key += strcspn(key, ".");
        if (*key == '\0') return NULL;
        key++;
    }
    *length = strcspn(key, ".");
    return key;
}

static size_t segment_count(const char *key) {
    size_t count = 1;
    for (; *key; key++)
        if (*key == '.') count++;
    return count;
}

/* Non-empty segments; "*" only as a whole segment, and only where allowed (declarations). */
static int key_is_valid(const char *key, int allow_wildcards) {
    for (;;) {
        size_t length = strcspn(key, ".");
        if (length == 0) return 0;
        if (memchr(key, '*', length) && !(allow_wildcards && length == 1)) return 0;
        key += length;
        if (*key == '\0') return 1;
        key++;
    }
}

/* Whether a concrete key matches a declared key, "*" matching any one segment. */
static int pattern_matches(const char *pattern, const char *key, int ignore_case) {
    for (;;) {
        size_t pattern_length = strcspn(pattern, "."), key_length = strcspn(key, ".");
        if (is_wildcard(pattern, pattern_length)
                ? key_length == 0
                : !same_text(pattern, pattern_length, key, key_length, ignore_case))
            return 0;
        pattern += pattern_length;
        key += key_length;
        if (*pattern == '\0' || *key == '\0') return *pattern == *key;
        pattern++;
        key++;
    }
}

/* The pattern with each "*" replaced by the key's segment at that place: the declared
 * key as the user would have had to spell it (callbacks.*.monitor -> callbacks.0.monitor). */
static char *instantiate_pattern(const char *pattern, const char *key) {
    size_t capacity = strlen(pattern) + strlen(key) + 1, used = 0;
    char *result = malloc(capacity);
    if (!result) return NULL;
    for (size_t index = 0;; index++) {
        size_t length;
        const char *segment = key_segment(pattern, index, &length);
        if (!segment) break;
        size_t key_length;
        const char *key_part = key_segment(key, index, &key_length);
        if (is_wildcard(segment, length) && key_part && key_length > 0) {
            segment = key_part;
            length = key_length;
        }
        if (index > 0) result[used++] = '.';
        memcpy(result + used, segment, length);
        used += length;
    }
    result[used] = '\0';
    return result;
}

/* Room for one more item: the array itself, or a copy with twice the capacity; NULL
 * when that allocation fails (the old array is then untouched). */
static void *reserve_one(void *items, size_t count, size_t *capacity, size_t item_size) {
    if (count < *capacity) return items;
    size_t new_capacity = *capacity ? *capacity * 2 : 16;
    void *grown = realloc(items, new_capacity * item_size);
    if (grown) *capacity = new_capacity;
    return grown;
}

/* ---- typed values -------------------------------------------------------------------- */

/* The parse functions push nothing: callers decide whether a failure is an error. */

static int parse_long(const char *text, long *out) {
    if (*text == '\0' || isspace((unsigned char)*text)) return 0;
    errno = 0;
    char *end;
    long value = strtol(text, &end, 10);
    if (*end != '\0' || errno == ERANGE) return 0;
    *out = value;
    return 1;
}

static int parse_double(const char *text, double *out) {
    /* strtod also takes hex floats; the contract says decimal or scientific */
    if (*text == '\0' || isspace((unsigned char)*text) || strpbrk(text, "xX")) return 0;
    char *end;
    double value = strtod(text, &end);
    /* overflow gives HUGE_VAL, which isfinite rejects with inf and nan; underflow to
     * (nearly) zero is a fine value */
    if (*end != '\0' || !isfinite(value)) return 0;
    *out = value;
    return 1;
}

static int parse_bool(const char *text, int *out) {
    static const char *const truths[] = {"true", "yes", "on", "1"};
    static const char *const falsehoods[] = {"false", "no", "off", "0"};
    size_t length = strlen(text);
    for (size_t i = 0; i < sizeof truths / sizeof truths[0]; i++) {
        if (equal_ignoring_case(text, length, truths[i], strlen(truths[i]))) {
            *out = 1;
            return 1;
        }
        if (equal_ignoring_case(text, length, falsehoods[i], strlen(falsehoods[i]))) {
            *out = 0;
            return 1;
        }
    }
    return 0;
}

static int value_parses(volt_config_type type, const char *text) {
    long integer;
    double number;
    int flag;
    switch (type) {
    case VOLT_CONFIG_INT: return parse_long(text, &integer);
    case VOLT_CONFIG_FLOAT: return parse_double(text, &number);
    case VOLT_CONFIG_BOOL: return parse_bool(text, &flag);
    case VOLT_CONFIG_STRING: return 1;
    }
    return 0;
}

static const char *type_name(volt_config_type type) {
    switch (type) {
    case VOLT_CONFIG_INT: return "int";
    case VOLT_CONFIG_FLOAT: return "float";
    case VOLT_CONFIG_BOOL: return "bool";
    case VOLT_CONFIG_STRING: return "string";
    }
    return "unknown";
}

/* What a value of the type looks like, for "expects ..." messages. */
static const char *type_expectation(volt_config_type type) {
    switch (type) {
    case VOLT_CONFIG_INT: return "an integer";
    case VOLT_CONFIG_FLOAT: return "a finite number";
    case VOLT_CONFIG_BOOL: return "a boolean (true/false, yes/no, on/off, 1/0)";
    case VOLT_CONFIG_STRING: return "a string";
    }
    return "a value";
}

/* ---- declarations and values --------------------------------------------------------- */

/* The declaration a key reads through: an exact one wins over a wildcard one. */
static const config_decl *find_decl(const volt_config *config, const char *key,
                                    int ignore_case) {
    size_t key_length = strlen(key);
    for (size_t i = 0; i < config->decl_count; i++) {
        const char *declared = config->decls[i].key;
        if (same_text(declared, strlen(declared), key, key_length, ignore_case))
            return &config->decls[i];
    }
    for (size_t i = 0; i < config->decl_count; i++)
        if (pattern_matches(config->decls[i].key, key, ignore_case)) return &config->decls[i];
    return NULL;
}

static config_value *find_value(const volt_config *config, const char *key) {
    for (size_t i = 0; i < config->value_count; i++)
        if (strcmp(config->values[i].key, key) == 0) return &config->values[i];
    return NULL;
}

/* Whether a key matching `shorter` can be a proper prefix (by segments) of a key matching
 * `longer`: then one key would be both a value and a section, which YAML cannot hold. */
static int is_section_of(const char *shorter, const char *longer) {
    for (size_t index = 0;; index++) {
        size_t short_length, long_length;
        const char *short_segment = key_segment(shorter, index, &short_length);
        const char *long_segment = key_segment(longer, index, &long_length);
        if (!short_segment) return long_segment != NULL;
        if (!long_segment) return 0;
        if (!is_wildcard(short_segment, short_length) &&
            !is_wildcard(long_segment, long_length) &&
            !same_text(short_segment, short_length, long_segment, long_length, 0))
            return 0;
    }
}

static int replace_string(char **slot, const char *text) {
    char *copy = NULL;
    if (text) {
        copy = copy_string(text);
        VOLT_CHECK_ALLOC(copy, strlen(text) + 1);
    }
    free(*slot);
    *slot = copy;
    return VOLT_OK;
}

/* Keeps text as the key's value unless a value of a higher level is already there. */
static int store_value(volt_config *config, const char *key, const char *text,
                       const char *origin, config_level level) {
    if (!key_is_valid(key, 0))
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "invalid key '%s' (from %s): a key is non-empty segments "
                          "separated by dots",
                          key, origin);
    config_value *existing = find_value(config, key);
    if (existing) {
        if (level < existing->level) return VOLT_OK;
        VOLT_CHECK(replace_string(&existing->text, text));
        VOLT_CHECK(replace_string(&existing->origin, origin));
        existing->level = level;
        return VOLT_OK;
    }
    config_value *values = reserve_one(config->values, config->value_count,
                                       &config->value_capacity, sizeof *values);
    VOLT_CHECK_ALLOC(values, (config->value_count + 1) * sizeof *values);
    config->values = values;
    config_value value = {copy_string(key), copy_string(text), copy_string(origin), level};
    if (!value.key || !value.text || !value.origin) {
        free(value.key);
        free(value.text);
        free(value.origin);
        return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory storing the value of %s", key);
    }
    config->values[config->value_count++] = value;
    return VOLT_OK;
}

/* Whether key is prefix.N or prefix.N.more, N a sequence index: an item of the sequence
 * at prefix. */
static int is_sequence_item(const char *key, const char *prefix) {
    size_t prefix_length = strlen(prefix);
    if (strncmp(key, prefix, prefix_length) != 0 || key[prefix_length] != '.') return 0;
    const char *segment = key + prefix_length + 1;
    return is_index(segment, strcspn(segment, "."));
}

/* A source of this level supplies a whole sequence at prefix: the items that sources of
 * the same or a lower level gave before are dropped, so that the new list replaces the
 * old one instead of merging with it item by item. Values of a higher level stay (an
 * override of callbacks.0.monitor in the environment still wins over a file's list). */
static void drop_sequence_items(volt_config *config, const char *prefix, config_level level) {
    size_t kept = 0;
    for (size_t i = 0; i < config->value_count; i++) {
        config_value *value = &config->values[i];
        if (value->level <= level && is_sequence_item(value->key, prefix)) {
            free(value->key);
            free(value->text);
            free(value->origin);
        } else {
            config->values[kept++] = *value; /* keeps the order values arrived in */
        }
    }
    config->value_count = kept;
}

int volt_config_create(volt_config **out) {
    VOLT_CHECK_ARG(out);
    volt_config *config = calloc(1, sizeof *config);
    VOLT_CHECK_ALLOC(config, sizeof *config);
    *out = config;
    return VOLT_OK;
}

void volt_config_destroy(volt_config *config) {
    if (!config) return;
    for (size_t i = 0; i < config->decl_count; i++) {
        free(config->decls[i].key);
        free(config->decls[i].default_value);
        free(config->decls[i].help);
    }
    for (size_t i = 0; i < config->value_count; i++) {
        free(config->values[i].key);
        free(config->values[i].text);
        free(config->values[i].origin);
    }
    free(config->decls);
    free(config->values);
    free(config);
}

int volt_config_declare(volt_config *config, const char *key, volt_config_type type,
                        const char *default_value, const char *help) {
    VOLT_CHECK_ARG(config && key);
    if (type != VOLT_CONFIG_INT && type != VOLT_CONFIG_FLOAT && type != VOLT_CONFIG_BOOL &&
        type != VOLT_CONFIG_STRING)
        return VOLT_ERROR(VOLT_ERR_ARG, "cannot declare '%s': unknown type %d", key,
                          (int)type);
    if (!key_is_valid(key, 1))
        return VOLT_ERROR(VOLT_ERR_ARG,
                          "cannot declare '%s': a key is non-empty segments separated by "
                          "dots, with '*' only as a whole segment",
                          key);
    if (default_value && !value_parses(type, default_value))
        return VOLT_ERROR(VOLT_ERR_ARG, "cannot declare '%s': default '%s' is not %s", key,
                          default_value, type_expectation(type));

    for (size_t i = 0; i < config->decl_count; i++) {
        config_decl *decl = &config->decls[i];
        if (strcmp(decl->key, key) == 0) {
            if (decl->type != type)
                return VOLT_ERROR(VOLT_ERR_ARG, "key '%s' is declared as %s and again as %s",
                                  key, type_name(decl->type), type_name(type));
            VOLT_CHECK(replace_string(&decl->default_value, default_value));
            VOLT_CHECK(replace_string(&decl->help, help));
            return VOLT_OK;
        }
        if (is_section_of(decl->key, key) || is_section_of(key, decl->key))
            return VOLT_ERROR(VOLT_ERR_ARG,
                              "cannot declare '%s': it overlaps '%s', and a key cannot be "
                              "both a value and a section",
                              key, decl->key);
    }

    config_decl *decls =
        reserve_one(config->decls, config->decl_count, &config->decl_capacity, sizeof *decls);
    VOLT_CHECK_ALLOC(decls, (config->decl_count + 1) * sizeof *decls);
    config->decls = decls;
    config_decl decl = {copy_string(key), type,
                        default_value ? copy_string(default_value) : NULL,
                        help ? copy_string(help) : NULL};
    if (!decl.key || (default_value && !decl.default_value) || (help && !decl.help)) {
        free(decl.key);
        free(decl.default_value);
        free(decl.help);
        return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory declaring %s", key);
    }
    config->decls[config->decl_count++] = decl;
    return VOLT_OK;
}

int volt_config_set(volt_config *config, const char *key, const char *value,
                    const char *origin) {
    VOLT_CHECK_ARG(config && key && value);
    VOLT_CHECK(store_value(config, key, value, origin ? origin : "volt_config_set",
                           LEVEL_COMMAND_LINE));
    return VOLT_OK;
}

/* ---- YAML files ---------------------------------------------------------------------- */

/* One flattened scalar of a file. */
typedef struct file_entry {
    char *key;
    char *text;
    size_t line;
} file_entry;

/* What one file contributes, collected before it is merged: a duplicate within the file
 * must be found even when a higher level already holds the key, and the sequences it
 * supplies (empty ones too) replace earlier items before any of its values go in. */
typedef struct file_reader {
    const char *path;
    yaml_document_t *document;
    file_entry *entries;
    size_t count, capacity;
    char **sequences; /* the key prefix of every sequence node */
    size_t sequence_count, sequence_capacity;
} file_reader;

static void file_reader_free(file_reader *reader) {
    for (size_t i = 0; i < reader->count; i++) {
        free(reader->entries[i].key);
        free(reader->entries[i].text);
    }
    free(reader->entries);
    for (size_t i = 0; i < reader->sequence_count; i++) free(reader->sequences[i]);
    free(reader->sequences);
}

static size_t node_line(const yaml_node_t *node) { return node->start_mark.line + 1; }

static const char *node_kind(const yaml_node_t *node) {
    switch (node->type) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a sequence";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
    }
}

/* "prefix.segment", or just the segment at the top. */
static char *join_key(const char *prefix, const char *segment, size_t segment_length) {
    size_t prefix_length = strlen(prefix);
    char *key = malloc(prefix_length + 1 + segment_length + 1);
    if (!key) return NULL;
    size_t used = 0;
    if (prefix_length) {
        memcpy(key, prefix, prefix_length);
        key[prefix_length] = '.';
        used = prefix_length + 1;
    }
    memcpy(key + used, segment, segment_length);
    key[used + segment_length] = '\0';
    return key;
}

/* A plain ~, null or nothing is YAML's null, which this database keeps as "" (a STRING
 * then reads empty; any other type fails to parse). A quoted "null" stays text. */
static const char *scalar_text(const yaml_node_t *node) {
    const char *text = (const char *)node->data.scalar.value;
    if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        (strcmp(text, "~") == 0 || strcmp(text, "null") == 0 || strcmp(text, "Null") == 0 ||
         strcmp(text, "NULL") == 0))
        return "";
    return text;
}

static int add_file_entry(file_reader *reader, const char *key, const yaml_node_t *scalar) {
    size_t line = node_line(scalar);
    if (!key_is_valid(key, 0))
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "invalid key '%s' in %s:%zu: a key is non-empty segments "
                          "separated by dots",
                          key, reader->path, line);
    if (strlen((const char *)scalar->data.scalar.value) != scalar->data.scalar.length)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "value of '%s' in %s:%zu contains a NUL character",
                          key, reader->path, line);
    for (size_t i = 0; i < reader->count; i++)
        if (strcmp(reader->entries[i].key, key) == 0)
            return VOLT_ERROR(VOLT_ERR_CONFIG,
                              "duplicate key '%s' in %s:%zu (first given at line %zu)", key,
                              reader->path, line, reader->entries[i].line);
    file_entry *entries =
        reserve_one(reader->entries, reader->count, &reader->capacity, sizeof *entries);
    VOLT_CHECK_ALLOC(entries, (reader->count + 1) * sizeof *entries);
    reader->entries = entries;
    file_entry entry = {copy_string(key), copy_string(scalar_text(scalar)), line};
    if (!entry.key || !entry.text) {
        free(entry.key);
        free(entry.text);
        return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory reading %s", reader->path);
    }
    reader->entries[reader->count++] = entry;
    return VOLT_OK;
}

/* The flatten functions recurse with the tree; they return a failure as it is, without
 * the "called from here" frame per level that VOLT_CHECK would stack. */
static int flatten_node(file_reader *reader, const yaml_node_t *node, const char *prefix,
                        int depth);

/* One child of a mapping or sequence: its key is prefix.segment. */
static int flatten_child(file_reader *reader, const yaml_node_t *child, const char *prefix,
                         const char *segment, size_t segment_length, int depth) {
    char *key = join_key(prefix, segment, segment_length);
    VOLT_CHECK_ALLOC(key, strlen(prefix) + segment_length + 2);
    int status = flatten_node(reader, child, key, depth + 1);
    free(key);
    return status;
}

static int flatten_mapping(file_reader *reader, const yaml_node_t *node, const char *prefix,
                           int depth) {
    for (const yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        const yaml_node_t *key = yaml_document_get_node(reader->document, pair->key);
        const yaml_node_t *value = yaml_document_get_node(reader->document, pair->value);
        if (key->type != YAML_SCALAR_NODE)
            return VOLT_ERROR(VOLT_ERR_CONFIG, "%s:%zu: a key must be a scalar, not %s",
                              reader->path, node_line(key), node_kind(key));
        /* a dotted key (trainer.max_epochs: 3) nests like the nested mapping would */
        const char *segment = (const char *)key->data.scalar.value;
        int status = flatten_child(reader, value, prefix, segment, strlen(segment), depth);
        if (status != VOLT_OK) return status;
    }
    return VOLT_OK;
}

static int add_file_sequence(file_reader *reader, const char *prefix) {
    char **sequences = reserve_one(reader->sequences, reader->sequence_count,
                                   &reader->sequence_capacity, sizeof *sequences);
    VOLT_CHECK_ALLOC(sequences, (reader->sequence_count + 1) * sizeof *sequences);
    reader->sequences = sequences;
    char *copy = copy_string(prefix);
    VOLT_CHECK_ALLOC(copy, strlen(prefix) + 1);
    reader->sequences[reader->sequence_count++] = copy;
    return VOLT_OK;
}

static int flatten_sequence(file_reader *reader, const yaml_node_t *node, const char *prefix,
                            int depth) {
    int status = add_file_sequence(reader, prefix);
    if (status != VOLT_OK) return status;
    size_t index = 0;
    for (const yaml_node_item_t *item = node->data.sequence.items.start;
         item < node->data.sequence.items.top; item++, index++) {
        char segment[32];
        int length = snprintf(segment, sizeof segment, "%zu", index);
        status = flatten_child(reader, yaml_document_get_node(reader->document, *item),
                               prefix, segment, (size_t)length, depth);
        if (status != VOLT_OK) return status;
    }
    return VOLT_OK;
}

static int flatten_node(file_reader *reader, const yaml_node_t *node, const char *prefix,
                        int depth) {
    if (depth > CONFIG_MAX_DEPTH)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "%s:%zu: nested deeper than %d levels (a recursive alias?)",
                          reader->path, node_line(node), CONFIG_MAX_DEPTH);
    switch (node->type) {
    case YAML_SCALAR_NODE: return add_file_entry(reader, prefix, node);
    case YAML_SEQUENCE_NODE: return flatten_sequence(reader, node, prefix, depth);
    case YAML_MAPPING_NODE: return flatten_mapping(reader, node, prefix, depth);
    default: return VOLT_ERROR(VOLT_ERR_INTERNAL, "%s: empty YAML node", reader->path);
    }
}

/* libyaml's reason, with the file and the (1-based) line and column it points at. */
static int parse_error(const yaml_parser_t *parser, const char *path) {
    if (parser->error == YAML_MEMORY_ERROR)
        return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory parsing %s", path);
    if (parser->error == YAML_READER_ERROR) /* bad encoding: libyaml gives a byte offset */
        return VOLT_ERROR(VOLT_ERR_CONFIG, "cannot read %s: %s at byte %zu", path,
                          parser->problem ? parser->problem : "reader error",
                          parser->problem_offset);
    const char *problem = parser->problem ? parser->problem : "syntax error";
    if (parser->context)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "malformed YAML in %s:%zu:%zu: %s %s (line %zu)",
                          path, parser->problem_mark.line + 1, parser->problem_mark.column + 1,
                          problem, parser->context, parser->context_mark.line + 1);
    return VOLT_ERROR(VOLT_ERR_CONFIG, "malformed YAML in %s:%zu:%zu: %s", path,
                      parser->problem_mark.line + 1, parser->problem_mark.column + 1, problem);
}

static int flatten_document(file_reader *reader, yaml_document_t *document) {
    const yaml_node_t *root = yaml_document_get_root_node(document);
    if (!root) return VOLT_OK; /* empty file, or only comments */
    if (root->type != YAML_MAPPING_NODE)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "%s:%zu: the top level must be a mapping, not %s",
                          reader->path, node_line(root), node_kind(root));
    reader->document = document;
    int status = flatten_mapping(reader, root, "", 0);
    reader->document = NULL;
    return status;
}

/* A second document (after ---) would be silently ignored; say so instead. */
static int expect_end_of_stream(file_reader *reader, yaml_parser_t *parser) {
    yaml_document_t document;
    if (!yaml_parser_load(parser, &document)) return parse_error(parser, reader->path);
    const yaml_node_t *root = yaml_document_get_root_node(&document);
    size_t line = root ? node_line(root) : 0;
    yaml_document_delete(&document);
    if (root)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "%s:%zu: a second YAML document; a config file "
                          "holds one",
                          reader->path, line);
    return VOLT_OK;
}

static int read_yaml_file(file_reader *reader, FILE *file) {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory parsing %s", reader->path);
    yaml_parser_set_input_file(&parser, file);
    yaml_document_t document;
    int status;
    if (!yaml_parser_load(&parser, &document)) {
        status = parse_error(&parser, reader->path); /* libyaml freed the document */
    } else {
        status = flatten_document(reader, &document);
        yaml_document_delete(&document);
        if (status == VOLT_OK) status = expect_end_of_stream(reader, &parser);
    }
    yaml_parser_delete(&parser);
    return status;
}

static int merge_file(volt_config *config, const file_reader *reader) {
    /* first, so that the file's own items are not dropped with the earlier ones */
    for (size_t i = 0; i < reader->sequence_count; i++)
        drop_sequence_items(config, reader->sequences[i], LEVEL_FILE);
    for (size_t i = 0; i < reader->count; i++) {
        const file_entry *entry = &reader->entries[i];
        char origin[512];
        snprintf(origin, sizeof origin, "file %s:%zu", reader->path, entry->line);
        VOLT_CHECK(store_value(config, entry->key, entry->text, origin, LEVEL_FILE));
    }
    return VOLT_OK;
}

int volt_config_load_file(volt_config *config, const char *path) {
    VOLT_CHECK_ARG(config && path);
    FILE *file = fopen(path, "rb");
    if (!file)
        return VOLT_ERROR(VOLT_ERR_IO, "cannot open config file %s: %s", path,
                          strerror(errno));
    file_reader reader = {.path = path};
    int status = read_yaml_file(&reader, file);
    if (status == VOLT_OK && ferror(file))
        status = VOLT_ERROR(VOLT_ERR_IO, "error reading config file %s", path);
    fclose(file);
    if (status == VOLT_OK) status = merge_file(config, &reader);
    file_reader_free(&reader);
    return status;
}

/* ---- command line and environment ---------------------------------------------------- */

/* Whether --name is ours: --config, a dotted key, or a declared top-level key. Anything
 * else (--verbose) belongs to the program. */
static int is_config_option(const volt_config *config, const char *name) {
    return strcmp(name, "config") == 0 || strchr(name, '.') || find_decl(config, name, 0);
}

/* Looks at argv[index]; sets *used to the number of arguments it consumed (0: not ours). */
static int consume_option(volt_config *config, int argc, char **argv, int index, int *used) {
    *used = 0;
    const char *arg = argv[index];
    if (strncmp(arg, "--", 2) != 0) return VOLT_OK;
    const char *equals = strchr(arg + 2, '=');
    size_t name_length = equals ? (size_t)(equals - (arg + 2)) : strlen(arg + 2);
    char *name = copy_range(arg + 2, name_length);
    VOLT_CHECK_ALLOC(name, name_length + 1);
    if (!is_config_option(config, name)) {
        free(name);
        return VOLT_OK;
    }

    const char *value = equals ? equals + 1 : NULL;
    int taken = 1;
    /* "--a.b value", unless what follows is the next option: then the value is missing */
    if (!value && index + 1 < argc && strncmp(argv[index + 1], "--", 2) != 0) {
        value = argv[index + 1];
        taken = 2;
    }
    int status;
    if (!value)
        status = VOLT_ERROR(VOLT_ERR_CONFIG,
                            "option --%s has no value: write --%s=VALUE or --%s VALUE", name,
                            name, name);
    else if (strcmp(name, "config") == 0)
        status = volt_config_load_file(config, value);
    else
        status = store_value(config, name, value, "command line", LEVEL_COMMAND_LINE);
    free(name);
    if (status == VOLT_OK) *used = taken;
    return status;
}

int volt_config_parse_args(volt_config *config, int *argc, char **argv) {
    VOLT_CHECK_ARG(config && argc && argv && *argc >= 0);
    if (*argc <= 1) return VOLT_OK;
    /* argv changes only on success, so that a caller printing usage sees it whole */
    char **kept = malloc((size_t)*argc * sizeof *kept);
    VOLT_CHECK_ALLOC(kept, (size_t)*argc * sizeof *kept);
    int kept_count = 0;
    kept[kept_count++] = argv[0];
    int status = VOLT_OK;
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--") == 0) { /* the end of options: the rest is the program's */
            while (i < *argc) kept[kept_count++] = argv[i++];
            break;
        }
        int used;
        status = consume_option(config, *argc, argv, i, &used);
        if (status != VOLT_OK) break;
        if (used == 0)
            kept[kept_count++] = argv[i];
        else
            i += used - 1;
    }
    if (status == VOLT_OK) {
        memcpy(argv, kept, (size_t)kept_count * sizeof *kept);
        if (kept_count < *argc) argv[kept_count] = NULL; /* argv[argc] is NULL, as from main */
        *argc = kept_count;
    }
    free(kept);
    return status;
}

/* VOLT_TRAINER__MAX_EPOCHS (the part after VOLT_, up to '=') -> trainer.max_epochs. */
static char *env_name_to_key(const char *name, size_t length) {
    char *key = malloc(length + 1);
    if (!key) return NULL;
    size_t used = 0;
    for (size_t i = 0; i < length; i++) {
        if (name[i] == '_' && i + 1 < length && name[i + 1] == '_') {
            key[used++] = '.';
            i++;
        } else {
            key[used++] = (char)tolower((unsigned char)name[i]);
        }
    }
    key[used] = '\0';
    return key;
}

static int load_env_variable(volt_config *config, const char *variable) {
    static const char prefix[] = "VOLT_";
    if (strncmp(variable, prefix, sizeof prefix - 1) != 0) return VOLT_OK;
    const char *name = variable + sizeof prefix - 1;
    const char *equals = strchr(name, '=');
    if (!equals) return VOLT_OK;
    size_t name_length = (size_t)(equals - name);
    char *lowered = env_name_to_key(name, name_length);
    VOLT_CHECK_ALLOC(lowered, name_length + 1);
    if (!strchr(lowered, '.')) { /* VOLT_LOG_LEVEL and friends: not configuration */
        free(lowered);
        return VOLT_OK;
    }
    /* the name is case-insensitive: take the declared spelling when one matches */
    const config_decl *decl = find_decl(config, lowered, 1);
    char *key = decl ? instantiate_pattern(decl->key, lowered) : copy_string(lowered);
    free(lowered);
    VOLT_CHECK_ALLOC(key, name_length + 1);
    char origin[256];
    snprintf(origin, sizeof origin, "environment variable %.*s", (int)(equals - variable),
             variable);
    int status = store_value(config, key, equals + 1, origin, LEVEL_ENVIRONMENT);
    free(key);
    return status;
}

int volt_config_load_env(volt_config *config, char *const *envp) {
    VOLT_CHECK_ARG(config);
    if (!envp) return VOLT_OK;
    for (char *const *variable = envp; *variable; variable++)
        VOLT_CHECK(load_env_variable(config, *variable));
    return VOLT_OK;
}

/* ---- resolve --------------------------------------------------------------------------- */

/* The declared key, spelled for this key, at the smallest edit distance; NULL if none. */
static char *closest_declared_key(const volt_config *config, const char *key) {
    char *best = NULL;
    int best_distance = INT_MAX;
    for (size_t i = 0; i < config->decl_count; i++) {
        char *candidate = instantiate_pattern(config->decls[i].key, key);
        if (!candidate) continue; /* out of memory: a worse suggestion, not a failure */
        int distance = volt_edit_distance(key, candidate);
        if (distance < best_distance) {
            free(best);
            best = candidate;
            best_distance = distance;
        } else {
            free(candidate);
        }
    }
    return best;
}

static int unknown_key_error(const volt_config *config, const config_value *value) {
    char *suggestion = closest_declared_key(config, value->key);
    int status;
    if (suggestion)
        status = VOLT_ERROR(VOLT_ERR_CONFIG, "unknown key '%s' (from %s); did you mean '%s'?",
                            value->key, value->origin, suggestion);
    else
        status = VOLT_ERROR(VOLT_ERR_CONFIG, "unknown key '%s' (from %s); no key is declared",
                            value->key, value->origin);
    free(suggestion);
    return status;
}

static int wrong_type_error(const char *key, volt_config_type type, const char *text,
                            const char *origin) {
    return VOLT_ERROR(VOLT_ERR_CONFIG, "key '%s' expects %s, got '%.200s' (from %s)", key,
                      type_expectation(type), text, origin);
}

int volt_config_resolve(volt_config *config) {
    VOLT_CHECK_ARG(config);
    for (size_t i = 0; i < config->value_count; i++) {
        const config_value *value = &config->values[i];
        const config_decl *decl = find_decl(config, value->key, 0);
        if (!decl) return unknown_key_error(config, value);
        if (!value_parses(decl->type, value->text))
            return wrong_type_error(value->key, decl->type, value->text, value->origin);
    }
    return VOLT_OK;
}

/* ---- getters --------------------------------------------------------------------------- */

/* The text a key reads as (its value, else its default) and where it came from; NULL when
 * the key is undeclared, has no value, or is read as a type it was not declared with (a
 * STRING read takes any type). Pushes nothing. */
static const char *lookup_text(const volt_config *config, const char *key,
                               volt_config_type type, const char **origin) {
    const config_decl *decl = find_decl(config, key, 0);
    if (!decl || (type != VOLT_CONFIG_STRING && decl->type != type)) return NULL;
    const config_value *value = find_value(config, key);
    *origin = value ? value->origin : "declared default";
    return value ? value->text : decl->default_value;
}

/* Like lookup_text, but says why there is no text. */
static int get_text(const volt_config *config, const char *key, volt_config_type type,
                    const char **text, const char **origin) {
    VOLT_CHECK_ARG(config && key);
    *text = lookup_text(config, key, type, origin);
    if (*text) return VOLT_OK;
    const config_decl *decl = find_decl(config, key, 0);
    if (!decl) return VOLT_ERROR(VOLT_ERR_CONFIG, "key '%s' is not declared", key);
    if (type != VOLT_CONFIG_STRING && decl->type != type)
        return VOLT_ERROR(VOLT_ERR_ARG, "key '%s' is declared as %s but read as %s", key,
                          type_name(decl->type), type_name(type));
    return VOLT_ERROR(VOLT_ERR_CONFIG,
                      "key '%s' has no value: it has no default, and no file, command line "
                      "or environment variable set it",
                      key);
}

int volt_config_get_int(const volt_config *config, const char *key, long *out) {
    VOLT_CHECK_ARG(out);
    const char *text = NULL, *origin = NULL;
    VOLT_CHECK(get_text(config, key, VOLT_CONFIG_INT, &text, &origin));
    if (!parse_long(text, out)) return wrong_type_error(key, VOLT_CONFIG_INT, text, origin);
    return VOLT_OK;
}

int volt_config_get_float(const volt_config *config, const char *key, double *out) {
    VOLT_CHECK_ARG(out);
    const char *text = NULL, *origin = NULL;
    VOLT_CHECK(get_text(config, key, VOLT_CONFIG_FLOAT, &text, &origin));
    if (!parse_double(text, out))
        return wrong_type_error(key, VOLT_CONFIG_FLOAT, text, origin);
    return VOLT_OK;
}

int volt_config_get_bool(const volt_config *config, const char *key, int *out) {
    VOLT_CHECK_ARG(out);
    const char *text = NULL, *origin = NULL;
    VOLT_CHECK(get_text(config, key, VOLT_CONFIG_BOOL, &text, &origin));
    if (!parse_bool(text, out)) return wrong_type_error(key, VOLT_CONFIG_BOOL, text, origin);
    return VOLT_OK;
}

int volt_config_get_string(const volt_config *config, const char *key, const char **out) {
    VOLT_CHECK_ARG(out);
    const char *origin;
    VOLT_CHECK(get_text(config, key, VOLT_CONFIG_STRING, out, &origin));
    return VOLT_OK;
}

/* lookup_text for the getters that never fail, and so take NULL arguments too. */
static const char *fallback_lookup(const volt_config *config, const char *key,
                                   volt_config_type type) {
    const char *origin;
    return config && key ? lookup_text(config, key, type, &origin) : NULL;
}

long volt_config_int(const volt_config *config, const char *key, long fallback) {
    const char *text = fallback_lookup(config, key, VOLT_CONFIG_INT);
    long value;
    return text && parse_long(text, &value) ? value : fallback;
}

double volt_config_float(const volt_config *config, const char *key, double fallback) {
    const char *text = fallback_lookup(config, key, VOLT_CONFIG_FLOAT);
    double value;
    return text && parse_double(text, &value) ? value : fallback;
}

int volt_config_bool(const volt_config *config, const char *key, int fallback) {
    const char *text = fallback_lookup(config, key, VOLT_CONFIG_BOOL);
    int value;
    return text && parse_bool(text, &value) ? value : fallback;
}

const char *volt_config_string(const volt_config *config, const char *key,
                               const char *fallback) {
    const char *text = fallback_lookup(config, key, VOLT_CONFIG_STRING);
    return text ? text : fallback;
}

int volt_config_is_set(const volt_config *config, const char *key) {
    return config && key && find_value(config, key) != NULL;
}

/* ---- writing YAML ---------------------------------------------------------------------- */

typedef struct write_entry {
    const char *key;
    const char *text;
    volt_config_type type;
} write_entry;

/* Indices in numeric order (2 before 10) and before names; names byte by byte. */
static int compare_segments(const char *a, size_t a_length, const char *b, size_t b_length) {
    int a_index = is_index(a, a_length), b_index = is_index(b, b_length);
    if (a_index != b_index) return a_index ? -1 : 1;
    if (a_index && a_length != b_length) return a_length < b_length ? -1 : 1;
    int order = memcmp(a, b, a_length < b_length ? a_length : b_length);
    if (order) return order;
    return (a_length > b_length) - (a_length < b_length);
}

/* Segment by segment, so that the keys of one section are adjacent. */
static int compare_write_entries(const void *left, const void *right) {
    const char *a = ((const write_entry *)left)->key, *b = ((const write_entry *)right)->key;
    for (;;) {
        size_t a_length = strcspn(a, "."), b_length = strcspn(b, ".");
        int order = compare_segments(a, a_length, b, b_length);
        if (order) return order;
        a += a_length;
        b += b_length;
        if (*a == '\0' || *b == '\0') return (*a != '\0') - (*b != '\0');
        a++;
        b++;
    }
}

/* Every declared key with a value; for wildcard declarations, the concrete keys supplied. */
static int collect_write_entries(const volt_config *config, write_entry **out, size_t *count) {
    size_t capacity = config->decl_count + config->value_count + 1;
    write_entry *entries = malloc(capacity * sizeof *entries);
    VOLT_CHECK_ALLOC(entries, capacity * sizeof *entries);
    size_t used = 0;
    for (size_t i = 0; i < config->decl_count; i++) {
        const config_decl *decl = &config->decls[i];
        if (strchr(decl->key, '*')) continue;
        const config_value *value = find_value(config, decl->key);
        const char *text = value ? value->text : decl->default_value;
        if (text) entries[used++] = (write_entry){decl->key, text, decl->type};
    }
    for (size_t i = 0; i < config->value_count; i++) {
        const config_value *value = &config->values[i];
        const config_decl *decl = find_decl(config, value->key, 0);
        if (decl && strchr(decl->key, '*'))
            entries[used++] = (write_entry){value->key, value->text, decl->type};
    }
    *out = entries;
    *count = used;
    return VOLT_OK;
}

static int is_special_word(const char *text, size_t length) {
    /* YAML 1.1 nulls and booleans, which other readers would not take as strings */
    static const char *const words[] = {"~",  "null", "true", "false", "yes",
                                        "no", "on",   "off",  "y",     "n"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (equal_ignoring_case(text, length, words[i], strlen(words[i]))) return 1;
    return 0;
}

/* Whether a string must be double-quoted to read back as the same text, in this loader
 * and in other YAML readers. Errs towards quoting: a quote too many costs nothing. */
static int needs_quotes(const char *text, size_t length) {
    if (length == 0) return 1; /* plain empty is null */
    unsigned char first = (unsigned char)text[0], last = (unsigned char)text[length - 1];
    if (isspace(first) || isspace(last)) return 1;       /* plain scalars are trimmed */
    if (strchr("-?:,[]{}#&*!|>'\"%@`", first)) return 1; /* indicators */
    if (isdigit(first) || first == '+' || first == '.') return 1; /* numbers, .inf, dates */
    if (last == ':') return 1;
    for (size_t i = 0; i < length; i++) {
        if (text[i] == '#' || (text[i] == ':' && text[i + 1] == ' ')) return 1; /* comments */
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f) return 1; /* newlines: escapes */
    }
    return is_special_word(text, length);
}

static int emitter_error(const yaml_emitter_t *emitter) {
    const char *problem = emitter->problem ? emitter->problem : "unknown problem";
    if (emitter->error == YAML_MEMORY_ERROR)
        return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory writing YAML");
    if (emitter->error == YAML_WRITER_ERROR)
        return VOLT_ERROR(VOLT_ERR_IO, "cannot write YAML: %s", problem);
    return VOLT_ERROR(VOLT_ERR_INTERNAL, "libyaml refused an event: %s", problem);
}

/* The emitter owns the event from here on, also when it fails. */
static int emit(yaml_emitter_t *emitter, yaml_event_t *event) {
    if (!yaml_emitter_emit(emitter, event)) return emitter_error(emitter);
    return VOLT_OK;
}

static int emit_scalar(yaml_emitter_t *emitter, const char *text, size_t length, int quoted) {
    yaml_event_t event;
    if (!yaml_scalar_event_initialize(
            &event, NULL, NULL, (const yaml_char_t *)text, (int)length, 1, 1,
            quoted ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_PLAIN_SCALAR_STYLE))
        return VOLT_ERROR(VOLT_ERR_CONFIG, "cannot write '%.*s' as YAML: not valid UTF-8",
                          (int)length, text);
    return emit(emitter, &event);
}

static int emit_value(yaml_emitter_t *emitter, const write_entry *entry) {
    size_t length = strlen(entry->text);
    /* a valid number or boolean is plain; a string, or a typed value that never went
     * through resolve, is quoted when it has to be */
    int quoted = entry->type == VOLT_CONFIG_STRING || !value_parses(entry->type, entry->text)
                     ? needs_quotes(entry->text, length)
                     : 0;
    return emit_scalar(emitter, entry->text, length, quoted);
}

static int emit_collection(yaml_emitter_t *emitter, const write_entry *entries, size_t begin,
                           size_t end, size_t depth);

/* entries[begin, end) share their first `depth` segments: one scalar, or a collection. */
static int emit_node(yaml_emitter_t *emitter, const write_entry *entries, size_t begin,
                     size_t end, size_t depth) {
    if (end - begin == 1 && segment_count(entries[begin].key) == depth)
        return emit_value(emitter, &entries[begin]);
    for (size_t i = begin; i < end; i++)
        if (segment_count(entries[i].key) == depth) /* declare keeps this from happening */
            return VOLT_ERROR(VOLT_ERR_INTERNAL, "key '%s' is both a value and a section",
                              entries[i].key);
    return emit_collection(emitter, entries, begin, end, depth);
}

/* The end of the run of entries that share segment `depth` with entries[begin]. */
static size_t run_end(const write_entry *entries, size_t begin, size_t end, size_t depth) {
    size_t length;
    const char *segment = key_segment(entries[begin].key, depth, &length);
    size_t i = begin + 1;
    for (; i < end; i++) {
        size_t other_length;
        const char *other = key_segment(entries[i].key, depth, &other_length);
        if (!same_text(segment, length, other, other_length, 0)) break;
    }
    return i;
}

/* Whether the children are exactly 0, 1, ..., n-1: then they were a sequence. */
static int children_form_sequence(const write_entry *entries, size_t begin, size_t end,
                                  size_t depth) {
    size_t expected = 0;
    for (size_t i = begin; i < end; i = run_end(entries, i, end, depth), expected++) {
        size_t length;
        const char *segment = key_segment(entries[i].key, depth, &length);
        char index[32];
        int index_length = snprintf(index, sizeof index, "%zu", expected);
        if (!same_text(segment, length, index, (size_t)index_length, 0)) return 0;
    }
    return 1;
}

static int emit_collection(yaml_emitter_t *emitter, const write_entry *entries, size_t begin,
                           size_t end, size_t depth) {
    /* the top level stays a mapping: load_file requires one */
    int sequence = depth > 0 && children_form_sequence(entries, begin, end, depth);
    yaml_event_t event;
    int started = sequence ? yaml_sequence_start_event_initialize(&event, NULL, NULL, 1,
                                                                  YAML_BLOCK_SEQUENCE_STYLE)
                           : yaml_mapping_start_event_initialize(&event, NULL, NULL, 1,
                                                                 YAML_BLOCK_MAPPING_STYLE);
    if (!started) return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory writing YAML");
    VOLT_CHECK(emit(emitter, &event));
    for (size_t i = begin; i < end;) {
        size_t next = run_end(entries, i, end, depth);
        if (!sequence) {
            size_t length;
            const char *segment = key_segment(entries[i].key, depth, &length);
            VOLT_CHECK(emit_scalar(emitter, segment, length, needs_quotes(segment, length)));
        }
        VOLT_CHECK(emit_node(emitter, entries, i, next, depth + 1));
        i = next;
    }
    if (sequence)
        yaml_sequence_end_event_initialize(&event);
    else
        yaml_mapping_end_event_initialize(&event);
    return emit(emitter, &event);
}

static int emit_document(yaml_emitter_t *emitter, const write_entry *entries, size_t count) {
    yaml_event_t event;
    yaml_stream_start_event_initialize(&event, YAML_UTF8_ENCODING);
    VOLT_CHECK(emit(emitter, &event));
    yaml_document_start_event_initialize(&event, NULL, NULL, NULL, 1);
    VOLT_CHECK(emit(emitter, &event));
    VOLT_CHECK(emit_collection(emitter, entries, 0, count, 0));
    yaml_document_end_event_initialize(&event, 1);
    VOLT_CHECK(emit(emitter, &event));
    yaml_stream_end_event_initialize(&event);
    VOLT_CHECK(emit(emitter, &event));
    if (!yaml_emitter_flush(emitter)) return emitter_error(emitter);
    return VOLT_OK;
}

int volt_config_write_yaml(const volt_config *config, FILE *out) {
    VOLT_CHECK_ARG(config && out);
    write_entry *entries = NULL;
    size_t count = 0;
    VOLT_CHECK(collect_write_entries(config, &entries, &count));
    qsort(entries, count, sizeof *entries, compare_write_entries);
    yaml_emitter_t emitter;
    int status = VOLT_OK;
    if (!yaml_emitter_initialize(&emitter)) {
        status = VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory writing YAML");
    } else {
        yaml_emitter_set_output_file(&emitter, out);
        yaml_emitter_set_unicode(&emitter, 1); /* UTF-8 text as is, not \u escapes */
        yaml_emitter_set_width(&emitter, -1);  /* never fold a long string */
        status = emit_document(&emitter, entries, count);
        yaml_emitter_delete(&emitter);
    }
    free(entries);
    return status;
}

int volt_config_save(const volt_config *config, const char *path) {
    VOLT_CHECK_ARG(config && path);
    size_t tmp_size = strlen(path) + sizeof ".tmp";
    char *tmp_path = malloc(tmp_size);
    VOLT_CHECK_ALLOC(tmp_path, tmp_size);
    snprintf(tmp_path, tmp_size, "%s.tmp", path);
    FILE *file = fopen(tmp_path, "w");
    if (!file) {
        int status =
            VOLT_ERROR(VOLT_ERR_IO, "cannot create %s: %s", tmp_path, strerror(errno));
        free(tmp_path);
        return status;
    }
    int status = volt_config_write_yaml(config, file);
    /* the data must be on disk before the rename makes it the file: a crash in between
     * must leave the old file or the new one, never an empty one */
    if (status == VOLT_OK && (fflush(file) != 0 || fsync(fileno(file)) != 0))
        status = VOLT_ERROR(VOLT_ERR_IO, "cannot write %s: %s", tmp_path, strerror(errno));
    if (fclose(file) != 0 && status == VOLT_OK)
        status = VOLT_ERROR(VOLT_ERR_IO, "cannot write %s: %s", tmp_path, strerror(errno));
    if (status == VOLT_OK && rename(tmp_path, path) != 0)
        status = VOLT_ERROR(VOLT_ERR_IO, "cannot rename %s to %s: %s", tmp_path, path,
                            strerror(errno));
    if (status != VOLT_OK) remove(tmp_path);
    free(tmp_path);
    return status;
}

/* ---- edit distance --------------------------------------------------------------------- */

int volt_edit_distance(const char *a, const char *b) {
    if (!a) a = "";
    if (!b) b = "";
    size_t a_length = strlen(a), b_length = strlen(b);
    /* one row of the Levenshtein table: row[j] = distance(a[0..i), b[0..j)) */
    size_t *row = malloc((b_length + 1) * sizeof *row);
    if (!row) /* an upper bound; the distance only ranks suggestions */
        return (int)(a_length > b_length ? (a_length < INT_MAX ? a_length : INT_MAX)
                                         : (b_length < INT_MAX ? b_length : INT_MAX));
    for (size_t j = 0; j <= b_length; j++) row[j] = j;
    for (size_t i = 1; i <= a_length; i++) {
        size_t diagonal = row[0]; /* distance(a[0..i-1), b[0..j-1)) */
        row[0] = i;
        for (size_t j = 1; j <= b_length; j++) {
            size_t above = row[j];
            size_t substitute = diagonal + (a[i - 1] != b[j - 1]);
            size_t insert = row[j - 1] + 1, remove_one = above + 1;
            size_t best = substitute < insert ? substitute : insert;
            row[j] = best < remove_one ? best : remove_one;
            diagonal = above;
        }
    }
    size_t distance = row[b_length];
    free(row);
    return distance < INT_MAX ? (int)distance : INT_MAX;
}
