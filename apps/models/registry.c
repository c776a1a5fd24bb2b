/* apps/models/registry.c — the built-in models by name (models.h). */
#include <stdio.h>
#include <string.h>

#include "models.h"

static const volt_module_ops *const known_models[] = {&volt_mlp_ops, &volt_gpt_ops};

enum { KNOWN_MODEL_COUNT = sizeof known_models / sizeof known_models[0] };

const char *volt_model_names(char *out, size_t size) {
    size_t used = 0;
    if (size) out[0] = '\0';
    for (int i = 0; i < KNOWN_MODEL_COUNT && used < size; i++) {
        int n = snprintf(out + used, size - used, "%s%s", i ? ", " : "", known_models[i]->name);
        if (n < 0) break;
        used += (size_t)n;
    }
    return out;
}

const volt_module_ops *volt_model_find(const char *name) {
    for (int i = 0; i < KNOWN_MODEL_COUNT; i++)
        if (name && strcmp(known_models[i]->name, name) == 0) return known_models[i];
    char names[256];
    VOLT_ERROR(VOLT_ERR_CONFIG, "unknown model.name '%s'; known models: %s", name ? name : "(null)",
               volt_model_names(names, sizeof names));
    return NULL;
}
