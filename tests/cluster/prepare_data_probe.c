/* tests/cluster/prepare_data_probe.c — shows from outside how often the trainer calls a
 * data module's prepare_data (tests/multinode.cmake, multinode.prepare_data_once_per_node).
 *
 *     prepare_data_probe fit --config FILE --probe.marker_dir=DIR [--section.key=value ...]
 *
 * volt-train's fit with the MLP, except that the data module is the HDF5 one wrapped:
 * its prepare_data also creates DIR/prepare_data.<host name>.<pid> (holding the host name,
 * the pid and the world rank). The trainer promises one call per node, on the node's
 * local rank 0, before any rank's setup (lib/data/datamodule.h); on N nodes DIR must then
 * hold N markers from N host names, whatever the ranks per node. model.input_size and
 * model.num_classes must be given (this program does not read them from the data set).
 * Exit status 0 when the fit succeeded, 1 otherwise (the error stack printed once). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "data/datamodule.h"
#include "models/models.h"
#include "runtime/runtime.h"
#include "trainer/trainer.h"

static int probe_declare(volt_config *config) {
    VOLT_CHECK(volt_hdf5_datamodule_ops.declare(config));
    VOLT_CHECK(volt_config_declare(config, "probe.marker_dir", VOLT_CONFIG_STRING, "",
                                   "the folder prepare_data writes its marker into (required)"));
    return VOLT_OK;
}

static int probe_prepare_data(volt_datamodule *dm, const volt_config *config) {
    (void)dm;
    const char *dir = volt_config_string(config, "probe.marker_dir", "");
    if (!dir[0]) return VOLT_ERROR(VOLT_ERR_CONFIG, "probe.marker_dir is not set");
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        return VOLT_ERROR(VOLT_ERR_IO, "gethostname: %s", strerror(errno));
    char path[4096];
    snprintf(path, sizeof path, "%s/prepare_data.%s.%ld", dir, host, (long)getpid());
    FILE *marker = fopen(path, "wx"); /* x: a second call in this process would fail */
    if (!marker) return VOLT_ERROR(VOLT_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    fprintf(marker, "host %s pid %ld rank %d\n", host, (long)getpid(), volt_core_rank());
    if (fclose(marker) != 0)
        return VOLT_ERROR(VOLT_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    VOLT_INFO("prepare_data on %s (pid %ld): marker %s", host, (long)getpid(), path);
    return VOLT_OK;
}

static const volt_datamodule_ops *probe_ops(void) {
    static volt_datamodule_ops ops;
    ops = volt_hdf5_datamodule_ops;
    ops.name = "hdf5 (prepare_data probe)";
    ops.declare = probe_declare;
    ops.prepare_data = probe_prepare_data;
    return &ops;
}

static int configure(volt_config *config, int *argc, char **argv) {
    VOLT_CHECK(volt_trainer_declare(config));
    VOLT_CHECK(probe_ops()->declare(config));
    VOLT_CHECK(volt_mlp_ops.declare(config));
    VOLT_CHECK(volt_config_declare(config, "model.name", VOLT_CONFIG_STRING, "mlp",
                                   "only mlp here (the key is accepted for the configs)"));
    VOLT_CHECK(volt_config_parse_args(config, argc, argv));
    for (int i = 1; i < *argc; i++)
        if (strcmp(argv[i], "fit") != 0)
            return VOLT_ERROR(VOLT_ERR_CONFIG, "unexpected argument '%s' (only fit)", argv[i]);
    VOLT_CHECK(volt_config_resolve(config));
    if (strcmp(volt_config_string(config, "model.name", "mlp"), "mlp") != 0)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "model.name: the probe trains the mlp only");
    return VOLT_OK;
}

static int fit(volt_config *config) {
    volt_trainer *trainer = NULL;
    volt_module *module = NULL;
    volt_datamodule *datamodule = NULL;
    int status = volt_trainer_create(config, &trainer);
    if (status == VOLT_OK)
        status = volt_module_create(&volt_mlp_ops, config,
                                    (uint64_t)volt_config_int(config, "trainer.seed", 42), &module);
    if (status == VOLT_OK) status = volt_datamodule_create(probe_ops(), &datamodule);
    if (status == VOLT_OK) status = volt_trainer_fit(trainer, module, datamodule);
    volt_datamodule_destroy(datamodule);
    volt_module_destroy(module);
    volt_trainer_destroy(trainer);
    return status;
}

int main(int argc, char **argv) {
    if (volt_init(&argc, &argv) != VOLT_OK) volt_abort_with_errors(1);
    volt_config *config = NULL;
    int status = volt_config_create(&config);
    if (status == VOLT_OK) status = configure(config, &argc, argv);
    if (status == VOLT_OK) status = fit(config);
    volt_config_destroy(config);
    /* configuration errors are the same on every rank, and the trainer agrees on its
     * failures: rank 0 prints */
    if (status != VOLT_OK && volt_core_rank() == 0) volt_error_print(stderr);
    volt_error_clear();
    if (volt_finalize() != VOLT_OK) volt_abort_with_errors(1);
    return status == VOLT_OK ? 0 : 1;
}
