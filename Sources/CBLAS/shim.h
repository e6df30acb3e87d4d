#ifndef RECKIT_CBLAS_SHIM_H
#define RECKIT_CBLAS_SHIM_H
// OpenBLAS's CBLAS interface (also declares openblas_set_num_threads,
// openblas_get_num_threads, openblas_get_corename, openblas_get_config)
// and LAPACKE, which Debian ships outside OpenBLAS.
#include <cblas.h>
#include <lapacke.h>
#endif
