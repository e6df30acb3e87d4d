#ifndef RECKIT_CBLAS_SHIM_H
#define RECKIT_CBLAS_SHIM_H
// OpenBLAS's CBLAS interface (also declares openblas_set_num_threads,
// openblas_get_num_threads, openblas_get_corename, openblas_get_config)
// and LAPACKE, which Debian ships outside OpenBLAS.
#include <cblas.h>
#include <lapacke.h>
#include <stdio.h>

// Flushes standard output and reports whether any write to it failed (C's stdout is a
// mutable global that Swift 6 will not touch from Swift code).
static inline int reckit_stdout_failed(void) {
    return fflush(stdout) != 0 || ferror(stdout) != 0;
}

// The vector features the including module was compiled for (bit 0: AVX2, 1: FMA, 2: AVX-512F):
// the compiler's target macros, so a RecCore built without -target-cpu reports 0.
static inline int reckit_compiled_features(void) {
    int f = 0;
#ifdef __AVX2__
    f |= 1;
#endif
#ifdef __FMA__
    f |= 2;
#endif
#ifdef __AVX512F__
    f |= 4;
#endif
    return f;
}

// The same features of the CPU this runs on (same bits).
static inline int reckit_host_features(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return (__builtin_cpu_supports("avx2") ? 1 : 0) | (__builtin_cpu_supports("fma") ? 2 : 0)
         | (__builtin_cpu_supports("avx512f") ? 4 : 0);
#else
    return 0;
#endif
}

// The CPU features that decide which OpenBLAS kernels (cores) can run (bit 0: AVX2, 1: FMA,
// 2: AVX-512F, 3: AVX-512BW, 4: AVX-512DQ, 5: AVX-512VL).
static inline int reckit_host_blas_features(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return (__builtin_cpu_supports("avx2") ? 1 : 0) | (__builtin_cpu_supports("fma") ? 2 : 0)
         | (__builtin_cpu_supports("avx512f") ? 4 : 0) | (__builtin_cpu_supports("avx512bw") ? 8 : 0)
         | (__builtin_cpu_supports("avx512dq") ? 16 : 0) | (__builtin_cpu_supports("avx512vl") ? 32 : 0);
#else
    return 0;
#endif
}

// Eight floats (Swift: SIMD8<Float>).
typedef float reckit_float8 __attribute__((ext_vector_type(8)));

// Stores `v` at `dst`, which must be 32-byte aligned, with a non-temporal (streaming) store: the
// line is not read first and what is in cache stays. Weakly ordered: end a run of them with
// reckit_store_fence() before another thread reads the data.
static inline void reckit_stream_store8(float *dst, reckit_float8 v) {
    __builtin_nontemporal_store(v, (reckit_float8 *)dst);
}

// Asks for the cache line holding `p` to be brought into the caches (a hint: no fault for any
// address, no effect on results).
static inline void reckit_prefetch(const void *p) {
    __builtin_prefetch(p, 0, 3);
}

// Orders the streaming stores before it with every store after it (sfence on x86).
static inline void reckit_store_fence(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_sfence();
#else
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

#endif
