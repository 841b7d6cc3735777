import Foundation

/// Splits a watch response body into newline-delimited JSON documents as DATA frames arrive.
///
/// Bounded: a line longer than `maxLineBytes` is an error (the watch is dropped and restarted),
/// so a misbehaving server cannot make the gateway buffer without limit.
public struct WatchLineBuffer {
    public let maxLineBytes: Int
    private var pending: [UInt8] = []

    public init(maxLineBytes: Int = 16 << 20) {
        self.maxLineBytes = maxLineBytes
    }

    /// Bytes of an unfinished line held.
    public var bufferedBytes: Int { pending.count }

    /// Appends `bytes`; returns the complete, non-empty lines they finish.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) throws -> [Data] {
        var lines: [Data] = []
        var start = 0
        for index in 0..<bytes.count where bytes[index] == 0x0A {
            if pending.isEmpty {
                if index > start { lines.append(Data(bytes[start..<index])) }
            } else {
                pending.append(contentsOf: bytes[start..<index])
                lines.append(Data(pending))
                pending.removeAll(keepingCapacity: true)
            }
            start = index + 1
        }
        if start < bytes.count {
            pending.append(contentsOf: bytes[start...])
            if pending.count > maxLineBytes {
                pending = []
                throw KubeTransportError("a watch event is longer than \(maxLineBytes) bytes")
            }
        }
        return lines.filter { !$0.allSatisfy { $0 == 0x20 || $0 == 0x0D || $0 == 0x09 } }
    }

    /// Appends `bytes`; returns the complete lines they finish.
    public mutating func append(_ bytes: [UInt8]) throws -> [Data] {
        try bytes.withUnsafeBytes { try append($0) }
    }

    /// What is left at the end of the stream (a last line without a newline), if anything.
    public mutating func finish() -> Data? {
        defer { pending = [] }
        let trimmed = pending.filter { $0 != 0x20 && $0 != 0x0D && $0 != 0x09 }
        return trimmed.isEmpty ? nil : Data(pending)
    }
}

/// One event of a watch stream.
public struct WatchEvent: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case added = "ADDED", modified = "MODIFIED", deleted = "DELETED", bookmark = "BOOKMARK", error = "ERROR"
    }

    public var kind: Kind
    /// The object (a Status for ERROR).
    public var object: JSON

    public init(kind: Kind, object: JSON) {
        self.kind = kind
        self.object = object
    }

    /// Parses one line: `{"type": "...", "object": {...}}`.
    public static func parse(_ line: Data) throws -> WatchEvent {
        let json = try JSON.parse(line)
        guard let type = json["type"]?.string, let kind = Kind(rawValue: type), let object = json["object"] else {
            throw KubeTransportError("not a watch event: \(String(decoding: line.prefix(200), as: UTF8.self))")
        }
        return WatchEvent(kind: kind, object: object)
    }

    /// For ERROR events: the Status code (410 = Gone: the resourceVersion is too old).
    public var errorCode: Int? {
        guard kind == .error else { return nil }
        return object["code"]?.int.map(Int.init) ?? 500
    }
}
