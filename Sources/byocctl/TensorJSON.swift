import Foundation
import Messages

/// A parsed JSON value that keeps booleans, integers and other numbers apart.
enum JSONValue: Decodable {
    case null
    case bool(Bool)
    case number(Double, exact: Int64?)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let b = try? c.decode(Bool.self) { self = .bool(b); return }
        if let i = try? c.decode(Int64.self) { self = .number(Double(i), exact: i); return }
        if let d = try? c.decode(Double.self) { self = .number(d, exact: nil); return }
        if let s = try? c.decode(String.self) { self = .string(s); return }
        if let a = try? c.decode([JSONValue].self) { self = .array(a); return }
        self = .object(try c.decode([String: JSONValue].self))
    }

    /// What the value is, plural: "numbers", "strings", ...
    var kind: String {
        switch self {
        case .null: return "nulls"
        case .bool: return "booleans"
        case .number: return "numbers"
        case .string: return "strings"
        case .array: return "lists"
        case .object: return "objects"
        }
    }
}

/// Builds request tensors from JSON and turns response tensors back into JSON.
enum TensorJSON {
    /// Parses `{"name": nested lists or a scalar, ...}` into tensors. Numbers become FLOAT32
    /// unless `dtypes` names another numeric type (per input, or "" for every input);
    /// booleans BOOL; strings STRING. A value may also be {"dtype":..,"shape":..,"values":[..]}.
    static func inputs(fromJSON text: String, dtypes: [String: DataType]) throws -> [String: Tensor] {
        let parsed: [String: JSONValue]
        do {
            parsed = try JSONDecoder().decode([String: JSONValue].self, from: Data(text.utf8))
        } catch {
            throw CLIError.usage("--input must be a JSON object of NAME: VALUES, e.g. '{\"x\": [[5.1, 3.5, 1.4, 0.2]]}' (\(describe(error)))")
        }
        var tensors: [String: Tensor] = [:]
        for (name, value) in parsed {
            tensors[name] = try tensor(name: name, value: value, dtype: dtypes[name],
                                       numericDefault: dtypes[""])
        }
        return tensors
    }

    /// `dtype` is what the user asked for this input; `numericDefault` (a bare --dtype)
    /// applies only when the input holds numbers.
    static func tensor(name: String, value: JSONValue, dtype: DataType?,
                       numericDefault: DataType? = nil) throws -> Tensor {
        var dtype = dtype
        var shape: [Int64]
        var leaves: [JSONValue] = []
        if case .object(let fields) = value, case .string(let base64)? = fields["raw"] {
            return try rawTensor(name: name, fields: fields, base64: base64, dtype: dtype)
        }
        if case .object(let fields) = value, let values = fields["values"] {
            if case .string(let d)? = fields["dtype"] {
                guard let parsed = DataType(name: d) else { throw CLIError.usage("input \"\(name)\": unknown dtype \(d)") }
                dtype = dtype ?? parsed
            }
            shape = try Self.shape(name: name, values, into: &leaves)
            if case .array(let dims)? = fields["shape"] {
                shape = try dims.map { dim -> Int64 in
                    guard case .number(_, let exact?) = dim, exact >= 0 else {
                        throw CLIError.usage("input \"\(name)\": shape must be a list of non-negative integers")
                    }
                    return exact
                }
                let count = shape.reduce(1, *)
                guard count == Int64(leaves.count) else {
                    throw CLIError.usage("input \"\(name)\": shape \(shape) holds \(count) values, got \(leaves.count)")
                }
            }
        } else {
            shape = try Self.shape(name: name, value, into: &leaves)
        }
        if dtype == nil, let numericDefault, leaves.allSatisfy({ if case .number = $0 { return true }; return false }) {
            dtype = numericDefault
        }
        return try fill(name: name, leaves: leaves, shape: shape, dtype: dtype)
    }

    /// `{"dtype": D, "shape": [..], "raw": BASE64}`: row-major little-endian bytes as they are.
    static func rawTensor(name: String, fields: [String: JSONValue], base64: String,
                          dtype: DataType?) throws -> Tensor {
        guard let bytes = Data(base64Encoded: base64) else {
            throw CLIError.usage("input \"\(name)\": raw must be base64")
        }
        var tensor = Tensor(dtype: dtype ?? .bytes, raw: [UInt8](bytes))
        if case .string(let d)? = fields["dtype"] {
            guard let parsed = DataType(name: d) else { throw CLIError.usage("input \"\(name)\": unknown dtype \(d)") }
            tensor.dtype = dtype ?? parsed
        }
        if case .array(let dims)? = fields["shape"] {
            tensor.shape = try dims.map { dim -> Int64 in
                guard case .number(_, let exact?) = dim, exact >= 0 else {
                    throw CLIError.usage("input \"\(name)\": shape must be a list of non-negative integers")
                }
                return exact
            }
        }
        return tensor
    }

    /// The dimensions of nested lists, collecting the leaves row-major; ragged lists throw.
    static func shape(name: String, _ value: JSONValue, into leaves: inout [JSONValue]) throws -> [Int64] {
        guard case .array(let items) = value else {
            if case .object = value { throw CLIError.usage("input \"\(name)\": values must be lists, numbers, booleans or strings, not an object") }
            if case .null = value { throw CLIError.usage("input \"\(name)\": null is not a value") }
            leaves.append(value)
            return []
        }
        guard let first = items.first else { return [0] }
        let inner = try shape(name: name, first, into: &leaves)
        for item in items.dropFirst() {
            let other = try shape(name: name, item, into: &leaves)
            if other != inner {
                throw CLIError.usage("input \"\(name)\" is ragged: its lists must all have the same shape (\(inner) vs \(other))")
            }
        }
        return [Int64(items.count)] + inner
    }

    static func fill(name: String, leaves: [JSONValue], shape: [Int64], dtype: DataType?) throws -> Tensor {
        var tensor = Tensor(dtype: dtype ?? .float32, shape: shape)
        guard let first = leaves.first else { return tensor }
        let kind = first.kind
        if let mixed = leaves.first(where: { $0.kind != kind }) {
            throw CLIError.usage("input \"\(name)\" mixes \(kind) and \(mixed.kind)")
        }
        func wrongType(_ want: String) -> CLIError {
            CLIError.usage("input \"\(name)\" holds \(kind), which cannot be \(want)")
        }
        switch first {
        case .bool:
            guard dtype == nil || dtype == .bool else { throw wrongType(dtype!.name) }
            tensor.dtype = .bool
            tensor.bools = leaves.map { if case .bool(let b) = $0 { return b }; return false }
        case .string:
            guard dtype == nil || dtype == .string else { throw wrongType(dtype!.name) }
            tensor.dtype = .string
            tensor.strings = leaves.map { if case .string(let s) = $0 { return s }; return "" }
        case .number:
            let numbers: [(Double, Int64?)] = leaves.map { if case .number(let d, let i) = $0 { return (d, i) }; return (0, nil) }
            switch tensor.dtype {
            case .float32: tensor.floats = numbers.map { Float($0.0) }
            case .float64: tensor.doubles = numbers.map { $0.0 }
            case .int32, .int64:
                tensor.ints = try numbers.map { d, exact in
                    if let exact {
                        if tensor.dtype == .int32 && Int32(exactly: exact) == nil {
                            throw CLIError.usage("input \"\(name)\": \(exact) does not fit INT32")
                        }
                        return exact
                    }
                    guard let whole = Int64(exactly: d) else {
                        throw CLIError.usage("input \"\(name)\": \(d) is not an integer (dtype \(tensor.dtype.name))")
                    }
                    return whole
                }
            default:
                throw wrongType(tensor.dtype.name)
            }
        default:
            throw CLIError.usage("input \"\(name)\" holds \(kind)")
        }
        return tensor
    }

    // MARK: output

    /// `{"dtype":..,"shape":..,"values":[...]}`; values come from the typed list, or from `raw`
    /// decoded as little-endian when the dtype is fixed-size; otherwise `raw` is base64.
    static func outputObject(_ t: Tensor) -> [String: Any] {
        var object: [String: Any] = ["dtype": t.dtype.name, "shape": t.shape.map { Int($0) }]
        if let values = values(t) {
            object["values"] = values
        } else {
            object["values"] = [Any]()
            if !t.raw.isEmpty { object["raw"] = Data(t.raw).base64EncodedString() }
        }
        return object
    }

    static func values(_ t: Tensor) -> [Any]? {
        if !t.raw.isEmpty {
            switch t.dtype {
            case .float32: return decode(t.raw, 4) { Float(bitPattern: UInt32(truncatingIfNeeded: $0)) }
            case .float64: return decode(t.raw, 8) { Double(bitPattern: $0) }
            case .int32: return decode(t.raw, 4) { Int(Int32(bitPattern: UInt32(truncatingIfNeeded: $0))) }
            case .int64: return decode(t.raw, 8) { Int(Int64(bitPattern: $0)) }
            case .bool: return t.raw.map { $0 != 0 }
            default: return nil
            }
        }
        switch t.dtype {
        case .float32 where !t.floats.isEmpty: return t.floats
        case .float64 where !t.doubles.isEmpty: return t.doubles
        case .int32 where !t.ints.isEmpty, .int64 where !t.ints.isEmpty: return t.ints.map { Int($0) }
        case .bool where !t.bools.isEmpty: return t.bools
        case .string where !t.strings.isEmpty: return t.strings
        default: break
        }
        // The dtype and the filled list disagree (or the dtype is unset): show what is there.
        if !t.floats.isEmpty { return t.floats }
        if !t.doubles.isEmpty { return t.doubles }
        if !t.ints.isEmpty { return t.ints.map { Int($0) } }
        if !t.bools.isEmpty { return t.bools }
        if !t.strings.isEmpty { return t.strings }
        return []
    }

    private static func decode(_ raw: [UInt8], _ width: Int, _ make: (UInt64) -> Any) -> [Any]? {
        guard raw.count % width == 0 else { return nil }
        return stride(from: 0, to: raw.count, by: width).map { start in
            var bits: UInt64 = 0
            for i in 0..<width { bits |= UInt64(raw[start + i]) << (8 * UInt64(i)) }
            return make(bits)
        }
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context):
            if let underlying = context.underlyingError as NSError?,
               let detail = underlying.userInfo[NSDebugDescriptionErrorKey] as? String {
                return detail
            }
            return context.debugDescription
        case DecodingError.typeMismatch(_, let context):
            return context.codingPath.isEmpty ? "not an object" : context.debugDescription
        default:
            return "\(error)"
        }
    }
}
