// OpenMPI's predefined handles are macros over addresses of globals, which Swift does not
// import: these inline functions return them.
#include <mpi.h>

static inline MPI_Comm reckit_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype reckit_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype reckit_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype reckit_mpi_int(void) { return MPI_INT; }
static inline MPI_Op reckit_mpi_sum(void) { return MPI_SUM; }
static inline void *reckit_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int reckit_mpi_success(void) { return MPI_SUCCESS; }
