/// The text of an API token, `byoc_<id>_<secret>`: what the gateway parses from
/// `authorization: Bearer ...`, the registry stores the id of, and byocctl accepts in place of
/// an id. Generating and hashing tokens is `APIToken`.
///
/// `id` is 12 lowercase hex characters (6 random bytes) and public: it names the token in
/// lists, events and messages. `secret` is 32 random bytes in base64url without padding (43
/// characters).
public enum TokenText {
    public static let prefix = "byoc_"
    public static let idLength = 12
    public static let secretLength = 43
    /// The length of a whole token text.
    public static let textLength = 5 + idLength + 1 + secretLength

    /// Splits a token text into id and secret; nil unless it is exactly `byoc_<12 hex>_<43 base64url>`.
    public static func parse<S: StringProtocol>(_ text: S) -> (id: String, secret: String)? {
        let bytes = Array(text.utf8)
        guard bytes.count == textLength, bytes.starts(with: prefix.utf8), bytes[5 + idLength] == UInt8(ascii: "_") else {
            return nil
        }
        let id = bytes[5..<(5 + idLength)]
        let secret = bytes[(6 + idLength)...]
        guard id.allSatisfy(isLowerHex), secret.allSatisfy(isBase64URL) else { return nil }
        return (String(decoding: id, as: UTF8.self), String(decoding: secret, as: UTF8.self))
    }

    /// True for a well-formed token id (12 lowercase hex characters).
    public static func isValidID(_ id: String) -> Bool {
        id.utf8.count == idLength && id.utf8.allSatisfy(isLowerHex)
    }

    private static func isLowerHex(_ c: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(c)
    }

    private static func isBase64URL(_ c: UInt8) -> Bool {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
    }
}
