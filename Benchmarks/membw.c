// Read bandwidth of this machine, for the decode "bandwidth bound" in BENCHMARKS.md: THREADS threads each sum their
// share of a buffer much larger than the caches (AVX-512 loads where available, software prefetch 2 KB ahead, as the
// decode kernels read weights). Prints {"read_gb_s": median of REPS passes, "threads": N, "bytes": B}.
// usage: membw [threads=2] [MiB=2048] [reps=7]      build: cc -O2 -march=native -pthread membw.c -o membw
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <immintrin.h>

typedef struct { const uint8_t *p; size_t n; double sink; pthread_barrier_t *bar; } job;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

static void *run(void *arg) {
    job *j = arg;
    pthread_barrier_wait(j->bar);
#if defined(__AVX512F__)
    __m512i acc = _mm512_setzero_si512();
    for (size_t i = 0; i < j->n; i += 256) {
        _mm_prefetch((const char *)j->p + i + 2048, _MM_HINT_T0);
        _mm_prefetch((const char *)j->p + i + 2048 + 64, _MM_HINT_T0);
        _mm_prefetch((const char *)j->p + i + 2048 + 128, _MM_HINT_T0);
        _mm_prefetch((const char *)j->p + i + 2048 + 192, _MM_HINT_T0);
        acc = _mm512_add_epi64(acc, _mm512_load_si512(j->p + i));
        acc = _mm512_add_epi64(acc, _mm512_load_si512(j->p + i + 64));
        acc = _mm512_add_epi64(acc, _mm512_load_si512(j->p + i + 128));
        acc = _mm512_add_epi64(acc, _mm512_load_si512(j->p + i + 192));
    }
    j->sink = (double)_mm512_reduce_add_epi64(acc);
#else
    uint64_t s = 0;
    for (size_t i = 0; i < j->n; i += 8) s += *(const uint64_t *)(j->p + i);
    j->sink = (double)s;
#endif
    pthread_barrier_wait(j->bar);
    return 0;
}

static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2, reps = argc > 3 ? atoi(argv[3]) : 7;
    size_t bytes = (size_t)(argc > 2 ? atoi(argv[2]) : 2048) << 20;
    uint8_t *buf = aligned_alloc(4096, bytes);
    memset(buf, 1, bytes);
    double best[64];
    pthread_barrier_t bar;
    for (int r = 0; r < reps && r < 64; r++) {
        pthread_barrier_init(&bar, 0, threads + 1);
        job jobs[64];
        pthread_t th[64];
        size_t share = bytes / threads / 256 * 256;
        for (int t = 0; t < threads; t++) {
            jobs[t] = (job){ buf + t * share, share, 0, &bar };
            pthread_create(&th[t], 0, run, &jobs[t]);
        }
        pthread_barrier_wait(&bar);
        double t0 = now();
        pthread_barrier_wait(&bar);
        best[r] = share * threads / (now() - t0) / 1e9;
        for (int t = 0; t < threads; t++) pthread_join(th[t], 0);
        pthread_barrier_destroy(&bar);
    }
    qsort(best, reps, sizeof(double), cmp);
    printf("{\"read_gb_s\": %.2f, \"threads\": %d, \"bytes\": %zu}\n", best[reps / 2], threads, bytes);
    return 0;
}
