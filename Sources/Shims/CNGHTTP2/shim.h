/// C shim for nghttp2: the library header plus small inline helpers for Swift.
#ifndef BYOC_CNGHTTP2_SHIM_H
#define BYOC_CNGHTTP2_SHIM_H
#include <nghttp2/nghttp2.h>

/// Builds a name/value pair without copying; the pointers must outlive the submit call.
static inline nghttp2_nv byoc_nv(const uint8_t *name, size_t namelen,
                                 const uint8_t *value, size_t valuelen, uint8_t flags) {
    nghttp2_nv nv;
    nv.name = (uint8_t *)name;
    nv.value = (uint8_t *)value;
    nv.namelen = namelen;
    nv.valuelen = valuelen;
    nv.flags = flags;
    return nv;
}

/// The data provider read-callback type, named so Swift can build one.
typedef ssize_t (*byoc_data_source_read_cb)(nghttp2_session *, int32_t, uint8_t *, size_t,
                                            uint32_t *, nghttp2_data_source *, void *);

/// Builds a data provider whose source is an opaque pointer.
static inline nghttp2_data_provider byoc_data_provider(void *ptr, byoc_data_source_read_cb cb) {
    nghttp2_data_provider p;
    p.source.ptr = ptr;
    p.read_callback = cb;
    return p;
}

/// Frame type of a frame (the union's common header).
static inline uint8_t byoc_frame_type(const nghttp2_frame *f) { return f->hd.type; }
/// Flags of a frame.
static inline uint8_t byoc_frame_flags(const nghttp2_frame *f) { return f->hd.flags; }
/// Stream id of a frame.
static inline int32_t byoc_frame_stream_id(const nghttp2_frame *f) { return f->hd.stream_id; }
/// Data bytes of a DATA frame (its length without padding).
static inline size_t byoc_frame_data_length(const nghttp2_frame *f) { return f->hd.length - f->data.padlen; }
/// Category of a HEADERS frame.
static inline nghttp2_headers_category byoc_frame_headers_cat(const nghttp2_frame *f) { return f->headers.cat; }
/// Error code of a RST_STREAM frame.
static inline uint32_t byoc_frame_rst_error(const nghttp2_frame *f) { return f->rst_stream.error_code; }
/// Last stream id of a GOAWAY frame.
static inline int32_t byoc_frame_goaway_last_stream_id(const nghttp2_frame *f) { return f->goaway.last_stream_id; }
/// Error code of a GOAWAY frame.
static inline uint32_t byoc_frame_goaway_error(const nghttp2_frame *f) { return f->goaway.error_code; }

#endif
