import Foundation
import Registry

/// The API-token table as the leader shares it with every gateway replica: a Secret holding
/// each token's id, SHA-256 of its secret, scope, models, expiry and revocation, never a
/// secret. Every replica watches it (`TokenSecretSync`) and checks tokens locally, so a token
/// created or revoked on the leader works, or stops working, on every replica within a watch
/// event; the Secret lives in the API server, so followers keep the last table while no one
/// leads.
///
/// `data["tokens.json"]` (base64, as Secret data is):
/// `{"version": 42, "tokens": [{"id": "…", "sha256": "<64 hex>", "scope": "admin", "models": [],
///   "expiresUnixMs": 0, "createdUnixMs": …, "revokedUnixMs": 0}]}`
/// `version` is the registry's token-snapshot stamp: a replica installs a table only when it is
/// not older than the one it has.
public enum TokenSecret {
    public static let dataKey = "tokens.json"
    public static let roleLabel = "byoc.dev/role"
    public static let roleValue = "tokens"

    /// The Secret for `snapshot`.
    public static func secret(name: String, namespace: String, snapshot: TokenSnapshot) -> JSON {
        let tokens: [JSON] = snapshot.tokens.sorted { $0.id < $1.id }.map { token in
            ["id": .string(token.id), "sha256": .string(hex(token.secretSHA256)), "scope": .string(token.scope.rawValue),
             "models": .array(token.models.map(JSON.string)), "expiresUnixMs": .int(token.expiresUnixMs),
             "createdUnixMs": .int(token.createdUnixMs), "revokedUnixMs": .int(token.revokedUnixMs)]
        }
        let document: JSON = ["version": .int(snapshot.version), "tokens": .array(tokens)]
        return [
            "apiVersion": .string(KubeResource.secrets.apiVersion), "kind": .string(KubeResource.secrets.kind),
            "metadata": ["name": .string(name), "namespace": .string(namespace),
                         "labels": [.init(stringLiteral: roleLabel): .string(roleValue)]],
            "type": "Opaque",
            "data": [.init(stringLiteral: dataKey): .string(Data(document.text.utf8).base64EncodedString())],
        ]
    }

    /// Reads the table back (nil when the Secret holds none, or it does not parse).
    public static func snapshot(_ secret: JSON) -> TokenSnapshot? {
        guard let encoded = secret[path: "data", dataKey]?.string, let data = Data(base64Encoded: encoded),
              let document = try? JSON.parse(data), let version = document["version"]?.int,
              let items = document["tokens"]?.array else { return nil }
        var tokens: [TokenRecord] = []
        for item in items {
            guard let id = item["id"]?.string, let hash = item["sha256"]?.string.flatMap(unhex), hash.count == 32,
                  let scope = item["scope"]?.string.flatMap(TokenScopeName.init(rawValue:)) else { return nil }
            tokens.append(TokenRecord(
                id: id, secretSHA256: hash, scope: scope, models: item["models"]?.array?.compactMap(\.string) ?? [],
                expiresUnixMs: item["expiresUnixMs"]?.int ?? 0, createdUnixMs: item["createdUnixMs"]?.int ?? 0,
                revokedUnixMs: item["revokedUnixMs"]?.int ?? 0))
        }
        return TokenSnapshot(version: version, tokens: tokens)
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func unhex(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            default: return nil
            }
        }
        var out: [UInt8] = []
        for i in stride(from: 0, to: chars.count, by: 2) {
            guard let high = value(chars[i]), let low = value(chars[i + 1]) else { return nil }
            out.append(high << 4 | low)
        }
        return out
    }
}

/// Every replica's side of the token Secret: watches exactly that object (a field selector on
/// its name, which RBAC with resourceNames allows) and hands each table it holds to `install`;
/// while this replica leads, `publish` writes the registry's tokens to it (server-side apply,
/// the byoc field manager), latest snapshot wins, and a deleted or edited Secret is written
/// again (level-triggered on the watch).
public final class TokenSecretSync: @unchecked Sendable {
    public let name: String
    private let client: KubeClient
    private let informer: Informer
    private let writer: TokenSecretWriter
    private let install: @Sendable (TokenSnapshot) async -> Void
    private let isLeader: @Sendable () -> Bool
    private let lock = NSLock()
    private var installed: TokenSnapshot?

    /// - Parameters:
    ///   - isLeader: true while this replica leads (only then does it write).
    ///   - install: receives each new table the Secret holds, in the order the leader wrote
    ///     them, while this replica follows (the leader installs from its registry).
    public init(client: KubeClient, name: String, log: @escaping @Sendable (String) -> Void,
                isLeader: @escaping @Sendable () -> Bool, install: @escaping @Sendable (TokenSnapshot) async -> Void) {
        self.client = client
        self.name = name
        self.install = install
        self.isLeader = isLeader
        let box = WeakBox()
        informer = Informer(client: client, resource: .secrets, labelSelector: nil, fieldSelector: "metadata.name=\(name)",
                            log: log) { _ in box.target?.changed() }
        writer = TokenSecretWriter(client: client, name: name, log: log, isLeader: isLeader,
                                   observed: { box.target.flatMap { $0.informer.hasSynced ? .some($0.informer.get(name)) : nil } })
        box.target = self
    }

    public func start() { informer.start() }
    public func stop() { informer.stop() }

    /// Writes `snapshot` to the Secret (while leading): the newest version wins, even when
    /// snapshots are published out of order. `startsTerm`: the first snapshot of a leadership
    /// term, written whatever its version (a restored registry may have lower ones).
    public func publish(_ snapshot: TokenSnapshot, startsTerm: Bool = false) async {
        await writer.submit(snapshot, startsTerm: startsTerm)
    }

    private func changed() {
        // Not ordered by version: the Secret has one writer, and after a registry restore its
        // versions may start lower; whatever the leader wrote last is the table.
        if !isLeader(), let secret = informer.get(name), let snapshot = TokenSecret.snapshot(secret) {
            let fresh = lock.withLock {
                guard snapshot != installed else { return false }
                installed = snapshot
                return true
            }
            if fresh { Task { await install(snapshot) } }
        }
        Task { await writer.ensureWritten() }
    }

    private final class WeakBox: @unchecked Sendable {
        weak var target: TokenSecretSync?
    }
}

/// Writes the token Secret (an `OwnedObjectWriter`), and drops a snapshot older than the
/// newest one submitted this term (snapshots may be published out of order).
actor TokenSecretWriter {
    private let writer: OwnedObjectWriter<TokenSnapshot>
    /// The newest version submitted this term: older ones are dropped.
    private var newestVersion: Int64?

    init(client: KubeClient, name: String, log: @escaping @Sendable (String) -> Void,
         isLeader: @escaping @Sendable () -> Bool, observed: @escaping @Sendable () -> JSON??) {
        let namespace = client.namespace
        writer = OwnedObjectWriter(
            client: client, resource: .secrets, what: "the token Secret \(name)", log: log, isLeader: isLeader,
            observed: observed,
            render: { TokenSecret.secret(name: name, namespace: namespace, snapshot: $0) },
            holds: { seen, snapshot in
                TokenSecret.snapshot(seen) == snapshot
                    && seen[path: "metadata", "labels", TokenSecret.roleLabel] == .string(TokenSecret.roleValue)
            })
    }

    func submit(_ snapshot: TokenSnapshot, startsTerm: Bool) async {
        if !startsTerm, let newestVersion, newestVersion > snapshot.version { return }
        newestVersion = snapshot.version
        await writer.submit(snapshot)
    }

    /// Re-applies the last written snapshot when the watched Secret no longer holds it.
    func ensureWritten() async {
        await writer.ensureWritten()
    }
}
