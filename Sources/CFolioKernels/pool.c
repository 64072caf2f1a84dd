// A persistent worker pool for the forward pass. Decoding one token issues ~250 parallel loops of a few tens of
// microseconds each; waking sleeping threads for each (DispatchQueue.concurrentPerform) cost more than the loops
// themselves. Workers here spin briefly on a generation counter between loops, then sleep on a condition variable,
// and tasks are handed out dynamically (an atomic counter), so a core slowed by another process does less of the work.
//
// The pool is process-wide, like an OpenMP runtime: one set of compute threads for every model in the process.
// Submissions are serialized; a submission from inside a task (or while another thread's job runs on this thread)
// runs inline.
#include "CFolioKernels.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#define POOL_MAX_WORKERS 255
#define SPIN_NS 300000  // how long an idle worker polls before sleeping

typedef struct {
    pthread_mutex_t submit;        // one job at a time
    pthread_mutex_t lock;          // guards sleeping
    pthread_cond_t wake;
    int nworkers;
    _Atomic uint64_t generation;   // bumped for each job
    _Atomic uint64_t next;         // (job generation << 32) | next task index
    _Atomic int64_t done;          // tasks finished
    _Atomic int sleeping;
    int64_t ntasks;
    int participants;              // workers allowed to join this job (ids < participants)
    folio_task_fn fn;
    void *ctx;
} pool_t;

static pool_t *pool;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static _Thread_local int in_pool_task;

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/// Claims and runs tasks of job `gen` until none are left. A claim is a compare-and-swap on (generation, index), so a
/// thread still looping on a finished job can neither take nor skip an index of the next one.
static void run_tasks(pool_t *p, uint64_t gen) {
    const uint64_t tag = (gen & 0xffffffffu) << 32;
    uint64_t v = atomic_load_explicit(&p->next, memory_order_acquire);
    for (;;) {
        if ((v & 0xffffffff00000000u) != tag) return;
        const int64_t i = (int64_t)(v & 0xffffffffu);
        if (i >= p->ntasks) return;
        if (!atomic_compare_exchange_weak_explicit(&p->next, &v, v + 1, memory_order_acq_rel, memory_order_acquire)) continue;
        p->fn(p->ctx, i);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
        v = atomic_load_explicit(&p->next, memory_order_acquire);
    }
}

static void *worker(void *arg) {
    pool_t *p = pool;
    const int id = (int)(intptr_t)arg;
    in_pool_task = 1;
    uint64_t seen = 0;
    for (;;) {
        uint64_t g = atomic_load_explicit(&p->generation, memory_order_acquire);
        if (g == seen) {
            const uint64_t t0 = now_ns();
            int spins = 0;
            while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen) {
                CPU_RELAX();
                if (++spins % 256 == 0 && now_ns() - t0 > SPIN_NS) {
                    pthread_mutex_lock(&p->lock);
                    atomic_fetch_add(&p->sleeping, 1);
                    while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen)
                        pthread_cond_wait(&p->wake, &p->lock);
                    atomic_fetch_sub(&p->sleeping, 1);
                    pthread_mutex_unlock(&p->lock);
                    break;
                }
            }
        }
        seen = g;
        if (id < p->participants) run_tasks(p, g);
    }
    return 0;
}

static void pool_init(void) {
    // One thread per core this process may run on (its affinity: taskset, a cgroup cpuset, or a data-parallel
    // replica's share), not every online core.
    long n = folio_allowed_cpus(0, 0);
    if (n < 1) n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    pool_t *p = calloc(1, sizeof(pool_t));
    pthread_mutex_init(&p->submit, 0);
    pthread_mutex_init(&p->lock, 0);
    pthread_cond_init(&p->wake, 0);
    p->nworkers = (int)(n - 1 > POOL_MAX_WORKERS ? POOL_MAX_WORKERS : n - 1);
    pool = p;
    for (int i = 0; i < p->nworkers; i++) {
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &a, worker, (void *)(intptr_t)i) != 0) { p->nworkers = i; break; }
        pthread_attr_destroy(&a);
    }
}

void folio_parallel(int64_t ntasks, int threads, folio_task_fn fn, void *ctx) {
    if (ntasks <= 0) return;
    pthread_once(&pool_once, pool_init);
    pool_t *p = pool;
    if (threads <= 1 || ntasks == 1 || p->nworkers == 0 || in_pool_task || pthread_mutex_trylock(&p->submit) != 0) {
        // Serial: one thread asked for, nothing to split, no workers, nested, or the pool is busy with another job.
        for (int64_t i = 0; i < ntasks; i++) fn(ctx, i);
        return;
    }
    const uint64_t gen = atomic_load(&p->generation) + 1;
    p->fn = fn;
    p->ctx = ctx;
    p->ntasks = ntasks;
    p->participants = threads - 1;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_store_explicit(&p->next, (gen & 0xffffffffu) << 32, memory_order_release);
    atomic_store_explicit(&p->generation, gen, memory_order_release);
    if (atomic_load(&p->sleeping) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
    in_pool_task = 1;
    run_tasks(p, gen);
    in_pool_task = 0;
    while (atomic_load_explicit(&p->done, memory_order_acquire) < ntasks) CPU_RELAX();
    pthread_mutex_unlock(&p->submit);
}

int folio_pool_threads(void) {
    pthread_once(&pool_once, pool_init);
    return pool->nworkers + 1;
}
