/* bench/mlp_epoch.c — the Volt half of the comparison with PyTorch (bench/torch_mlp.py).
 *
 * Trains the Fashion-MNIST MLP 784-1024-1024-10 (ReLU, f32, softmax cross-entropy, AdamW
 * lr 1e-3, weight decay 1e-2, betas (0.9, 0.999), eps 1e-8) with batch 256 on the train
 * split of a file in Volt's data layout (volt-data idx), as a user's loop over Volt's
 * calls would: the HDF5 loader (shuffled, last partial batch kept, prefetch thread as
 * volt-train's default) over the split read into memory first (volt_dataset_load, as
 * data.in_memory does; bench/torch_mlp.py holds it in memory too; --in-memory 0 reads
 * each batch's rows from the file instead), forward, loss, backward, optimizer step.
 * bench/torch_mlp.py does the same in PyTorch and writes the same CSV columns; bench/run starts the
 * two in turn, repetition after repetition, so that machine noise hits both alike.
 *
 * Each step is split into four phases, timed with the wall clock:
 *   data      the previous step's graph reset and the next batch (read, normalised)
 *   forward   model and loss
 *   backward  volt_backward
 *   optimizer volt_optimizer_step and zeroing the gradients for the next backward
 * The four add up to the step; an epoch's time is the sum of its steps. After each epoch
 * (not timed) the model is evaluated on the test split (the val split if there is none).
 *
 * One CSV row per epoch is appended to OUT.csv (the header is written when the file is
 * new): implementation,rep,epoch,steps,samples,epoch_s,samples_per_s,data_ms,forward_ms,
 * backward_ms,optimizer_ms,train_loss,eval_split,eval_acc,threads,blas. The *_ms columns
 * are medians over the epoch's steps; train_loss is the mean of the steps' losses.
 *
 *     bench_mlp_epoch DATA.h5 OUT.csv [--epochs 3] [--max-steps 0 (all)] [--rep 1]
 *                     [--prefetch 1] [--in-memory 1] [--seed 42]
 * BLAS threads come from OPENBLAS_NUM_THREADS, as in volt-train. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "autograd/params.h"
#include "core/clock.h"
#include "data/loader.h"
#include "nn/nn.h"
#include "ops/blas_info.h"
#include "ops/ops.h"
#include "optim/optim.h"
#include "trainer/module.h"

enum { BATCH = 256, HIDDEN = 1024, EVAL_BATCH = 1000 };

static void check(int status) {
    if (status != VOLT_OK) {
        volt_error_print(stderr);
        exit(1);
    }
}

typedef struct bench_options {
    const char *data_path, *csv_path;
    long epochs, max_steps, rep;
    int prefetch, in_memory;
    unsigned long long seed;
} bench_options;

static void usage(void) {
    fprintf(stderr, "usage: bench_mlp_epoch DATA.h5 OUT.csv [--epochs N] [--max-steps N] "
                    "[--rep N] [--prefetch 0|1] [--in-memory 0|1] [--seed N]\n");
    exit(2);
}

static bench_options parse_options(int argc, char **argv) {
    if (argc < 3) usage();
    bench_options o = {argv[1], argv[2], 3, 0, 1, 1, 1, 42};
    for (int i = 3; i + 1 < argc; i += 2) {
        const char *name = argv[i];
        char *end;
        long long value = strtoll(argv[i + 1], &end, 10);
        if (*end != '\0' || value < 0) usage();
        if (strcmp(name, "--epochs") == 0)
            o.epochs = (long)value;
        else if (strcmp(name, "--max-steps") == 0)
            o.max_steps = (long)value;
        else if (strcmp(name, "--rep") == 0)
            o.rep = (long)value;
        else if (strcmp(name, "--prefetch") == 0)
            o.prefetch = value != 0;
        else if (strcmp(name, "--in-memory") == 0)
            o.in_memory = value != 0;
        else if (strcmp(name, "--seed") == 0)
            o.seed = (unsigned long long)value;
        else
            usage();
    }
    if ((argc - 3) % 2 != 0 || o.epochs <= 0) usage();
    return o;
}

/* --- the model ---------------------------------------------------------------------------- */

typedef struct mlp {
    volt_params *params;
    volt_linear_layer *fc1, *fc2, *fc3;
    volt_graph *graph;
    volt_optimizer *optimizer;
} mlp;

static mlp mlp_new(long in_features, long classes, unsigned long long seed) {
    mlp m;
    check(volt_params_create(VOLT_F32, seed, &m.params));
    m.fc1 = volt_linear_new(m.params, "fc1", in_features, HIDDEN, 1);
    m.fc2 = volt_linear_new(m.params, "fc2", HIDDEN, HIDDEN, 1);
    m.fc3 = volt_linear_new(m.params, "fc3", HIDDEN, classes, 1);
    if (!m.fc1 || !m.fc2 || !m.fc3) check(volt_error_status());
    volt_graph_options graph_options = {.seed = seed};
    check(volt_graph_create(&graph_options, &m.graph));
    volt_optimizer_options adamw = volt_optimizer_defaults(VOLT_OPTIM_ADAMW);
    check(
        volt_optimizer_create(&adamw, VOLT_F32, 0, volt_params_flat_size(m.params), &m.optimizer));
    return m;
}

static void mlp_free(mlp *m) {
    volt_optimizer_destroy(m->optimizer);
    volt_graph_destroy(m->graph);
    volt_params_destroy(m->params);
}

/* x [B, 28, 28] is flattened to [B, 784] (a view, no copy) */
static volt_tensor *mlp_logits(const mlp *m, volt_tensor *x) {
    const long flat[] = {-1, m->fc1->in_features};
    volt_tensor *h = volt_relu(volt_linear(m->fc1, volt_reshape(x, 2, flat)));
    h = volt_relu(volt_linear(m->fc2, h));
    return volt_linear(m->fc3, h);
}

/* --- evaluation: accuracy over a whole split, no gradients ---------------------------------- */

static double evaluate(mlp *m, volt_dataset *dataset) {
    volt_loader_options options = {.batch_size = EVAL_BATCH, .contiguous = 1};
    volt_loader *loader;
    check(volt_loader_create(dataset, &options, &loader));
    int was = volt_graph_set_grad_enabled(m->graph, 0);
    volt_graph_set_training(m->graph, 0);
    check(volt_loader_start_epoch(loader, 0));
    double correct = 0;
    long seen = 0;
    for (;;) {
        volt_batch batch;
        int done = 0;
        check(volt_loader_next(loader, m->graph, &batch, &done));
        if (done) break;
        volt_tensor *logits = mlp_logits(m, batch.x);
        if (!logits) check(volt_error_status());
        correct += volt_accuracy(logits, batch.y) * (double)batch.size;
        seen += batch.size;
        volt_graph_reset(m->graph);
    }
    volt_graph_set_training(m->graph, 1);
    volt_graph_set_grad_enabled(m->graph, was);
    volt_loader_destroy(loader);
    return correct / (double)seen;
}

/* --- timing ------------------------------------------------------------------------------- */

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_ms(double *seconds, long count) {
    qsort(seconds, (size_t)count, sizeof *seconds, compare_doubles);
    return seconds[count / 2] * 1e3;
}

enum { PHASE_DATA, PHASE_FORWARD, PHASE_BACKWARD, PHASE_OPTIMIZER, PHASES };

int main(int argc, char **argv) {
    bench_options o = parse_options(argc, argv);
    volt_blas_info blas;
    volt_blas_query(&blas);
    char line[512], advice[512];
    volt_blas_describe(&blas, line, sizeof line, advice, sizeof advice);
    printf("%s\n%s%s", line, advice, advice[0] ? "\n" : "");

    volt_dataset *train, *eval;
    check(volt_dataset_open(o.data_path, VOLT_SPLIT_TRAIN, &train));
    int has_test = 0;
    check(volt_dataset_has_split(o.data_path, VOLT_SPLIT_TEST, &has_test));
    volt_split eval_split = has_test ? VOLT_SPLIT_TEST : VOLT_SPLIT_VAL;
    check(volt_dataset_open(o.data_path, eval_split, &eval));
    if (volt_dataset_features(train) != 784 || volt_dataset_num_classes(train) != 10)
        fprintf(stderr, "bench_mlp_epoch: note: %ld features, %ld classes (not Fashion-MNIST's)\n",
                volt_dataset_features(train), volt_dataset_num_classes(train));

    if (o.in_memory) {
        check(volt_dataset_load(train));
        check(volt_dataset_load(eval));
    }
    mlp m = mlp_new(volt_dataset_features(train), volt_dataset_num_classes(train), o.seed);
    volt_loader_options options = {
        .batch_size = BATCH, .shuffle = 1, .prefetch = o.prefetch, .seed = o.seed};
    volt_loader *loader;
    check(volt_loader_create(train, &options, &loader));
    long steps_per_epoch = volt_loader_batches(loader);
    if (o.max_steps > 0 && o.max_steps < steps_per_epoch) steps_per_epoch = o.max_steps;
    double *phase[PHASES];
    for (int p = 0; p < PHASES; p++) {
        phase[p] = malloc(sizeof(double) * (size_t)steps_per_epoch);
        if (!phase[p]) check(VOLT_ERROR(VOLT_ERR_NOMEM, "phase times"));
    }

    struct stat st;
    int new_file = stat(o.csv_path, &st) != 0 || st.st_size == 0;
    FILE *csv = fopen(o.csv_path, "a");
    if (!csv) {
        fprintf(stderr, "bench_mlp_epoch: cannot open %s for appending\n", o.csv_path);
        return 1;
    }
    if (new_file)
        fprintf(csv, "implementation,rep,epoch,steps,samples,epoch_s,samples_per_s,data_ms,"
                     "forward_ms,backward_ms,optimizer_ms,train_loss,eval_split,eval_acc,"
                     "threads,blas\n");

    for (long epoch = 0; epoch < o.epochs; epoch++) {
        check(volt_loader_start_epoch(loader, epoch));
        long steps = 0, samples = 0;
        double epoch_seconds = 0, loss_sum = 0;
        while (steps < steps_per_epoch) {
            double t0 = volt_clock_seconds();
            volt_graph_reset(m.graph);
            volt_batch batch;
            int done = 0;
            check(volt_loader_next(loader, m.graph, &batch, &done));
            if (done) break;
            double t1 = volt_clock_seconds();
            volt_tensor *loss = volt_cross_entropy(mlp_logits(&m, batch.x), batch.y);
            if (!loss) check(volt_error_status());
            double t2 = volt_clock_seconds();
            check(volt_backward(loss));
            double t3 = volt_clock_seconds();
            check(volt_optimizer_step(m.optimizer, volt_params_data(m.params),
                                      volt_params_grad(m.params), 1e-3));
            volt_params_zero_grad(m.params);
            double t4 = volt_clock_seconds();
            loss_sum += *(const float *)loss->data;
            phase[PHASE_DATA][steps] = t1 - t0;
            phase[PHASE_FORWARD][steps] = t2 - t1;
            phase[PHASE_BACKWARD][steps] = t3 - t2;
            phase[PHASE_OPTIMIZER][steps] = t4 - t3;
            epoch_seconds += t4 - t0;
            samples += batch.size;
            steps++;
        }
        volt_graph_reset(m.graph);
        double accuracy = evaluate(&m, eval);
        double ms[PHASES];
        for (int p = 0; p < PHASES; p++) ms[p] = median_ms(phase[p], steps);
        printf("volt rep %ld epoch %ld: %ld steps, %.2f s, %.0f samples/s, data %.3f forward "
               "%.3f backward %.3f optimizer %.3f ms, loss %.4f, %s acc %.4f\n",
               o.rep, epoch + 1, steps, epoch_seconds, samples / epoch_seconds, ms[PHASE_DATA],
               ms[PHASE_FORWARD], ms[PHASE_BACKWARD], ms[PHASE_OPTIMIZER], loss_sum / steps,
               volt_split_name(eval_split), accuracy);
        fflush(stdout);
        fprintf(csv, "volt,%ld,%ld,%ld,%ld,%.4f,%.1f,%.4f,%.4f,%.4f,%.4f,%.5f,%s,%.4f,%d,%s\n",
                o.rep, epoch + 1, steps, samples, epoch_seconds, samples / epoch_seconds,
                ms[PHASE_DATA], ms[PHASE_FORWARD], ms[PHASE_BACKWARD], ms[PHASE_OPTIMIZER],
                loss_sum / steps, volt_split_name(eval_split), accuracy, blas.threads,
                blas.kernel[0] ? blas.kernel : "unknown");
        fflush(csv);
    }
    fclose(csv);
    for (int p = 0; p < PHASES; p++) free(phase[p]);
    volt_loader_destroy(loader);
    mlp_free(&m);
    volt_dataset_close(eval);
    volt_dataset_close(train);
    return 0;
}
