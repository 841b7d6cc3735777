/// Answers Admin RPCs off the worker loops: method name and request bytes in, response bytes
/// out, or a thrown `GRPCStatus`.
public typealias AdminHandler = @Sendable (_ method: String, _ request: [UInt8]) async throws -> [UInt8]

/// Answers server-streaming Admin RPCs (GetLogs) off the worker loops: the response messages
/// as they come. A `GRPCStatus` thrown before the first message or by the stream ends the call
/// with it; the consumer stops iterating when the client cancels.
public typealias AdminStreamHandler = @Sendable (_ method: String, _ request: [UInt8]) async throws
    -> AsyncThrowingStream<[UInt8], Error>

/// Which Admin methods are server streaming (served by an `AdminStreamHandler`).
public enum AdminMethods {
    public static let serverStreaming: Set<String> = ["GetLogs"]
    /// The wake a gateway replica sends for held calls: an admin token or a predict token for
    /// the model may call it.
    public static let wake = "WakeModelVersion"
}
