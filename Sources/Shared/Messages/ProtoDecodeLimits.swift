// The wire-format pre-scan every decode runs before protobuf-c unpacks: it refuses hostile
// shapes (millions of tiny repeated entries, megabytes of unknown fields) by count while reading
// the bytes, before protobuf-c allocates a struct, a pointer and a copy for each of them.
import CProtobufC

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Ceilings on one message's wire encoding, checked before protobuf-c allocates anything.
///
/// Entries of a packed repeated scalar field are not counted: their decoded size is at most
/// eight times their wire size (a one-byte varint becomes an `int64`), so the message size
/// limit bounds them. Every other repeated entry (string, bytes, message, map entry, unpacked
/// scalar) costs protobuf-c an allocation for as little as two wire bytes, and is counted.
public struct ProtoDecodeLimits: Sendable, Equatable {
    /// Entries of one repeated or map field, in one message instance.
    public var maxEntriesPerField: Int
    /// Field occurrences in the whole message tree.
    public var maxFields: Int
    /// Fields the descriptor does not know, in the whole tree (protobuf-c keeps a copy of each).
    public var maxUnknownFields: Int
    /// Wire bytes of those unknown fields, tags included.
    public var maxUnknownBytes: Int
    /// Nesting of messages below the top one.
    public var maxDepth: Int

    public init(maxEntriesPerField: Int, maxFields: Int, maxUnknownFields: Int, maxUnknownBytes: Int, maxDepth: Int) {
        self.maxEntriesPerField = maxEntriesPerField
        self.maxFields = maxFields
        self.maxUnknownFields = maxUnknownFields
        self.maxUnknownBytes = maxUnknownBytes
        self.maxDepth = maxDepth
    }

    /// What every decode without explicit limits applies: generous enough for any message a
    /// model or client legitimately sends within the 64 MiB message limit.
    public static let standard = ProtoDecodeLimits(maxEntriesPerField: 1 << 20, maxFields: 1 << 22,
                                                   maxUnknownFields: 1 << 16, maxUnknownBytes: 1 << 24, maxDepth: 32)

    /// Checks `bytes` against the limits and the string rules (valid UTF-8, no NUL) while
    /// walking them with `descriptor`. Malformed wire data ends the walk without an error:
    /// protobuf-c refuses it next.
    func check(_ bytes: UnsafeRawBufferPointer, _ descriptor: UnsafePointer<ProtobufCMessageDescriptor>,
               messageName: String) throws {
        var scan = WireScan(limits: self)
        if let failure = scan.message(bytes, descriptor, path: "", depth: 0) {
            throw ProtoDecodeError(message: "invalid \(messageName): \(failure)")
        }
    }
}

/// One pre-scan of a message tree: the totals across the tree and the first rule broken.
private struct WireScan {
    let limits: ProtoDecodeLimits
    var fields = 0
    var unknownFields = 0
    var unknownBytes = 0

    init(limits: ProtoDecodeLimits) { self.limits = limits }

    /// Walks one message; returns why it is refused, or nil (also for malformed wire data).
    mutating func message(_ bytes: UnsafeRawBufferPointer, _ descriptor: UnsafePointer<ProtobufCMessageDescriptor>,
                          path: String, depth: Int) -> String? {
        if depth > limits.maxDepth {
            return "message \(path) is nested deeper than \(limits.maxDepth) levels"
        }
        let fieldCount = Int(descriptor.pointee.n_fields)
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: Swift.max(fieldCount, 1)) { entries in
            entries.initialize(repeating: 0)
            var reader = WireReader(bytes)
            while !reader.atEnd {
                let start = reader.index
                guard let tag = reader.varint() else { return nil }
                let wireType = tag & 7
                var payload = UnsafeRawBufferPointer(start: nil, count: 0)
                switch wireType {
                case 0: guard reader.varint() != nil else { return nil }
                case 1: guard reader.skip(8) else { return nil }
                case 5: guard reader.skip(4) else { return nil }
                case 2:
                    guard let length = reader.varint(), let body = reader.take(length) else { return nil }
                    payload = body
                default: return nil  // groups and invalid wire types: protobuf-c decides
                }
                fields += 1
                if fields > limits.maxFields {
                    return "more than \(limits.maxFields) fields in the message"
                }
                guard let field = protobuf_c_message_descriptor_get_field(descriptor, UInt32(truncatingIfNeeded: tag >> 3)) else {
                    unknownFields += 1
                    unknownBytes += reader.index - start
                    if unknownFields > limits.maxUnknownFields {
                        return "more than \(limits.maxUnknownFields) unknown fields"
                    }
                    if unknownBytes > limits.maxUnknownBytes {
                        return "more than \(limits.maxUnknownBytes) bytes of unknown fields"
                    }
                    continue
                }
                let name = path.isEmpty ? String(cString: field.pointee.name) : "\(path).\(String(cString: field.pointee.name))"
                let type = field.pointee.type
                let lengthDelimited = type == byoc_protobuf_c_type_string() || type == byoc_protobuf_c_type_bytes()
                    || type == byoc_protobuf_c_type_message()
                if field.pointee.label == byoc_protobuf_c_label_repeated() && (wireType != 2 || lengthDelimited) {
                    let index = field - UnsafePointer(descriptor.pointee.fields)
                    entries[index] += 1
                    if entries[index] > limits.maxEntriesPerField {
                        return "field \(name) has more than \(limits.maxEntriesPerField) entries"
                    }
                }
                guard wireType == 2 else { continue }
                if type == byoc_protobuf_c_type_string() {
                    if let failure = Self.string(payload, name) { return failure }
                } else if type == byoc_protobuf_c_type_message() {
                    let nested = field.pointee.descriptor.assumingMemoryBound(to: ProtobufCMessageDescriptor.self)
                    if let failure = message(payload, nested, path: name, depth: depth + 1) { return failure }
                }
            }
            return nil
        }
    }

    /// Why a string field's bytes are refused: a NUL (protobuf-c keeps C strings, so the value
    /// would be cut short silently) or invalid UTF-8 (proto3 strings are UTF-8).
    static func string(_ bytes: UnsafeRawBufferPointer, _ name: String) -> String? {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return nil }
        if memchr(base, 0, bytes.count) != nil { return "string field \(name) contains a NUL character" }
        if String(validating: bytes.assumingMemoryBound(to: UInt8.self), as: UTF8.self) == nil {
            return "string field \(name) is not valid UTF-8"
        }
        return nil
    }
}

/// Reads varints and byte runs from wire data; every read returns nil at the end of the data.
private struct WireReader {
    let bytes: UnsafeRawBufferPointer
    var index = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var atEnd: Bool { index >= bytes.count }

    mutating func varint() -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.count, shift < 64 {
            let byte = bytes[index]
            index += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        return nil
    }

    mutating func skip(_ count: Int) -> Bool {
        guard count <= bytes.count - index else { return false }
        index += count
        return true
    }

    mutating func take(_ count: UInt64) -> UnsafeRawBufferPointer? {
        guard count <= UInt64(bytes.count - index) else { return nil }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[index..<(index + Int(count))])
        index += Int(count)
        return slice
    }
}
