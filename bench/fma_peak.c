/* This CPU's float32 peak, measured: every core runs independent chains of fused multiply-adds on the widest
 * vectors the compiler targets (-march=native: 512-bit with AVX-512, else 256-bit), enough chains to hide the FMA
 * latency, so the FMA pipes are the only limit. Prints one line: the best of 5 rounds in FLOP/s (an FMA is 2 FLOPs
 * per lane), the threads, the vector width in bits, and the chains' sum (so that the compiler keeps them).
 * Built and run by bench/peak.py. */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <time.h>

#ifdef __AVX512F__
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
#define STORE _mm512_storeu_ps
#else
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
#define STORE _mm256_storeu_ps
#endif
#define CHAINS 12

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv) {
    const long iters = 20000000L;
    double best = 0.0;
    float sink = 0.0f;
    for (int round = 0; round < 5; round++) {
        double start = now();
#pragma omp parallel reduction(+ : sink)
        {
            vec acc[CHAINS];
            for (int c = 0; c < CHAINS; c++) acc[c] = SET1((float)(argc + c));  /* distinct: no chain is merged */
            const vec a = SET1(0.999999f), b = SET1(1e-7f);
            for (long i = 0; i < iters; i++)
#pragma GCC unroll 12 /* = CHAINS: the chains stay in registers */
                for (int c = 0; c < CHAINS; c++) acc[c] = FMA(acc[c], a, b);
            vec sum = acc[0];
            for (int c = 1; c < CHAINS; c++) sum = ADD(sum, acc[c]);
            float lanes[LANES];
            STORE(lanes, sum);
            sink += lanes[0];
        }
        double flops = (double)omp_get_max_threads() * iters * CHAINS * LANES * 2 / (now() - start);
        if (flops > best) best = flops;
    }
    printf("%.6e %d %d %g\n", best, omp_get_max_threads(), LANES * 32, sink);
    return 0;
}
