#if canImport(Glibc)
import Glibc
#endif

/// Turns header names and values that arrive on every gRPC call into shared `String`s, so
/// the request path does not allocate a new string for `content-type: application/grpc`
/// and friends. Anything else is decoded as usual.
enum HeaderInterner {
    /// Candidates bucketed by UTF-8 length.
    struct Table {
        let buckets: [[(bytes: [UInt8], string: String)]]

        init(_ strings: [String]) {
            let longest = strings.map(\.utf8.count).max() ?? 0
            var buckets = [[(bytes: [UInt8], string: String)]](repeating: [], count: longest + 1)
            for string in strings { buckets[string.utf8.count].append((Array(string.utf8), string)) }
            self.buckets = buckets
        }

        /// The shared string equal to `bytes`, or a newly decoded one.
        @inline(__always)
        func string(_ bytes: UnsafeRawBufferPointer) -> String {
            if bytes.count < buckets.count, let base = bytes.baseAddress {
                for candidate in buckets[bytes.count] where candidate.bytes.withUnsafeBytes({ memcmp($0.baseAddress!, base, bytes.count) == 0 }) {
                    return candidate.string
                }
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    static let names = Table([
        ":method", ":path", ":scheme", ":authority", ":status", "content-type", "te", "user-agent",
        "grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "grpc-status", "grpc-message",
        "accept-encoding", "authorization", "byoc-model", "byoc-version", "byoc-served-by", "content-length",
    ])

    static let values = Table([
        "POST", "GET", "http", "https", "200", "0", "trailers", "identity", "gzip", "identity,deflate,gzip",
        "application/grpc", "application/grpc+proto", "/byoc.v1.Inference/Predict",
        "/inference.GRPCInferenceService/ModelInfer", "/inference.GRPCInferenceService/ModelMetadata",
        "/grpc.health.v1.Health/Check",
    ])
}
