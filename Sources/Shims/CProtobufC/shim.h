/// C shim for protobuf-c.
#ifndef BYOC_CPROTOBUFC_SHIM_H
#define BYOC_CPROTOBUFC_SHIM_H
#include <protobuf-c/protobuf-c.h>

/// Field type constants (an anonymous C enum that Swift does not import by name).
static inline ProtobufCType byoc_protobuf_c_type_string(void) { return PROTOBUF_C_TYPE_STRING; }
static inline ProtobufCType byoc_protobuf_c_type_message(void) { return PROTOBUF_C_TYPE_MESSAGE; }
static inline ProtobufCType byoc_protobuf_c_type_bytes(void) { return PROTOBUF_C_TYPE_BYTES; }
/// Label constant of repeated (and map) fields.
static inline ProtobufCLabel byoc_protobuf_c_label_repeated(void) { return PROTOBUF_C_LABEL_REPEATED; }
#endif
