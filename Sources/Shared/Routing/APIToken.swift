// Making and checking API tokens: generation, hashing, constant-time comparison, and the
// bearer header. Their text format is `TokenText`.
import Crypto
import Foundation

/// Making and checking API tokens (libcrypto through `Crypto`); their text format is `TokenText`.
///
/// The registry keeps SHA-256 of the secret's text, never the secret.
public enum APIToken {
    /// A new token: its id, its secret, and the full text to hand to the user (once).
    public static func generate() throws -> (id: String, secret: String, text: String) {
        let idBytes = try randomBytes(6)
        let id = idBytes.map { byte -> String in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
        let secret = base64URL(try randomBytes(32))
        return (id, secret, TokenText.prefix + id + "_" + secret)
    }

    /// SHA-256 of the secret's text (what the registry stores).
    public static func hash<S: StringProtocol>(secret: S) -> [UInt8] {
        Crypto.sha256(utf8: secret)
    }

    /// Compares two hashes in constant time (CRYPTO_memcmp); false when the lengths differ.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        Crypto.constantTimeEqual(a, b)
    }

    /// The token of an `authorization` header value `Bearer <token>` (scheme case-insensitive);
    /// nil when the value is not a bearer credential.
    public static func bearer(_ header: String) -> Substring? {
        var value = Substring(header)
        while value.first == " " || value.first == "\t" { value.removeFirst() }
        guard value.utf8.count > 7, value.utf8.prefix(6).map({ $0 | 0x20 }) == Array("bearer".utf8) else { return nil }
        value = value.dropFirst(6)
        guard value.first == " " || value.first == "\t" else { return nil }
        while value.first == " " || value.first == "\t" { value.removeFirst() }
        while value.last == " " || value.last == "\t" { value.removeLast() }
        return value.isEmpty ? nil : value
    }

    static func randomBytes(_ count: Int) throws -> [UInt8] {
        do { return try Crypto.randomBytes(count) } catch {
            throw AuthFailure.unauthenticated(error.message)
        }
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        text = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }
}

