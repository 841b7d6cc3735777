// Runtime support of the generated bindings (Sources/Shared/Messages/Generated, by Protos/generate.sh):
// the ProtoMessage and ProtoEnum protocols and the helpers that move values between Swift and the
// protoc-c generated C structs. All encoding and decoding goes through protobuf-c.
import CProtobufC

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An error thrown when bytes are not a valid encoding of the expected message.
public struct ProtoDecodeError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What was wrong with the input.
    public var message: String

    /// Creates an error with a human-readable message.
    public init(message: String) { self.message = message }

    /// The message.
    public var description: String { message }
}

/// A protobuf message that is encoded and decoded through protobuf-c.
public protocol ProtoMessage {
    /// The full proto name, e.g. "byoc.v1.ModelVersion".
    static var protoMessageName: String { get }
    /// Creates a message with every field at its default value.
    init()
    /// Decodes a message from its wire encoding; throws `ProtoDecodeError` on bad input.
    init(serializedBytes: UnsafeRawBufferPointer) throws
    /// Returns the message's wire encoding (zero bytes when every field is at its default).
    func serializedBytes() -> [UInt8]
}

extension ProtoMessage {
    /// Decodes a message from its wire encoding held in an array.
    public init(serializedBytes bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { try Self(serializedBytes: $0) }
    }

    /// Decodes a message from its wire encoding held in an array slice (e.g. a gRPC frame body).
    public init(serializedBytes bytes: ArraySlice<UInt8>) throws {
        self = try bytes.withUnsafeBytes { try Self(serializedBytes: $0) }
    }
}

/// A protobuf enum: a Swift enum whose raw values are the proto numbers.
public protocol ProtoEnum: CaseIterable, RawRepresentable, Sendable where RawValue == Int32 {
    /// The proto name of the value, e.g. "READY" or "VERSION_STATE_UNSPECIFIED".
    var name: String { get }
}

extension ProtoEnum {
    /// Looks a value up by its proto name, ignoring case ("READY", "ready").
    public init?(name: String) {
        let upper = name.uppercased()
        guard let value = Self.allCases.first(where: { $0.name == upper }) else { return nil }
        self = value
    }
}

/// How a generated Swift message converts to and from its protoc-c struct.
protocol CMessageBinding {
    /// The protoc-c struct, e.g. `Byoc__V1__ModelVersion`.
    associatedtype CMessage
    /// The protoc-c `__init` function of the struct (it also sets the struct's descriptor).
    static var cInit: (UnsafeMutablePointer<CMessage>?) -> Void { get }
    /// Copies a decoded C struct.
    init(c: CMessage)
    /// Builds the C struct in `arena`.
    func toC(_ arena: CArena) -> UnsafeMutablePointer<CMessage>
}

extension CMessageBinding {
    /// The protobuf-c descriptor of the C struct, read from a struct that `cInit` initialized.
    static var cDescriptor: UnsafePointer<ProtobufCMessageDescriptor> {
        withUnsafeTemporaryAllocation(of: CMessage.self, capacity: 1) { buffer in
            cInit(buffer.baseAddress)
            return cBase(buffer.baseAddress!).pointee.descriptor
        }
    }
}

/// The `ProtobufCMessage` header that every protoc-c struct starts with.
private func cBase<C>(_ message: UnsafeMutablePointer<C>) -> UnsafeMutablePointer<ProtobufCMessage> {
    UnsafeMutableRawPointer(message).assumingMemoryBound(to: ProtobufCMessage.self)
}

// MARK: - Encoding: building C structs

/// Owns the C memory of one message tree being built for packing and frees it all on deinit.
///
/// Strings are copied as NUL-terminated UTF-8, so a Swift string containing U+0000 is
/// truncated at that character (protobuf-c represents strings as `char *`).
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []
    private var emptyString: UnsafeMutablePointer<CChar>?

    init() {}

    deinit {
        for block in blocks { free(block) }
    }

    /// Returns zeroed memory for `count` values of `T` (at least one), owned by the arena.
    func allocate<T>(_: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let count = Swift.max(count, 1)
        guard let raw = calloc(count, MemoryLayout<T>.stride) else {
            fatalError("Messages: out of memory allocating \(count) x \(T.self)")
        }
        blocks.append(raw)
        return raw.bindMemory(to: T.self, capacity: count)
    }

    /// Allocates one C message and runs its generated `__init` function on it.
    func message<T>(_ initialize: (UnsafeMutablePointer<T>?) -> Void) -> UnsafeMutablePointer<T> {
        let pointer = allocate(T.self, count: 1)
        initialize(pointer)
        return pointer
    }

    /// Copies a string as NUL-terminated UTF-8.
    func string(_ value: String) -> UnsafeMutablePointer<CChar> {
        if value.isEmpty {
            if let emptyString { return emptyString }
            let pointer = allocate(CChar.self, count: 1)
            emptyString = pointer
            return pointer
        }
        var value = value
        return value.withUTF8 { utf8 in
            let pointer = allocate(CChar.self, count: utf8.count + 1)  // zeroed: NUL-terminated
            UnsafeMutableRawPointer(pointer).copyMemory(from: utf8.baseAddress!, byteCount: utf8.count)
            return pointer
        }
    }

    /// Copies a repeated string field.
    func strings(_ values: [String]) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) {
        array(values.map { Optional(string($0)) })
    }

    /// Copies a repeated trivial (scalar or pointer) field; nil when empty.
    func array<T>(_ values: [T]) -> (Int, UnsafeMutablePointer<T>?) {
        guard !values.isEmpty else { return (0, nil) }
        let pointer = allocate(T.self, count: values.count)
        values.withUnsafeBufferPointer { pointer.initialize(from: $0.baseAddress!, count: $0.count) }
        return (values.count, pointer)
    }

    /// Copies a repeated bool field.
    func bools(_ values: [Bool]) -> (Int, UnsafeMutablePointer<protobuf_c_boolean>?) {
        array(values.map { $0 ? 1 : 0 })
    }

    /// Copies a singular bytes field; an empty value has a NULL pointer so it is not encoded.
    func binary(_ bytes: [UInt8]) -> ProtobufCBinaryData {
        let (count, pointer) = array(bytes)
        return ProtobufCBinaryData(len: count, data: pointer)
    }

    /// Copies a repeated bytes field; every element has a valid pointer, even when empty.
    func binaries(_ values: [[UInt8]]) -> (Int, UnsafeMutablePointer<ProtobufCBinaryData>?) {
        array(values.map { bytes -> ProtobufCBinaryData in
            let pointer = allocate(UInt8.self, count: bytes.count)
            bytes.withUnsafeBufferPointer { buffer in
                if let base = buffer.baseAddress { pointer.initialize(from: base, count: buffer.count) }
            }
            return ProtobufCBinaryData(len: bytes.count, data: pointer)
        })
    }

    /// Builds a repeated message field from Swift values.
    func messages<Value, C>(
        _ values: [Value], _ build: (Value) -> UnsafeMutablePointer<C>
    ) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<C>?>?) {
        array(values.map { Optional(build($0)) })
    }

    /// Builds a map field as protobuf-c entry messages, in key order so encoding is deterministic.
    func map<Key: Comparable, Value, Entry>(
        _ dictionary: [Key: Value],
        _ initializeEntry: (UnsafeMutablePointer<Entry>?) -> Void,
        _ fill: (UnsafeMutablePointer<Entry>, Key, Value) -> Void
    ) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<Entry>?>?) {
        array(dictionary.sorted { $0.key < $1.key }.map { key, value -> UnsafeMutablePointer<Entry>? in
            let entry = message(initializeEntry)
            fill(entry, key, value)
            return entry
        })
    }
}

/// Builds the C struct of `message` and packs it with protobuf-c.
func encodeMessage<M: CMessageBinding>(_ message: M) -> [UInt8] {
    let arena = CArena()
    return withExtendedLifetime(arena) {
        let c = UnsafePointer(cBase(message.toC(arena)))
        let size = protobuf_c_message_get_packed_size(c)
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            count = size == 0 ? 0 : protobuf_c_message_pack(c, buffer.baseAddress!)
            precondition(count == size, "protobuf-c packed \(count) bytes, expected \(size)")
        }
    }
}

// MARK: - Decoding: copying out of unpacked C structs

/// Unpacks `bytes` with protobuf-c, copies the C struct into an `M` and frees it.
///
/// Throws `ProtoDecodeError`, naming the message type, when the pre-scan refuses the bytes
/// (`ProtoDecodeLimits`, or a string field at any depth holding a NUL or invalid UTF-8) or
/// protobuf-c does.
func decodeMessage<M: CMessageBinding & ProtoMessage>(_ bytes: UnsafeRawBufferPointer,
                                                      limits: ProtoDecodeLimits = .standard) throws -> M {
    let descriptor = M.cDescriptor
    try limits.check(bytes, descriptor, messageName: M.protoMessageName)
    var empty: UInt8 = 0
    let message = withUnsafePointer(to: &empty) { emptyPointer in
        let data = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? emptyPointer
        return protobuf_c_message_unpack(descriptor, nil, bytes.count, data)
    }
    guard let message else {
        throw ProtoDecodeError(message: "invalid \(M.protoMessageName) protobuf (\(bytes.count) bytes)")
    }
    defer { protobuf_c_message_free_unpacked(message, nil) }
    return M(c: UnsafeRawPointer(message).assumingMemoryBound(to: M.CMessage.self).pointee)
}

extension ProtoMessage {
    /// Decodes a message from its wire encoding under `limits` instead of `ProtoDecodeLimits.standard`.
    public init(serializedBytes bytes: UnsafeRawBufferPointer, limits: ProtoDecodeLimits) throws {
        guard let binding = Self.self as? any (CMessageBinding & ProtoMessage).Type else {
            fatalError("Messages: \(Self.self) is not a generated message")
        }
        self = try decode(binding, bytes, limits) as! Self
    }

    /// Decodes a message held in an array under `limits`.
    public init(serializedBytes bytes: [UInt8], limits: ProtoDecodeLimits) throws {
        self = try bytes.withUnsafeBytes { try Self(serializedBytes: $0, limits: limits) }
    }
}

/// `decodeMessage` for a binding known only at run time.
private func decode<M: CMessageBinding & ProtoMessage>(_: M.Type, _ bytes: UnsafeRawBufferPointer,
                                                       _ limits: ProtoDecodeLimits) throws -> M {
    try decodeMessage(bytes, limits: limits)
}

/// Copies a C string field ("" when NULL).
func swiftString(_ pointer: UnsafePointer<CChar>?) -> String {
    guard let pointer else { return "" }
    return String(cString: pointer)
}

/// Copies a repeated string field.
func swiftStrings(_ count: Int, _ pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> [String] {
    swiftArray(count, pointer).map { swiftString($0) }
}

/// Copies a repeated scalar field.
func swiftArray<T>(_ count: Int, _ pointer: UnsafeMutablePointer<T>?) -> [T] {
    guard count > 0, let pointer else { return [] }
    return Array(UnsafeBufferPointer(start: pointer, count: count))
}

/// Copies a repeated bool field.
func swiftBools(_ count: Int, _ pointer: UnsafeMutablePointer<protobuf_c_boolean>?) -> [Bool] {
    swiftArray(count, pointer).map { $0 != 0 }
}

/// Copies a bytes field.
func swiftBytes(_ binary: ProtobufCBinaryData) -> [UInt8] {
    swiftArray(binary.len, binary.data)
}

/// Copies a repeated bytes field.
func swiftBytesList(_ count: Int, _ pointer: UnsafeMutablePointer<ProtobufCBinaryData>?) -> [[UInt8]] {
    swiftArray(count, pointer).map(swiftBytes)
}

/// Converts a repeated message field.
func swiftMessages<C, T>(
    _ count: Int, _ pointer: UnsafeMutablePointer<UnsafeMutablePointer<C>?>?, _ convert: (C) -> T
) -> [T] {
    swiftArray(count, pointer).compactMap { $0.map { convert($0.pointee) } }
}

/// Converts a map field; `convert` returns nil to skip an entry. A repeated key keeps the last value.
func swiftMap<Entry, Key: Hashable, Value>(
    _ count: Int, _ pointer: UnsafeMutablePointer<UnsafeMutablePointer<Entry>?>?,
    _ convert: (Entry) -> (Key, Value?)
) -> [Key: Value] {
    var result: [Key: Value] = [:]
    for entry in swiftArray(count, pointer) {
        guard let entry else { continue }
        let (key, value) = convert(entry.pointee)
        if let value { result[key] = value }
    }
    return result
}

/// Converts a C enum field to its raw proto value.
func protoEnumValue<E: RawRepresentable>(_ value: E) -> Int32 where E.RawValue: FixedWidthInteger {
    Int32(truncatingIfNeeded: value.rawValue)
}

/// Converts a raw proto enum value to the C enum type.
func cEnum<E: RawRepresentable>(_ value: Int32, as _: E.Type = E.self) -> E where E.RawValue: FixedWidthInteger {
    E(rawValue: E.RawValue(truncatingIfNeeded: value))!
}
