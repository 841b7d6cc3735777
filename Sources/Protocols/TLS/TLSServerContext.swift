#if canImport(Glibc)
import Glibc
#endif
import COpenSSL
import Foundation

/// TLS 1.2 ciphers: forward-secret ECDHE with AEADs only. TLS 1.3 keeps OpenSSL's defaults
/// (AES-GCM and ChaCha20-Poly1305).
let modernTLS12Ciphers = [
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
].joined(separator: ":")

/// The server side of TLS: an SSL_CTX with the certificate and key from PEM files.
///
/// `reload()` builds a complete new SSL_CTX from the files and swaps it in for new
/// connections; connections already open keep the SSL_CTX they were created from (OpenSSL
/// reference-counts it), so a reload never drops a connection. A reload that fails keeps the
/// current certificate.
public final class TLSServerContext: @unchecked Sendable {
    public let certificatePath: String
    public let keyPath: String
    /// ALPN protocols in server preference order.
    public let alpnProtocols: [String]
    private let lock = NSLock()
    private var context: OpaquePointer
    private var currentFingerprint: String
    private let alpnWire: UnsafeMutableRawPointer

    /// Loads the certificate chain and key from PEM files; throws a one-line `TLSError`.
    public init(certificatePath: String, keyPath: String, alpnProtocols: [String] = ["h2", "http/1.1"]) throws {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.alpnProtocols = alpnProtocols
        alpnWire = ALPNWire.encodeRetained(alpnProtocols)
        (context, currentFingerprint) = try Self.makeContext(certificatePath: certificatePath, keyPath: keyPath,
                                                             alpnWire: alpnWire)
    }

    deinit {
        SSL_CTX_free(context)
        // alpnWire stays allocated: SSL_CTXs that open connections still hold may point at it.
    }

    /// The SHA-256 fingerprint (AA:BB:...) of the certificate new connections get.
    public var fingerprint: String {
        lock.lock()
        defer { lock.unlock() }
        return currentFingerprint
    }

    /// Re-reads the certificate and key; new connections use them, open ones are untouched.
    /// Returns the new fingerprint; on error the current certificate stays in use.
    @discardableResult
    public func reload() throws -> String {
        let (fresh, fingerprint) = try Self.makeContext(certificatePath: certificatePath, keyPath: keyPath,
                                                        alpnWire: alpnWire)
        lock.lock()
        let old = context
        context = fresh
        currentFingerprint = fingerprint
        lock.unlock()
        SSL_CTX_free(old)
        return fingerprint
    }

    /// A new server SSL object from the current context.
    func makeSSL() throws -> OpaquePointer {
        lock.lock()
        defer { lock.unlock() }
        ERR_clear_error()
        guard let ssl = SSL_new(context) else { throw TLSError.fromQueue("SSL_new") }
        return ssl
    }

    private static func makeContext(certificatePath: String, keyPath: String,
                                    alpnWire: UnsafeMutableRawPointer) throws -> (OpaquePointer, String) {
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw TLSError.fromQueue("SSL_CTX_new") }
        do {
            guard byoc_ssl_ctx_set_min_tls12(context) == 1 else { throw TLSError.fromQueue("TLS 1.2 minimum") }
            guard SSL_CTX_set_cipher_list(context, modernTLS12Ciphers) == 1 else { throw TLSError.fromQueue("cipher list") }
            byoc_ssl_ctx_set_hardening_options(context, 1)
            _ = byoc_ssl_ctx_set_mode(context, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))
            guard FileManager.default.isReadableFile(atPath: certificatePath) else {
                throw TLSError("cannot read the TLS certificate \(certificatePath)")
            }
            guard FileManager.default.isReadableFile(atPath: keyPath) else {
                throw TLSError("cannot read the TLS key \(keyPath)")
            }
            guard SSL_CTX_use_certificate_chain_file(context, certificatePath) == 1 else {
                throw TLSError.fromQueue("cannot load the TLS certificate \(certificatePath)")
            }
            guard SSL_CTX_use_PrivateKey_file(context, keyPath, SSL_FILETYPE_PEM) == 1 else {
                throw TLSError.fromQueue("cannot load the TLS key \(keyPath)")
            }
            guard SSL_CTX_check_private_key(context) == 1 else {
                throw TLSError.fromQueue("the TLS key \(keyPath) does not match the certificate \(certificatePath)")
            }
            SSL_CTX_set_alpn_select_cb(context, alpnSelect, alpnWire)
            guard let certificate = SSL_CTX_get0_certificate(context) else { throw TLSError("no certificate loaded") }
            return (context, Certificates.fingerprint(certificate))
        } catch {
            SSL_CTX_free(context)
            throw error
        }
    }
}

/// ALPN protocol lists in wire format (length-prefixed names), with a leading total length so
/// the C callback can recover the list from its `arg`.
enum ALPNWire {
    static func encode(_ protocols: [String]) -> [UInt8] {
        var wire: [UInt8] = []
        for name in protocols {
            let bytes = Array(name.utf8)
            precondition(!bytes.isEmpty && bytes.count < 256, "invalid ALPN protocol \(name)")
            wire.append(UInt8(bytes.count))
            wire.append(contentsOf: bytes)
        }
        return wire
    }

    /// [UInt32 length][wire bytes], allocated for the life of the process' SSL_CTXs.
    static func encodeRetained(_ protocols: [String]) -> UnsafeMutableRawPointer {
        let wire = encode(protocols)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: 4 + wire.count, alignment: 4)
        memory.storeBytes(of: UInt32(wire.count), as: UInt32.self)
        wire.withUnsafeBytes { (memory + 4).copyMemory(from: $0.baseAddress!, byteCount: wire.count) }
        return memory
    }
}

/// Picks the first protocol of the server's list that the client offers (server preference);
/// without an overlap the handshake goes on without ALPN.
private let alpnSelect: @convention(c) (OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?,
                                        UnsafeMutablePointer<UInt8>?, UnsafePointer<UInt8>?, UInt32,
                                        UnsafeMutableRawPointer?) -> Int32 = { _, out, outLength, offered, offeredLength, arg in
    guard let out, let outLength, let offered, let arg else { return SSL_TLSEXT_ERR_NOACK }
    let serverLength = Int(arg.load(as: UInt32.self))
    let server = UnsafeRawBufferPointer(start: arg + 4, count: serverLength)
    let client = UnsafeBufferPointer(start: offered, count: Int(offeredLength))
    var s = 0
    while s < server.count {
        let length = Int(server[s])
        let name = UnsafeRawBufferPointer(rebasing: server[(s + 1)..<(s + 1 + length)])
        var c = 0
        while c < client.count {
            let clientLength = Int(client[c])
            guard c + 1 + clientLength <= client.count else { break }
            if clientLength == length && memcmp(name.baseAddress!, offered + c + 1, length) == 0 {
                out.pointee = offered + c + 1
                outLength.pointee = UInt8(length)
                return SSL_TLSEXT_ERR_OK
            }
            c += 1 + clientLength
        }
        s += 1 + length
    }
    return SSL_TLSEXT_ERR_NOACK
}
