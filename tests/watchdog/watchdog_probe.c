/* tests/watchdog/watchdog_probe.c — collectives that never complete, for the watchdog
 * (lib/comm/watchdog.h); run under mpirun by tests/watchdog.cmake with a timeout of a few
 * seconds (VOLT_COMM_TIMEOUT_S).
 *
 *   watchdog_probe absent     the last rank sleeps instead of joining a barrier of the
 *                             world: the others must end the job naming it as "not in a
 *                             collective"
 *   watchdog_probe stopped    the last rank stops itself (SIGSTOP) instead of joining a
 *                             barrier: its watchdog cannot answer either, so the others
 *                             must name it as silent (no answer)
 *   watchdog_probe mismatch   the last rank calls a barrier where the others call an
 *                             all-reduce: both are operation #0 of the world, and the
 *                             others must say that the ranks called different collectives
 *   watchdog_probe elsewhere  the ranks but the last wait for a non-blocking all-reduce
 *                             of 1000 f32 on a group named "dp", the last in a broadcast
 *                             on another group that nobody else joins: every rank's
 *                             watchdog fires, each naming the others as waiting elsewhere
 *   watchdog_probe quiet      nothing may fire: 300 small all-reduces with timeout 1 s,
 *                             the last rank working 0.5 s before some of them, then a 2 s
 *                             wait with the timeout turned off; bad timeouts are refused.
 *                             Exits 0. */
#include <math.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "comm/comm.h"
#include "comm/watchdog.h"
#include "runtime/runtime.h"

static void check(int status) {
    if (status != VOLT_OK) volt_abort_with_errors(status);
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static int quiet(volt_comm *world, int rank, int size) {
    if (volt_watchdog_set_timeout(-1) == VOLT_OK || volt_watchdog_set_timeout(NAN) == VOLT_OK) {
        fprintf(stderr, "a negative or NaN timeout was accepted\n");
        return 1;
    }
    volt_error_clear();
    check(volt_watchdog_set_timeout(1.0));
    double x[3];
    for (int i = 0; i < 300; i++) {
        x[0] = rank, x[1] = 1, x[2] = i;
        if (rank == size - 1 && i % 100 == 0) sleep_s(0.5);
        volt_request *request = NULL;
        check(volt_comm_allreduce(world, x, 3, VOLT_F64, VOLT_REDUCE_SUM, i % 2 ? &request : NULL));
        check(volt_comm_wait(request));
        if (x[1] != size || x[2] != (double)i * size) {
            fprintf(stderr, "wrong sum at %d\n", i);
            return 1;
        }
    }
    check(volt_watchdog_set_timeout(0));
    if (rank == size - 1) sleep_s(2.0);
    check(volt_comm_barrier(world, NULL));
    check(volt_watchdog_set_timeout(1.0));
    check(volt_comm_barrier(world, NULL));
    if (rank == 0) printf("watchdog_probe quiet: 300 all-reduces, no timeout\n");
    return 0;
}

int main(int argc, char **argv) {
    check(volt_init(&argc, &argv));
    const char *mode = argc > 1 ? argv[1] : "";
    volt_comm *world;
    check(volt_comm_create(MPI_COMM_WORLD, &world));
    int rank = volt_comm_rank(world), size = volt_comm_size(world);
    volt_watch_set_step("probe step", 7);
    int code = 0;
    if (strcmp(mode, "absent") == 0) {
        if (rank == size - 1) sleep_s(120);
        check(volt_comm_barrier(world, NULL));
    } else if (strcmp(mode, "stopped") == 0) {
        if (rank == size - 1) raise(SIGSTOP); /* ended by the others' MPI_Abort (SIGKILL) */
        check(volt_comm_barrier(world, NULL));
    } else if (strcmp(mode, "mismatch") == 0) {
        float x[4] = {0};
        if (rank == size - 1)
            check(volt_comm_barrier(world, NULL));
        else
            check(volt_comm_allreduce(world, x, 4, VOLT_F32, VOLT_REDUCE_SUM, NULL));
    } else if (strcmp(mode, "elsewhere") == 0) {
        volt_comm *dp, *other;
        check(volt_comm_split(world, 0, rank, &dp));
        volt_comm_set_name(dp, "dp");
        check(volt_comm_create(MPI_COMM_WORLD, &other));
        volt_comm_set_name(other, "other");
        float buf[1000] = {0};
        if (rank == size - 1) {
            check(volt_comm_broadcast(other, buf, 10, VOLT_F32, 0, NULL));
        } else {
            volt_request *request;
            check(volt_comm_allreduce(dp, buf, 1000, VOLT_F32, VOLT_REDUCE_SUM, &request));
            check(volt_comm_wait(request));
        }
    } else if (strcmp(mode, "quiet") == 0) {
        code = quiet(world, rank, size);
    } else {
        fprintf(stderr, "usage: watchdog_probe absent|stopped|mismatch|elsewhere|quiet\n");
        code = 2;
    }
    volt_comm_destroy(world);
    check(volt_finalize());
    return code;
}
