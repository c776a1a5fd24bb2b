/* lib/dist/ddp.c — distributed data parallel: bucketed, overlapped gradient averaging.
 *
 * Buckets are built once, walking the parameters from the last created to the first
 * (the order backward finishes them): a parameter joins the open bucket, which closes
 * once it holds bucket_bytes of parameter elements; a parameter of bucket_bytes or
 * more closes the open bucket first and is a bucket of its own. Bucket b covers the
 * contiguous range from its first-created parameter's offset to the start of bucket
 * b - 1 (the end of the buffer for bucket 0), so the buckets tile the whole gradient
 * buffer, alignment padding included.
 *
 * Per step: pending[b] counts the parameters of bucket b whose gradient is not final.
 * The grad-ready callback decrements it and starts every bucket that is complete and
 * whose predecessors have all started (strictly in bucket order, so that every rank
 * issues the same collectives in the same order, whatever its own graph looked like).
 * It also tests the outstanding requests: Open MPI has no progress thread, so a
 * non-blocking all-reduce only moves while some MPI call runs on this rank.
 * volt_ddp_finish starts the rest (buckets with parameters the step did not use; their
 * zero gradients are averaged all the same), waits for all and resets the counts. */
#include "dist/ddp.h"

#include <stdlib.h>

#include <string.h>

#include "core/clock.h"

typedef struct ddp_bucket {
    size_t offset, length; /* elements of the flat gradient buffer */
    int param_count;
    int pending;                /* parameters not yet final in this step */
    int done;                   /* volt_comm_test saw the request complete */
    double started_at, done_at; /* clock; done_at 0 until a test saw it complete */
    volt_request *request;      /* NULL until started (and again after the wait) */
} ddp_bucket;

struct volt_ddp {
    volt_comm *comm;
    volt_params *params;
    volt_dtype dtype;
    size_t bucket_bytes;
    int bucket_count;
    ddp_bucket *buckets;
    int *bucket_of_param; /* by parameter index */
    unsigned char *final; /* by parameter index: its gradient is final in this step */
    int param_count;      /* parameters when the buckets were built */
    size_t flat_size;     /* and the buffer's size then */
    int sync;
    int next_bucket;        /* the next bucket to start */
    int started_early;      /* of the last synchronised step */
    int deferred_status;    /* a failure inside the callback, reported by finish */
    double overlap_seconds; /* totals since create: see volt_ddp_overlap */
    double overlap_bytes;
    volt_hier *hier; /* two-level all-reduce when active; NULL: flat */
};

/* Starts bucket b's average: non-blocking, except for the last bucket (see finish).
 * Failures are kept for volt_ddp_finish: the callback has no way to return them. */
static void start_bucket(volt_ddp *ddp, int b) {
    ddp_bucket *bucket = &ddp->buckets[b];
    char *grad = volt_params_grad(ddp->params);
    size_t element = volt_dtype_size(ddp->dtype);
    const int hierarchical = volt_hier_active(ddp->hier);
    int blocking = hierarchical || b == ddp->bucket_count - 1;
    bucket->done = blocking;
    bucket->started_at = volt_clock_seconds();
    bucket->done_at = 0;
    int status = hierarchical ? volt_hier_allreduce(ddp->hier, grad + bucket->offset * element,
                                                    bucket->length, ddp->dtype, VOLT_REDUCE_AVG)
                              : volt_comm_allreduce(ddp->comm, grad + bucket->offset * element,
                                                    bucket->length, ddp->dtype, VOLT_REDUCE_AVG,
                                                    blocking ? NULL : &bucket->request);
    if (status != VOLT_OK && ddp->deferred_status == VOLT_OK) {
        volt_error_push(status, __FILE__, __LINE__, __func__,
                        "%s the all-reduce of gradient bucket %d (%zu elements)",
                        blocking ? "running" : "starting", b, bucket->length);
        ddp->deferred_status = status;
        bucket->request = NULL;
    }
    ddp->next_bucket = b + 1;
}

/* Lets MPI move the started, unfinished requests along. */
static void progress(volt_ddp *ddp) {
    for (int b = 0; b < ddp->next_bucket; b++) {
        ddp_bucket *bucket = &ddp->buckets[b];
        if (!bucket->request || bucket->done) continue;
        int status = volt_comm_test(bucket->request, &bucket->done);
        if (bucket->done) bucket->done_at = volt_clock_seconds();
        if (status != VOLT_OK && ddp->deferred_status == VOLT_OK) {
            volt_error_push(status, __FILE__, __LINE__, __func__,
                            "testing the all-reduce of gradient bucket %d", b);
            ddp->deferred_status = status;
        }
    }
}

static void on_grad_ready(volt_param *param, void *user) {
    volt_ddp *ddp = user;
    if (!ddp->sync) return;
    /* a parameter of another store on the same graph is none of our business */
    if (volt_params_get(ddp->params, param->index) != param || param->index >= ddp->param_count)
        return;
    if (ddp->final[param->index]) {
        if (ddp->deferred_status == VOLT_OK)
            ddp->deferred_status = VOLT_ERROR(
                VOLT_ERR_ARG,
                "DDP: the gradient of %s became final twice in one synchronised step (two "
                "backward passes without volt_ddp_finish between them?); turn sync off for "
                "the micro-batches that only accumulate",
                param->name);
        return;
    }
    ddp->final[param->index] = 1;
    ddp->buckets[ddp->bucket_of_param[param->index]].pending--;
    while (ddp->next_bucket < ddp->bucket_count - 1 && /* the last one waits for finish */
           ddp->buckets[ddp->next_bucket].pending == 0)
        start_bucket(ddp, ddp->next_bucket);
    progress(ddp);
}

static void reset_step(volt_ddp *ddp) {
    for (int b = 0; b < ddp->bucket_count; b++) {
        ddp->buckets[b].pending = ddp->buckets[b].param_count;
        ddp->buckets[b].done = 0;
        ddp->buckets[b].request = NULL;
    }
    if (ddp->param_count > 0) memset(ddp->final, 0, (size_t)ddp->param_count);
    ddp->next_bucket = 0;
}

/* Walks the parameters from the last created to the first, cutting buckets. */
static int build_buckets(volt_ddp *ddp) {
    int count = ddp->param_count;
    size_t element = volt_dtype_size(ddp->dtype);
    ddp->buckets = calloc(count > 0 ? (size_t)count : 1, sizeof *ddp->buckets);
    ddp->bucket_of_param = calloc(count > 0 ? (size_t)count : 1, sizeof *ddp->bucket_of_param);
    ddp->final = calloc(count > 0 ? (size_t)count : 1, 1);
    VOLT_CHECK_ALLOC(ddp->buckets && ddp->bucket_of_param && ddp->final ? ddp->buckets : NULL,
                     (size_t)count * (sizeof *ddp->buckets + sizeof *ddp->bucket_of_param + 1));
    size_t end = ddp->flat_size; /* the open bucket's end */
    size_t open_bytes = 0;
    int open_params = 0;
    for (int i = count - 1; i >= 0; i--) {
        volt_param *param = volt_params_get(ddp->params, i);
        size_t bytes = param->numel * element;
        if (open_params > 0 && bytes >= ddp->bucket_bytes) {
            /* too large to share: close the open bucket, whose first parameter is i + 1 */
            size_t start = volt_params_get(ddp->params, i + 1)->offset;
            ddp->buckets[ddp->bucket_count++] =
                (ddp_bucket){.offset = start, .length = end - start, .param_count = open_params};
            end = start;
            open_bytes = 0;
            open_params = 0;
        }
        ddp->bucket_of_param[i] = ddp->bucket_count;
        open_bytes += bytes;
        open_params++;
        if (open_bytes >= ddp->bucket_bytes || i == 0) {
            size_t start = i == 0 ? 0 : param->offset;
            ddp->buckets[ddp->bucket_count++] =
                (ddp_bucket){.offset = start, .length = end - start, .param_count = open_params};
            end = start;
            open_bytes = 0;
            open_params = 0;
        }
    }
    reset_step(ddp);
    return VOLT_OK;
}

int volt_ddp_create(volt_comm *dp, volt_params *params, size_t bucket_bytes, volt_ddp **out) {
    VOLT_CHECK_ARG(dp && params && out);
    *out = NULL;
    volt_ddp *ddp = calloc(1, sizeof *ddp);
    VOLT_CHECK_ALLOC(ddp, sizeof *ddp);
    ddp->comm = dp;
    ddp->params = params;
    ddp->dtype = volt_params_dtype(params);
    ddp->bucket_bytes = bucket_bytes ? bucket_bytes : VOLT_DDP_DEFAULT_BUCKET_BYTES;
    ddp->param_count = volt_params_count(params);
    ddp->flat_size = volt_params_flat_size(params);
    ddp->sync = 1;
    int status = build_buckets(ddp);
    if (status != VOLT_OK) {
        volt_ddp_destroy(ddp);
        VOLT_CHECK(status);
    }
    *out = ddp;
    return VOLT_OK;
}

void volt_ddp_destroy(volt_ddp *ddp) {
    if (!ddp) return;
    /* requests still in flight (a step abandoned after an error) are completed, so that
     * MPI never writes into a freed buffer; their status no longer matters */
    for (int b = 0; b < ddp->next_bucket && ddp->buckets; b++)
        if (ddp->buckets[b].request) {
            int status = volt_comm_wait(ddp->buckets[b].request);
            (void)status;
        }
    free(ddp->buckets);
    free(ddp->bucket_of_param);
    free(ddp->final);
    free(ddp);
}

void volt_ddp_attach(volt_ddp *ddp, volt_graph *graph) {
    volt_graph_on_grad_ready(graph, on_grad_ready, ddp);
}

void volt_ddp_set_sync(volt_ddp *ddp, int sync) { ddp->sync = sync != 0; }

void volt_ddp_set_hierarchical(volt_ddp *ddp, volt_hier *hier) {
    if (ddp) ddp->hier = hier;
}

int volt_ddp_finish(volt_ddp *ddp) {
    VOLT_CHECK_ARG(ddp);
    if (!ddp->sync) return VOLT_OK;
    if (volt_params_count(ddp->params) != ddp->param_count ||
        volt_params_flat_size(ddp->params) != ddp->flat_size)
        return VOLT_ERROR(VOLT_ERR_ARG,
                          "DDP: the parameters changed since volt_ddp_create (%d parameters, "
                          "%zu elements then; %d, %zu now)",
                          ddp->param_count, ddp->flat_size, volt_params_count(ddp->params),
                          volt_params_flat_size(ddp->params));
    ddp->started_early = ddp->next_bucket;
    /* the buckets started during backward were in flight until now, or until a test saw
     * them complete */
    double now = volt_clock_seconds(), first = now, last = now;
    int any = 0;
    for (int b = 0; b < ddp->next_bucket; b++) {
        const ddp_bucket *bucket = &ddp->buckets[b];
        if (!bucket->request) continue;
        double end = bucket->done_at > 0 && bucket->done_at < now ? bucket->done_at : now;
        if (!any || bucket->started_at < first) first = bucket->started_at;
        if (!any || end > last) last = end;
        any = 1;
        ddp->overlap_bytes += (double)bucket->length * (double)volt_dtype_size(ddp->dtype);
    }
    if (any) ddp->overlap_seconds += last - first; /* the span some bucket was in flight */
    while (ddp->next_bucket < ddp->bucket_count) start_bucket(ddp, ddp->next_bucket);
    int status = ddp->deferred_status;
    for (int b = 0; b < ddp->bucket_count; b++) {
        int wait_status = volt_comm_wait(ddp->buckets[b].request);
        ddp->buckets[b].request = NULL;
        if (wait_status != VOLT_OK && status == VOLT_OK) {
            volt_error_push(wait_status, __FILE__, __LINE__, __func__,
                            "waiting for the all-reduce of gradient bucket %d", b);
            status = wait_status;
        }
    }
    reset_step(ddp);
    ddp->deferred_status = VOLT_OK;
    VOLT_CHECK(status);
    return VOLT_OK;
}

int volt_ddp_bucket_count(const volt_ddp *ddp) { return ddp->bucket_count; }
int volt_ddp_buckets_started_early(const volt_ddp *ddp) { return ddp->started_early; }

void volt_ddp_overlap(const volt_ddp *ddp, double *seconds, double *bytes) {
    *seconds = ddp ? ddp->overlap_seconds : 0;
    *bytes = ddp ? ddp->overlap_bytes : 0;
}
