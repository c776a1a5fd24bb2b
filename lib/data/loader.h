/* lib/data/loader.h — batches from a dataset: epoch order, batching, prefetch.
 *
 * Epoch order: with shuffle, a permutation of [0, N) drawn from (seed, epoch) by
 * Fisher-Yates on Philox numbers, so every rank and every rank count sees the same
 * global order; without shuffle, 0 .. N-1. Batch b of an epoch holds positions
 * [b B, (b+1) B) of that order; the last batch is smaller unless drop_last drops it.
 *
 * Ranks (rank r of ranks P; default 0 of 1). Training (contiguous 0): B is per rank, the
 * global batch G = B P; global batch b covers positions [b G, min((b+1) G, N)) of the
 * global order (the same for any P) and rank r reads its part
 * [start + g r / P, start + g (r+1) / P) of its g samples (empty for a tiny last batch);
 * every rank has the same number of batches, and drop_last drops a last global batch
 * smaller than G. Evaluation (contiguous 1): rank r reads positions [N r / P, N (r+1) / P)
 * in batches of B, so every sample is read exactly once and ranks may have different
 * batch counts. With P = 1 both are the single-process loader.
 *
 * Prefetch: with prefetch on, a thread reads batch b+1 while the caller trains on b
 * (two host buffers, one filling, one in use). The thread makes no MPI calls. Without
 * prefetch the caller's thread reads on demand; both give identical batches.
 *
 * A batch's tensors are headers on the caller's graph pointing into the loader's
 * buffer: valid until the next volt_loader_next or the graph's reset, whichever comes
 * first. */
#ifndef VOLT_DATA_LOADER_H
#define VOLT_DATA_LOADER_H

#include <stdint.h>

#include "autograd/graph.h"
#include "data/dataset.h"

typedef struct volt_batch {
    volt_tensor *x; /* [size, sample shape...] f32 */
    volt_tensor *y; /* [size] i64; NULL when the split has no labels */
    long size;      /* samples in this batch */
    long global_size; /* samples of this batch over all ranks (the global batch); for a
                       * contiguous shard (evaluation), size */
    long global_first; /* where this rank's samples start in the global batch (0 on one
                        * rank, and for a contiguous shard) */
    long index;     /* batch number within the epoch, from 0 */
} volt_batch;

typedef struct volt_loader_options {
    long batch_size;   /* > 0; with drop_last, at most the dataset's length */
    int shuffle;
    int drop_last;
    int prefetch;
    uint64_t seed;
    int rank, ranks; /* this rank's part of the data (0 and 0 or 1: all of it) */
    int contiguous;  /* 1: a contiguous part of the split per rank (evaluation) */
} volt_loader_options;

typedef struct volt_loader volt_loader;

/* Borrows the dataset (close it after destroying the loader). Bad options are
 * VOLT_ERR_CONFIG naming the option and the dataset's length. */
VOLT_NODISCARD int volt_loader_create(volt_dataset *dataset, const volt_loader_options *options,
                                      volt_loader **out);
void volt_loader_destroy(volt_loader *loader);

long volt_loader_batches(const volt_loader *loader); /* per epoch */
volt_dataset *volt_loader_dataset(volt_loader *loader);
const volt_loader_options *volt_loader_options_of(const volt_loader *loader);

/* Starts an epoch (its order, and the prefetch of its first batch): volt_loader_start_epoch_at
 * at batch 0. */
VOLT_NODISCARD int volt_loader_start_epoch(volt_loader *loader, long epoch);
/* Starts an epoch at batch first_batch (0 <= first_batch <= batches per epoch): the
 * same order as volt_loader_start_epoch, with batches [0, first_batch) skipped
 * without reading them; the next volt_loader_next returns batch first_batch (its
 * index field says so), or done when first_batch is the epoch's batch count. The
 * prefetch thread starts at first_batch. Batch numbers are this rank's (evaluation ranks
 * may have different counts; training ranks resume all at the same batch). A first_batch
 * outside [0, batches] is VOLT_ERR_ARG naming it and the batch count, and leaves the
 * loader as it was. */
VOLT_NODISCARD int volt_loader_start_epoch_at(volt_loader *loader, long epoch, long first_batch);
/* The next batch of the epoch, or *done = 1 after the last. A read error (in the
 * prefetch thread too) is returned here. */
VOLT_NODISCARD int volt_loader_next(volt_loader *loader, volt_graph *graph, volt_batch *batch,
                                    int *done);

/* The epoch order as the loader computes it (n positions into out). */
void volt_epoch_order(uint64_t seed, long epoch, long n, int shuffle, long *out);

#endif
