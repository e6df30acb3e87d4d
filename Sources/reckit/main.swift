// The `reckit` command line; its commands live in the ReckitCLI library (shared with
// integrations/mpi's `reckit-mpi`, which runs `train` over MPI with the same options).
import ReckitCLI

Reckit.main()
