/// Reads protobuf fields 1 and 2 (model and version) from the start of a request message
/// without decoding the rest.
///
/// Every mainstream protobuf encoder writes fields in field-number order, so the scan stops
/// at the first field numbered above 2: routing never waits for, or holds, the bulk of a message.
public enum RouteFieldScanner {
    /// The outcome of a scan over the bytes seen so far.
    public enum Result: Equatable {
        /// More bytes of the message are needed.
        case needMore
        /// Fields 1 and 2 (empty when absent).
        case found(model: String, version: String)
        /// The bytes are not a valid encoding of string fields 1 and 2.
        case invalid(String)
    }

    /// Scans `message`, the first bytes of a message of `messageLength` bytes in total.
    public static func scan(_ message: UnsafeRawBufferPointer, messageLength: Int) -> Result {
        var index = 0
        var model = ""
        var version = ""
        let available = message.count
        while true {
            if index >= messageLength { return .found(model: model, version: version) }
            guard let (tag, tagLength) = readVarint(message, at: index, limit: messageLength) else {
                return available >= messageLength || available - index >= 10
                    ? .invalid("malformed field tag at byte \(index)") : .needMore
            }
            let fieldNumber = tag >> 3
            let wireType = tag & 7
            if fieldNumber == 0 { return .invalid("field number 0 at byte \(index)") }
            if fieldNumber > 2 { return .found(model: model, version: version) }
            guard wireType == 2 else {
                return .invalid("field \(fieldNumber) (\(fieldNumber == 1 ? "model" : "version")) must be a string, found wire type \(wireType)")
            }
            let lengthStart = index + tagLength
            guard let (length, lengthBytes) = readVarint(message, at: lengthStart, limit: messageLength) else {
                return available >= messageLength || available - lengthStart >= 10
                    ? .invalid("malformed length of field \(fieldNumber)") : .needMore
            }
            let start = lengthStart + lengthBytes
            guard length <= UInt64(messageLength - start) else {
                return .invalid("field \(fieldNumber) runs past the end of the message")
            }
            let end = start + Int(length)
            if end > available { return .needMore }
            let bytes = UnsafeRawBufferPointer(rebasing: message[start..<end])
            guard let text = decodeUTF8(bytes) else {
                return .invalid("field \(fieldNumber) is not valid UTF-8")
            }
            if fieldNumber == 1 { model = text } else { version = text }
            index = end
        }
    }

    /// The string of `bytes`, nil when they are not valid UTF-8. Names are nearly always
    /// ASCII, which needs no validation beyond the byte check (and `String(validating:)`
    /// costs several times more, on every routed call).
    @inline(__always)
    private static func decodeUTF8(_ bytes: UnsafeRawBufferPointer) -> String? {
        var high: UInt8 = 0
        for byte in bytes { high |= byte }
        if high < 0x80 { return String(decoding: bytes, as: UTF8.self) }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Reads a varint at `index`; nil when it is incomplete within the available bytes or too long.
    private static func readVarint(_ bytes: UnsafeRawBufferPointer, at index: Int, limit: Int) -> (UInt64, Int)? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var position = index
        while position < bytes.count, position < limit, shift < 64 {
            let byte = bytes[position]
            value |= UInt64(byte & 0x7F) << shift
            position += 1
            if byte & 0x80 == 0 { return (value, position - index) }
            shift += 7
        }
        return nil
    }
}
