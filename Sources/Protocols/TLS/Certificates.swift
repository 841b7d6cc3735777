#if canImport(Glibc)
import Glibc
#endif
import COpenSSL
import Foundation

/// What a generated certificate says.
public struct CertificateSpec: Sendable {
    public var commonName: String
    public var dnsNames: [String]
    public var ipAddresses: [String]
    /// Validity start, in seconds relative to now (negative: in the past).
    public var notBeforeOffset: Int
    /// Validity end, in seconds relative to now (negative: already expired).
    public var notAfterOffset: Int

    public init(commonName: String = "localhost", dnsNames: [String] = ["localhost"],
                ipAddresses: [String] = ["127.0.0.1", "::1"],
                notBeforeOffset: Int = -3600, notAfterOffset: Int = 365 * 86_400) {
        self.commonName = commonName
        self.dnsNames = dnsNames
        self.ipAddresses = ipAddresses
        self.notBeforeOffset = notBeforeOffset
        self.notAfterOffset = notAfterOffset
    }
}

/// A certificate and its private key, PEM encoded.
public struct GeneratedCertificate: Sendable {
    public var certificatePEM: String
    public var privateKeyPEM: String
    /// SHA-256 of the DER certificate, as AA:BB:...
    public var sha256Fingerprint: String

    /// Writes both files (the key with mode 0600), each through a temporary file and a rename
    /// so a reader never sees half a file.
    public func write(certificatePath: String, keyPath: String) throws {
        try Certificates.writeAtomically(privateKeyPEM, to: keyPath, mode: 0o600)
        try Certificates.writeAtomically(certificatePEM, to: certificatePath, mode: 0o644)
    }
}

/// Certificate helpers on OpenSSL's EVP_PKEY and X509 APIs.
public enum Certificates {
    /// A self-signed EC P-256 certificate (SHA-256 signature) for `spec`: a leaf
    /// (CA:FALSE, serverAuth) that clients can also use as their trust anchor.
    public static func selfSigned(_ spec: CertificateSpec) throws -> GeneratedCertificate {
        guard let key = byoc_generate_ec_p256() else { throw TLSError.fromQueue("cannot generate an EC P-256 key") }
        defer { EVP_PKEY_free(key) }
        guard let certificate = X509_new() else { throw TLSError.fromQueue("X509_new") }
        defer { X509_free(certificate) }

        X509_set_version(certificate, 2)
        var serialBytes = [UInt8](repeating: 0, count: 16)
        RAND_bytes(&serialBytes, Int32(serialBytes.count))
        serialBytes[0] &= 0x7F
        if let serial = BN_bin2bn(serialBytes, Int32(serialBytes.count), nil) {
            BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(certificate))
            BN_free(serial)
        }
        X509_gmtime_adj(X509_getm_notBefore(certificate), spec.notBeforeOffset)
        X509_gmtime_adj(X509_getm_notAfter(certificate), spec.notAfterOffset)
        X509_set_pubkey(certificate, key)
        let name = X509_get_subject_name(certificate)
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, "BYOC development", -1, -1, 0)
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, spec.commonName, -1, -1, 0)
        X509_set_issuer_name(certificate, name)

        var alternativeNames = spec.dnsNames.map { "DNS:\($0)" }
        alternativeNames += spec.ipAddresses.map { "IP:\($0)" }
        var extensions: [(Int32, String)] = [
            (NID_basic_constraints, "critical,CA:FALSE"),
            (NID_key_usage, "critical,digitalSignature"),
            (NID_ext_key_usage, "serverAuth"),
            (NID_subject_key_identifier, "hash"),
        ]
        if !alternativeNames.isEmpty { extensions.append((NID_subject_alt_name, alternativeNames.joined(separator: ","))) }
        var context = X509V3_CTX()
        X509V3_set_ctx(&context, certificate, certificate, nil, nil, 0)
        for (nid, value) in extensions {
            guard let ext = X509V3_EXT_conf_nid(nil, &context, nid, value) else {
                throw TLSError.fromQueue("certificate extension \(value)")
            }
            X509_add_ext(certificate, ext, -1)
            X509_EXTENSION_free(ext)
        }
        guard X509_sign(certificate, key, EVP_sha256()) > 0 else { throw TLSError.fromQueue("cannot sign the certificate") }

        let certificatePEM = try pem { bio in PEM_write_bio_X509(bio, certificate) }
        let keyPEM = try pem { bio in PEM_write_bio_PrivateKey(bio, key, nil, nil, 0, nil, nil) }
        return GeneratedCertificate(certificatePEM: certificatePEM, privateKeyPEM: keyPEM,
                                    sha256Fingerprint: fingerprint(certificate))
    }

    /// SHA-256 of a certificate's DER encoding, as AA:BB:...
    public static func fingerprint(_ certificate: OpaquePointer) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        X509_digest(certificate, EVP_sha256(), &digest, &length)
        return digest[0..<Int(length)].map { hex($0) }.joined(separator: ":")
    }

    /// The fingerprint of the first certificate in a PEM file.
    public static func fingerprint(pemFile path: String) throws -> String {
        let certificate = try loadCertificate(path)
        defer { X509_free(certificate) }
        return fingerprint(certificate)
    }

    /// Seconds until the first certificate in `path` expires (negative when it has).
    public static func secondsUntilExpiry(pemFile path: String) throws -> Int {
        let certificate = try loadCertificate(path)
        defer { X509_free(certificate) }
        var days: Int32 = 0
        var seconds: Int32 = 0
        guard ASN1_TIME_diff(&days, &seconds, nil, X509_get0_notAfter(certificate)) == 1 else {
            throw TLSError("cannot read the expiry of \(path)")
        }
        return Int(days) * 86_400 + Int(seconds)
    }

    static func loadCertificate(_ path: String) throws -> OpaquePointer {
        ERR_clear_error()
        guard let bio = BIO_new_file(path, "r") else { throw TLSError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { BIO_free(bio) }
        guard let certificate = PEM_read_bio_X509(bio, nil, nil, nil) else {
            throw TLSError.fromQueue("\(path) holds no PEM certificate")
        }
        return certificate
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }

    private static func pem(_ write: (OpaquePointer) -> Int32) throws -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { throw TLSError.fromQueue("BIO_new") }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { throw TLSError.fromQueue("cannot PEM-encode") }
        let count = Int(BIO_ctrl_pending(bio))
        var bytes = [UInt8](repeating: 0, count: count)
        let n = BIO_read(bio, &bytes, Int32(count))
        return String(decoding: bytes[0..<max(0, Int(n))], as: UTF8.self)
    }

    static func writeAtomically(_ text: String, to path: String, mode: mode_t) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw TLSError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        Glibc.close(fd)
        guard written == bytes.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw TLSError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// The self-signed development certificate the gateway uses when `--tls-listen` is given
/// without `--tls-cert`/`--tls-key`.
public enum DevCertificate {
    /// Returns the development certificate in `stateDir/tls/` (dev-cert.pem, dev-key.pem),
    /// generating it the first time (and again when it is unreadable or expires within a day):
    /// EC P-256, SAN DNS:localhost, IP:127.0.0.1, IP:::1, valid for one year.
    public static func ensure(stateDir: String) throws -> (certPath: String, keyPath: String, sha256Fingerprint: String) {
        let directory = (stateDir as NSString).appendingPathComponent("tls")
        let certificatePath = (directory as NSString).appendingPathComponent("dev-cert.pem")
        let keyPath = (directory as NSString).appendingPathComponent("dev-key.pem")
        if FileManager.default.fileExists(atPath: keyPath),
           let remaining = try? Certificates.secondsUntilExpiry(pemFile: certificatePath), remaining > 86_400,
           let fingerprint = try? Certificates.fingerprint(pemFile: certificatePath) {
            return (certificatePath, keyPath, fingerprint)
        }
        let generated = try Certificates.selfSigned(CertificateSpec())
        try generated.write(certificatePath: certificatePath, keyPath: keyPath)
        return (certificatePath, keyPath, generated.sha256Fingerprint)
    }
}
