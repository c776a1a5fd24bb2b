/* lib/data/hdf5_util.c — the HDF5 lock and error helpers (see hdf5_util.h). */
#include "data/hdf5_util.h"

#include <pthread.h>
#include <stdio.h>

static pthread_once_t hdf5_lock_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t hdf5_mutex;

static void hdf5_lock_init(void) {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&hdf5_mutex, &attr);
    pthread_mutexattr_destroy(&attr);
}

void volt_hdf5_lock(void) {
    pthread_once(&hdf5_lock_once, hdf5_lock_init);
    pthread_mutex_lock(&hdf5_mutex);
}

void volt_hdf5_unlock(void) { pthread_mutex_unlock(&hdf5_mutex); }

void volt_h5_enter(volt_h5_quiet *quiet) {
    volt_hdf5_lock();
    quiet->func = NULL;
    quiet->data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &quiet->func, &quiet->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void volt_h5_leave(const volt_h5_quiet *quiet) {
    H5Eset_auto2(H5E_DEFAULT, quiet->func, quiet->data);
    volt_hdf5_unlock();
}

static herr_t take_first_reason(unsigned n, const H5E_error2_t *error, void *data) {
    (void)n;
    volt_h5_reason_buffer *buffer = data;
    if (!buffer->found && error->desc && error->desc[0]) {
        snprintf(buffer->text, sizeof buffer->text, " (HDF5: %s)", error->desc);
        buffer->found = 1;
    }
    return 0;
}

volt_h5_reason_buffer volt_h5_reason(void) {
    volt_h5_reason_buffer buffer = {"", 0};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, take_first_reason, &buffer);
    return buffer;
}
