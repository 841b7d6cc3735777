/// C shim for protobuf-c.
#ifndef BYOC_CPROTOBUFC_SHIM_H
#define BYOC_CPROTOBUFC_SHIM_H
#include <protobuf-c/protobuf-c.h>
#endif
