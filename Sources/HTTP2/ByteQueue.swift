/// A FIFO of bytes stored as chunks, for data waiting to be framed by nghttp2.
///
/// Appends copy into the tail chunk (or a new one); reads copy out from the head. Memory is
/// bounded by the caller: a proxied stream holds at most one flow-control window.
public struct ByteQueue {
    private var chunks: [[UInt8]] = []
    private var head = 0
    private var headOffset = 0
    private static let chunkSize = 64 * 1024

    /// Bytes waiting.
    public private(set) var count = 0

    public init() {}

    public var isEmpty: Bool { count == 0 }

    /// Appends a copy of `bytes`.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        var remaining = bytes
        // Coalesce into the tail chunk only when it has spare capacity (never reallocate it).
        if head < chunks.count, chunks[chunks.count - 1].capacity - chunks[chunks.count - 1].count >= remaining.count {
            chunks[chunks.count - 1].append(contentsOf: remaining)
            count += bytes.count
            return
        }
        while remaining.count > 0 {
            // Exactly sized: a small message costs one small allocation; large bodies arrive
            // in DATA-frame pieces of up to 16 KiB, each kept as it came.
            let n = min(Self.chunkSize, remaining.count)
            chunks.append(Array(UnsafeRawBufferPointer(rebasing: remaining[0..<n])))
            remaining = UnsafeRawBufferPointer(rebasing: remaining[n...])
        }
        count += bytes.count
    }

    /// Appends a copy of `bytes`.
    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// Copies up to `destination.count` bytes out, removing them; returns how many.
    public mutating func read(into destination: UnsafeMutableRawBufferPointer) -> Int {
        var copied = 0
        while copied < destination.count, head < chunks.count {
            let available = chunks[head].count - headOffset
            let n = min(available, destination.count - copied)
            chunks[head].withUnsafeBytes { source in
                (destination.baseAddress! + copied).copyMemory(from: source.baseAddress! + headOffset, byteCount: n)
            }
            copied += n
            headOffset += n
            if headOffset == chunks[head].count {
                head += 1
                headOffset = 0
            }
        }
        count -= copied
        if head == chunks.count {
            chunks.removeAll(keepingCapacity: false)
            head = 0
        } else if head >= 16 {
            chunks.removeFirst(head)
            head = 0
        }
        return copied
    }

    /// Hands every queued byte to `body`, chunk by chunk, and empties the queue.
    public mutating func drain(_ body: (UnsafeRawBufferPointer) -> Void) {
        var offset = headOffset
        for index in head..<chunks.count {
            chunks[index].withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            offset = 0
        }
        removeAll()
    }

    /// Removes everything.
    public mutating func removeAll() {
        chunks = []
        head = 0
        headOffset = 0
        count = 0
    }
}
