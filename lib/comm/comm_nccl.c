/* lib/comm/comm_nccl.c — the NCCL back end of volt_comm, for device buffers.
 *
 * Compiled in every build; the body needs VOLT_HAVE_NCCL (the build found NCCL and the
 * CUDA runtime), else volt_comm_enable_nccl fails with VOLT_ERR_UNSUPPORTED.
 *
 * Set-up (collective over the volt_comm): every rank selects its device, rank 0 makes
 * the ncclUniqueId, MPI broadcasts it, every rank joins with ncclCommInitRank. Ranks
 * agree after each fallible step, so a rank whose device is missing fails every rank
 * with its message instead of leaving the others in NCCL's bootstrap.
 *
 * Collectives run on the communicator's own CUDA stream, created blocking: it waits for
 * work queued before on the legacy default stream (where Volt's kernels run) and that
 * stream waits for it, so no explicit events are needed around a collective. A blocking
 * call synchronises the stream; a non-blocking one records an event after the
 * collective, which volt_comm_wait synchronises and destroys. Counts are size_t in
 * NCCL: no pieces. Average is NCCL's own ncclAvg. Which buffers are device buffers is
 * cudaPointerGetAttributes' answer (device or managed memory); host memory, pinned or
 * not, stays with MPI. */
#include "comm/comm.h"

#include <stdlib.h>
#include <string.h>

#include "comm/nccl_backend.h"

#ifdef VOLT_HAVE_NCCL

#include <cuda_runtime.h>
#include <nccl.h>

#define VOLT_CHECK_CUDA(call)                                                          \
    do {                                                                               \
        cudaError_t volt_cuda_code_ = (call);                                          \
        if (volt_cuda_code_ != cudaSuccess)                                            \
            return VOLT_ERROR(VOLT_ERR_CUDA, "%s failed: %s", #call,                   \
                              cudaGetErrorString(volt_cuda_code_));                    \
    } while (0)

#define VOLT_CHECK_NCCL(call)                                                          \
    do {                                                                               \
        ncclResult_t volt_nccl_code_ = (call);                                         \
        if (volt_nccl_code_ != ncclSuccess)                                            \
            return VOLT_ERROR(VOLT_ERR_CUDA, "%s failed: %s", #call,                   \
                              ncclGetErrorString(volt_nccl_code_));                    \
    } while (0)

struct volt_nccl {
    ncclComm_t comm;
    cudaStream_t stream;
    int device;
};

static ncclDataType_t nccl_type(volt_dtype dtype) {
    switch (dtype) {
    case VOLT_F32: return ncclFloat32;
    case VOLT_F64: return ncclFloat64;
    case VOLT_BF16: return ncclBfloat16;
    case VOLT_F16: return ncclFloat16;
    case VOLT_I32: return ncclInt32;
    case VOLT_I64: return ncclInt64;
    default: return ncclFloat32; /* comm.c validated dtype */
    }
}

static ncclRedOp_t nccl_op(volt_reduce op) {
    switch (op) {
    case VOLT_REDUCE_AVG: return ncclAvg;
    case VOLT_REDUCE_MAX: return ncclMax;
    case VOLT_REDUCE_MIN: return ncclMin;
    default: return ncclSum;
    }
}

static int select_device(int device) {
    int devices = 0;
    VOLT_CHECK_CUDA(cudaGetDeviceCount(&devices));
    if (device >= devices)
        return VOLT_ERROR(VOLT_ERR_ARG, "cuda:%d does not exist: this process sees %d device%s",
                          device, devices, devices == 1 ? "" : "s");
    VOLT_CHECK_CUDA(cudaSetDevice(device));
    return VOLT_OK;
}

static int make_id(int rank, ncclUniqueId *id) {
    if (rank == 0) VOLT_CHECK_NCCL(ncclGetUniqueId(id));
    return VOLT_OK;
}

static int join(volt_nccl *nccl, int size, int rank, ncclUniqueId id) {
    VOLT_CHECK_NCCL(ncclCommInitRank(&nccl->comm, size, id, rank));
    VOLT_CHECK_CUDA(cudaStreamCreate(&nccl->stream));
    return VOLT_OK;
}

int volt_nccl_create(volt_comm *comm, int device, volt_nccl **out) {
    *out = NULL;
    const int rank = volt_comm_rank(comm), size = volt_comm_size(comm);
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    int local = select_device(device);
    if (local == VOLT_OK) local = make_id(rank, &id);
    VOLT_CHECK(volt_comm_agree(comm, local));
    /* on the group's volt_comm, so that the watchdog numbers and times it */
    _Static_assert(sizeof id % sizeof(int32_t) == 0, "ncclUniqueId is whole 32-bit words");
    VOLT_CHECK(volt_comm_broadcast(comm, &id, sizeof id / sizeof(int32_t), VOLT_I32, 0, NULL));
    volt_nccl *nccl = calloc(1, sizeof *nccl);
    if (nccl) {
        nccl->device = device;
        local = join(nccl, size, rank, id);
    } else {
        local = VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory allocating the NCCL state");
    }
    int agreed = volt_comm_agree(comm, local);
    if (agreed != VOLT_OK) {
        /* abort, not destroy: a peer that failed never joins a destroy's finalisation */
        if (nccl && nccl->comm) ncclCommAbort(nccl->comm);
        if (nccl && nccl->stream) cudaStreamDestroy(nccl->stream);
        free(nccl);
        return volt_error_push(agreed, __FILE__, __LINE__, __func__, "called from here");
    }
    *out = nccl;
    return VOLT_OK;
}

void volt_nccl_destroy(volt_nccl *nccl) {
    if (!nccl) return;
    if (nccl->comm) ncclCommDestroy(nccl->comm);
    if (nccl->stream) cudaStreamDestroy(nccl->stream);
    free(nccl);
}

int volt_nccl_device(const volt_nccl *nccl) { return nccl->device; }

int volt_nccl_is_device_buffer(const volt_nccl *nccl, const void *ptr, int *on_device) {
    *on_device = 0;
    struct cudaPointerAttributes attributes;
    if (cudaPointerGetAttributes(&attributes, ptr) != cudaSuccess) {
        (void)cudaGetLastError(); /* a plain host pointer: clear the sticky error */
        return VOLT_OK;
    }
    if (attributes.type != cudaMemoryTypeDevice && attributes.type != cudaMemoryTypeManaged)
        return VOLT_OK;
    if (attributes.device != nccl->device)
        return VOLT_ERROR(VOLT_ERR_ARG,
                          "buffer %p is on cuda:%d, but this communicator's NCCL runs on "
                          "cuda:%d",
                          ptr, attributes.device, nccl->device);
    *on_device = 1;
    return VOLT_OK;
}

/* After a collective was enqueued: wait for it (event == NULL) or record its event. */
static int complete(volt_nccl *nccl, void **event) {
    if (!event) {
        VOLT_CHECK_CUDA(cudaStreamSynchronize(nccl->stream));
        return VOLT_OK;
    }
    cudaEvent_t done;
    VOLT_CHECK_CUDA(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    cudaError_t code = cudaEventRecord(done, nccl->stream);
    if (code != cudaSuccess) {
        cudaEventDestroy(done);
        return VOLT_ERROR(VOLT_ERR_CUDA, "cudaEventRecord failed: %s", cudaGetErrorString(code));
    }
    *event = done;
    return VOLT_OK;
}

int volt_nccl_allreduce(volt_nccl *nccl, void *buf, size_t count, volt_dtype dtype,
                        volt_reduce op, void **event) {
    VOLT_CHECK_NCCL(ncclAllReduce(buf, buf, count, nccl_type(dtype), nccl_op(op), nccl->comm,
                                  nccl->stream));
    VOLT_CHECK(complete(nccl, event));
    return VOLT_OK;
}

int volt_nccl_reduce_scatter(volt_nccl *nccl, const void *send, void *recv, size_t count,
                             volt_dtype dtype, volt_reduce op, void **event) {
    VOLT_CHECK_NCCL(ncclReduceScatter(send, recv, count, nccl_type(dtype), nccl_op(op),
                                      nccl->comm, nccl->stream));
    VOLT_CHECK(complete(nccl, event));
    return VOLT_OK;
}

int volt_nccl_allgather(volt_nccl *nccl, const void *send, void *recv, size_t count,
                        volt_dtype dtype, void **event) {
    /* in place (send == recv + rank * count) is NCCL's own in-place form too */
    VOLT_CHECK_NCCL(ncclAllGather(send, recv, count, nccl_type(dtype), nccl->comm,
                                  nccl->stream));
    VOLT_CHECK(complete(nccl, event));
    return VOLT_OK;
}

int volt_nccl_broadcast(volt_nccl *nccl, void *buf, size_t count, volt_dtype dtype, int root,
                        void **event) {
    VOLT_CHECK_NCCL(ncclBroadcast(buf, buf, count, nccl_type(dtype), root, nccl->comm,
                                  nccl->stream));
    VOLT_CHECK(complete(nccl, event));
    return VOLT_OK;
}

int volt_nccl_event_wait(void *event) {
    cudaEvent_t done = event;
    cudaError_t code = cudaEventSynchronize(done);
    cudaEventDestroy(done);
    if (code != cudaSuccess)
        return VOLT_ERROR(VOLT_ERR_CUDA, "cudaEventSynchronize failed: %s",
                          cudaGetErrorString(code));
    return VOLT_OK;
}

int volt_nccl_event_query(void *event, int *done) {
    cudaError_t code = cudaEventQuery((cudaEvent_t)event);
    if (code == cudaErrorNotReady) {
        (void)cudaGetLastError();
        *done = 0;
        return VOLT_OK;
    }
    if (code != cudaSuccess)
        return VOLT_ERROR(VOLT_ERR_CUDA, "cudaEventQuery failed: %s", cudaGetErrorString(code));
    *done = 1;
    return VOLT_OK;
}

#else /* no NCCL in this build */

int volt_nccl_create(volt_comm *comm, int device, volt_nccl **out) {
    (void)comm;
    *out = NULL;
    return VOLT_ERROR(VOLT_ERR_UNSUPPORTED,
                      "NCCL for cuda:%d: this build of Volt has no NCCL (configure with "
                      "-DVOLT_WITH_CUDA=ON, and NCCL_ROOT if NCCL is not in the CUDA toolkit)",
                      device);
}

void volt_nccl_destroy(volt_nccl *nccl) { (void)nccl; }

/* Unreachable: no volt_nccl exists without NCCL. */
static int no_nccl(const char *func) {
    return volt_error_push(VOLT_ERR_INTERNAL, __FILE__, __LINE__, func,
                           "NCCL back end called in a build without NCCL");
}

int volt_nccl_device(const volt_nccl *nccl) {
    (void)nccl;
    return -1;
}

int volt_nccl_is_device_buffer(const volt_nccl *nccl, const void *ptr, int *on_device) {
    (void)nccl;
    (void)ptr;
    *on_device = 0;
    return VOLT_OK;
}

int volt_nccl_allreduce(volt_nccl *nccl, void *buf, size_t count, volt_dtype dtype,
                        volt_reduce op, void **event) {
    (void)nccl, (void)buf, (void)count, (void)dtype, (void)op, (void)event;
    return no_nccl(__func__);
}

int volt_nccl_reduce_scatter(volt_nccl *nccl, const void *send, void *recv, size_t count,
                             volt_dtype dtype, volt_reduce op, void **event) {
    (void)nccl, (void)send, (void)recv, (void)count, (void)dtype, (void)op, (void)event;
    return no_nccl(__func__);
}

int volt_nccl_allgather(volt_nccl *nccl, const void *send, void *recv, size_t count,
                        volt_dtype dtype, void **event) {
    (void)nccl, (void)send, (void)recv, (void)count, (void)dtype, (void)event;
    return no_nccl(__func__);
}

int volt_nccl_broadcast(volt_nccl *nccl, void *buf, size_t count, volt_dtype dtype, int root,
                        void **event) {
    (void)nccl, (void)buf, (void)count, (void)dtype, (void)root, (void)event;
    return no_nccl(__func__);
}

int volt_nccl_event_wait(void *event) {
    (void)event;
    return no_nccl(__func__);
}

int volt_nccl_event_query(void *event, int *done) {
    (void)event;
    *done = 1;
    return no_nccl(__func__);
}

#endif
