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
#endif
