// The few libcrypto primitives the platform needs outside TLS: SHA-256, random bytes and a
// constant-time comparison. TLS (libssl) lives in the TLS module; this module wraps only these.
import COpenSSL

/// An error from libcrypto, with what was being done.
public struct CryptoError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What failed.
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// SHA-256, random bytes and constant-time comparison through OpenSSL's libcrypto.
public enum Crypto {
    /// The length of a SHA-256 digest in bytes.
    public static let sha256Length = Int(SHA256_DIGEST_LENGTH)

    /// SHA-256 of `bytes`.
    public static func sha256(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: sha256Length) { buffer, count in
            _ = SHA256(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, buffer.baseAddress)
            count = sha256Length
        }
    }

    /// SHA-256 of a string's UTF-8.
    public static func sha256<S: StringProtocol>(utf8 text: S) -> [UInt8] {
        var text = String(text)
        return text.withUTF8 { sha256(UnsafeRawBufferPointer($0)) }
    }

    /// `count` bytes from OpenSSL's CSPRNG (RAND_bytes).
    public static func randomBytes(_ count: Int) throws(CryptoError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let ok = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        guard ok == 1 else { throw CryptoError("the random number generator failed") }
        return bytes
    }

    /// Compares two byte strings in constant time (CRYPTO_memcmp); false when the lengths differ.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        guard !a.isEmpty else { return true }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0 } }
    }
}
