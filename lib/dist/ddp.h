/* lib/dist/ddp.h — distributed data parallel: gradients averaged over the dp group,
 * communication overlapped with backward.
 *
 * The flat gradient buffer is cut into buckets of about bucket_bytes, in reverse order
 * of parameter creation (the order backward finishes them, as PyTorch's DDP); a bucket
 * is a contiguous range of the buffer covering whole parameters. Hooked on a graph's
 * grad-ready callback, a bucket's non-blocking all-reduce (average) starts as soon as
 * backward has finished all its parameters, so communication overlaps the rest of
 * backward; buckets start strictly in order (every rank issues the same collectives in
 * the same order). volt_ddp_finish starts what is left (buckets holding parameters the
 * step did not use) and waits for all: after it the gradients are the average over the
 * group, identical on every rank.
 *
 * The last bucket (the first parameters created, whose gradients backward finishes
 * last) always waits for volt_ddp_finish and is all-reduced there by the blocking
 * collective: nothing is left for it to overlap with, and MPI libraries pick faster
 * algorithms for blocking all-reduce than for non-blocking (Open MPI 4.1, 2 ranks,
 * 0.8 MB: 83 against 167 us). The rule depends on the bucket alone, so every rank
 * issues the same sequence of blocking and non-blocking calls, which MPI requires. A
 * model with a single bucket therefore has no overlap.
 *
 * With gradient accumulation, only the last micro-batch communicates: volt_ddp_set_sync
 * (ddp, 0) for the others (their gradients just accumulate locally). */
#ifndef VOLT_DIST_DDP_H
#define VOLT_DIST_DDP_H

#include "autograd/graph.h"
#include "autograd/params.h"
#include "comm/comm.h"
#include "dist/hierarchical.h"

typedef struct volt_ddp volt_ddp;

/* Default bucket size, as PyTorch's DDP: 25 MB. */
#define VOLT_DDP_DEFAULT_BUCKET_BYTES ((size_t)25 << 20)

/* bucket_bytes 0: VOLT_DDP_DEFAULT_BUCKET_BYTES. Parameters must all exist and be equal
 * on every rank (same seed); the graph must drop the callback (volt_graph_on_grad_ready
 * with NULL) or be destroyed before the DDP object. */
VOLT_NODISCARD int volt_ddp_create(volt_comm *dp, volt_params *params, size_t bucket_bytes,
                                   volt_ddp **out);
void volt_ddp_destroy(volt_ddp *ddp);

/* Buckets averaged by the two-level all-reduce (dist/hierarchical.h; NULL or inactive:
 * the flat one). Its steps are blocking, so a bucket is averaged when backward makes it
 * ready, in backward's time: what the network saves pays for the lost overlap only when
 * the nodes' links are much slower than their shared memory. hier must outlive ddp. */
void volt_ddp_set_hierarchical(volt_ddp *ddp, volt_hier *hier);
/* Hooks the graph's grad-ready callback (replacing any other). */
void volt_ddp_attach(volt_ddp *ddp, volt_graph *graph);
/* Whether the next backward communicates (default 1). */
void volt_ddp_set_sync(volt_ddp *ddp, int sync);
/* Starts the buckets not yet started and waits for all; a no-op when sync is off. */
VOLT_NODISCARD int volt_ddp_finish(volt_ddp *ddp);

int volt_ddp_bucket_count(const volt_ddp *ddp);
/* Buckets whose all-reduce started during backward (before volt_ddp_finish), in the
 * last step: how much communication could overlap (at most bucket_count - 1). */
int volt_ddp_buckets_started_early(const volt_ddp *ddp);
/* Totals since create over the buckets started during backward: the seconds some of
 * them were in flight while backward went on (per step, from the first one's start to the
 * last completion a test saw, or to volt_ddp_finish) and their bytes. What overlap could
 * hide; the rest is waited for in finish. */
void volt_ddp_overlap(const volt_ddp *ddp, double *seconds, double *bytes);

#endif
