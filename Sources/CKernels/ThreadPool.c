// A small persistent thread pool for the project's parallel loops (see CKernels.h, sd_pool_run).
//
// Why not GCD's concurrentPerform: single-token decoding makes ~120 parallel matrix products per
// token, each a few hundred microseconds; waking a sleeping worker through a semaphore for each
// costs tens of microseconds (milliseconds per token). Here a worker that has just finished
// spins briefly for the next job, so back-to-back dispatches cost well under a microsecond,
// and then sleeps on a futex, so an idle or preempted pool costs nothing. While spinning,
// a waiter yields the core after a few microseconds (sched_yield), which keeps the spin cheap
// when the machine is loaded by other processes.
//
// Protocol. The dispatcher (the calling thread, worker 0) owns the pool for one job (trylock;
// a nested or concurrent call gets 0 and runs its loop another way). It stores the job, sets
// `remaining` to the number of helpers used, then gives each helper i < workers a new ticket in
// its own futex word `go` and wakes it if it sleeps. A helper runs fn(ctx, i) and decrements
// `remaining`; the last one wakes the dispatcher if it sleeps. Sleeping flags are set before the
// final check of the awaited word and read after the awaited word is written (both sequentially
// consistent), so no wake-up is lost.
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
    _Atomic uint32_t remaining;           // helpers of the current job not yet finished
    _Atomic int main_sleeping;            // 1 while the dispatcher waits on `remaining`
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

// Spins (pause, then sched_yield after 5 us) until *word != value or the budget is spent.
// Returns 1 when the word changed.
static int sd_spin_until_changed(_Atomic uint32_t *word, uint32_t value) {
    long budget = sd_spin_budget(), start = 0;
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

static void *sd_helper_main(void *arg) {
    const int id = (int)(intptr_t)arg;
    sd_helper *h = &sd_pool.helpers[id];
    uint32_t seen = 0;
    for (;;) {
        if (!sd_spin_until_changed(&h->go, seen)) {
            atomic_store(&h->sleeping, 1);
            while (atomic_load(&h->go) == seen) sd_futex_wait(&h->go, seen);
            atomic_store(&h->sleeping, 0);
        }
        seen = atomic_load_explicit(&h->go, memory_order_acquire);
        sd_pool.fn(sd_pool.ctx, id);
        if (atomic_fetch_sub(&sd_pool.remaining, 1) == 1 && atomic_load(&sd_pool.main_sleeping))
            sd_futex_wake(&sd_pool.remaining);
    }
    return NULL;
}

int sd_pool_run(int workers, void (*fn)(void *ctx, int worker), void *ctx) {
    if (workers < 1 || workers > SD_POOL_MAX) return 0;
    if (workers == 1) { fn(ctx, 0); return 1; }
    if (pthread_mutex_trylock(&sd_pool.lock) != 0) return 0;
    while (sd_pool.started < workers - 1) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int ok = pthread_create(&t, &attr, sd_helper_main, (void *)(intptr_t)(sd_pool.started + 1)) == 0;
        pthread_attr_destroy(&attr);
        if (!ok) { pthread_mutex_unlock(&sd_pool.lock); return 0; }
        sd_pool.started++;
    }
    sd_pool.fn = fn;
    sd_pool.ctx = ctx;
    atomic_store(&sd_pool.remaining, (uint32_t)(workers - 1));
    uint32_t ticket = ++sd_pool.ticket;
    if (ticket == 0) ticket = ++sd_pool.ticket;  // helpers start having seen ticket 0
    for (int i = 1; i < workers; i++) {
        sd_helper *h = &sd_pool.helpers[i];
        atomic_store(&h->go, ticket);
        if (atomic_load(&h->sleeping)) sd_futex_wake(&h->go);
    }
    fn(ctx, 0);
    uint32_t r = atomic_load(&sd_pool.remaining);
    while (r != 0) {
        if (!sd_spin_until_changed(&sd_pool.remaining, r)) {
            atomic_store(&sd_pool.main_sleeping, 1);
            while ((r = atomic_load(&sd_pool.remaining)) != 0) sd_futex_wait(&sd_pool.remaining, r);
            atomic_store(&sd_pool.main_sleeping, 0);
        }
        r = atomic_load(&sd_pool.remaining);
    }
    pthread_mutex_unlock(&sd_pool.lock);
    return 1;
}
#else
int sd_pool_run(int workers, void (*fn)(void *ctx, int worker), void *ctx) {
    if (workers == 1) { fn(ctx, 0); return 1; }
    return 0;
}
#endif
