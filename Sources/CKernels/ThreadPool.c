// A small persistent thread pool for the project's parallel loops (see CKernels.h, sd_pool_run).
//
// Why not GCD's concurrentPerform: single-token decoding makes ~120 parallel matrix products per
// token, each a few hundred microseconds; waking a sleeping worker through a semaphore for each
// costs tens of microseconds (milliseconds per token). Here a helper that has just finished
// spins briefly for the next job, so back-to-back jobs cost about a microsecond, and then
// sleeps on a futex, so an idle pool costs nothing. While spinning, a waiter yields the core
// after a few microseconds (sched_yield), and spin budgets shrink when spins fail.
//
// Tasks are claimed dynamically, like GCD's: the caller and the helpers take task indices from
// one counter until none is left, and the caller waits only for the tasks that were claimed. On
// a loaded machine a descheduled helper therefore never holds up a job: the caller runs the
// tasks itself. Which thread runs a task does not change what the task computes.
//
// Protocol. The caller owns the pool for one job (trylock; a nested or concurrent call gets 0
// and runs its loop another way). It stores fn/ctx/tasks, publishes `claim` = (ticket << 32 | 0)
// and gives each helper the ticket in its own futex word `go`, waking it if it sleeps. Every
// thread claims index i by a compare-and-swap of (ticket, i) to (ticket, i + 1), so a helper
// that wakes late, after its job ended, cannot claim from the next one; fn/ctx/tasks are written
// before `claim` is published and read after a successful claim, when they are the job's.
// Finished tasks are counted in `done`; the caller waits for done == tasks, and the thread that
// finishes the last task wakes it if it sleeps. Sleeping flags are set before the final check of
// the awaited word and read after the awaited word is written (all sequentially consistent), so
// no wake-up is lost.
#include "CKernels.h"

#if defined(__linux__)
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SD_PAUSE() _mm_pause()
#else
#define SD_PAUSE() ((void)0)
#endif

#define SD_POOL_MAX 256

typedef struct {
    _Atomic uint32_t go;       // ticket of the last job given to this helper
    _Atomic int sleeping;      // 1 while the helper waits on `go` in the kernel
    char pad[64 - 2 * sizeof(int)];
} sd_helper;

static struct {
    pthread_mutex_t lock;
    int started;                          // helpers created (ids 1...started)
    uint32_t ticket;                      // last ticket handed out
    void (*fn)(void *, int);
    void *ctx;
    _Atomic uint64_t job;                 // ticket << 32 | number of tasks of that job
    _Atomic uint64_t claim;               // ticket << 32 | next task index
    _Atomic uint32_t done;                // tasks of the current job finished
    _Atomic int main_sleeping;            // 1 while the caller waits on `done`
    long main_budget;                     // the caller's adaptive spin budget (ns)
    sd_helper helpers[SD_POOL_MAX];
} sd_pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static _Atomic long sd_spin_ns = -1;

static long sd_spin_budget(void) {
    long v = atomic_load_explicit(&sd_spin_ns, memory_order_relaxed);
    if (v >= 0) return v;
    v = 50000;  // 50 microseconds
    const char *s = getenv("SPECDISTILL_SPIN_US");
    if (s) {
        long us = atol(s);
        if (us >= 0 && us <= 1000000) v = us * 1000;
    }
    atomic_store_explicit(&sd_spin_ns, v, memory_order_relaxed);
    return v;
}

static inline long sd_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static void sd_futex_wait(_Atomic uint32_t *word, uint32_t expected) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void sd_futex_wake(_Atomic uint32_t *word) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static int sd_spin_for(_Atomic uint32_t *word, uint32_t value, long budget) {
    long start = 0;
    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(word, memory_order_acquire) != value) return 1;
        if ((i & 63) == 63) {
            long t = sd_now_ns();
            if (start == 0) start = t;
            else if (t - start >= budget) return 0;
            if (t - start > 5000) sched_yield();
        }
        SD_PAUSE();
    }
}

// Spins (pause, then sched_yield after 5 us) until *word != value or *budget nanoseconds have
// passed. Returns 1 when the word changed. The budget adapts: a spin that ends in sleep halves
// it (down to 2 us), a successful one doubles it (up to SPECDISTILL_SPIN_US). On a loaded machine
// the thread being waited for is often descheduled and the spins fail, so they shrink instead of
// taking the core from it; on a quiet one they stay long enough to catch the next job.
static int sd_spin_until_changed(_Atomic uint32_t *word, uint32_t value, long *budget_ns) {
    const long cap = sd_spin_budget();
    if (*budget_ns <= 0 || *budget_ns > cap) *budget_ns = cap;
    int changed = sd_spin_for(word, value, *budget_ns);
    if (changed) *budget_ns = *budget_ns * 2 > cap ? cap : *budget_ns * 2;
    else *budget_ns = *budget_ns / 2 < 2000 ? (cap < 2000 ? cap : 2000) : *budget_ns / 2;
    return changed;
}

// Claims and runs tasks of job `ticket` until none is left.
static void sd_run_tasks(uint32_t ticket) {
    uint64_t c = atomic_load(&sd_pool.claim);
    for (;;) {
        if ((uint32_t)(c >> 32) != ticket) return;
        // The task count must be this ticket's: the next caller writes its job word before it
        // publishes its claim, so a stale claim (this ticket, index == old count) read together
        // with the next job's larger count would otherwise be claimable (seen as a task of the
        // next job run before that job started, and `done` counted twice).
        uint64_t job = atomic_load(&sd_pool.job);
        if ((uint32_t)(job >> 32) != ticket) return;
        uint32_t tasks = (uint32_t)job;
        if ((uint32_t)c >= tasks) return;
        if (!atomic_compare_exchange_weak(&sd_pool.claim, &c, c + 1)) continue;  // c reloaded
        // Claimed: the job stays current until this task is counted in `done`.
        sd_pool.fn(sd_pool.ctx, (int)(uint32_t)c);
        if (atomic_fetch_add(&sd_pool.done, 1) + 1 == tasks && atomic_load(&sd_pool.main_sleeping))
            sd_futex_wake(&sd_pool.done);
        c = atomic_load(&sd_pool.claim);
    }
}

static void *sd_helper_main(void *arg) {
    sd_helper *h = &sd_pool.helpers[(intptr_t)arg];
    uint32_t seen = 0;
    long budget = 0;
    for (;;) {
        if (!sd_spin_until_changed(&h->go, seen, &budget)) {
            atomic_store(&h->sleeping, 1);
            while (atomic_load(&h->go) == seen) sd_futex_wait(&h->go, seen);
            atomic_store(&h->sleeping, 0);
        }
        seen = atomic_load(&h->go);
        sd_run_tasks(seen);
    }
    return NULL;
}

int sd_pool_run(int tasks, int threads, void (*fn)(void *ctx, int task), void *ctx) {
    if (threads > tasks) threads = tasks;
    if (threads > SD_POOL_MAX) threads = SD_POOL_MAX;
    if (threads <= 1) {
        for (int i = 0; i < tasks; i++) fn(ctx, i);
        return 1;
    }
    if (pthread_mutex_trylock(&sd_pool.lock) != 0) return 0;
    while (sd_pool.started < threads - 1) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int ok = pthread_create(&t, &attr, sd_helper_main, (void *)(intptr_t)(sd_pool.started + 1)) == 0;
        pthread_attr_destroy(&attr);
        if (!ok) { pthread_mutex_unlock(&sd_pool.lock); return 0; }
        sd_pool.started++;
    }
    uint32_t ticket = ++sd_pool.ticket;
    if (ticket == 0) ticket = ++sd_pool.ticket;  // helpers start having seen ticket 0
    sd_pool.fn = fn;
    sd_pool.ctx = ctx;
    atomic_store(&sd_pool.job, (uint64_t)ticket << 32 | (uint32_t)tasks);
    atomic_store(&sd_pool.done, 0);
    atomic_store(&sd_pool.claim, (uint64_t)ticket << 32);
    for (int i = 1; i < threads; i++) {
        sd_helper *h = &sd_pool.helpers[i];
        atomic_store(&h->go, ticket);
        if (atomic_load(&h->sleeping)) sd_futex_wake(&h->go);
    }
    sd_run_tasks(ticket);
    uint32_t d = atomic_load(&sd_pool.done);
    while (d != (uint32_t)tasks) {
        if (!sd_spin_until_changed(&sd_pool.done, d, &sd_pool.main_budget)) {
            atomic_store(&sd_pool.main_sleeping, 1);
            while ((d = atomic_load(&sd_pool.done)) != (uint32_t)tasks) sd_futex_wait(&sd_pool.done, d);
            atomic_store(&sd_pool.main_sleeping, 0);
        }
        d = atomic_load(&sd_pool.done);
    }
    pthread_mutex_unlock(&sd_pool.lock);
    return 1;
}
#else
int sd_pool_run(int tasks, int threads, void (*fn)(void *ctx, int task), void *ctx) {
    if (threads <= 1 || tasks <= 1) {
        for (int i = 0; i < tasks; i++) fn(ctx, i);
        return 1;
    }
    return 0;
}
#endif
