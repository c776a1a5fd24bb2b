/* lib/comm/watchdog.h — collective timeouts: one watchdog thread per process.
 *
 * MPI has no timeout: a collective that waits for a peer that died, loops, or sits
 * behind a dead link waits forever, and the job burns its allocation. Volt brackets every
 * wait of a collective (a blocking call, or volt_comm_wait) with volt_watch_begin and
 * volt_watch_end. When one wait lasts longer than the timeout (600 s by default; the
 * environment variable VOLT_COMM_TIMEOUT_S, read by volt_init; the trainer's
 * comm.timeout_s, which replaces it; 0 turns it off), the watchdog thread:
 *   1. asks every other rank of the operation's group, over a communicator of its own,
 *      how many collectives it has posted on that group and what it is waiting in now,
 *      and waits for the answers at most a grace of timeout / 2, between 1 and 10 s,
 *      answering the same question from the others meanwhile;
 *   2. prints one message on this rank's stderr: the operation, its group, the step
 *      (volt_watch_set_step), how long it waited, the ranks that did not arrive with
 *      what they are doing (or that they did not answer), and those that did;
 *   3. ends the job: MPI_Abort with VOLT_EXIT_COMM_TIMEOUT after a second (so that the
 *      other ranks' watchdogs, which fire at about the same time, print theirs too; below
 *      MPI_THREAD_MULTIPLE the thread may not call MPI, and the exit alone tells the
 *      launcher), and _exit with the same code if the process still runs 10 s after
 *      that (MPI_Abort cannot reach a launcher behind a dead link, an MPI call of the
 *      thread never returns).
 * A wait is timed from when the thread first sees it (ten times a second), and afresh
 * after the process was stopped (SIGSTOP, a suspended job).
 * A rank has arrived when it has posted the operation. The members of a group post its
 * collectives in the same order, so each counts them alike: operation n of group g is
 * the same operation on every member, and a member whose count is past n has posted it.
 * When every member has arrived, the message says that the data does not move (the
 * network, or MPI itself, is at fault). Ranks are named by their MPI_COMM_WORLD rank.
 *
 * Asking needs MPI_THREAD_MULTIPLE, which volt_init requests; under a lower level (a
 * program that initialised MPI itself) the message says the ranks cannot be named, and
 * the rest holds. Without volt_init no thread runs and the brackets cost nothing more.
 *
 * Cost on the fast path: a handful of plain stores at post, begin and end (no lock, no
 * clock: the thread times a wait from when it first sees it, so a timeout fires up to a
 * tenth of a second late). The thread wakes ten times a second; each time it tests one
 * pending receive. */
#ifndef VOLT_COMM_WATCHDOG_H
#define VOLT_COMM_WATCHDOG_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* The exit status of a job ended by the watchdog (timeout(1)'s). */
enum { VOLT_EXIT_COMM_TIMEOUT = 124 };

#define VOLT_WATCHDOG_DEFAULT_TIMEOUT_S 600.0

/* Starts the thread, with the timeout of VOLT_COMM_TIMEOUT_S or the default. Collective
 * over MPI_COMM_WORLD (it duplicates it for the questions). Called by volt_init. */
VOLT_NODISCARD int volt_watchdog_start(void);
/* Stops and joins the thread, frees its communicator; before MPI_Finalize. Idempotent. */
void volt_watchdog_stop(void);

/* seconds >= 0 (0: never time out); every rank should set the same. VOLT_ERR_CONFIG for a
 * negative or non-finite value. Works whether or not the thread runs. */
VOLT_NODISCARD int volt_watchdog_set_timeout(double seconds);
double volt_watchdog_timeout(void);

/* Where the program is, for the message ("at fit step 120"): phase is a string literal
 * ("fit step", "validation batch", ...) or NULL, step its number. */
void volt_watch_set_step(const char *phase, long step);

/* A group of ranks whose collectives are watched: one per volt_comm (lib/comm makes
 * them). Creating one is collective over mpi (the members agree on its number). */
typedef struct volt_watch_group volt_watch_group;
VOLT_NODISCARD int volt_watch_group_create(MPI_Comm mpi, const char *name, volt_watch_group **out);
void volt_watch_group_destroy(volt_watch_group *group);
/* The name shown in messages ("world", "dp", "tp", "node", ...); copied, truncated. */
void volt_watch_group_set_name(volt_watch_group *group, const char *name);
const char *volt_watch_group_name(const volt_watch_group *group);

/* Called as an operation is posted, in the group's order, always from the same thread:
 * returns its number (0, 1, ...). */
uint64_t volt_watch_post(volt_watch_group *group);

/* Brackets a wait of operation number seq of group: op names it ("all-reduce"), count
 * and type_name describe the payload (0 and NULL: none). The main thread only; no
 * nesting: a second begin replaces the first. */
void volt_watch_begin(volt_watch_group *group, const char *op, uint64_t seq, size_t count,
                      const char *type_name);
void volt_watch_end(void);

#endif
