import Foundation
import Transport

/// Where the Kubernetes API is and how to authenticate: flags, or the in-cluster service
/// account (`/var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}` and
/// `KUBERNETES_SERVICE_HOST`/`KUBERNETES_SERVICE_PORT`).
public struct KubeConfig: Sendable {
    public static let serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// `https` or `http` (h2c, tests only).
    public var scheme: String
    public var host: String
    public var port: Int
    /// File holding the bearer token (re-read when it changes); nil = no Authorization header.
    public var tokenFile: String?
    /// PEM bundle of the cluster CA (TLS only); nil = the system trust store.
    public var caFile: String?
    public var namespace: String
    /// Wraps a connected socket in TLS (h2 via ALPN, CA verification, SNI); nil = h2c.
    /// Set by the caller from the TLS module for `https`.
    public var makeChannel: (@Sendable (Int32) throws -> ByteChannel)?

    public init(scheme: String, host: String, port: Int, tokenFile: String? = nil, caFile: String? = nil,
                namespace: String = "default", makeChannel: (@Sendable (Int32) throws -> ByteChannel)? = nil) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.tokenFile = tokenFile
        self.caFile = caFile
        self.namespace = namespace
        self.makeChannel = makeChannel
    }

    /// `:authority` of requests.
    public var authority: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// The API URL, for logs.
    public var url: String { "\(scheme)://\(authority)" }

    /// Builds the configuration from flags, falling back to the in-cluster service account for
    /// whatever is not given. Throws when no API address can be found.
    public static func resolve(apiURL: String?, tokenFile: String?, caFile: String?, namespace: String?,
                               environment: [String: String] = ProcessInfo.processInfo.environment,
                               fileExists: (String) -> Bool = { FileManager.default.fileExists(atPath: $0) },
                               readFile: (String) -> String? = { try? String(contentsOfFile: $0, encoding: .utf8) })
        throws -> KubeConfig {
        let saToken = "\(serviceAccountDir)/token"
        let saCA = "\(serviceAccountDir)/ca.crt"
        let saNamespace = "\(serviceAccountDir)/namespace"
        var config: KubeConfig
        if let apiURL, !apiURL.isEmpty {
            config = try parse(url: apiURL)
        } else if let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty {
            let port = Int(environment["KUBERNETES_SERVICE_PORT"] ?? "443") ?? 443
            config = KubeConfig(scheme: "https", host: host, port: port)
        } else {
            throw KubeTransportError("no Kubernetes API: pass --kube-api URL, or run in a pod (KUBERNETES_SERVICE_HOST is not set)")
        }
        config.tokenFile = tokenFile ?? (fileExists(saToken) ? saToken : nil)
        config.caFile = caFile ?? (config.scheme == "https" && fileExists(saCA) ? saCA : nil)
        if let namespace, !namespace.isEmpty {
            config.namespace = namespace
        } else if let text = readFile(saNamespace)?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty {
            config.namespace = text
        } else {
            config.namespace = "default"
        }
        return config
    }

    /// Parses `https://HOST[:PORT]` or `http://HOST[:PORT]` (h2c).
    public static func parse(url: String) throws -> KubeConfig {
        var rest = Substring(url)
        let scheme: String
        if rest.hasPrefix("https://") {
            scheme = "https"
            rest = rest.dropFirst(8)
        } else if rest.hasPrefix("http://") {
            scheme = "http"
            rest = rest.dropFirst(7)
        } else {
            throw KubeTransportError("--kube-api must start with https:// or http://, got \"\(url)\"")
        }
        if let slash = rest.firstIndex(of: "/") {
            guard rest[slash...].allSatisfy({ $0 == "/" }) else {
                throw KubeTransportError("--kube-api must not have a path, got \"\(url)\"")
            }
            rest = rest[..<slash]
        }
        var host = String(rest)
        var port = scheme == "https" ? 443 : 80
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { throw KubeTransportError("bad IPv6 address in \"\(url)\"") }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") {
                guard let value = Int(after.dropFirst()), (1...65535).contains(value) else {
                    throw KubeTransportError("bad port in \"\(url)\"")
                }
                port = value
            }
            host = String(host[host.index(after: host.startIndex)..<close])
        } else if let colon = host.lastIndex(of: ":") {
            guard let value = Int(host[host.index(after: colon)...]), (1...65535).contains(value) else {
                throw KubeTransportError("bad port in \"\(url)\"")
            }
            port = value
            host = String(host[..<colon])
        }
        guard !host.isEmpty else { throw KubeTransportError("--kube-api has no host: \"\(url)\"") }
        return KubeConfig(scheme: scheme, host: host, port: port)
    }
}

/// The bearer token, re-read from its file when the file changes (projected service-account
/// tokens rotate) and at least once a minute.
final class TokenSource: @unchecked Sendable {
    private let path: String?
    private let lock = NSLock()
    private var token: String?
    private var modified: Date?
    private var readAt: Date?

    init(path: String?) { self.path = path }

    /// The current token (nil when there is no token file).
    func current() throws -> String? {
        guard let path else { return nil }
        lock.lock()
        defer { lock.unlock() }
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        let mtime = attributes?[.modificationDate] as? Date
        let stale = readAt.map { Date().timeIntervalSince($0) > 60 } ?? true
        if token == nil || mtime != modified || stale {
            do {
                let text = try String(contentsOfFile: path, encoding: .utf8)
                token = text.trimmingCharacters(in: .whitespacesAndNewlines)
                modified = mtime
                readAt = Date()
            } catch {
                if token == nil { throw KubeTransportError("cannot read the token file \(path): \(error.localizedDescription)") }
            }
        }
        return token
    }
}
