/* lib/comm/nccl_backend.h — the NCCL back end of volt_comm (comm_nccl.c), private to
 * lib/comm. Without NCCL in the build, volt_nccl_create fails with VOLT_ERR_UNSUPPORTED
 * and the others are never reached. An event is the completion of one enqueued
 * collective; event == NULL asks for a blocking call. */
#ifndef VOLT_COMM_NCCL_BACKEND_H
#define VOLT_COMM_NCCL_BACKEND_H

#include "comm/comm.h"

typedef struct volt_nccl volt_nccl;
int volt_nccl_create(volt_comm *comm, int device, volt_nccl **out);
void volt_nccl_destroy(volt_nccl *nccl);
int volt_nccl_device(const volt_nccl *nccl);
int volt_nccl_is_device_buffer(const volt_nccl *nccl, const void *ptr, int *on_device);
int volt_nccl_allreduce(volt_nccl *nccl, void *buf, size_t count, volt_dtype dtype,
                        volt_reduce op, void **event);
int volt_nccl_reduce_scatter(volt_nccl *nccl, const void *send, void *recv, size_t count,
                             volt_dtype dtype, volt_reduce op, void **event);
int volt_nccl_allgather(volt_nccl *nccl, const void *send, void *recv, size_t count,
                        volt_dtype dtype, void **event);
int volt_nccl_broadcast(volt_nccl *nccl, void *buf, size_t count, volt_dtype dtype, int root,
                        void **event);
int volt_nccl_event_wait(void *event); /* waits, then destroys the event */
int volt_nccl_event_query(void *event, int *done);

#endif
