/* lib/trainer/module.c — the module object, logging from inside a step, and accuracy.
 *
 * A module owns its parameter store and its state block; the trainer attaches itself
 * while it runs the module, which is how volt_log finds the metrics store, the current
 * batch's size (the weight of an epoch mean) and the stage (which picks the default
 * of STEP or EPOCH). */
#include "trainer/module.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/trainer_internal.h"

struct volt_module {
    const volt_module_ops *ops;
    volt_params *params;
    void *state;
    volt_trainer *trainer;
    volt_tp tp;
};

int volt_module_create(const volt_module_ops *ops, const volt_config *config, uint64_t seed,
                       volt_module **out) {
    return volt_module_create_tp(ops, config, seed, NULL, out);
}

int volt_module_create_tp(const volt_module_ops *ops, const volt_config *config, uint64_t seed,
                          const volt_tp *tp, volt_module **out) {
    VOLT_CHECK_ARG(ops && out);
    *out = NULL;
    const char *name = ops->name ? ops->name : "(unnamed)";
    if (!ops->init || !ops->forward || !ops->training_step)
        return VOLT_ERROR(VOLT_ERR_ARG,
                          "module %s lacks %s: init, forward and training_step "
                          "are required",
                          name,
                          !ops->init      ? "init"
                          : !ops->forward ? "forward"
                                          : "training_step");
    volt_module *m = calloc(1, sizeof *m);
    VOLT_CHECK_ALLOC(m, sizeof *m);
    m->ops = ops;
    m->tp = tp && tp->size > 1 ? *tp : volt_tp_single;
    if (ops->state_size > 0) {
        m->state = calloc(1, ops->state_size);
        if (!m->state) {
            free(m);
            return VOLT_ERROR(VOLT_ERR_NOMEM,
                              "out of memory allocating %zu bytes of state "
                              "for module %s",
                              ops->state_size, name);
        }
    }
    int status = volt_params_create(VOLT_F32, seed, &m->params);
    if (status == VOLT_OK) {
        status = ops->init(m, config);
        if (status != VOLT_OK) status = VOLT_ERROR(status, "module %s: init failed", name);
    }
    if (status != VOLT_OK) {
        volt_module_destroy(m);
        return status;
    }
    *out = m;
    return VOLT_OK;
}

void volt_module_destroy(volt_module *m) {
    if (!m) return;
    volt_params_destroy(m->params);
    free(m->state);
    free(m);
}

void *volt_module_state(volt_module *m) { return m ? m->state : NULL; }
volt_params *volt_module_params(volt_module *m) { return m ? m->params : NULL; }
const volt_module_ops *volt_module_ops_of(const volt_module *m) { return m ? m->ops : NULL; }
volt_trainer *volt_module_trainer(volt_module *m) { return m ? m->trainer : NULL; }
const volt_tp *volt_module_tp(const volt_module *m) { return m ? &m->tp : &volt_tp_single; }

void volt_module_attach(volt_module *m, volt_trainer *trainer) {
    if (m) m->trainer = trainer;
}

/* ---- logging ----------------------------------------------------------------------------- */

int volt_log_value(volt_module *m, const char *name, double value, int flags) {
    VOLT_CHECK_ARG(m && name && *name);
    volt_trainer *t = m->trainer;
    if (!t)
        return VOLT_ERROR(VOLT_ERR_ARG,
                          "volt_log(\"%s\") outside fit, validate, test or predict: there is "
                          "no trainer to log to",
                          name);
    if (!(flags & (VOLT_LOG_STEP | VOLT_LOG_EPOCH)))
        flags |= t->stage == TRAINER_TRAINING && t->batch_size > 0 ? VOLT_LOG_STEP : VOLT_LOG_EPOCH;
    double weight = t->batch_size > 0 ? (double)t->batch_size : 1.0;
    int status = volt_metrics_log(t->metrics, name, value, weight, flags);
    if (status != VOLT_OK)
        return VOLT_ERROR(status, "module %s: cannot log \"%s\"",
                          m->ops->name ? m->ops->name : "(unnamed)", name);
    VOLT_CHECK(trainer_note_logged(t, name));
    return VOLT_OK;
}

int volt_log(volt_module *m, const char *name, const volt_tensor *value, int flags) {
    VOLT_CHECK_ARG(m && name);
    if (!value)
        return VOLT_ERROR(VOLT_ERR_ARG,
                          "volt_log(\"%s\"): the value is NULL (did the op "
                          "that made it fail?)",
                          name);
    if ((value->dtype != VOLT_F32 && value->dtype != VOLT_F64) || volt_tensor_numel(value) != 1) {
        char described[96];
        return VOLT_ERROR(VOLT_ERR_SHAPE,
                          "volt_log(\"%s\"): expected a 1-element f32 or f64 tensor, got %s", name,
                          volt_tensor_describe(value, described, sizeof described));
    }
    if (value->device.type != VOLT_DEVICE_CPU)
        return VOLT_ERROR(VOLT_ERR_UNSUPPORTED,
                          "volt_log(\"%s\"): device tensors come with "
                          "the CUDA back end",
                          name);
    VOLT_CHECK(volt_log_value(m, name, volt_tensor_get_flat(value, 0), flags));
    return VOLT_OK;
}

/* ---- accuracy ------------------------------------------------------------------------------ */

double volt_accuracy(const volt_tensor *logits, const volt_tensor *targets) {
    if (!logits || !targets || logits->ndim < 1) return NAN;
    long classes = logits->shape[logits->ndim - 1];
    size_t rows = classes > 0 ? volt_tensor_numel(logits) / (size_t)classes : 0;
    if (rows == 0 || volt_tensor_numel(targets) != rows) return NAN;
    size_t correct = 0;
    for (size_t r = 0; r < rows; r++) {
        size_t first = r * (size_t)classes;
        long best = 0;
        double best_value = volt_tensor_get_flat(logits, first);
        for (long c = 1; c < classes; c++) {
            double v = volt_tensor_get_flat(logits, first + (size_t)c);
            if (v > best_value) { /* the first maximum wins, as torch.argmax */
                best_value = v;
                best = c;
            }
        }
        correct += (long)volt_tensor_get_flat(targets, r) == best;
    }
    return (double)correct / (double)rows;
}
