/* lib/data/hdf5_util.h — what every HDF5 caller in Volt shares: one lock, quiet error
 * handling, and HDF5's own reason for a failure (for messages).
 *
 * The HDF5 library here is not built thread-safe, and a loader's prefetch thread reads
 * through it while the caller's thread goes on: every HDF5 call (a dataset read, a
 * checkpoint write) holds volt_hdf5_lock. It is recursive. */
#ifndef VOLT_DATA_HDF5_UTIL_H
#define VOLT_DATA_HDF5_UTIL_H

#include <hdf5.h>

void volt_hdf5_lock(void);
void volt_hdf5_unlock(void);

/* volt_h5_enter takes the lock and turns HDF5's automatic error printing off (errors
 * become messages of ours); volt_h5_leave restores both. */
typedef struct volt_h5_quiet {
    H5E_auto2_t func;
    void *data;
} volt_h5_quiet;

void volt_h5_enter(volt_h5_quiet *quiet);
void volt_h5_leave(const volt_h5_quiet *quiet);

/* The most specific description on HDF5's error stack as " (HDF5: ...)", or "". */
typedef struct volt_h5_reason_buffer {
    char text[160];
    int found;
} volt_h5_reason_buffer;

volt_h5_reason_buffer volt_h5_reason(void);

#endif
