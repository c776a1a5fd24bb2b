/* lib/data/loader.c — epoch order, batches and the prefetch thread (see loader.h).
 *
 * Epoch order (the exact mapping, so that another implementation can reproduce it):
 *   out[i] = i for i in [0, n); then, with shuffle, for i = n-1 down to 1:
 *     j = volt_rng_bits(seed, VOLT_SHUFFLE_STREAM + epoch, i) mod (i + 1), swap out[i], out[j]
 *   where VOLT_SHUFFLE_STREAM = 2^62: apart from parameter initialisation (streams 0, 1, ..)
 *   and the graph's dropout streams (bit 63 set). The 32-bit draw limits n to 2^32; the
 *   modulo's bias is below (i + 1) / 2^32.
 *
 * Prefetch protocol. The loader has one job slot, guarded by `mutex`: the caller queues
 * "read batch b into buffer s" (QUEUED) and signals `job_queued`; the thread takes it
 * (RUNNING), reads without the mutex, stores the status and the error message (DONE) and
 * signals `job_done`. volt_loader_next waits for its batch b to be DONE, hands buffer s to
 * the caller, and queues b+1 into the other buffer, which the caller no longer uses (a
 * batch is valid until the next volt_loader_next). Starting an epoch first waits out a
 * running job (or drops a queued one), because the thread reads `order`, then queues the
 * epoch's first batch (0, or the first_batch it resumes at: the batches before it are never
 * read) into the buffer the caller does not hold. Destroy sets `stop` and joins: a read in
 * progress finishes first, a queued one is dropped. The thread makes no MPI calls; its HDF5
 * calls hold volt_hdf5_lock (in dataset.c). */
#include "data/loader.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

#define VOLT_SHUFFLE_STREAM ((uint64_t)1 << 62)

enum { LOADER_MESSAGE_BYTES = 512 };

typedef enum job_state { JOB_IDLE = 0, JOB_QUEUED, JOB_RUNNING, JOB_DONE } job_state;

struct volt_loader {
    volt_dataset *dataset;
    volt_loader_options options;
    long length, features, batches;
    long rank, ranks;
    int sample_ndim;
    long sample_shape[VOLT_MAX_DIMS];
    int has_labels;

    long *order;         /* this epoch's order */
    long epoch;          /* -1 before the first volt_loader_start_epoch */
    long next_batch;     /* the batch volt_loader_next returns next */
    int slot_in_use;     /* the buffer the caller holds (its last batch) */
    float *x_buffers[2]; /* rows = min(batch_size, length), features each */
    int64_t *y_buffers[2];

    /* prefetch */
    int thread_running;
    pthread_t thread;
    pthread_mutex_t mutex;
    pthread_cond_t job_queued, job_done;
    int stop;
    job_state state;
    long job_batch;
    int job_slot;
    int job_status;
    char job_message[LOADER_MESSAGE_BYTES];
};

void volt_epoch_order(uint64_t seed, long epoch, long n, int shuffle, long *out) {
    for (long i = 0; i < n; i++) out[i] = i;
    if (!shuffle) return;
    const uint64_t stream = VOLT_SHUFFLE_STREAM + (uint64_t)epoch;
    uint32_t words[4];
    uint64_t cached_block = UINT64_MAX;
    for (long i = n - 1; i >= 1; i--) {
        const uint64_t index = (uint64_t)i;
        if (index / 4 != cached_block)
            volt_rng_block(seed, stream, cached_block = index / 4, words);
        const long j = (long)(words[index % 4] % (uint64_t)(i + 1));
        const long held = out[i];
        out[i] = out[j];
        out[j] = held;
    }
}

/* Where batch `batch` starts in the epoch order, its samples on this rank (see loader.h:
 * a rank's part of the global batch, or of its contiguous shard) and over all ranks (the
 * global batch; for a contiguous shard, this rank's own). */
static void batch_span(const volt_loader *loader, long batch, long *first, long *size,
                       long *global_size) {
    const long b = loader->options.batch_size, ranks = loader->ranks, rank = loader->rank;
    if (loader->options.contiguous) {
        const long shard_start = loader->length * rank / ranks;
        const long shard_end = loader->length * (rank + 1) / ranks;
        *first = shard_start + batch * b;
        const long left = shard_end - *first;
        *size = left < b ? left : b;
        *global_size = *size;
        return;
    }
    const long global = b * ranks, start = batch * global;
    const long left = loader->length - start;
    const long samples = left < global ? left : global;
    *first = start + samples * rank / ranks;
    *size = start + samples * (rank + 1) / ranks - *first;
    *global_size = samples;
}

/* Reads batch `batch` of the current order into buffer `slot`. */
static int read_batch(volt_loader *loader, long batch, int slot) {
    long first, size, global_size;
    batch_span(loader, batch, &first, &size, &global_size);
    if (size == 0) return VOLT_OK;
    VOLT_CHECK(volt_dataset_read(loader->dataset, loader->order + first, size,
                                 loader->x_buffers[slot],
                                 loader->has_labels ? loader->y_buffers[slot] : NULL));
    return VOLT_OK;
}

static void *prefetch_main(void *arg) {
    volt_loader *loader = arg;
    pthread_mutex_lock(&loader->mutex);
    for (;;) {
        while (!loader->stop && loader->state != JOB_QUEUED)
            pthread_cond_wait(&loader->job_queued, &loader->mutex);
        if (loader->stop) break;
        loader->state = JOB_RUNNING;
        const long batch = loader->job_batch;
        const int slot = loader->job_slot;
        pthread_mutex_unlock(&loader->mutex);

        int status = read_batch(loader, batch, slot);
        char message[LOADER_MESSAGE_BYTES] = "";
        if (status != VOLT_OK) {
            snprintf(message, sizeof message, "%s", volt_error_message());
            volt_error_clear(); /* this thread's stack; the caller's gets the message */
        }

        pthread_mutex_lock(&loader->mutex);
        loader->job_status = status;
        memcpy(loader->job_message, message, sizeof message);
        loader->state = JOB_DONE;
        pthread_cond_broadcast(&loader->job_done);
    }
    pthread_mutex_unlock(&loader->mutex);
    return NULL;
}

/* With the mutex held: waits until no job is queued or running. */
static void wait_idle_locked(volt_loader *loader) {
    if (loader->state == JOB_QUEUED) loader->state = JOB_IDLE; /* not started: drop it */
    while (loader->state == JOB_RUNNING) pthread_cond_wait(&loader->job_done, &loader->mutex);
    loader->state = JOB_IDLE;
}

/* With the mutex held and no job queued or running. */
static void queue_locked(volt_loader *loader, long batch, int slot) {
    loader->job_batch = batch;
    loader->job_slot = slot;
    loader->job_status = VOLT_OK;
    loader->job_message[0] = '\0';
    loader->state = JOB_QUEUED;
    pthread_cond_signal(&loader->job_queued);
}

static void loader_free(volt_loader *loader) {
    if (loader->thread_running) {
        pthread_mutex_lock(&loader->mutex);
        loader->stop = 1;
        pthread_cond_broadcast(&loader->job_queued);
        pthread_mutex_unlock(&loader->mutex);
        pthread_join(loader->thread, NULL);
        pthread_cond_destroy(&loader->job_done);
        pthread_cond_destroy(&loader->job_queued);
        pthread_mutex_destroy(&loader->mutex);
    }
    for (int s = 0; s < 2; s++) {
        free(loader->x_buffers[s]);
        free(loader->y_buffers[s]);
    }
    free(loader->order);
    free(loader);
}

int volt_loader_create(volt_dataset *dataset, const volt_loader_options *options,
                       volt_loader **out) {
    VOLT_CHECK_ARG(dataset && options && out);
    *out = NULL;
    const long length = volt_dataset_length(dataset);
    const long batch_size = options->batch_size;
    const char *path = volt_dataset_path(dataset);
    if (batch_size <= 0)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "batch_size = %ld must be at least 1 (the data set '%s' has %ld "
                          "samples)",
                          batch_size, path, length);
    const long ranks = options->ranks > 0 ? options->ranks : 1;
    if (options->rank < 0 || options->rank >= ranks)
        return VOLT_ERROR(VOLT_ERR_ARG, "loader rank %d is outside [0, %ld)", options->rank, ranks);
    const long global_batch = options->contiguous ? batch_size : batch_size * ranks;
    if (options->drop_last && global_batch > length)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "batch_size = %ld%s is larger than the %ld samples of '%s': with "
                          "drop_last no batch would remain",
                          global_batch, ranks > 1 ? " (global, over the ranks)" : "", length, path);
    if (options->shuffle && (uint64_t)length > ((uint64_t)1 << 32))
        return VOLT_ERROR(VOLT_ERR_UNSUPPORTED,
                          "cannot shuffle %ld samples: the epoch order supports up to 2^32",
                          length);

    volt_loader *loader = calloc(1, sizeof *loader);
    VOLT_CHECK_ALLOC(loader, sizeof *loader);
    loader->dataset = dataset;
    loader->options = *options;
    loader->length = length;
    loader->features = volt_dataset_features(dataset);
    loader->rank = options->rank;
    loader->ranks = ranks;
    if (options->contiguous) {
        const long part = length * (options->rank + 1) / ranks - length * options->rank / ranks;
        loader->batches = part / batch_size + (part % batch_size != 0);
    } else {
        loader->batches = options->drop_last ? length / global_batch
                                             : length / global_batch + (length % global_batch != 0);
    }
    loader->sample_ndim = volt_dataset_sample_ndim(dataset);
    memcpy(loader->sample_shape, volt_dataset_sample_shape(dataset),
           (size_t)loader->sample_ndim * sizeof(long));
    loader->has_labels = volt_dataset_has_labels(dataset);
    loader->epoch = -1;
    loader->slot_in_use = 1;

    const size_t rows = (size_t)(batch_size < length ? batch_size : length > 0 ? length : 1);
    const size_t x_bytes = rows * (size_t)loader->features * sizeof(float);
    const size_t order_bytes = (size_t)(length > 0 ? length : 1) * sizeof(long);
    int status = VOLT_OK;
    loader->order = malloc(order_bytes);
    if (!loader->order) {
        status = VOLT_ERROR(VOLT_ERR_NOMEM,
                            "out of memory allocating %zu bytes for the epoch "
                            "order",
                            order_bytes);
        goto fail;
    }
    for (int s = 0; s < (options->prefetch ? 2 : 1); s++) {
        loader->x_buffers[s] = malloc(x_bytes);
        loader->y_buffers[s] = loader->has_labels ? malloc(rows * sizeof(int64_t)) : NULL;
        if (!loader->x_buffers[s] || (loader->has_labels && !loader->y_buffers[s])) {
            status = VOLT_ERROR(VOLT_ERR_NOMEM,
                                "out of memory allocating %zu bytes for a "
                                "batch buffer",
                                x_bytes + rows * sizeof(int64_t));
            goto fail;
        }
    }
    if (options->prefetch) {
        pthread_mutex_init(&loader->mutex, NULL);
        pthread_cond_init(&loader->job_queued, NULL);
        pthread_cond_init(&loader->job_done, NULL);
        int error = pthread_create(&loader->thread, NULL, prefetch_main, loader);
        if (error != 0) {
            pthread_cond_destroy(&loader->job_done);
            pthread_cond_destroy(&loader->job_queued);
            pthread_mutex_destroy(&loader->mutex);
            status = VOLT_ERROR(VOLT_ERR_INTERNAL, "cannot start the prefetch thread: %s",
                                strerror(error));
            goto fail;
        }
        loader->thread_running = 1;
    }
    *out = loader;
    return VOLT_OK;
fail:
    loader_free(loader);
    return status;
}

void volt_loader_destroy(volt_loader *loader) {
    if (loader) loader_free(loader);
}

long volt_loader_batches(const volt_loader *loader) { return loader->batches; }
volt_dataset *volt_loader_dataset(volt_loader *loader) { return loader->dataset; }
const volt_loader_options *volt_loader_options_of(const volt_loader *loader) {
    return &loader->options;
}

int volt_loader_start_epoch(volt_loader *loader, long epoch) {
    return volt_loader_start_epoch_at(loader, epoch, 0);
}

int volt_loader_start_epoch_at(volt_loader *loader, long epoch, long first_batch) {
    VOLT_CHECK_ARG(loader && epoch >= 0);
    if (first_batch < 0 || first_batch > loader->batches)
        return VOLT_ERROR(VOLT_ERR_ARG,
                          "cannot start epoch %ld at batch %ld: an epoch has %ld batches%s, so "
                          "first_batch must be in [0, %ld]",
                          epoch, first_batch, loader->batches,
                          loader->ranks > 1 ? " on this rank" : "", loader->batches);
    if (loader->thread_running) {
        pthread_mutex_lock(&loader->mutex);
        wait_idle_locked(loader); /* the thread reads `order` */
        pthread_mutex_unlock(&loader->mutex);
    }
    volt_epoch_order(loader->options.seed, epoch, loader->length, loader->options.shuffle,
                     loader->order);
    loader->epoch = epoch;
    loader->next_batch = first_batch;
    if (loader->thread_running && first_batch < loader->batches) {
        /* not into the buffer of the caller's last batch: it is valid until the next
         * volt_loader_next */
        pthread_mutex_lock(&loader->mutex);
        queue_locked(loader, first_batch, 1 - loader->slot_in_use);
        pthread_mutex_unlock(&loader->mutex);
    }
    return VOLT_OK;
}

/* Waits for batch `batch` from the thread (queueing it first if it is not the job in
 * hand), then queues the batch after it. The slot read into goes to *slot. */
static int next_from_thread(volt_loader *loader, long batch, int *slot) {
    pthread_mutex_lock(&loader->mutex);
    if (loader->state == JOB_IDLE || loader->job_batch != batch) {
        /* after a failed read, or a batch the caller's failure skipped: (re)read it */
        wait_idle_locked(loader);
        queue_locked(loader, batch, 1 - loader->slot_in_use);
    }
    while (loader->state != JOB_DONE) pthread_cond_wait(&loader->job_done, &loader->mutex);
    loader->state = JOB_IDLE;
    const int status = loader->job_status;
    *slot = loader->job_slot;
    if (status != VOLT_OK) {
        char message[LOADER_MESSAGE_BYTES];
        memcpy(message, loader->job_message, sizeof message);
        pthread_mutex_unlock(&loader->mutex);
        return VOLT_ERROR(status, "%s", message);
    }
    if (batch + 1 < loader->batches) queue_locked(loader, batch + 1, 1 - *slot);
    pthread_mutex_unlock(&loader->mutex);
    return VOLT_OK;
}

int volt_loader_next(volt_loader *loader, volt_graph *graph, volt_batch *batch, int *done) {
    VOLT_CHECK_ARG(loader && graph && batch && done);
    *done = 0;
    if (loader->epoch < 0)
        return VOLT_ERROR(VOLT_ERR_ARG, "volt_loader_next called before volt_loader_start_epoch");
    const long index = loader->next_batch;
    if (index >= loader->batches) {
        *done = 1;
        return VOLT_OK;
    }
    int slot = 0;
    int status = loader->thread_running ? next_from_thread(loader, index, &slot)
                                        : read_batch(loader, index, 0);
    if (status != VOLT_OK)
        return volt_error_push(status, __FILE__, __LINE__, __func__,
                               "reading batch %ld of epoch %ld%s", index, loader->epoch,
                               loader->thread_running ? " (prefetch thread)" : "");

    long first, size, global_size;
    batch_span(loader, index, &first, &size, &global_size);
    long shape[VOLT_MAX_DIMS] = {size};
    for (int d = 0; d < loader->sample_ndim; d++) shape[d + 1] = loader->sample_shape[d];
    volt_tensor like;
    VOLT_CHECK(
        volt_tensor_wrap(&like, loader->x_buffers[slot], VOLT_F32, 1 + loader->sample_ndim, shape));
    volt_tensor *x = volt_graph_header(graph, &like);
    VOLT_CHECK_PTR(x);
    x->data = loader->x_buffers[slot];
    volt_tensor *y = NULL;
    if (loader->has_labels) {
        VOLT_CHECK(volt_tensor_wrap(&like, loader->y_buffers[slot], VOLT_I64, 1, shape));
        y = volt_graph_header(graph, &like);
        VOLT_CHECK_PTR(y);
        y->data = loader->y_buffers[slot];
    }
    loader->slot_in_use = slot;
    loader->next_batch = index + 1;
    batch->x = x;
    batch->y = y;
    batch->size = size;
    batch->global_size = global_size;
    batch->global_first =
        loader->options.contiguous ? 0 : first - index * loader->options.batch_size * loader->ranks;
    batch->index = index;
    return VOLT_OK;
}
