// Swift value types for grpc.health.v1 health.proto, wire-compatible with grpc/grpc-proto.
import ByocProtos
import CProtobufC

/// The serving status of a service (grpc.health.v1.HealthCheckResponse.ServingStatus).
public enum ServingStatus: Int32, CaseIterable, Sendable {
    case unknown = 0, serving, notServing, serviceUnknown

    /// The proto enum value name, e.g. "SERVING" or "NOT_SERVING".
    public var name: String {
        switch self {
        case .unknown: return "UNKNOWN"
        case .serving: return "SERVING"
        case .notServing: return "NOT_SERVING"
        case .serviceUnknown: return "SERVICE_UNKNOWN"
        }
    }

    /// Looks a value up by its proto name, ignoring case ("SERVING", "serving").
    public init?(name: String) {
        let upper = name.uppercased()
        guard let value = Self.allCases.first(where: { $0.name == upper }) else { return nil }
        self = value
    }
}

/// Asks whether a service is serving (grpc.health.v1.HealthCheckRequest).
public struct HealthCheckRequest: Equatable, Sendable, ProtoMessage {
    /// The service: "" = the gateway; "MODEL" or "MODEL/VERSION" = that model.
    public var service: String

    /// Creates a request; `service` defaults to "" (the server itself).
    public init(service: String = "") { self.service = service }

    /// Creates a request for the server itself.
    public init() { self.init(service: "") }

    /// Decodes a grpc.health.v1.HealthCheckRequest.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "grpc.health.v1.HealthCheckRequest",
                                 grpc__health__v1__health_check_request__unpack,
                                 grpc__health__v1__health_check_request__free_unpacked) {
            HealthCheckRequest(service: swiftString($0.service))
        }
    }

    /// Encodes as a grpc.health.v1.HealthCheckRequest.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ arena in
            let m = arena.message(grpc__health__v1__health_check_request__init)
            m.pointee.service = arena.string(service)
            return m
        }, grpc__health__v1__health_check_request__get_packed_size, grpc__health__v1__health_check_request__pack)
    }
}

/// A service's serving status (grpc.health.v1.HealthCheckResponse).
public struct HealthCheckResponse: Equatable, Sendable, ProtoMessage {
    /// The proto-nested name of `ServingStatus`.
    public typealias ServingStatus = Messages.ServingStatus

    /// The status.
    public var status: ServingStatus

    /// Creates a response; `status` defaults to `.unknown`.
    public init(status: ServingStatus = .unknown) { self.status = status }

    /// Creates a response with status `.unknown`.
    public init() { self.init(status: .unknown) }

    /// Decodes a grpc.health.v1.HealthCheckResponse.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "grpc.health.v1.HealthCheckResponse",
                                 grpc__health__v1__health_check_response__unpack,
                                 grpc__health__v1__health_check_response__free_unpacked,
                                 HealthCheckResponse.init(c:))
    }

    /// Encodes as a grpc.health.v1.HealthCheckResponse.
    public func serializedBytes() -> [UInt8] {
        encodeMessage(toC, grpc__health__v1__health_check_response__get_packed_size,
                      grpc__health__v1__health_check_response__pack)
    }

    init(c: Grpc__Health__V1__HealthCheckResponse) {
        self.init(status: ServingStatus(rawValue: protoEnumValue(c.status)) ?? .unknown)
    }

    func toC(_ arena: CArena) -> UnsafeMutablePointer<Grpc__Health__V1__HealthCheckResponse> {
        let m = arena.message(grpc__health__v1__health_check_response__init)
        m.pointee.status = cEnum(status.rawValue)
        return m
    }
}

/// Asks for every service's status (grpc.health.v1.HealthListRequest; no fields).
public struct HealthListRequest: Equatable, Sendable, ProtoMessage {
    /// Creates the request.
    public init() {}

    /// Decodes a grpc.health.v1.HealthListRequest.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "grpc.health.v1.HealthListRequest",
                                 grpc__health__v1__health_list_request__unpack,
                                 grpc__health__v1__health_list_request__free_unpacked) { _ in HealthListRequest() }
    }

    /// Encodes as a grpc.health.v1.HealthListRequest.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ $0.message(grpc__health__v1__health_list_request__init) },
                      grpc__health__v1__health_list_request__get_packed_size,
                      grpc__health__v1__health_list_request__pack)
    }
}

/// Every service's status (grpc.health.v1.HealthListResponse).
public struct HealthListResponse: Equatable, Sendable, ProtoMessage {
    /// Status by service name.
    public var statuses: [String: HealthCheckResponse]

    /// Creates a response; `statuses` defaults to empty.
    public init(statuses: [String: HealthCheckResponse] = [:]) { self.statuses = statuses }

    /// Creates an empty response.
    public init() { self.init(statuses: [:]) }

    /// Decodes a grpc.health.v1.HealthListResponse.
    public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {
        self = try decodeMessage(bytes, "grpc.health.v1.HealthListResponse",
                                 grpc__health__v1__health_list_response__unpack,
                                 grpc__health__v1__health_list_response__free_unpacked) {
            HealthListResponse(statuses: swiftMap($0.n_statuses, $0.statuses) {
                (swiftString($0.key), $0.value.map { HealthCheckResponse(c: $0.pointee) } ?? HealthCheckResponse())
            })
        }
    }

    /// Encodes as a grpc.health.v1.HealthListResponse.
    public func serializedBytes() -> [UInt8] {
        encodeMessage({ arena in
            let m = arena.message(grpc__health__v1__health_list_response__init)
            (m.pointee.n_statuses, m.pointee.statuses) = arena.map(
                statuses, grpc__health__v1__health_list_response__statuses_entry__init
            ) { entry, key, value in
                entry.pointee.key = key
                entry.pointee.value = value.toC(arena)
            }
            return m
        }, grpc__health__v1__health_list_response__get_packed_size, grpc__health__v1__health_list_response__pack)
    }
}
