#if canImport(Glibc)
import Glibc
#endif

/// A header block as bytes: every field's name and value back to back in one buffer.
///
/// This is how headers arrive from nghttp2 and how the proxy passes them on: one allocation
/// per block, no `String` per field, and forwarding hands nghttp2 the bytes where they are
/// (`HeaderListWriter.append(contentsOf:)`). Fields are read as byte views (`visit`) or looked
/// up by name (`subscript(field:)`, `subscript(literal:)`); iterating the block (it is a
/// `Sequence` of `HeaderField`) or `fields` decodes them into strings for code that wants those.
///
/// Layout per field: name length and value length (two little-endian `UInt32`), name bytes,
/// value bytes. A value type with copy-on-write storage (bytes are written only while the
/// storage is uniquely referenced), hence `@unchecked Sendable` like `Array`.
public struct HeaderBlock: @unchecked Sendable, Equatable, Sequence {
    private static let lengthBytes = 8
    /// The encoded fields (nil while empty). Written only while uniquely referenced (a block is
    /// built once, then passed around and read).
    private var storage: HeaderBytes?
    /// Number of fields.
    public private(set) var count = 0

    /// An empty block.
    public init() {}

    /// A block with `fields`, in order.
    public init(_ fields: [HeaderField]) {
        reserveCapacity(fields.reduce(0) { $0 + Self.lengthBytes + $1.name.utf8.count + $1.value.utf8.count })
        for field in fields { append(field.name, field.value) }
    }

    public var isEmpty: Bool { count == 0 }

    /// Reserves room for `bytes` of encoded fields in total.
    public mutating func reserveCapacity(_ bytes: Int) {
        if isKnownUniquelyReferenced(&storage), storage!.header.capacity >= bytes { return }
        let used = storage?.header.used ?? 0
        let capacity = Swift.max(bytes, used)
        let grown = HeaderBytes.create(minimumCapacity: capacity) { _ in (used, capacity) } as! HeaderBytes
        if used > 0 {
            withEncoded { old in
                grown.withUnsafeMutablePointerToElements { UnsafeMutableRawPointer($0).copyMemory(from: old.baseAddress!, byteCount: used) }
            }
        }
        storage = grown
    }

    /// Appends a field from raw bytes (copied).
    public mutating func append(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        let used = storage?.header.used ?? 0
        let needed = used + Self.lengthBytes + name.count + value.count
        if !isKnownUniquelyReferenced(&storage) || storage!.header.capacity < needed {
            reserveCapacity(Swift.max(needed, 2 * used, 256))
        }
        let storage = storage!
        storage.withUnsafeMutablePointerToElements { base in
            let record = UnsafeMutableRawPointer(base + used)
            record.storeBytes(of: UInt32(truncatingIfNeeded: name.count).littleEndian, as: UInt32.self)
            record.storeBytes(of: UInt32(truncatingIfNeeded: value.count).littleEndian, toByteOffset: 4, as: UInt32.self)
            if name.count > 0 { (record + Self.lengthBytes).copyMemory(from: name.baseAddress!, byteCount: name.count) }
            if value.count > 0 { (record + Self.lengthBytes + name.count).copyMemory(from: value.baseAddress!, byteCount: value.count) }
        }
        storage.header.used = needed
        count += 1
    }

    /// Appends a field.
    public mutating func append(_ name: String, _ value: String) {
        withUTF8Bytes(name) { name in
            withUTF8Bytes(value) { value in append(name: name, value: value) }
        }
    }

    /// Calls `body` with the encoded fields (empty when there are none).
    private func withEncoded<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T {
        guard let storage else { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return storage.withUnsafeMutablePointerToElements { body(UnsafeRawBufferPointer(start: $0, count: storage.header.used)) }
    }

    /// Calls `body` with each field's name and value bytes, in order, until it returns false.
    /// The views are valid only inside `body` (and while the block is neither changed nor freed).
    public func visit(_ body: (_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Bool) {
        guard let storage else { return }
        let used = storage.header.used
        storage.withUnsafeMutablePointerToElements { base in
            let raw = UnsafeRawPointer(base)
            var offset = 0
            while offset < used {
                let nameLength = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                let valueLength = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)))
                let nameStart = offset + Self.lengthBytes
                let valueStart = nameStart + nameLength
                offset = valueStart + valueLength
                if !body(UnsafeRawBufferPointer(start: raw + nameStart, count: nameLength),
                         UnsafeRawBufferPointer(start: raw + valueStart, count: valueLength)) { return }
            }
        }
    }

    /// Equal fields in the same order (the encoding is canonical, so the bytes decide).
    public static func == (lhs: HeaderBlock, rhs: HeaderBlock) -> Bool {
        lhs.count == rhs.count && lhs.withEncoded { left in rhs.withEncoded { right in equal(left, right) } }
    }

    /// The value of the first field whose name is `wanted`.
    private func firstValue(named wanted: UnsafeRawBufferPointer) -> String? {
        var result: String?
        visit { name, value in
            guard Self.equal(name, wanted) else { return true }
            result = HeaderInterner.values.string(value)
            return false
        }
        return result
    }

    /// The value of the first field named `name` (names are lower case in HTTP/2).
    public subscript(field name: String) -> String? {
        withUTF8Bytes(name) { firstValue(named: $0) }
    }

    /// The value of the first field named `name`, a literal (no conversion of the name).
    public subscript(literal name: StaticString) -> String? {
        firstValue(named: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
    }

    /// The fields as strings (common names and values are shared, not allocated).
    public var fields: [HeaderField] {
        var result: [HeaderField] = []
        result.reserveCapacity(count)
        visit { name, value in
            result.append(HeaderField(HeaderInterner.names.string(name), HeaderInterner.values.string(value)))
            return true
        }
        return result
    }

    public func makeIterator() -> IndexingIterator<[HeaderField]> {
        fields.makeIterator()
    }

    public var underestimatedCount: Int { count }

    /// A string for header bytes: the shared instance for common values (content types, the
    /// gRPC paths, status codes), else a new one.
    public static func string(_ bytes: UnsafeRawBufferPointer) -> String {
        HeaderInterner.values.string(bytes)
    }

    /// True when `bytes` are exactly `other`.
    @inline(__always)
    public static func equal(_ bytes: UnsafeRawBufferPointer, _ other: UnsafeRawBufferPointer) -> Bool {
        bytes.count == other.count && (bytes.count == 0 || memcmp(bytes.baseAddress!, other.baseAddress!, bytes.count) == 0)
    }

    /// True when `bytes` are exactly the literal `name` (a header name, say).
    @inline(__always)
    public static func equal(_ bytes: UnsafeRawBufferPointer, _ name: StaticString) -> Bool {
        equal(bytes, UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
    }
}

/// The bytes of a `HeaderBlock`: the used and allocated byte counts in the header (the
/// capacity is kept rather than asked of the allocator: `ManagedBuffer.capacity` calls
/// `malloc_usable_size`), the fields in the tail.
final class HeaderBytes: ManagedBuffer<(used: Int, capacity: Int), UInt8> {}

/// Runs `body` with the UTF-8 bytes of `string` (no copy for native strings).
@inline(__always)
func withUTF8Bytes<T>(_ string: String, _ body: (UnsafeRawBufferPointer) -> T) -> T {
    if let result = string.utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) {
        return result
    }
    return Array(string.utf8).withUnsafeBytes(body)
}
