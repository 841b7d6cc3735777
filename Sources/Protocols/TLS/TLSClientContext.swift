#if canImport(Glibc)
import Glibc
#endif
import COpenSSL
import Foundation
import Transport

/// The client side of TLS: verifies the server (a CA file or PEM, else the system's default
/// trust store), checks the host name or IP address, sends SNI for host names, and requires
/// ALPN h2 by default. `insecure` skips verification (development only).
public final class TLSClientContext: @unchecked Sendable {
    public let insecure: Bool
    public let alpnProtocols: [String]
    /// The protocol the server must select (nil: any or none).
    public let requiredALPN: String?
    private let context: OpaquePointer
    private let alpnWire: [UInt8]

    /// - Parameters:
    ///   - caFile: PEM file of trusted CA certificates (also a self-signed server certificate).
    ///   - caPEM: PEM text of trusted CA certificates, in addition to `caFile`.
    ///   - Without either, the system's default trust store is used.
    public init(caFile: String? = nil, caPEM: String? = nil, insecure: Bool = false,
                alpnProtocols: [String] = ["h2"], requiredALPN: String? = "h2") throws {
        self.insecure = insecure
        self.alpnProtocols = alpnProtocols
        self.requiredALPN = requiredALPN
        alpnWire = ALPNWire.encode(alpnProtocols)
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw TLSError.fromQueue("SSL_CTX_new") }
        self.context = context
        guard byoc_ssl_ctx_set_min_tls12(context) == 1 else { throw TLSError.fromQueue("TLS 1.2 minimum") }
        guard SSL_CTX_set_cipher_list(context, modernTLS12Ciphers) == 1 else { throw TLSError.fromQueue("cipher list") }
        byoc_ssl_ctx_set_hardening_options(context, 0)
        _ = byoc_ssl_ctx_set_mode(context, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))
        if insecure {
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
            return
        }
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        if let caFile {
            guard FileManager.default.isReadableFile(atPath: caFile) else {
                throw TLSError("cannot read the CA file \(caFile)")
            }
            guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else {
                throw TLSError.fromQueue("cannot load the CA file \(caFile)")
            }
        }
        if let caPEM {
            try Self.addCertificates(pem: caPEM, to: context)
        }
        if caFile == nil && caPEM == nil {
            guard SSL_CTX_set_default_verify_paths(context) == 1 else {
                throw TLSError.fromQueue("cannot load the system's trusted certificates")
            }
        }
    }

    deinit {
        SSL_CTX_free(context)
    }

    private static func addCertificates(pem: String, to context: OpaquePointer) throws {
        let bytes = Array(pem.utf8)
        guard let bio = bytes.withUnsafeBytes({ BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }) else {
            throw TLSError.fromQueue("BIO_new_mem_buf")
        }
        defer { BIO_free(bio) }
        let store = SSL_CTX_get_cert_store(context)
        var added = 0
        while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) {
            X509_STORE_add_cert(store, certificate)
            X509_free(certificate)
            added += 1
        }
        ERR_clear_error()
        guard added > 0 else { throw TLSError("the CA PEM holds no certificate") }
    }

    /// Wraps a connected socket: a client channel that verifies `serverName` (a host name or
    /// an IP address, brackets allowed) and sends it as SNI when it is a host name.
    public func makeChannel(fd: Int32, serverName: String) throws -> TLSChannel {
        ERR_clear_error()
        guard let ssl = SSL_new(context) else { throw TLSError.fromQueue("SSL_new") }
        var name = serverName
        if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        let isIP = Self.isIPAddress(name)
        do {
            if !isIP && !name.isEmpty {
                guard byoc_ssl_set_sni(ssl, name) == 1 else { throw TLSError.fromQueue("cannot set SNI \(name)") }
            }
            if !insecure {
                let parameters = SSL_get0_param(ssl)
                if isIP {
                    guard X509_VERIFY_PARAM_set1_ip_asc(parameters, name) == 1 else {
                        throw TLSError.fromQueue("invalid IP address \(name)")
                    }
                } else {
                    X509_VERIFY_PARAM_set_hostflags(parameters, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
                    guard X509_VERIFY_PARAM_set1_host(parameters, name, 0) == 1 else {
                        throw TLSError.fromQueue("invalid host name \(name)")
                    }
                }
            }
            if !alpnWire.isEmpty {
                guard SSL_set_alpn_protos(ssl, alpnWire, UInt32(alpnWire.count)) == 0 else {
                    throw TLSError.fromQueue("cannot set ALPN")
                }
            }
        } catch {
            SSL_free(ssl)
            throw error
        }
        return try TLSChannel(fd: fd, ssl: ssl, role: .client, serverName: name, requiredALPN: requiredALPN)
    }

    /// A `makeChannel` factory for `HTTP2Connection(connectingTo:...)` and `GRPCClient`.
    public func channelFactory(serverName: String) -> (Int32) throws -> ByteChannel {
        { [self] fd in try self.makeChannel(fd: fd, serverName: serverName) }
    }

    static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }
}
