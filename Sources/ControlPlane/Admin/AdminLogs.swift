import GRPC
import Messages
import Registry

/// Where GetLogs reads a version's replica logs (the runtime's `logs`): the last `tail` lines
/// of each replica, then new ones with `follow`. Errors it throws should be `GRPCStatus`.
public typealias AdminLogSource = @Sendable (_ key: VersionKey, _ tail: Int, _ follow: Bool)
    -> AsyncThrowingStream<LogLine, Error>

/// The Admin API's GetLogs: resolves the version, then streams its replicas' lines.
enum AdminLogs {
    /// Lines per replica when the request's tail_lines is 0.
    static let defaultTail = 100
    /// The largest tail_lines accepted.
    static let maxTail = 10_000

    /// A validated GetLogs request.
    struct Query: Equatable {
        var model: String
        var version: String
        var tail: Int
        var follow: Bool
    }

    /// Checks a request; INVALID_ARGUMENT naming the field.
    static func query(_ request: GetLogsRequest) throws -> Query {
        try AdminValidation.model(request.model)
        if !request.version.isEmpty { try AdminValidation.version(request.version) }
        guard (0...Int32(maxTail)).contains(request.tailLines) else {
            throw AdminValidation.invalid("tail_lines must be between 0 and \(maxTail) (0 = \(defaultTail)), got \(request.tailLines)")
        }
        return Query(model: request.model, version: request.version,
                     tail: request.tailLines == 0 ? defaultTail : Int(request.tailLines), follow: request.follow)
    }

    /// Runs GetLogs: NOT_FOUND for an unknown model or version (version "" = the default),
    /// then the serialized `LogLine`s as the source yields them.
    static func stream(_ request: GetLogsRequest, registry: Registry, source: AdminLogSource?) async throws
        -> AsyncThrowingStream<[UInt8], Error> {
        let query = try query(request)
        let model = try await registry.model(query.model)
        let version = query.version.isEmpty ? model.defaultVersion : query.version
        guard !version.isEmpty, model.versions.contains(where: { $0.key.version == version }) else {
            throw GRPCStatus(.notFound, query.version.isEmpty ? "model \"\(query.model)\" has no default version"
                                                              : "model \"\(query.model)\" has no version \"\(version)\"")
        }
        guard let source else { throw GRPCStatus(.unimplemented, "this gateway's runtime keeps no replica logs") }
        let lines = source(VersionKey(model: query.model, version: version), query.tail, query.follow)
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: [UInt8].self, throwing: Error.self)
        let task = Task {
            do {
                for try await line in lines { continuation.yield(line.serializedBytes()) }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}
