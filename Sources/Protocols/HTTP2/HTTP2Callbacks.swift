import CNGHTTP2

// nghttp2 callbacks: private free functions that recover the session from user_data.

/// Runs `body` with the session behind `userData` without retaining it: nghttp2 calls
/// back only from inside `mem_recv`/`mem_send`, which the session itself is running.
@inline(__always)
private func withOwner<T>(_ userData: UnsafeMutableRawPointer?, _ body: (HTTP2Session) -> T) -> T {
    Unmanaged<HTTP2Session>.fromOpaque(userData!)._withUnsafeGuaranteedRef(body)
}

/// The data source read callback shared by every stream with a body.
let dataSourceRead: byoc_data_source_read_cb = { _, _, buffer, length, flags, source, _ in
    guard let pointer = source?.pointee.ptr, let buffer, let flags else {
        return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue)
    }
    // The session holds the stream while nghttp2 may read from it.
    return Unmanaged<HTTP2Stream>.fromOpaque(pointer)._withUnsafeGuaranteedRef { stream in
        stream.readOutbound(into: UnsafeMutableRawBufferPointer(start: buffer, count: length), flags: flags)
    }
}

extension HTTP2Session {
    func installSessionCallbacks(_ callbacks: OpaquePointer) {
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, userData in
            guard let frame else { return 0 }
            return withOwner(userData) {
                $0.beginHeaders(streamID: byoc_frame_stream_id(frame), category: byoc_frame_headers_cat(frame))
            }
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, userData in
            guard let frame else { return 0 }
            return withOwner(userData) {
                $0.header(streamID: byoc_frame_stream_id(frame),
                          name: UnsafeRawBufferPointer(start: name, count: nameLength),
                          value: UnsafeRawBufferPointer(start: value, count: valueLength))
            }
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, userData in
            guard let frame else { return 0 }
            return withOwner(userData) { $0.frameReceived(frame) }
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, streamID, data, length, userData in
            withOwner(userData) { $0.dataChunk(streamID: streamID, data: UnsafeRawBufferPointer(start: data, count: length)) }
        }
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks) { _, frame, userData in
            guard let frame else { return 0 }
            return withOwner(userData) { $0.frameSent(frame) }
        }
        nghttp2_session_callbacks_set_on_frame_not_send_callback(callbacks) { _, frame, _, userData in
            guard let frame else { return 0 }
            return withOwner(userData) { $0.frameNotSent(frame) }
        }
        // Frames of the extension types the session registered (unknown types, server side):
        // their payload is skipped (no chunk callback), each complete frame is counted here.
        nghttp2_session_callbacks_set_unpack_extension_callback(callbacks) { _, _, _, userData in
            withOwner(userData) { $0.extensionFrame() }
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, errorCode, userData in
            withOwner(userData) { $0.streamClosed(streamID: streamID, errorCode: errorCode) }
        }
    }
}
