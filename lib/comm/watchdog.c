/* lib/comm/watchdog.c — see watchdog.h.
 *
 * State: what the main thread waits in (`live`) is a sequence lock that the main thread
 * alone writes, with plain stores: its version is odd while it writes and grows by 2 with
 * every change, so that the watchdog thread, which reads it ten times a second, knows a
 * wait it has seen before by its version (and times it from the first sighting: no clock
 * is read on the fast path). The timeout and the thread's stop flag are under wd.lock;
 * the registry of groups (the questions name a group by its number) under
 * registry_lock. The thread holds no lock while it calls MPI.
 *
 * Questions and answers travel on `census`, a duplicate of MPI_COMM_WORLD used by the
 * watchdog threads alone: each thread keeps one receive for a question posted (any
 * source) and answers from a ring of send buffers; a buffer whose answer is still in
 * flight (to a rank behind a dead link) is skipped, and its answer dropped. The structs
 * travel as bytes: every rank runs the same build. */
#include "comm/watchdog.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "comm/comm.h"
#include "core/clock.h"

enum {
    NAME_BYTES = 24,
    TAG_QUESTION = 1,
    TAG_ANSWER = 2,
    ANSWER_SLOTS = 32,
    LISTED_MAX = 12, /* ranks named per list; the rest counted */
    MESSAGE_BYTES = 4096,
};
#define TICK_S 0.1
#define ABORT_DELAY_S 1.0
#define EXIT_FALLBACK_S 10

struct volt_watch_group {
    uint64_t id; /* agreed by the members at creation */
    _Atomic uint64_t posted;
    int size;
    int *world; /* members' MPI_COMM_WORLD ranks, by group rank (-1: not in it) */
    char name[NAME_BYTES];
    volt_watch_group *next;
};

typedef struct question {
    uint64_t group_id, seq;
} question;

typedef struct answer {
    int64_t posted;  /* operations posted on the asked group; -1: not a member */
    int32_t waiting; /* in a watched wait now */
    int32_t pad;
    uint64_t wait_group_id, wait_seq;
    double waited_s;
    int64_t step;
    char op[NAME_BYTES], group[NAME_BYTES], phase[NAME_BYTES];
} answer;

/* A copy of the current wait, read from `live`. */
typedef struct wait_view {
    int active;
    uint64_t group_id, seq;
    const char *op, *type_name;
    size_t count;
    const char *phase;
    long step;
} wait_view;

static struct {
    _Atomic uint64_t version;
    _Atomic int active;
    _Atomic uint64_t group_id, seq;
    _Atomic size_t count;
    _Atomic(const char *) op, type_name, phase;
    _Atomic long step;
} live;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    double timeout_s;
    int stop;
} wd = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, VOLT_WATCHDOG_DEFAULT_TIMEOUT_S, 0};

/* The wait the watchdog thread saw last (its version) and when it first saw it: the
 * thread's own. */
static struct {
    uint64_t version;
    double since;
} seen;

/* Thread-side state: written by start before the thread exists, read-only after, except
 * the question and answer buffers, which only the thread touches. */
static struct {
    int running;
    pthread_t thread;
    int can_ask; /* MPI_THREAD_MULTIPLE */
    int thread_level;
    MPI_Comm census;
    int world_rank;
    question incoming;
    MPI_Request incoming_request;
    answer answers[ANSWER_SLOTS];
    MPI_Request answer_requests[ANSWER_SLOTS];
} th;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static volt_watch_group *registry = NULL;
static uint64_t next_group_id = 1;

/* ---- groups ------------------------------------------------------------------------------ */

int volt_watch_group_create(MPI_Comm mpi, const char *name, volt_watch_group **out) {
    VOLT_CHECK_ARG(out);
    *out = NULL;
    volt_watch_group *g = calloc(1, sizeof *g);
    VOLT_CHECK_ALLOC(g, sizeof *g);
    /* every member's next free number; the group takes the largest */
    pthread_mutex_lock(&registry_lock);
    uint64_t mine = next_group_id;
    pthread_mutex_unlock(&registry_lock);
    int code = MPI_Allreduce(&mine, &g->id, 1, MPI_UINT64_T, MPI_MAX, mpi);
    MPI_Group group = MPI_GROUP_NULL, world = MPI_GROUP_NULL;
    if (code == MPI_SUCCESS) code = MPI_Comm_size(mpi, &g->size);
    if (code == MPI_SUCCESS) {
        g->world = malloc(sizeof(int) * (size_t)g->size * 2);
        if (!g->world) {
            int size = g->size;
            free(g);
            return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory for a group of %d ranks", size);
        }
        int *ranks = g->world + g->size;
        for (int i = 0; i < g->size; i++) ranks[i] = i;
        code = MPI_Comm_group(mpi, &group);
        if (code == MPI_SUCCESS) code = MPI_Comm_group(MPI_COMM_WORLD, &world);
        if (code == MPI_SUCCESS)
            code = MPI_Group_translate_ranks(group, g->size, ranks, world, g->world);
        for (int i = 0; i < g->size; i++)
            if (g->world[i] == MPI_UNDEFINED) g->world[i] = -1;
        if (group != MPI_GROUP_NULL) MPI_Group_free(&group);
        if (world != MPI_GROUP_NULL) MPI_Group_free(&world);
    }
    if (code != MPI_SUCCESS) {
        free(g->world);
        free(g);
        return volt_mpi_error(code, "MPI_Allreduce/MPI_Comm_group", __FILE__, __LINE__, __func__);
    }
    volt_watch_group_set_name(g, name);
    pthread_mutex_lock(&registry_lock);
    if (next_group_id <= g->id) next_group_id = g->id + 1;
    g->next = registry;
    registry = g;
    pthread_mutex_unlock(&registry_lock);
    *out = g;
    return VOLT_OK;
}

void volt_watch_group_destroy(volt_watch_group *group) {
    if (!group) return;
    pthread_mutex_lock(&registry_lock);
    for (volt_watch_group **at = &registry; *at; at = &(*at)->next) {
        if (*at == group) {
            *at = group->next;
            break;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    free(group->world);
    free(group);
}

void volt_watch_group_set_name(volt_watch_group *group, const char *name) {
    pthread_mutex_lock(&registry_lock);
    snprintf(group->name, sizeof group->name, "%s", name ? name : "");
    pthread_mutex_unlock(&registry_lock);
}

const char *volt_watch_group_name(const volt_watch_group *group) { return group->name; }

uint64_t volt_watch_post(volt_watch_group *group) {
    if (!group) return 0;
    /* one thread posts a group's operations (MPI_THREAD_FUNNELED): no read-modify-write */
    uint64_t n = atomic_load_explicit(&group->posted, memory_order_relaxed);
    atomic_store_explicit(&group->posted, n + 1, memory_order_relaxed);
    return n;
}

/* ---- the main thread's side ------------------------------------------------------------- */

int volt_watchdog_set_timeout(double seconds) {
    if (!isfinite(seconds) || seconds < 0)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "comm.timeout_s = %g: expected seconds >= 0 (0: no timeout)", seconds);
    pthread_mutex_lock(&wd.lock);
    wd.timeout_s = seconds;
    pthread_mutex_unlock(&wd.lock);
    return VOLT_OK;
}

double volt_watchdog_timeout(void) {
    pthread_mutex_lock(&wd.lock);
    double t = wd.timeout_s;
    pthread_mutex_unlock(&wd.lock);
    return t;
}

#define RELAXED memory_order_relaxed

/* The main thread's writes to `live`: between live_open and live_close. */
static uint64_t live_open(void) {
    uint64_t version = atomic_load_explicit(&live.version, RELAXED);
    atomic_store_explicit(&live.version, version + 1, RELAXED);
    atomic_thread_fence(memory_order_release);
    return version;
}

static void live_close(uint64_t version) {
    atomic_store_explicit(&live.version, version + 2, memory_order_release);
}

/* The watchdog thread's consistent copy of `live`; returns its version. */
static uint64_t live_read(wait_view *w) {
    for (;;) {
        uint64_t before = atomic_load_explicit(&live.version, memory_order_acquire);
        w->active = atomic_load_explicit(&live.active, RELAXED);
        w->group_id = atomic_load_explicit(&live.group_id, RELAXED);
        w->seq = atomic_load_explicit(&live.seq, RELAXED);
        w->count = atomic_load_explicit(&live.count, RELAXED);
        w->op = atomic_load_explicit(&live.op, RELAXED);
        w->type_name = atomic_load_explicit(&live.type_name, RELAXED);
        w->phase = atomic_load_explicit(&live.phase, RELAXED);
        w->step = atomic_load_explicit(&live.step, RELAXED);
        atomic_thread_fence(memory_order_acquire);
        if (!(before & 1) && atomic_load_explicit(&live.version, RELAXED) == before) return before;
        sched_yield();
    }
}

/* Seconds the wait of `version` has lasted, counted from the first time this thread saw
 * it (0 when there is no wait). */
static double waited_seconds(const wait_view *w, uint64_t version) {
    double now = volt_clock_seconds();
    if (!w->active || version != seen.version) {
        seen.version = version;
        seen.since = now;
    }
    return w->active ? now - seen.since : 0;
}

void volt_watch_set_step(const char *phase, long step) {
    uint64_t version = live_open();
    atomic_store_explicit(&live.phase, phase, RELAXED);
    atomic_store_explicit(&live.step, step, RELAXED);
    live_close(version);
}

void volt_watch_begin(volt_watch_group *group, const char *op, uint64_t seq, size_t count,
                      const char *type_name) {
    uint64_t version = live_open();
    atomic_store_explicit(&live.group_id, group ? group->id : 0, RELAXED);
    atomic_store_explicit(&live.seq, seq, RELAXED);
    atomic_store_explicit(&live.count, count, RELAXED);
    atomic_store_explicit(&live.op, op, RELAXED);
    atomic_store_explicit(&live.type_name, type_name, RELAXED);
    atomic_store_explicit(&live.active, 1, RELAXED);
    live_close(version);
}

void volt_watch_end(void) {
    uint64_t version = live_open();
    atomic_store_explicit(&live.active, 0, RELAXED);
    live_close(version);
}

/* ---- answering ---------------------------------------------------------------------------- */

static void copy_name(char *to, const char *from) {
    snprintf(to, NAME_BYTES, "%s", from ? from : "");
}

/* What this rank tells a rank that asks about operation q. */
static void make_answer(const question *q, answer *a) {
    memset(a, 0, sizeof *a);
    a->posted = -1;
    char wait_group[NAME_BYTES] = "";
    wait_view w;
    uint64_t version = live_read(&w);
    pthread_mutex_lock(&registry_lock);
    for (const volt_watch_group *g = registry; g; g = g->next) {
        if (g->id == q->group_id) a->posted = (int64_t)atomic_load(&g->posted);
        if (w.active && g->id == w.group_id) copy_name(wait_group, g->name);
    }
    pthread_mutex_unlock(&registry_lock);
    a->waiting = w.active;
    if (w.active) {
        a->wait_group_id = w.group_id;
        a->wait_seq = w.seq;
        a->waited_s = waited_seconds(&w, version);
        copy_name(a->op, w.op);
        copy_name(a->group, wait_group);
    }
    a->step = w.step;
    copy_name(a->phase, w.phase);
}

/* Answers every question that has arrived. */
static void serve_questions(void) {
    for (;;) {
        int flag = 0;
        MPI_Status status;
        if (MPI_Test(&th.incoming_request, &flag, &status) != MPI_SUCCESS || !flag) return;
        int slot = -1;
        for (int i = 0; i < ANSWER_SLOTS && slot < 0; i++) {
            int done = 1;
            if (th.answer_requests[i] != MPI_REQUEST_NULL)
                MPI_Test(&th.answer_requests[i], &done, MPI_STATUS_IGNORE);
            if (done) slot = i;
        }
        if (slot >= 0) {
            make_answer(&th.incoming, &th.answers[slot]);
            MPI_Isend(&th.answers[slot], (int)sizeof(answer), MPI_BYTE, status.MPI_SOURCE,
                      TAG_ANSWER, th.census, &th.answer_requests[slot]);
        }
        if (MPI_Irecv(&th.incoming, (int)sizeof(question), MPI_BYTE, MPI_ANY_SOURCE, TAG_QUESTION,
                      th.census, &th.incoming_request) != MPI_SUCCESS)
            return;
    }
}

/* ---- timing out ------------------------------------------------------------------------- */

typedef struct text {
    char buf[MESSAGE_BYTES];
    size_t used;
} text;

static void say(text *t, const char *format, ...) {
    if (t->used >= sizeof t->buf) return;
    va_list args;
    va_start(args, format);
    int n = vsnprintf(t->buf + t->used, sizeof t->buf - t->used, format, args);
    va_end(args);
    if (n > 0) t->used += (size_t)n;
    if (t->used > sizeof t->buf) t->used = sizeof t->buf;
}

static void sleep_seconds(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Lists the world ranks of the members whose verdict equals `which`, LISTED_MAX at most,
 * with what they wait in for the ranks that answered but had not arrived, or that wait
 * in another collective under the same number (the ranks called different ones). */
enum { VERDICT_ARRIVED, VERDICT_BEHIND, VERDICT_SILENT, VERDICT_OTHER_OP };

static int list_ranks(text *t, const int *world, const int *verdict, const answer *answers,
                      int size, int which) {
    int listed = 0, total = 0;
    for (int i = 0; i < size; i++) {
        if (verdict[i] != which) continue;
        if (listed < LISTED_MAX) {
            say(t, "%s%d", listed ? ", " : "", world[i]);
            if (which == VERDICT_BEHIND || which == VERDICT_OTHER_OP) {
                const answer *a = &answers[i];
                if (a->waiting)
                    say(t, " (waiting %.1f s in %s #%llu on group \"%s\"", a->waited_s, a->op,
                        (unsigned long long)a->wait_seq, a->group);
                else
                    say(t, " (not in a collective");
                if (a->phase[0]) say(t, "; at %s %lld", a->phase, (long long)a->step);
                say(t, ")");
            }
            listed++;
        }
        total++;
    }
    if (total > listed) say(t, " and %d more", total - listed);
    return total;
}

/* A rank's answer about operation seq of group_id, which this rank waits in as op. */
static int verdict_of(const answer *a, uint64_t group_id, uint64_t seq, const char *op) {
    if (a->waiting && a->wait_group_id == group_id && a->wait_seq == seq &&
        strncmp(a->op, op ? op : "", NAME_BYTES - 1) != 0)
        return VERDICT_OTHER_OP;
    return a->posted > (int64_t)seq ? VERDICT_ARRIVED : VERDICT_BEHIND;
}

/* Asks the members of the group about operation seq (op here) and writes who arrived. */
static void census(text *t, uint64_t group_id, uint64_t seq, const char *op, int size,
                   const int *world, double grace_s) {
    /* the sends to silent ranks never complete: their buffer outlives this function */
    static question q;
    q = (question){group_id, seq};
    answer *answers = calloc((size_t)size, sizeof *answers);
    int *verdict = calloc((size_t)size, sizeof *verdict);
    MPI_Request *requests = malloc(sizeof *requests * (size_t)size * 2);
    if (!answers || !verdict || !requests) {
        say(t, "; out of memory asking the other ranks");
        free(answers);
        free(verdict);
        free(requests);
        return;
    }
    MPI_Request *sends = requests + size;
    for (int i = 0; i < size; i++) {
        requests[i] = sends[i] = MPI_REQUEST_NULL;
        verdict[i] = VERDICT_SILENT;
        if (world[i] == th.world_rank) {
            verdict[i] = VERDICT_ARRIVED;
        } else if (world[i] >= 0) {
            MPI_Irecv(&answers[i], (int)sizeof(answer), MPI_BYTE, world[i], TAG_ANSWER, th.census,
                      &requests[i]);
            MPI_Isend(&q, (int)sizeof q, MPI_BYTE, world[i], TAG_QUESTION, th.census, &sends[i]);
        }
    }
    double deadline = volt_clock_seconds() + grace_s;
    int pending = 1;
    while (pending && volt_clock_seconds() < deadline) {
        pending = 0;
        for (int i = 0; i < size; i++) {
            if (requests[i] == MPI_REQUEST_NULL) continue;
            int done = 0;
            MPI_Test(&requests[i], &done, MPI_STATUS_IGNORE);
            if (done)
                verdict[i] = verdict_of(&answers[i], group_id, seq, op);
            else
                pending = 1;
        }
        serve_questions(); /* the others ask this rank at the same time */
        if (pending) sleep_seconds(0.01);
    }
    int silent = 0, behind = 0, other = 0;
    for (int i = 0; i < size; i++) {
        silent += verdict[i] == VERDICT_SILENT;
        behind += verdict[i] == VERDICT_BEHIND;
        other += verdict[i] == VERDICT_OTHER_OP;
    }
    if (other) {
        say(t, "; the ranks called different collectives: ");
        list_ranks(t, world, verdict, answers, size, VERDICT_OTHER_OP);
        say(t, " under the same number (a rank skipped or added a collective before)");
    }
    if (silent + behind + other == 0) {
        say(t, "; every rank of the group has posted it, so the data does not move: a network "
               "or MPI failure between them");
    } else if (silent + behind > 0) {
        say(t, "; ranks that did not arrive: ");
        list_ranks(t, world, verdict, answers, size, VERDICT_BEHIND);
        if (silent) {
            if (behind) say(t, "; ");
            list_ranks(t, world, verdict, answers, size, VERDICT_SILENT);
            say(t, " (no answer within %.1f s: dead, unreachable, or stopped outside MPI)",
                grace_s);
        }
        say(t, "; arrived: ");
        list_ranks(t, world, verdict, answers, size, VERDICT_ARRIVED);
    } else {
        say(t, "; in this one: ");
        list_ranks(t, world, verdict, answers, size, VERDICT_ARRIVED);
    }
    /* answers and questions still in flight stay with MPI until the job ends: their
     * buffers are not freed */
    free(verdict);
}

static void exit_now(int signal_number) {
    (void)signal_number;
    _exit(VOLT_EXIT_COMM_TIMEOUT);
}

static const char *thread_level_name(int level) {
    return level == MPI_THREAD_SINGLE       ? "MPI_THREAD_SINGLE"
           : level == MPI_THREAD_FUNNELED   ? "MPI_THREAD_FUNNELED"
           : level == MPI_THREAD_SERIALIZED ? "MPI_THREAD_SERIALIZED"
                                            : "MPI_THREAD_MULTIPLE";
}

/* Reports the expired wait w and ends the job. */
_Noreturn static void time_out(const wait_view *w, double waited, double timeout_s) {
    double grace = timeout_s / 2 < 1 ? 1 : timeout_s / 2 > 10 ? 10 : timeout_s / 2;
    /* whatever happens from here (an MPI call of this thread that never returns, a
     * launcher behind a dead link), the process ends */
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = exit_now;
    sigemptyset(&action.sa_mask);
    sigaction(SIGALRM, &action, NULL);
    alarm((unsigned)(grace + ABORT_DELAY_S) + EXIT_FALLBACK_S);
    text *t = calloc(1, sizeof *t);
    static text fallback;
    if (!t) t = &fallback;
    int size = 0, *world = NULL;
    char group[NAME_BYTES] = "";
    pthread_mutex_lock(&registry_lock);
    for (const volt_watch_group *g = registry; g; g = g->next) {
        if (g->id != w->group_id || !w->group_id) continue;
        world = malloc(sizeof(int) * (size_t)g->size);
        if (world) {
            size = g->size;
            memcpy(world, g->world, sizeof(int) * (size_t)size);
        }
        copy_name(group, g->name);
    }
    pthread_mutex_unlock(&registry_lock);

    say(t, "[rank %d] error: comm.timeout_s: %s", th.world_rank, w->op ? w->op : "a wait");
    if (w->group_id) say(t, " #%llu", (unsigned long long)w->seq);
    if (w->count && w->type_name) say(t, " of %zu %s", w->count, w->type_name);
    if (w->group_id) say(t, " on group \"%s\" (%d ranks)", group, size);
    say(t, " made no progress for %.1f s (comm.timeout_s = %g)", waited, timeout_s);
    if (w->phase) say(t, " at %s %ld", w->phase, w->step);
    if (size > 1 && th.can_ask) {
        census(t, w->group_id, w->seq, w->op, size, world, grace);
    } else if (size > 1) {
        say(t,
            "; the ranks that did not arrive cannot be named: MPI runs at %s and asking them "
            "needs MPI_THREAD_MULTIPLE",
            thread_level_name(th.thread_level));
    }
    say(t, ". Ending the job (exit status %d).\n", VOLT_EXIT_COMM_TIMEOUT);
    fputs(t->buf, stderr);
    fflush(stderr);
    fflush(stdout);

    /* the other ranks' watchdogs fire about now: answer them, let them print */
    double until = volt_clock_seconds() + ABORT_DELAY_S;
    while (volt_clock_seconds() < until) {
        if (th.can_ask) serve_questions();
        sleep_seconds(0.02);
    }
    /* MPI_Abort from this thread is allowed under MPI_THREAD_MULTIPLE only; below it, the
     * exit itself tells the launcher (a rank that ends before MPI_Finalize ends the job) */
    if (th.can_ask) MPI_Abort(MPI_COMM_WORLD, VOLT_EXIT_COMM_TIMEOUT);
    _exit(VOLT_EXIT_COMM_TIMEOUT);
}

/* ---- the thread ------------------------------------------------------------------------- */

static struct timespec monotonic_after(double seconds) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long ns = ts.tv_nsec + (long long)(seconds * 1e9);
    ts.tv_sec += (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    return ts;
}

static void *watchdog_main(void *unused) {
    (void)unused;
    double last_tick = volt_clock_seconds();
    pthread_mutex_lock(&wd.lock);
    while (!wd.stop) {
        double tick = wd.timeout_s > 0 && wd.timeout_s / 10 < TICK_S ? wd.timeout_s / 10 : TICK_S;
        if (tick < 0.01) tick = 0.01;
        struct timespec until = monotonic_after(tick);
        pthread_cond_timedwait(&wd.wake, &wd.lock, &until);
        if (wd.stop) break;
        double timeout = wd.timeout_s;
        pthread_mutex_unlock(&wd.lock);
        /* a process stopped for a while (SIGSTOP, a suspended job) did not wait: time the
         * current wait afresh */
        double now = volt_clock_seconds();
        if (now - last_tick > 10 * tick + 1) seen.version = UINT64_MAX;
        last_tick = now;
        wait_view w;
        uint64_t version = live_read(&w);
        double waited = waited_seconds(&w, version);
        if (w.active && timeout > 0 && waited > timeout) time_out(&w, waited, timeout);
        if (th.can_ask) serve_questions();
        pthread_mutex_lock(&wd.lock);
    }
    pthread_mutex_unlock(&wd.lock);
    return NULL;
}

int volt_watchdog_start(void) {
    if (th.running) return VOLT_OK;
    const char *text_value = getenv("VOLT_COMM_TIMEOUT_S");
    if (text_value && *text_value) {
        char *end = NULL;
        double seconds = strtod(text_value, &end);
        if (*end != '\0')
            return VOLT_ERROR(VOLT_ERR_CONFIG, "VOLT_COMM_TIMEOUT_S=%s: expected seconds",
                              text_value);
        VOLT_CHECK(volt_watchdog_set_timeout(seconds));
    }
    VOLT_CHECK_MPI(MPI_Query_thread(&th.thread_level));
    th.can_ask = th.thread_level >= MPI_THREAD_MULTIPLE;
    VOLT_CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &th.world_rank));
    VOLT_CHECK_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &th.census));
    MPI_Comm_set_errhandler(th.census, MPI_ERRORS_RETURN);
    for (int i = 0; i < ANSWER_SLOTS; i++) th.answer_requests[i] = MPI_REQUEST_NULL;
    th.incoming_request = MPI_REQUEST_NULL;
    if (th.can_ask) {
        int code = MPI_Irecv(&th.incoming, (int)sizeof(question), MPI_BYTE, MPI_ANY_SOURCE,
                             TAG_QUESTION, th.census, &th.incoming_request);
        if (code != MPI_SUCCESS) {
            MPI_Comm_free(&th.census);
            return volt_mpi_error(code, "MPI_Irecv", __FILE__, __LINE__, __func__);
        }
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_destroy(&wd.wake);
    pthread_cond_init(&wd.wake, &attr);
    pthread_condattr_destroy(&attr);
    wd.stop = 0;
    int code = pthread_create(&th.thread, NULL, watchdog_main, NULL);
    if (code != 0) {
        if (th.can_ask) {
            MPI_Cancel(&th.incoming_request);
            MPI_Wait(&th.incoming_request, MPI_STATUS_IGNORE);
        }
        MPI_Comm_free(&th.census);
        return VOLT_ERROR(VOLT_ERR_IO, "cannot start the watchdog thread: %s", strerror(code));
    }
    th.running = 1;
    return VOLT_OK;
}

void volt_watchdog_stop(void) {
    if (!th.running) return;
    pthread_mutex_lock(&wd.lock);
    wd.stop = 1;
    pthread_cond_signal(&wd.wake);
    pthread_mutex_unlock(&wd.lock);
    pthread_join(th.thread, NULL);
    th.running = 0;
    if (th.incoming_request != MPI_REQUEST_NULL) {
        MPI_Cancel(&th.incoming_request);
        MPI_Wait(&th.incoming_request, MPI_STATUS_IGNORE);
    }
    /* answers still in flight go with the communicator */
    for (int i = 0; i < ANSWER_SLOTS; i++)
        if (th.answer_requests[i] != MPI_REQUEST_NULL) MPI_Request_free(&th.answer_requests[i]);
    MPI_Comm_free(&th.census);
}
