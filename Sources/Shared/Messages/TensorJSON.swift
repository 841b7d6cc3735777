// JSON <-> byoc.v1.Tensor, shared by byocctl (--input / printed outputs) and the web console
// (the Predict panel's JSON API).
import Foundation

/// A parsed JSON value that keeps booleans, integers and other numbers apart
/// (`JSONValue.parse`).
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// Every number as a Double, plus its exact value when it is an integer that fits Int64.
    case number(Double, exact: Int64?)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// What the value is, singular with an article: "a number", "a list", "null", ...
    public var kind: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "a list"
        case .object: return "an object"
        }
    }

    /// What the value is, plural: "numbers", "strings", ...
    public var kinds: String {
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

/// Why JSON could not become a tensor; `message` names the input and is meant for the user.
public struct TensorJSONError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// Builds request tensors from JSON and turns response tensors back into JSON.
public enum TensorJSON {
    // MARK: input

    /// Parses `{"name": nested lists or a scalar, ...}` into tensors. Numbers become FLOAT32
    /// unless `dtypes` names another numeric type (per input, or "" for every input that holds
    /// numbers); booleans BOOL; strings STRING. The shape is that of the nested lists, which must
    /// be rectangular. A value may also be `{"dtype": .., "shape": [..], "values": [..]}` or
    /// `{"dtype": .., "shape": [..], "raw": BASE64}` (row-major little-endian bytes).
    /// Throws `TensorJSONError`.
    public static func inputs(_ fields: [String: JSONValue],
                              dtypes: [String: DataType] = [:]) throws -> [String: Tensor] {
        var tensors: [String: Tensor] = [:]
        for (name, value) in fields {
            tensors[name] = try tensor(name: name, value: value, dtype: dtypes[name], numericDefault: dtypes[""])
        }
        return tensors
    }

    /// One input. `dtype` is what the caller asked for this input (it wins over an object form's
    /// "dtype"); `numericDefault` applies only when the input holds numbers. Throws `TensorJSONError`.
    public static func tensor(name: String, value: JSONValue, dtype: DataType? = nil,
                              numericDefault: DataType? = nil) throws -> Tensor {
        var dtype = dtype
        var shape: [Int64]
        var leaves: [JSONValue] = []
        if case .object(let fields) = value, case .string(let base64)? = fields["raw"] {
            return try rawTensor(name: name, fields: fields, base64: base64, dtype: dtype)
        }
        if case .object(let fields) = value, let values = fields["values"] {
            let declared = try declaredDType(name: name, fields)  // checked even when `dtype` is given
            dtype = dtype ?? declared
            shape = try Self.shape(name: name, values, into: &leaves)
            if case .array(let dims)? = fields["shape"] {
                shape = try declaredShape(name: name, dims)
                guard let count = elementCount(shape) else {
                    throw TensorJSONError("input \"\(name)\": shape \(shape) is too large")
                }
                guard count == Int64(leaves.count) else {
                    throw TensorJSONError("input \"\(name)\": shape \(shape) holds \(count) values, got \(leaves.count)")
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

    /// The `"dtype"` field of an input object (nil when absent); throws for an unknown name.
    private static func declaredDType(name: String, _ fields: [String: JSONValue]) throws -> DataType? {
        guard case .string(let d)? = fields["dtype"] else { return nil }
        guard let parsed = DataType(name: d) else { throw TensorJSONError("input \"\(name)\": unknown dtype \(d)") }
        return parsed
    }

    /// `{"dtype": D, "shape": [..], "raw": BASE64}`: row-major little-endian bytes as they are.
    static func rawTensor(name: String, fields: [String: JSONValue], base64: String,
                          dtype: DataType?) throws -> Tensor {
        guard let bytes = Data(base64Encoded: base64) else {
            throw TensorJSONError("input \"\(name)\": raw must be base64")
        }
        let declared = try declaredDType(name: name, fields)  // checked even when `dtype` is given
        var tensor = Tensor(dtype: dtype ?? declared ?? .bytes, raw: [UInt8](bytes))
        if case .array(let dims)? = fields["shape"] {
            tensor.shape = try declaredShape(name: name, dims)
        }
        return tensor
    }

    private static func declaredShape(name: String, _ dims: [JSONValue]) throws -> [Int64] {
        try dims.map { dim -> Int64 in
            guard case .number(_, let exact?) = dim, exact >= 0 else {
                throw TensorJSONError("input \"\(name)\": shape must be a list of non-negative integers")
            }
            return exact
        }
    }

    /// The number of elements of `shape` (non-negative dimensions); nil when the product
    /// overflows Int64, so a hostile shape is an error rather than a trap.
    static func elementCount(_ shape: [Int64]) -> Int64? {
        var count: Int64 = 1
        for dim in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            if overflow { return nil }
            count = product
        }
        return count
    }

    /// The dimensions of nested lists, collecting the leaves row-major; ragged lists throw.
    static func shape(name: String, _ value: JSONValue, into leaves: inout [JSONValue]) throws -> [Int64] {
        guard case .array(let items) = value else {
            if case .object = value {
                throw TensorJSONError("input \"\(name)\": values must be lists, numbers, booleans or strings, not an object")
            }
            if case .null = value { throw TensorJSONError("input \"\(name)\": null is not a value") }
            leaves.append(value)
            return []
        }
        guard let first = items.first else { return [0] }
        let inner = try shape(name: name, first, into: &leaves)
        for item in items.dropFirst() {
            let other = try shape(name: name, item, into: &leaves)
            if other != inner {
                throw TensorJSONError("input \"\(name)\" is ragged: its lists must all have the same shape, "
                                      + "i.e. be rectangular (\(inner) vs \(other))")
            }
        }
        return [Int64(items.count)] + inner
    }

    static func fill(name: String, leaves: [JSONValue], shape: [Int64], dtype: DataType?) throws -> Tensor {
        var tensor = Tensor(dtype: dtype ?? .float32, shape: shape)
        guard let first = leaves.first else { return tensor }
        let kinds = first.kinds
        if let mixed = leaves.first(where: { $0.kinds != kinds }) {
            throw TensorJSONError("input \"\(name)\" mixes \(kinds) and \(mixed.kinds)")
        }
        func wrongType(_ want: String) -> TensorJSONError {
            TensorJSONError("input \"\(name)\" holds \(kinds), which cannot be \(want)")
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
                let dtype = tensor.dtype
                tensor.ints = try numbers.map { d, exact in
                    if let exact {
                        if dtype == .int32 && Int32(exactly: exact) == nil {
                            throw TensorJSONError("input \"\(name)\": \(exact) does not fit INT32")
                        }
                        return exact
                    }
                    guard let whole = Int64(exactly: d) else {
                        throw TensorJSONError("input \"\(name)\": \(d) is not an integer (dtype \(dtype.name))")
                    }
                    if dtype == .int32 && Int32(exactly: whole) == nil {
                        throw TensorJSONError("input \"\(name)\": \(whole) does not fit INT32")
                    }
                    return whole
                }
            default:
                throw wrongType(tensor.dtype.name)
            }
        default:
            throw TensorJSONError("input \"\(name)\" holds \(kinds)")
        }
        return tensor
    }

    // MARK: output

    /// `{"dtype": .., "shape": [..], "values": [...]}` with the values flat (row-major); they
    /// come from the typed list, or from `raw` decoded as little-endian when the dtype is
    /// fixed-size; otherwise "values" is empty and `raw` is kept as base64 under "raw".
    public static func outputObject(_ t: Tensor) -> [String: Any] {
        var object: [String: Any] = ["dtype": t.dtype.name, "shape": t.shape.map { Int($0) }]
        if let values = values(t) {
            object["values"] = values
        } else {
            object["values"] = [Any]()
            if !t.raw.isEmpty { object["raw"] = Data(t.raw).base64EncodedString() }
        }
        return object
    }

    /// The protobuf JSON fields of `Tensor.jsonObject()` (FLOAT32 in their shortest decimal
    /// form, 5.1 rather than 5.099999904632568) plus "values" nested by "shape" (a scalar's
    /// value itself), decoded from `raw` when the dtype is fixed-size. "values" is left out
    /// when there are none, when a number is not finite (JSON has no NaN), or when `raw`
    /// cannot be decoded.
    public static func nestedObject(_ t: Tensor) -> [String: Any] {
        var object = t.jsonObject()
        let floats = t.floats.map(shortest)
        if !floats.isEmpty && floats.allSatisfy({ $0.isFinite }) { object["floats"] = floats }
        guard let decoded = values(t), !decoded.isEmpty else { return object }
        let flat: [Any] = decoded.map { ($0 as? Float).map(shortest) ?? $0 }
        guard flat.allSatisfy({ ($0 as? Double)?.isFinite != false }) else { return object }
        if t.shape.allSatisfy({ $0 >= 0 }) && elementCount(t.shape) == Int64(flat.count) {
            var index = 0
            object["values"] = nest(flat, t.shape.map { Int($0) }[...], &index)
        } else {
            object["values"] = flat
        }
        return object
    }

    /// The values of `t` flat (row-major): Float, Double, Int, Bool or String elements. `raw`
    /// is decoded as little-endian for FLOAT32/FLOAT64/INT32/INT64/BOOL; nil when `raw` is set
    /// but cannot be decoded (another dtype, or a length that is not a multiple of the width).
    public static func values(_ t: Tensor) -> [Any]? {
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

    /// A Float as the Double of its shortest decimal form.
    private static func shortest(_ f: Float) -> Double {
        f.isFinite ? (Double(String(f)) ?? Double(f)) : Double(f)
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
