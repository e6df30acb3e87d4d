#ifndef RECKIT_CYAML_SHIM_H
#define RECKIT_CYAML_SHIM_H
// libyaml's event parser (Debian: libyaml-dev), for the OBD prior files. RecKit composes the
// events itself (RecOPE's YAMLNode) rather than through a YAML package built on full Foundation.
#include <yaml.h>
#endif
