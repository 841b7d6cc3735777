/// Answers Admin RPCs off the worker loops: method name and request bytes in, response bytes
/// out, or a thrown `GRPCStatus`.
public typealias AdminHandler = @Sendable (_ method: String, _ request: [UInt8]) async throws -> [UInt8]
