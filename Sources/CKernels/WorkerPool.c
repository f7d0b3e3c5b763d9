// A small pool of persistent worker threads for decode-sized parallel work (see CKernels.h).
// Waking a sleeping thread costs tens of microseconds in a virtual machine (an inter-processor
// interrupt), which is as long as a whole single-token matrix product; these workers spin for a
// short while after each job, so the back-to-back products of one decoding step find them awake,
// and then sleep on a condition variable so an idle pool costs nothing.
#define _GNU_SOURCE
#include "CKernels.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SD_PAUSE() _mm_pause()
#else
#define SD_PAUSE() ((void)0)
#endif

#define SD_POOL_MAX 64
#define SD_SPIN_NS 100000  // a worker spins this long after its last job before sleeping

static pthread_mutex_t sd_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sd_cond = PTHREAD_COND_INITIALIZER;
static atomic_int sd_busy;              // 1 while a job runs (one job at a time)
static atomic_uint sd_generation;       // bumped for every job
static atomic_int sd_remaining;         // helpers that have not yet finished the current job
static int sd_started;                  // helper threads created (guarded by sd_mutex)
static int sd_sleepers;                 // helpers waiting on sd_cond (guarded by sd_mutex)
static sd_task_fn sd_fn;
static void *sd_ctx;
static int sd_workers;
static unsigned sd_start_generation[SD_POOL_MAX];  // the generation each helper was created in

static long long sd_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void *sd_helper(void *arg) {
    const int index = (int)(size_t)arg;  // 1-based: worker 0 is the caller
    // Not the current generation: the thread may first run after the job that created it was posted.
    unsigned seen = sd_start_generation[index];
    for (;;) {
        long long deadline = sd_now_ns() + SD_SPIN_NS;
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&sd_generation, memory_order_acquire)) == seen) {
            SD_PAUSE();
            if (++spins == 256) {
                spins = 0;
                if (sd_now_ns() > deadline) {
                    pthread_mutex_lock(&sd_mutex);
                    sd_sleepers++;
                    while (atomic_load_explicit(&sd_generation, memory_order_acquire) == seen)
                        pthread_cond_wait(&sd_cond, &sd_mutex);
                    sd_sleepers--;
                    pthread_mutex_unlock(&sd_mutex);
                    deadline = sd_now_ns() + SD_SPIN_NS;
                }
            }
        }
        seen = g;
        // Every helper acknowledges every job (those past the job's worker count without work),
        // so the job's parameters stay untouched until all helpers are done reading them.
        if (index < sd_workers) sd_fn(sd_ctx, index, sd_workers);
        atomic_fetch_sub_explicit(&sd_remaining, 1, memory_order_acq_rel);
    }
    return NULL;
}

int sd_pool_run(int workers, sd_task_fn fn, void *ctx) {
    if (workers <= 1 || workers > SD_POOL_MAX) return 0;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&sd_busy, &expected, 1)) return 0;  // nested or concurrent: caller runs serially
    pthread_mutex_lock(&sd_mutex);
    while (sd_started < workers - 1) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        sd_start_generation[sd_started + 1] = atomic_load_explicit(&sd_generation, memory_order_relaxed);
        int failed = pthread_create(&t, &attr, sd_helper, (void *)(size_t)(sd_started + 1));
        pthread_attr_destroy(&attr);
        if (failed) break;
        sd_started++;
    }
    if (sd_started < workers - 1) {
        pthread_mutex_unlock(&sd_mutex);
        atomic_store(&sd_busy, 0);
        return 0;
    }
    sd_fn = fn;
    sd_ctx = ctx;
    sd_workers = workers;
    atomic_store_explicit(&sd_remaining, sd_started, memory_order_relaxed);
    atomic_fetch_add_explicit(&sd_generation, 1, memory_order_acq_rel);
    if (sd_sleepers > 0) pthread_cond_broadcast(&sd_cond);
    pthread_mutex_unlock(&sd_mutex);

    fn(ctx, 0, workers);
    int spins = 0;
    while (atomic_load_explicit(&sd_remaining, memory_order_acquire) > 0) {
        SD_PAUSE();
        if (++spins == 4096) { spins = 0; sched_yield(); }  // a helper was preempted: let it run
    }
    atomic_store_explicit(&sd_busy, 0, memory_order_release);
    return 1;
}
