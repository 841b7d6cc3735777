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

/// A parsed JSON value that keeps booleans, integers and other numbers apart.
public indirect enum JSONValue: Decodable, Sendable {
    case null
    case bool(Bool)
    case number(Double, exact: Int64?)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let b = try? c.decode(Bool.self) { self = .bool(b); return }
        if let i = try? c.decode(Int64.self) { self = .number(Double(i), exact: i); return }
        if let d = try? c.decode(Double.self) { self = .number(d, exact: nil); return }
        if let s = try? c.decode(String.self) { self = .string(s); return }
        if let a = try? c.decode([JSONValue].self) { self = .array(a); return }
        self = .object(try c.decode([String: JSONValue].self))
    }

    /// Parses a request body that must be a JSON object (an empty body is `{}`).
    public static func object(_ body: [UInt8]) throws -> [String: JSONValue] {
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return [:] }
        let value: JSONValue
        do { value = try JSONDecoder().decode(JSONValue.self, from: Data(body)) } catch {
            throw APIError.invalid("the request body is not valid JSON")
        }
        guard case .object(let fields) = value else { throw APIError.invalid("the request body must be a JSON object") }
        return fields
    }

    var kind: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "a list"
        case .object: return "an object"
        }
    }
}

/// Typed access to the fields of a JSON request object, accepting camelCase or snake_case
/// names and refusing unknown fields (so a typo is an error, not a silent default).
struct JSONFields {
    let fields: [String: JSONValue]
    let known: Set<String>

    init(_ fields: [String: JSONValue], known: [String]) throws {
        self.fields = fields
        var all = Set(known)
        for name in known { all.insert(Self.snake(name)) }
        self.known = all
        for key in fields.keys.sorted() where !all.contains(key) {
            throw APIError.invalid("unknown field \"\(key)\" (expected one of: \(known.joined(separator: ", ")))")
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
        default: throw APIError.invalid("\"\(name)\" must be a string, got \(v.kind)")
        }
    }

    func int32(_ name: String) throws -> Int32 {
        guard let v = value(name) else { return 0 }
        switch v {
        case .null: return 0
        case .number(_, let exact?) where exact >= Int64(Int32.min) && exact <= Int64(Int32.max): return Int32(exact)
        case .string(let s) where Int32(s) != nil: return Int32(s)!
        default: throw APIError.invalid("\"\(name)\" must be an integer, got \(v.kind)")
        }
    }

    func strings(_ name: String) throws -> [String] {
        guard let v = value(name) else { return [] }
        switch v {
        case .null: return []
        case .array(let items):
            return try items.map {
                guard case .string(let s) = $0 else { throw APIError.invalid("\"\(name)\" must be a list of strings") }
                return s
            }
        default: throw APIError.invalid("\"\(name)\" must be a list of strings, got \(v.kind)")
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
                default: throw APIError.invalid("\"\(name).\(key)\" must be a string")
                }
            }
            return out
        default: throw APIError.invalid("\"\(name)\" must be an object of strings, got \(v.kind)")
        }
    }
}

/// JSON <-> byoc.v1.Tensor for the Predict panel.
enum TensorJSON {
    /// `{"x": [[5.1, 3.5]]}`: numbers become FLOAT32 (or the "dtype" of an object form
    /// `{"dtype": "INT64", "shape": [2], "values": [1, 2]}`), booleans BOOL, strings STRING.
    static func inputs(_ value: JSONValue?) throws -> [String: Tensor] {
        guard let value else { return [:] }
        guard case .object(let fields) = value else { throw APIError.invalid("\"inputs\" must be an object of NAME: VALUES") }
        var tensors: [String: Tensor] = [:]
        for (name, item) in fields { tensors[name] = try tensor(name: name, item) }
        return tensors
    }

    static func tensor(name: String, _ value: JSONValue) throws -> Tensor {
        var dtype: DataType?
        var values = value
        var declaredShape: [Int64]?
        if case .object(let fields) = value {
            guard let v = fields["values"] else {
                throw APIError.invalid("input \"\(name)\": an object input needs \"values\" (and optional \"dtype\", \"shape\")")
            }
            values = v
            if case .string(let d)? = fields["dtype"] {
                guard let parsed = DataType(name: d.uppercased()) else { throw APIError.invalid("input \"\(name)\": unknown dtype \(d)") }
                dtype = parsed
            }
            if case .array(let dims)? = fields["shape"] {
                declaredShape = try dims.map {
                    guard case .number(_, let exact?) = $0, exact >= 0 else {
                        throw APIError.invalid("input \"\(name)\": shape must be a list of non-negative integers")
                    }
                    return exact
                }
            }
        }
        var leaves: [JSONValue] = []
        var shape = try Self.shape(name: name, values, into: &leaves)
        if let declaredShape {
            guard declaredShape.reduce(1, *) == Int64(leaves.count) else {
                throw APIError.invalid("input \"\(name)\": shape \(declaredShape) does not match \(leaves.count) values")
            }
            shape = declaredShape
        }
        var tensor = Tensor(shape: shape)
        let kind = dtype ?? {
            switch leaves.first {
            case .bool?: return DataType.bool
            case .string?: return DataType.string
            default: return DataType.float32
            }
        }()
        tensor.dtype = kind
        for leaf in leaves {
            switch (kind, leaf) {
            case (.float32, .number(let d, _)): tensor.floats.append(Float(d))
            case (.float64, .number(let d, _)): tensor.doubles.append(d)
            case (.int32, .number(_, let exact?)), (.int64, .number(_, let exact?)): tensor.ints.append(exact)
            case (.bool, .bool(let b)): tensor.bools.append(b)
            case (.string, .string(let s)), (.bytes, .string(let s)): tensor.strings.append(s)
            default:
                throw APIError.invalid("input \"\(name)\": \(leaf.kind) does not fit dtype \(kind.name)")
            }
        }
        return tensor
    }

    /// The shape of nested lists (rectangular), collecting the leaves in row-major order.
    static func shape(name: String, _ value: JSONValue, into leaves: inout [JSONValue]) throws -> [Int64] {
        guard case .array(let items) = value else {
            leaves.append(value)
            return []
        }
        var inner: [Int64]?
        for item in items {
            let s = try shape(name: name, item, into: &leaves)
            if let inner, inner != s { throw APIError.invalid("input \"\(name)\": nested lists must be rectangular") }
            inner = s
        }
        return [Int64(items.count)] + (inner ?? [])
    }

    /// A tensor as JSON: the protobuf JSON fields plus "values" nested by "shape".
    static func json(_ tensor: Tensor) -> [String: Any] {
        var object = tensor.jsonObject()
        // FLOAT32 values in their shortest decimal form (5.1, not 5.099999904632568).
        let floats: [Double] = tensor.floats.map { $0.isFinite ? (Double(String($0)) ?? Double($0)) : Double($0) }
        if !floats.isEmpty && floats.allSatisfy({ $0.isFinite }) { object["floats"] = floats }
        let flat: [Any]
        switch tensor.dtype {
        case .float32: flat = floats
        case .float64: flat = tensor.doubles
        case .int32, .int64: flat = tensor.ints.map { Int($0) }
        case .bool: flat = tensor.bools
        case .string, .bytes: flat = tensor.strings
        default:
            if !tensor.floats.isEmpty {
                flat = floats
            } else if !tensor.doubles.isEmpty {
                flat = tensor.doubles
            } else if !tensor.ints.isEmpty {
                flat = tensor.ints.map { Int($0) }
            } else if !tensor.bools.isEmpty {
                flat = tensor.bools
            } else {
                flat = tensor.strings
            }
        }
        guard flat.allSatisfy({ !(($0 as? Double)?.isFinite == false) }) else { return object }
        let shape = tensor.shape.map { Int($0) }
        if shape.reduce(1, *) == flat.count && !flat.isEmpty {
            var index = 0
            object["values"] = nest(flat, shape[...], &index)
        } else if !flat.isEmpty {
            object["values"] = flat
        }
        return object
    }

    private static func nest(_ flat: [Any], _ shape: ArraySlice<Int>, _ index: inout Int) -> Any {
        guard let first = shape.first else {
            defer { index += 1 }
            return flat[index]
        }
        var out: [Any] = []
        for _ in 0..<first { out.append(nest(flat, shape.dropFirst(), &index)) }
        return out
    }
}
