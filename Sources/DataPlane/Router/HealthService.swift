import GRPC
import Messages
import Routing

/// grpc.health.v1 answered by the gateway from a worker's route table: Check, List and Watch.
///
/// Service `""` (and the gateway's own services) is the gateway itself, always SERVING;
/// `MODEL` or `MODEL/VERSION` (a version or alias) is SERVING when it has a ready endpoint or
/// scales to zero (IDLE or waking: its calls are held and served), NOT_SERVING when registered
/// without one. Check answers NOT_FOUND for an unknown service;
/// Watch sends SERVICE_UNKNOWN and keeps the call open (the health protocol's rules), then a
/// new message each time an installed route table changes the service's status.
/// Loop-confined: every method runs on the owning worker's loop.
final class HealthService {
    /// Services that name the gateway itself.
    static let gatewayServices: Set<String> = ["", "byoc.v1.Inference", "inference.GRPCInferenceService"]

    /// An open Watch: its call, the service watched and the status last sent.
    private struct Watch {
        let call: UnaryCall
        let service: String
        var sent: ServingStatus
    }

    private var watches: [ObjectIdentifier: Watch] = [:]
    private var shuttingDown = false

    /// Open Watch calls (for tests and shutdown).
    var watchCount: Int { watches.count }

    /// The status of `service` in `table`: SERVICE_UNKNOWN when the table does not know it.
    static func status(of service: String, in table: RouteTable) -> ServingStatus {
        if gatewayServices.contains(service) { return .serving }
        let parts = service.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let version = parts.count > 1 ? String(parts[1]) : ""
        let model = String(parts[0])
        switch table.resolve(model: model, version: version) {
        case .found(let concrete, let endpoints):
            return servable(table, model: model, version: concrete, endpoints: endpoints) ? .serving : .notServing
        case .unknownModel, .unknownVersion: return .serviceUnknown
        }
    }

    /// True when calls to the concrete `version` are served: it has a ready endpoint, or it
    /// scales to zero and can wake (IDLE or starting: its calls are held, not failed).
    static func servable(_ table: RouteTable, model: String, version: String, endpoints: [Endpoint]) -> Bool {
        !endpoints.isEmpty || table.models[model]?.wake[version] == .hold
    }

    /// Check: one status, NOT_FOUND for an unknown service.
    func check(_ call: UnaryCall, _ message: [UInt8], table: RouteTable) {
        guard let request = try? HealthCheckRequest(serializedBytes: message) else {
            call.fail(GRPCStatus(.invalidArgument, "cannot decode HealthCheckRequest"))
            return
        }
        let status = Self.status(of: request.service, in: table)
        if status == .serviceUnknown {
            call.fail(GRPCStatus(.notFound, "unknown service \"\(request.service)\""))
        } else {
            call.respond(HealthCheckResponse(status: status).serializedBytes())
        }
    }

    /// List: the gateway's services, every model (its default version) and every MODEL/VERSION
    /// of the models `visible` admits (with `--require-auth`, those the caller's token may call).
    func list(_ call: UnaryCall, _ message: [UInt8], table: RouteTable, visible: (String) -> Bool) {
        guard (try? HealthListRequest(serializedBytes: message)) != nil else {
            call.fail(GRPCStatus(.invalidArgument, "cannot decode HealthListRequest"))
            return
        }
        var statuses: [String: HealthCheckResponse] = [:]
        for service in Self.gatewayServices { statuses[service] = HealthCheckResponse(status: .serving) }
        for (model, routes) in table.models where visible(model) {
            statuses[model] = HealthCheckResponse(status: Self.status(of: model, in: table))
            for (version, endpoints) in routes.versions {
                let serving = Self.servable(table, model: model, version: version, endpoints: endpoints)
                statuses["\(model)/\(version)"] = HealthCheckResponse(status: serving ? .serving : .notServing)
            }
        }
        call.respond(HealthListResponse(statuses: statuses).serializedBytes())
    }

    /// Watch: the current status at once, then every change (see `tableChanged`).
    func watch(_ call: UnaryCall, _ message: [UInt8], table: RouteTable) {
        guard let request = try? HealthCheckRequest(serializedBytes: message) else {
            call.fail(GRPCStatus(.invalidArgument, "cannot decode HealthCheckRequest"))
            return
        }
        guard !shuttingDown else {
            call.fail(GRPCStatus(.unavailable, "the gateway is shutting down"))
            return
        }
        let status = Self.status(of: request.service, in: table)
        let id = ObjectIdentifier(call)
        watches[id] = Watch(call: call, service: request.service, sent: status)
        call.onCancel = { [weak self] in self?.watches[id] = nil }
        call.send(HealthCheckResponse(status: status).serializedBytes())
    }

    /// A new route table was installed: each watch whose status changed gets a message.
    func tableChanged(_ table: RouteTable) {
        for (id, watch) in watches {
            let status = Self.status(of: watch.service, in: table)
            guard status != watch.sent else { continue }
            watches[id]?.sent = status
            watch.call.send(HealthCheckResponse(status: status).serializedBytes())
        }
    }

    /// Graceful shutdown began: every watch learns NOT_SERVING (so clients stop sending
    /// here while calls drain), then its call ends UNAVAILABLE; new watches are refused.
    func shutdown() {
        shuttingDown = true
        let open = watches.values
        watches.removeAll()
        for watch in open {
            if watch.sent != .notServing {
                watch.call.send(HealthCheckResponse(status: .notServing).serializedBytes())
            }
            watch.call.end(GRPCStatus(.unavailable, "the gateway is shutting down"))
        }
    }
}
