/* apps/models/mlp.c — the built-in multilayer perceptron.
 *
 *   logits = fcN(... drop(act(fc2(drop(act(fc1(flatten(x))))))) ...)
 *
 * with fc1 [h1, input_size], fc2 [h2, h1], ..., fcN [num_classes, h(N-1)] (PyTorch's
 * nn.Linear shapes and initialisation, so a state dict maps one to one), act one of
 * relu, gelu (tanh form) or tanh, drop inverted dropout (identity in evaluation).
 * Keys and logged metrics: see models.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models.h"
#include "nn/nn.h"

enum { MLP_MAX_LAYERS = 16 };

typedef enum mlp_activation { MLP_RELU, MLP_GELU, MLP_TANH } mlp_activation;

typedef struct mlp_state {
    volt_linear_layer *layers[MLP_MAX_LAYERS]; /* fc1 .. fc<layer_count> */
    int layer_count;
    long input_size;
    mlp_activation activation;
    double dropout;
} mlp_state;

static int mlp_declare(volt_config *config) {
    VOLT_CHECK(volt_config_declare(config, "model.hidden", VOLT_CONFIG_STRING, "256",
                                   "widths of the hidden layers, comma-separated (\"\": none)"));
    VOLT_CHECK(volt_config_declare(config, "model.activation", VOLT_CONFIG_STRING, "relu",
                                   "activation after each hidden layer: relu, gelu or tanh"));
    VOLT_CHECK(volt_config_declare(config, "model.dropout", VOLT_CONFIG_FLOAT, "0.0",
                                   "dropout probability after each hidden activation"));
    VOLT_CHECK(volt_config_declare(config, "model.input_size", VOLT_CONFIG_INT, "0",
                                   "features of one sample (0: from the data set)"));
    VOLT_CHECK(volt_config_declare(config, "model.num_classes", VOLT_CONFIG_INT, "0",
                                   "number of classes (0: from the data set)"));
    return VOLT_OK;
}

/* "512, 256" -> {512, 256}; "" -> no hidden layer. */
static int parse_hidden(const char *text, long *widths, int *count) {
    *count = 0;
    const char *p = text;
    while (*p == ' ') p++;
    if (*p == '\0') return VOLT_OK;
    for (;;) {
        char *end;
        errno = 0;
        long width = strtol(p, &end, 10);
        if (end == p || errno || width <= 0)
            return VOLT_ERROR(VOLT_ERR_CONFIG,
                              "model.hidden='%s': expected positive integers separated by "
                              "commas, such as \"512,256\"",
                              text);
        if (*count == MLP_MAX_LAYERS - 1)
            return VOLT_ERROR(VOLT_ERR_CONFIG, "model.hidden='%s': at most %d hidden layers", text,
                              MLP_MAX_LAYERS - 1);
        widths[(*count)++] = width;
        p = end;
        while (*p == ' ') p++;
        if (*p == '\0') return VOLT_OK;
        if (*p != ',')
            return VOLT_ERROR(VOLT_ERR_CONFIG,
                              "model.hidden='%s': unexpected '%c' (widths are separated by "
                              "commas)",
                              text, *p);
        p++;
        while (*p == ' ') p++;
    }
}

static int mlp_init(volt_module *m, const volt_config *config) {
    mlp_state *s = volt_module_state(m);
    long input_size = volt_config_int(config, "model.input_size", 0);
    long num_classes = volt_config_int(config, "model.num_classes", 0);
    if (input_size <= 0 || num_classes <= 0)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "mlp: model.input_size=%ld and model.num_classes=%ld must be positive "
                          "(volt-train sets them from the data set; a program creating the "
                          "module itself sets them with volt_config_set)",
                          input_size, num_classes);
    const char *activation = volt_config_string(config, "model.activation", "relu");
    if (strcmp(activation, "relu") == 0)
        s->activation = MLP_RELU;
    else if (strcmp(activation, "gelu") == 0)
        s->activation = MLP_GELU;
    else if (strcmp(activation, "tanh") == 0)
        s->activation = MLP_TANH;
    else
        return VOLT_ERROR(VOLT_ERR_CONFIG, "model.activation='%s': expected relu, gelu or tanh",
                          activation);
    s->dropout = volt_config_float(config, "model.dropout", 0.0);
    if (!(s->dropout >= 0.0 && s->dropout < 1.0))
        return VOLT_ERROR(VOLT_ERR_CONFIG, "model.dropout=%g: expected a probability in [0, 1)",
                          s->dropout);

    long widths[MLP_MAX_LAYERS];
    int hidden_count;
    VOLT_CHECK(
        parse_hidden(volt_config_string(config, "model.hidden", "256"), widths, &hidden_count));
    widths[hidden_count] = num_classes;
    s->input_size = input_size;
    s->layer_count = hidden_count + 1;
    long in = input_size;
    for (int i = 0; i < s->layer_count; i++) {
        char name[16];
        snprintf(name, sizeof name, "fc%d", i + 1);
        s->layers[i] = volt_linear_new(volt_module_params(m), name, in, widths[i], 1);
        VOLT_CHECK_PTR(s->layers[i]);
        in = widths[i];
    }
    return VOLT_OK;
}

static volt_tensor *activate(mlp_activation activation, volt_tensor *x) {
    switch (activation) {
    case MLP_GELU:
        return volt_gelu(x);
    case MLP_TANH:
        return volt_tanh(x);
    case MLP_RELU:
        break;
    }
    return volt_relu(x);
}

static volt_tensor *mlp_forward(volt_module *m, volt_tensor *x) {
    mlp_state *s = volt_module_state(m);
    if (x && x->ndim != 2) { /* images [N, H, W] and the like: one row per sample */
        const long flat[] = {-1, s->input_size};
        x = volt_reshape(x, 2, flat);
    }
    for (int i = 0; i < s->layer_count - 1; i++)
        x = volt_dropout_fn(activate(s->activation, volt_linear(s->layers[i], x)), s->dropout);
    return volt_linear(s->layers[s->layer_count - 1], x);
}

/* Cross-entropy and accuracy of a labelled batch, logged as <prefix>/loss, <prefix>/acc. */
static volt_tensor *evaluate(volt_module *m, const volt_batch *batch, const char *prefix,
                             int loss_flags, int acc_flags) {
    if (!batch->y) {
        VOLT_ERROR(VOLT_ERR_ARG, "mlp: the %s split has no labels (y)", prefix);
        return NULL;
    }
    volt_tensor *logits = mlp_forward(m, batch->x);
    volt_tensor *loss = volt_cross_entropy(logits, batch->y);
    if (!loss) return NULL;
    char name[32];
    snprintf(name, sizeof name, "%s/loss", prefix);
    if (volt_log(m, name, loss, loss_flags) != VOLT_OK) return NULL;
    snprintf(name, sizeof name, "%s/acc", prefix);
    if (volt_log_value(m, name, volt_accuracy(logits, batch->y), acc_flags) != VOLT_OK) return NULL;
    return loss;
}

static volt_tensor *mlp_training_step(volt_module *m, const volt_batch *batch, long batch_idx) {
    (void)batch_idx;
    return evaluate(m, batch, "train", VOLT_LOG_STEP | VOLT_LOG_PROG_BAR, VOLT_LOG_EPOCH);
}

static int mlp_validation_step(volt_module *m, const volt_batch *batch, long batch_idx) {
    (void)batch_idx;
    const int flags = VOLT_LOG_EPOCH | VOLT_LOG_PROG_BAR;
    VOLT_CHECK_PTR(evaluate(m, batch, "val", flags, flags));
    return VOLT_OK;
}

static int mlp_test_step(volt_module *m, const volt_batch *batch, long batch_idx) {
    (void)batch_idx;
    VOLT_CHECK_PTR(evaluate(m, batch, "test", VOLT_LOG_EPOCH, VOLT_LOG_EPOCH));
    return VOLT_OK;
}

const volt_module_ops volt_mlp_ops = {
    .name = "mlp",
    .state_size = sizeof(mlp_state),
    .declare = mlp_declare,
    .init = mlp_init,
    .forward = mlp_forward,
    .training_step = mlp_training_step,
    .validation_step = mlp_validation_step,
    .test_step = mlp_test_step,
    /* predict_step NULL: the logits (forward); configure_optimizers NULL: optimizer.* */
};
