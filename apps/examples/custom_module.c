/* apps/examples/custom_module.c — your own module, trained by Volt's trainer: the way to
 * build your own executable around your own model (volt-train runs the built-in ones).
 * A module is a table of functions (lib/trainer/module.h); this one is a 2-layer MLP
 * with a tanh, written from scratch. The trainer owns the rest: the loop, backward, the
 * optimizer (optimizer.* keys), metrics.csv in runs/<trainer.name>/version_<n>/.
 *
 *     volt-example-custom --data.path=data/fashion_mnist.h5 --trainer.max_epochs=2
 *
 * Volt's build tree builds it (apps/examples/CMakeLists.txt). In your own project, once
 * Volt is installed:  find_package(Volt REQUIRED)
 *                     add_executable(my-train custom_module.c)
 *                     target_link_libraries(my-train PRIVATE Volt::volt)
 * or without CMake:   cc custom_module.c $(pkg-config --cflags --libs volt) -o my-train
 * (apps/examples/CMakeLists.txt and Makefile build it both ways.) */
#include <volt/volt.h>

extern char **environ;

typedef struct tiny_mlp {
    volt_linear_layer *fc1, *fc2;
} tiny_mlp;

static int tiny_declare(volt_config *c) {
    VOLT_CHECK(volt_config_declare(c, "model.input_size", VOLT_CONFIG_INT, "784", "features"));
    VOLT_CHECK(volt_config_declare(c, "model.hidden", VOLT_CONFIG_INT, "64", "hidden width"));
    return volt_config_declare(c, "model.num_classes", VOLT_CONFIG_INT, "10", "classes");
}

static int tiny_init(volt_module *m, const volt_config *c) {
    tiny_mlp *s = volt_module_state(m);
    long in = volt_config_int(c, "model.input_size", 784);
    long hidden = volt_config_int(c, "model.hidden", 64);
    VOLT_CHECK_PTR(s->fc1 = volt_linear_new(volt_module_params(m), "fc1", in, hidden, 1));
    VOLT_CHECK_PTR(s->fc2 = volt_linear_new(volt_module_params(m), "fc2", hidden,
                                            volt_config_int(c, "model.num_classes", 10), 1));
    return VOLT_OK;
}

static volt_tensor *tiny_forward(volt_module *m, volt_tensor *x) {
    tiny_mlp *s = volt_module_state(m);
    const long rows[] = {-1, s->fc1->in_features}; /* images [N, 28, 28] -> [N, 784] */
    return volt_linear(s->fc2, volt_tanh(volt_linear(s->fc1, volt_reshape(x, 2, rows))));
}

static volt_tensor *tiny_training_step(volt_module *m, const volt_batch *b, long i) {
    (void)i;
    volt_tensor *loss = volt_cross_entropy(tiny_forward(m, b->x), b->y);
    if (loss && volt_log(m, "train/loss", loss, VOLT_LOG_STEP | VOLT_LOG_PROG_BAR)) return NULL;
    return loss; /* the trainer runs backward and the optimizer step */
}

static int tiny_validation_step(volt_module *m, const volt_batch *b, long i) {
    (void)i;
    volt_tensor *logits = tiny_forward(m, b->x), *loss = volt_cross_entropy(logits, b->y);
    VOLT_CHECK_PTR(loss);
    VOLT_CHECK(volt_log(m, "val/loss", loss, VOLT_LOG_EPOCH | VOLT_LOG_PROG_BAR));
    return volt_log_value(m, "val/acc", volt_accuracy(logits, b->y),
                          VOLT_LOG_EPOCH | VOLT_LOG_PROG_BAR);
}

static const volt_module_ops tiny_mlp_ops = {
    .name = "tiny_mlp",
    .state_size = sizeof(tiny_mlp),
    .declare = tiny_declare,
    .init = tiny_init,
    .forward = tiny_forward,
    .training_step = tiny_training_step,
    .validation_step = tiny_validation_step,
};

static int train(volt_config *config, int *argc, char **argv) {
    volt_trainer *trainer = NULL;
    volt_module *module = NULL;
    volt_datamodule *data = NULL;
    int status = volt_trainer_declare(config); /* every key: the trainer's, data.*, ours */
    if (!status) status = volt_hdf5_datamodule_ops.declare(config);
    if (!status) status = tiny_mlp_ops.declare(config);
    if (!status) status = volt_config_parse_args(config, argc, argv); /* --config, --a.b=c */
    if (!status) status = volt_config_load_env(config, environ);      /* VOLT_A__B=c */
    if (!status) status = volt_config_resolve(config);
    if (!status) status = volt_trainer_create(config, &trainer);
    if (!status) status = volt_module_create(&tiny_mlp_ops, config, 42, &module);
    if (!status) status = volt_datamodule_create(&volt_hdf5_datamodule_ops, &data);
    if (!status) status = volt_trainer_fit(trainer, module, data);
    volt_datamodule_destroy(data);
    volt_module_destroy(module);
    volt_trainer_destroy(trainer);
    return status;
}

int main(int argc, char **argv) {
    volt_config *config = NULL;
    if (volt_init(&argc, &argv) != VOLT_OK || volt_config_create(&config) != VOLT_OK)
        volt_abort_with_errors(1);
    int status = train(config, &argc, argv);
    volt_config_destroy(config);
    if (status != VOLT_OK) volt_abort_with_errors(status); /* prints the error stack */
    return volt_finalize() == VOLT_OK ? 0 : 1;
}
