// The primitives are inline functions in include/csimd.h; this file gives the target a source.
#include "csimd.h"
