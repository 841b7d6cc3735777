import Foundation
import GRPC
import Messages
import TLS

/// RPC paths byocctl calls.
enum RPC {
    static let registerModel = "/byoc.v1.Admin/RegisterModel"
    static let listModels = "/byoc.v1.Admin/ListModels"
    static let getModel = "/byoc.v1.Admin/GetModel"
    static let setDefaultVersion = "/byoc.v1.Admin/SetDefaultVersion"
    static let setAlias = "/byoc.v1.Admin/SetAlias"
    static let setTraffic = "/byoc.v1.Admin/SetTraffic"
    static let scaleModelVersion = "/byoc.v1.Admin/ScaleModelVersion"
    static let deleteModel = "/byoc.v1.Admin/DeleteModel"
    static let predict = "/byoc.v1.Inference/Predict"
    static let healthCheck = "/grpc.health.v1.Health/Check"
    static let createToken = "/byoc.v1.Admin/CreateToken"
    static let listTokens = "/byoc.v1.Admin/ListTokens"
    static let revokeToken = "/byoc.v1.Admin/RevokeToken"
    static let listEvents = "/byoc.v1.Admin/ListEvents"
    static let getLogs = "/byoc.v1.Admin/GetLogs"
    static let collectUnused = "/byoc.v1.Admin/CollectUnused"
}

extension GlobalOptions {
    /// One call on a new connection to the server (`connect()`, then `Connection.call`).
    func call<Response: ProtoMessage>(_ path: String, _ request: some ProtoMessage,
                                      as _: Response.Type = Response.self) async throws -> Response {
        try await connect().call(path, request, as: Response.self)
    }
}

/// One gateway connection; every call's failure comes out as a `CLIError` with one clear line.
struct Connection {
    let endpoint: ServerEndpoint
    let timeoutMs: Int
    let client: GRPCClient
    /// `authorization: Bearer <token>` on every call when a token was given.
    let metadata: [(String, String)]

    init(endpoint: ServerEndpoint, timeoutMs: Int, tls: TLSClientContext? = nil, token: String? = nil) {
        self.endpoint = endpoint
        self.timeoutMs = timeoutMs
        self.client = GRPCClient(host: endpoint.host, port: endpoint.port, tls: tls)
        self.metadata = token.map { [("authorization", "Bearer \($0)")] } ?? []
    }

    /// Calls `path` and decodes the answer as `Response`; throws `CLIError`.
    func call<Response: ProtoMessage>(_ path: String, _ request: some ProtoMessage,
                                      as _: Response.Type = Response.self) async throws -> Response {
        do {
            return try await callStatus(path, request)
        } catch let status as GRPCStatus {
            throw failure(status)
        } catch let error as CLIError {
            throw error
        } catch {
            throw CLIError("calling \(endpoint.text): \(error)")
        }
    }

    /// Calls `path`; on failure throws the gRPC status (for callers that handle some codes).
    func callStatus<Response: ProtoMessage>(_ path: String, _ request: some ProtoMessage,
                                            as _: Response.Type = Response.self) async throws -> Response {
        let response = try await client.unary(path: path, request: request.serializedBytes(), metadata: metadata,
                                              timeoutMs: timeoutMs)
        do {
            return try Response(serializedBytes: response.message)
        } catch {
            throw CLIError("cannot decode the answer of \(path) from \(endpoint.text): \(error)")
        }
    }

    /// The one-line error for a failed call. Failures the client itself saw (connection
    /// refused, lost, deadline) name the server as the user typed it.
    func failure(_ status: GRPCStatus) -> CLIError {
        let authority = client.authority
        let message = status.message
        if status.code == .unavailable,
           message.hasPrefix("cannot connect to \(authority)") || message.hasPrefix("lost the connection to \(authority)") {
            return CLIError(message.replacingOccurrences(of: authority, with: endpoint.text))
        }
        if status.code == .deadlineExceeded, message == "deadline exceeded calling \(authority)" {
            let seconds = Double(timeoutMs) / 1000
            let shown = seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
            return CLIError("DEADLINE_EXCEEDED: no answer from \(endpoint.text) within \(shown) s (--timeout)")
        }
        let text = message.replacingOccurrences(of: authority, with: endpoint.text)
        return CLIError(text.isEmpty ? status.code.name : "\(status.code.name): \(text)")
    }
}
