import GRPC
import Messages
import Registry

/// The Admin API's ListEvents: the registry's append-only events, filtered, newest `limit`.
enum AdminEvents {
    /// Events returned when the request's limit is 0.
    static let defaultLimit = 100
    /// The largest limit accepted.
    static let maxLimit = 1000

    /// A validated ListEvents request: what to ask the registry for.
    struct Query: Equatable {
        var model: String?
        var version: String?
        var sinceUnixMs: Int64
        var limit: Int
    }

    /// Checks a request; INVALID_ARGUMENT naming the field.
    static func query(_ request: ListEventsRequest) throws -> Query {
        if !request.model.isEmpty { try AdminValidation.model(request.model) }
        if !request.version.isEmpty {
            guard !request.model.isEmpty else {
                throw AdminValidation.invalid("version \"\(request.version)\" needs model: a version is named within its model")
            }
            try AdminValidation.version(request.version)
        }
        guard request.sinceUnixMs >= 0 else {
            throw AdminValidation.invalid("since_unix_ms must not be negative, got \(request.sinceUnixMs)")
        }
        guard (0...Int32(maxLimit)).contains(request.limit) else {
            throw AdminValidation.invalid("limit must be between 0 and \(maxLimit) (0 = \(defaultLimit)), got \(request.limit)")
        }
        return Query(model: request.model.isEmpty ? nil : request.model,
                     version: request.version.isEmpty ? nil : request.version,
                     sinceUnixMs: request.sinceUnixMs, limit: request.limit == 0 ? defaultLimit : Int(request.limit))
    }

    /// Runs ListEvents against `registry`.
    static func list(_ request: ListEventsRequest, registry: Registry) async throws -> ListEventsResponse {
        let query = try query(request)
        let events = try await registry.events(model: query.model, version: query.version,
                                               sinceUnixMs: query.sinceUnixMs, limit: query.limit)
        return ListEventsResponse(events: events.map(message))
    }

    /// A registry event as the API shows it: a short kind and one readable line.
    static func message(_ event: RegistryEvent) -> Event {
        Event(id: event.id, timeUnixMs: event.timeUnixMs, model: event.model, version: event.version,
              kind: kind(event), message: text(event))
    }

    /// `state` for an observation that changed the state, `replicas` for one that did not;
    /// `default` for a default-version change; otherwise the stored kind.
    static func kind(_ event: RegistryEvent) -> String {
        switch event.kind {
        case .observed: return event.oldState != event.newState ? "state" : "replicas"
        case .defaultChanged: return "default"
        case .aliasChanged: return "alias"
        case .trafficChanged: return "traffic"
        default: return event.kind.rawValue
        }
    }

    /// The event's line, e.g. `DEPLOYING -> FAILED, ready 0/1: replica 0 exited ...`.
    static func text(_ event: RegistryEvent) -> String {
        switch event.kind {
        case .registered:
            return event.detail.isEmpty ? "registered" : "registered: \(event.detail)"
        case .observed:
            guard let old = event.oldState, let new = event.newState, old != new else { return event.detail }
            return "\(old.rawValue) -> \(new.rawValue)" + (event.detail.isEmpty ? "" : ", \(event.detail)")
        case .deleted:
            let what = event.detail.isEmpty ? "deleted" : event.detail
            return event.oldState.map { "\(what) (was \($0.rawValue))" } ?? what
        case .scaled, .autoscaled, .defaultChanged, .aliasChanged, .trafficChanged, .tokenCreated, .tokenRevoked:
            return event.detail
        }
    }
}
