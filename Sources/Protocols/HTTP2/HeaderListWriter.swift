import CNGHTTP2

/// Writes a header list as nghttp2 name/value pairs into a scratch buffer (the loop's): no
/// allocation and no reference counting per field. Strings' bytes are copied into the buffer;
/// the fields of a `HeaderBlock` and literals are referenced where they are. A list that does
/// not fit (more than `maxFields` fields, or more bytes than the buffer holds after the pairs)
/// spills into an array of fields and is copied into temporary storage instead.
public struct HeaderListWriter {
    /// Pairs reserved at the start of the scratch buffer.
    static let maxFields = 256
    private let nva: UnsafeMutablePointer<nghttp2_nv>
    private let bytes: UnsafeMutablePointer<UInt8>
    private let byteCapacity: Int
    private var used = 0
    /// Pairs written to the scratch buffer.
    private var written = 0
    /// Every field, once the list outgrew the scratch buffer.
    private var spilled: [HeaderField]?

    /// A writer over `scratch`, which must hold `maxFields` pairs and some bytes.
    public init(scratch: UnsafeMutableRawBufferPointer) {
        let pairBytes = Self.maxFields * MemoryLayout<nghttp2_nv>.stride
        precondition(scratch.count > pairBytes, "header scratch buffer too small")
        nva = scratch.baseAddress!.bindMemory(to: nghttp2_nv.self, capacity: Self.maxFields)
        bytes = (scratch.baseAddress! + pairBytes).assumingMemoryBound(to: UInt8.self)
        byteCapacity = scratch.count - pairBytes
    }

    /// Appends one field.
    public mutating func append(_ name: String, _ value: String) {
        withUTF8Bytes(name) { name in
            withUTF8Bytes(value) { value in append(name: name, value: value) }
        }
    }

    /// Appends one field from raw bytes (copied); `flags` are nghttp2's (`NGHTTP2_NV_FLAG_*`).
    public mutating func append(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer,
                                flags: UInt8 = UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)) {
        if spilled == nil {
            if written < Self.maxFields && used + name.count + value.count <= byteCapacity {
                let nameStart = used
                if name.count > 0 { (bytes + used).update(from: name.baseAddress!.assumingMemoryBound(to: UInt8.self), count: name.count) }
                used += name.count
                let valueStart = used
                if value.count > 0 { (bytes + used).update(from: value.baseAddress!.assumingMemoryBound(to: UInt8.self), count: value.count) }
                used += value.count
                nva[written] = byoc_nv(bytes + nameStart, valueStart - nameStart, bytes + valueStart, used - valueStart, flags)
                written += 1
                return
            }
            spilled = fields
        }
        spilled!.append(HeaderField(String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
    }

    /// Appends every field of `block`, in order, pointing at the block's bytes instead of
    /// copying them: the block must stay alive and unchanged until the list is submitted
    /// (every caller submits before it returns).
    public mutating func append(contentsOf block: HeaderBlock) {
        block.visit { name, value in
            append(referencing: name, value: value)
            return true
        }
    }

    /// Appends a field whose name and value are literals (static bytes: referenced, not copied).
    public mutating func appendLiteral(_ name: StaticString, _ value: StaticString) {
        append(referencing: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount),
               value: UnsafeRawBufferPointer(start: value.utf8Start, count: value.utf8CodeUnitCount))
    }

    /// Appends a field with a literal name.
    public mutating func append(literal name: StaticString, _ value: String) {
        withUTF8Bytes(value) { value in
            append(name: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount), value: value)
        }
    }

    /// Appends a field with a literal name whose value differs in every request (a trace
    /// context): sent as a literal never indexed, so it does not push reusable entries out of
    /// the peer's HPACK table (nor costs the table insertions).
    public mutating func append(unindexedLiteral name: StaticString, _ value: String) {
        withUTF8Bytes(value) { append(unindexedLiteral: name, bytes: $0) }
    }

    /// `append(unindexedLiteral:_:)` with the value's bytes (copied).
    public mutating func append(unindexedLiteral name: StaticString, bytes value: UnsafeRawBufferPointer) {
        append(name: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount), value: value,
               flags: UInt8(NGHTTP2_NV_FLAG_NO_INDEX.rawValue))
    }

    /// Appends one field whose bytes outlive the submission (see `append(contentsOf:)`).
    public mutating func append(referencing name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        guard spilled == nil, written < Self.maxFields else {
            append(name: name, value: value)
            return
        }
        let empty = UnsafeMutablePointer<UInt8>(bytes)
        nva[written] = byoc_nv(name.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) } ?? UnsafePointer(empty), name.count,
                               value.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) } ?? UnsafePointer(empty), value.count,
                               UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
        written += 1
    }

    /// Appends every field of `headers`, in order.
    public mutating func append(contentsOf headers: [HeaderField]) {
        // Indexing the buffer borrows each field: no retain/release of its strings per field.
        headers.withUnsafeBufferPointer { fields in
            for index in fields.indices { append(fields[index].name, fields[index].value) }
        }
    }

    /// The fields written so far.
    public var fields: [HeaderField] {
        if let spilled { return spilled }
        return (0..<written).map { index in
            let pair = nva[index]
            return HeaderField(String(decoding: UnsafeBufferPointer(start: pair.name, count: pair.namelen), as: UTF8.self),
                               String(decoding: UnsafeBufferPointer(start: pair.value, count: pair.valuelen), as: UTF8.self))
        }
    }

    /// Runs `body` with the name/value pairs of the list.
    func withNameValues<T>(_ body: (UnsafePointer<nghttp2_nv>, Int) -> T) -> T {
        guard let spilled else { return body(UnsafePointer(nva), written) }
        return withNameValuesAllocating(spilled, body)
    }
}

private func withNameValuesAllocating<T>(_ headers: [HeaderField], _ body: (UnsafePointer<nghttp2_nv>, Int) -> T) -> T {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count })
    var ranges: [(Int, Int, Int, Int)] = []
    ranges.reserveCapacity(headers.count)
    for field in headers {
        let nameStart = bytes.count
        bytes.append(contentsOf: field.name.utf8)
        let valueStart = bytes.count
        bytes.append(contentsOf: field.value.utf8)
        ranges.append((nameStart, valueStart - nameStart, valueStart, bytes.count - valueStart))
    }
    return bytes.withUnsafeBufferPointer { buffer in
        let base = buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!
        var nva: [nghttp2_nv] = ranges.map { range in
            byoc_nv(base + range.0, range.1, base + range.2, range.3, UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
        }
        return nva.withUnsafeMutableBufferPointer { nv in
            body(UnsafePointer(nv.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!), nv.count)
        }
    }
}
