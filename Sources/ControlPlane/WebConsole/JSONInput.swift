import Foundation
import GRPC
import Messages

/// An API error: HTTP status plus the gRPC-style code name and a message.
public struct APIError: Error, Sendable {
    public var status: Int
    public var code: String
    public var message: String

    public init(_ status: Int, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public static func invalid(_ message: String) -> APIError { APIError(400, "INVALID_ARGUMENT", message) }

    /// HTTP status for a gRPC status: INVALID_ARGUMENT 400, UNAUTHENTICATED 401,
    /// PERMISSION_DENIED 403, NOT_FOUND 404, ALREADY_EXISTS 409, FAILED_PRECONDITION 409 (a
    /// conflict with the resource's current state; 412 is for HTTP conditional requests),
    /// ABORTED 409, RESOURCE_EXHAUSTED 429, CANCELLED 499, UNIMPLEMENTED 501, UNAVAILABLE 503,
    /// DEADLINE_EXCEEDED 504, everything else 500.
    public static func httpStatus(_ code: GRPCStatusCode) -> Int {
        switch code {
        case .ok: return 200
        case .invalidArgument, .outOfRange: return 400
        case .unauthenticated: return 401
        case .permissionDenied: return 403
        case .notFound: return 404
        case .alreadyExists, .failedPrecondition, .aborted: return 409
        case .resourceExhausted: return 429
        case .cancelled: return 499
        case .unimplemented: return 501
        case .unavailable: return 503
        case .deadlineExceeded: return 504
        default: return 500
        }
    }

    public init(_ status: GRPCStatus) {
        self.init(APIError.httpStatus(status.code), status.code.name, status.message)
    }
}

extension JSONValue {
    /// Parses a request body that must be a JSON object (an empty body is `{}`).
    public static func object(_ body: [UInt8]) throws -> [String: JSONValue] {
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return [:] }
        let value: JSONValue
        do { value = try JSONValue.parse(body) } catch {
            throw APIError.invalid("the request body is not valid JSON (\(error))")
        }
        guard case .object(let fields) = value else { throw APIError.invalid("the request body must be a JSON object") }
        return fields
    }
}

/// Typed access to the fields of a JSON request object, accepting camelCase or snake_case
/// names and refusing unknown fields (so a typo is an error, not a silent default).
struct JSONFields {
    let fields: [String: JSONValue]
    let known: Set<String>
    /// Prefix of the field names in messages ("" at the top level, "resources." nested).
    let path: String

    /// The fields of a request body that must be a JSON object (`JSONValue.object`).
    init(body: [UInt8], known: [String]) throws {
        try self.init(try JSONValue.object(body), known: known)
    }

    init(_ fields: [String: JSONValue], known: [String], path: String = "") throws {
        self.fields = fields
        self.path = path
        var all = Set(known)
        for name in known { all.insert(Self.snake(name)) }
        self.known = all
        for key in fields.keys.sorted() where !all.contains(key) {
            throw APIError.invalid("unknown field \"\(path)\(key)\" (expected one of: \(known.joined(separator: ", ")))")
        }
    }

    static func snake(_ name: String) -> String {
        var out = ""
        for c in name {
            if c.isUppercase { out += "_" + c.lowercased() } else { out.append(c) }
        }
        return out
    }

    func value(_ name: String) -> JSONValue? {
        if let v = fields[name] { return v }
        return fields[Self.snake(name)]
    }

    func string(_ name: String) throws -> String {
        guard let v = value(name) else { return "" }
        switch v {
        case .null: return ""
        case .string(let s): return s
        default: throw APIError.invalid("\"\(path)\(name)\" must be a string, got \(v.kind)")
        }
    }

    func int32(_ name: String) throws -> Int32 {
        guard let v = value(name) else { return 0 }
        switch v {
        case .null: return 0
        case .number(_, let exact?) where exact >= Int64(Int32.min) && exact <= Int64(Int32.max): return Int32(exact)
        case .string(let s) where Int32(s) != nil: return Int32(s)!
        default: throw APIError.invalid("\"\(path)\(name)\" must be an integer, got \(v.kind)")
        }
    }

    func bool(_ name: String) throws -> Bool {
        guard let v = value(name) else { return false }
        switch v {
        case .null: return false
        case .bool(let b): return b
        default: throw APIError.invalid("\"\(path)\(name)\" must be true or false, got \(v.kind)")
        }
    }

    /// A nested object's fields, checked against `known` like the top level's.
    func object(_ name: String, known: [String]) throws -> JSONFields? {
        guard let v = value(name) else { return nil }
        switch v {
        case .null: return nil
        case .object(let fields): return try JSONFields(fields, known: known, path: name + ".")
        default: throw APIError.invalid("\"\(path)\(name)\" must be an object, got \(v.kind)")
        }
    }

    /// `resources`: `{cpuRequest, cpuLimit, memoryRequest, memoryLimit, gpus, gpuResource}`.
    func resources(_ name: String) throws -> Resources? {
        guard let f = try object(name, known: ["cpuRequest", "cpuLimit", "memoryRequest", "memoryLimit", "gpus", "gpuResource"]) else {
            return nil
        }
        return Resources(cpuRequest: try f.string("cpuRequest"), cpuLimit: try f.string("cpuLimit"),
                         memoryRequest: try f.string("memoryRequest"), memoryLimit: try f.string("memoryLimit"),
                         gpus: try f.int32("gpus"), gpuResource: try f.string("gpuResource"))
    }

    /// `autoscaling`: `{targetConcurrency, scaleToZeroAfterSeconds, scaleDownDelaySeconds}`.
    func autoscaling(_ name: String) throws -> Autoscaling? {
        guard let f = try object(name, known: ["targetConcurrency", "scaleToZeroAfterSeconds", "scaleDownDelaySeconds"]) else {
            return nil
        }
        return Autoscaling(targetConcurrency: try f.int32("targetConcurrency"),
                           scaleToZeroAfterSeconds: try f.int32("scaleToZeroAfterSeconds"),
                           scaleDownDelaySeconds: try f.int32("scaleDownDelaySeconds"))
    }

    /// `tolerations`: a list of `{key, operator, value, effect}`.
    func tolerations(_ name: String) throws -> [Toleration] {
        guard let v = value(name) else { return [] }
        switch v {
        case .null: return []
        case .array(let items):
            return try items.enumerated().map { index, item in
                guard case .object(let fields) = item else {
                    throw APIError.invalid("\"\(name)[\(index)]\" must be an object {key, operator, value, effect}")
                }
                let f = try JSONFields(fields, known: ["key", "operator", "value", "effect"], path: "\(name)[\(index)].")
                return Toleration(key: try f.string("key"), operator: try f.string("operator"),
                                  value: try f.string("value"), effect: try f.string("effect"))
            }
        default: throw APIError.invalid("\"\(path)\(name)\" must be a list of objects, got \(v.kind)")
        }
    }

    func strings(_ name: String) throws -> [String] {
        guard let v = value(name) else { return [] }
        switch v {
        case .null: return []
        case .array(let items):
            return try items.map {
                guard case .string(let s) = $0 else { throw APIError.invalid("\"\(path)\(name)\" must be a list of strings") }
                return s
            }
        default: throw APIError.invalid("\"\(path)\(name)\" must be a list of strings, got \(v.kind)")
        }
    }

    func stringMap(_ name: String) throws -> [String: String] {
        guard let v = value(name) else { return [:] }
        switch v {
        case .null: return [:]
        case .object(let items):
            var out: [String: String] = [:]
            for (key, item) in items {
                switch item {
                case .string(let s): out[key] = s
                case .number(let d, let exact): out[key] = exact.map(String.init) ?? String(d)
                case .bool(let b): out[key] = String(b)
                default: throw APIError.invalid("\"\(path)\(name).\(key)\" must be a string")
                }
            }
            return out
        default: throw APIError.invalid("\"\(path)\(name)\" must be an object of strings, got \(v.kind)")
        }
    }
}

/// The Predict panel's side of the shared `Messages.TensorJSON`.
extension TensorJSON {
    /// The "inputs" field, `{"x": [[5.1, 3.5]]}`; see `TensorJSON.inputs(_:dtypes:)`. A bad
    /// input is 400 INVALID_ARGUMENT with the converter's message.
    static func inputs(_ value: JSONValue?) throws -> [String: Tensor] {
        guard let value else { return [:] }
        guard case .object(let fields) = value else { throw APIError.invalid("\"inputs\" must be an object of NAME: VALUES") }
        do {
            return try inputs(fields)
        } catch let error as TensorJSONError {
            throw APIError.invalid(error.message)
        }
    }
}

extension JSONFields {
    /// `[{"version": "1", "percent": 90}, ...]` (null or absent: none).
    static func trafficTargets(_ value: JSONValue?, field: String) throws -> [TrafficTarget] {
        switch value {
        case nil, .null?: return []
        case .array(let items)?:
            return try items.enumerated().map { index, item in
                guard let target = try trafficTarget(item, field: "\(field)[\(index)]") else {
                    throw APIError.invalid("\"\(field)[\(index)]\" must be {\"version\": ..., \"percent\": ...}")
                }
                return target
            }
        default:
            throw APIError.invalid("\"\(field)\" must be a list of {\"version\": ..., \"percent\": ...}")
        }
    }

    /// `{"version": "3", "percent": 100}` (null or absent: nil).
    static func trafficTarget(_ value: JSONValue?, field: String) throws -> TrafficTarget? {
        switch value {
        case nil, .null?: return nil
        case .object(let members)?:
            let f = try JSONFields(members, known: ["version", "percent"])
            do {
                return TrafficTarget(version: try f.string("version"), percent: try f.int32("percent"))
            } catch let error as APIError {
                throw APIError.invalid("\(field): \(error.message)")
            }
        default:
            throw APIError.invalid("\"\(field)\" must be {\"version\": ..., \"percent\": ...}")
        }
    }
}
