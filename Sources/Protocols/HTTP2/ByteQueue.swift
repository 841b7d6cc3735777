/// A FIFO of bytes stored as chunks, for data waiting to be framed by nghttp2.
///
/// A whole chunk can be handed over without copying (`append(_: [UInt8])`, shared copy-on-write
/// with the caller); raw bytes are copied into a new, exactly sized chunk. The first chunk is
/// stored inline, so a queue that holds one message at a time (the common case for unary
/// calls) allocates nothing beyond that message. Memory is bounded by the caller: a proxied
/// stream holds at most one flow-control window.
public struct ByteQueue {
    private var first: [UInt8] = []
    private var firstOffset = 0
    private var rest: [[UInt8]] = []
    private var restHead = 0
    private static let chunkSize = 64 * 1024

    /// Bytes waiting.
    public private(set) var count = 0

    public init() {}

    public var isEmpty: Bool { count == 0 }

    /// Appends `chunk` itself (no copy: arrays are shared until written to).
    public mutating func append(_ chunk: [UInt8]) {
        guard !chunk.isEmpty else { return }
        if count == 0 {
            first = chunk
            firstOffset = 0
        } else {
            rest.append(chunk)
        }
        count += chunk.count
    }

    /// Appends a copy of `bytes`.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        var remaining = bytes
        while remaining.count > 0 {
            let n = min(Self.chunkSize, remaining.count)
            append(Array(UnsafeRawBufferPointer(rebasing: remaining[0..<n])))
            remaining = UnsafeRawBufferPointer(rebasing: remaining[n...])
        }
    }

    /// Copies up to `destination.count` bytes out, removing them; returns how many.
    public mutating func read(into destination: UnsafeMutableRawBufferPointer) -> Int {
        var copied = 0
        while copied < destination.count, count > 0 {
            let available = first.count - firstOffset
            let n = min(available, destination.count - copied)
            first.withUnsafeBytes { source in
                (destination.baseAddress! + copied).copyMemory(from: source.baseAddress! + firstOffset, byteCount: n)
            }
            copied += n
            firstOffset += n
            count -= n
            if firstOffset == first.count { advance() }
        }
        return copied
    }

    /// Moves the next chunk into the inline slot.
    private mutating func advance() {
        firstOffset = 0
        if restHead < rest.count {
            first = rest[restHead]
            rest[restHead] = []
            restHead += 1
            if restHead == rest.count {
                rest.removeAll(keepingCapacity: false)
                restHead = 0
            } else if restHead >= 16 {
                rest.removeFirst(restHead)
                restHead = 0
            }
        } else {
            first = []
        }
    }

    /// Hands every queued byte to `body`, chunk by chunk, and empties the queue.
    public mutating func drain(_ body: (UnsafeRawBufferPointer) -> Void) {
        guard count > 0 else { return }
        first.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[firstOffset...])) }
        for index in restHead..<rest.count {
            rest[index].withUnsafeBytes { body($0) }
        }
        removeAll()
    }

    /// Removes everything.
    public mutating func removeAll() {
        first = []
        firstOffset = 0
        rest = []
        restHead = 0
        count = 0
    }
}
