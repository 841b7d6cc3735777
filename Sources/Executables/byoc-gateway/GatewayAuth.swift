import Admin
import Foundation
import HTTP1
import Messages
import Registry
import Router
import Routing
import Transport

/// `--require-auth` and `--admin-token-file`: the first admin token, the current `AuthTable`
/// and its publication to every worker (each installs it on its own loop, like route tables).
///
/// With `--runtime kubernetes` the registry (and its tokens) lives with the Lease holder only:
/// the leader bootstraps the first admin token when it starts leading and publishes every
/// snapshot to the token Secret (`publish`); every replica installs the tables the Secret
/// holds (`installPublished`). Until the first arrives, a replica knows only the token from
/// `--admin-token-file`, so that one works on every replica from the start.
///
/// Tokens are never logged, except the one line that hands out a generated first admin token.
final class GatewayAuth: Sendable {
    /// Credentials are checked (else only the first admin token from a file is created).
    let required: Bool
    /// The tokens the workers start with.
    let initialTable: AuthTable
    /// Installs a table on every worker and returns once all have it.
    private let install: @Sendable (AuthTable) async -> Void
    /// Shares a snapshot with the other replicas (the Kubernetes token Secret), or nothing;
    /// true = the first snapshot of a leadership term.
    private let publish: @Sendable (TokenSnapshot, Bool) async -> Void
    private let fileToken: (id: String, secret: String)?
    private let options: GatewayOptions
    private let stamps = TableStamps()

    private init(required: Bool, table: AuthTable, fileToken: (id: String, secret: String)?, options: GatewayOptions,
                 install: @escaping @Sendable (AuthTable) async -> Void,
                 publish: @escaping @Sendable (TokenSnapshot, Bool) async -> Void = { _, _ in }) {
        self.required = required
        self.initialTable = table
        self.fileToken = fileToken
        self.options = options
        self.install = install
        self.publish = publish
    }

    /// A token snapshot from the Admin API: installed on every worker before the Admin call
    /// answers (each worker ignores a snapshot older than the one it has), then shared with
    /// the other replicas.
    func update(_ snapshot: TokenSnapshot) async {
        await update(snapshot, startsTerm: false)
    }

    private func update(_ snapshot: TokenSnapshot, startsTerm: Bool) async {
        if required { await install(AuthTable(generation: stamps.stamp(snapshot.version), records: snapshot.tokens)) }
        await publish(snapshot, startsTerm)
    }

    /// A snapshot another replica (the leader) published: installed on every worker, even when
    /// its version is lower than this replica's last table (a restored registry).
    func installPublished(_ snapshot: TokenSnapshot) async {
        let generation = stamps.stamp(snapshot.version, atLeastLast: true)
        if required { await install(AuthTable(generation: generation, records: snapshot.tokens)) }
    }

    /// This replica started leading with `registry` (Kubernetes): makes sure there is a first
    /// admin token, then installs and publishes the registry's tokens.
    func startedLeading(registry: Registry) async {
        do {
            let snapshot = try await Self.bootstrap(registry: registry, fileToken: fileToken, options: options)
            _ = stamps.stamp(snapshot.version, atLeastLast: true)  // a new term starts at or above the last table
            await update(snapshot, startsTerm: true)
        } catch {
            log("cannot publish the API tokens: \(error)")
        }
    }

    /// Refuses the auth options that cannot work, before anything is started.
    static func checkOptions(_ options: GatewayOptions) throws {
        guard options.requireAuth || options.adminTokenFile != nil else { return }
        if let path = options.adminTokenFile { _ = try readTokenFile(path) }
        if options.requireAuth && options.routes != nil && options.adminTokenFile == nil {
            throw GatewayError(message: "--require-auth with --routes needs --admin-token-file (there is no registry to keep tokens in)")
        }
    }

    /// Sets up auth from the options: nil when neither --require-auth nor --admin-token-file
    /// is given. Creates the file's admin token in the registry when its id is unknown; with
    /// --require-auth and no usable admin token, generates one and prints it once to stderr.
    ///
    /// `--runtime kubernetes` (`publish` given, no registry yet): the workers start with the
    /// file's admin token only (generation 0: any published snapshot replaces it).
    static func setUp(options: GatewayOptions, registry: Registry?,
                      install: @escaping @Sendable (AuthTable) async -> Void,
                      publish: (@Sendable (TokenSnapshot, Bool) async -> Void)? = nil) throws -> GatewayAuth? {
        guard options.requireAuth || options.adminTokenFile != nil else { return nil }
        let fileToken = try options.adminTokenFile.map { try readTokenFile($0) }
        if let publish {
            let entries = fileToken.map { [AuthEntry(id: $0.id, secretHash: APIToken.hash(secret: $0.secret), scope: .admin)] } ?? []
            return GatewayAuth(required: options.requireAuth, table: AuthTable(generation: 0, entries: entries),
                               fileToken: fileToken, options: options, install: install, publish: publish)
        }
        guard let registry else {
            // --routes (a pure router): no registry, so the file's token is the only one
            // (`checkOptions` made sure there is one when credentials are required).
            guard options.requireAuth, let fileToken else { return nil }
            let entry = AuthEntry(id: fileToken.id, secretHash: APIToken.hash(secret: fileToken.secret), scope: .admin)
            return GatewayAuth(required: true, table: AuthTable(generation: 1, entries: [entry]), fileToken: fileToken,
                               options: options, install: install)
        }
        let snapshot = try blockOn { try await bootstrap(registry: registry, fileToken: fileToken, options: options) }
        return GatewayAuth(required: options.requireAuth, table: AuthTable(snapshot), fileToken: fileToken,
                           options: options, install: install)
    }

    /// Makes sure there is a first admin token; returns the tokens to start with.
    private static func bootstrap(registry: Registry, fileToken: (id: String, secret: String)?,
                                  options: GatewayOptions) async throws -> TokenSnapshot {
        if let fileToken, let path = options.adminTokenFile {
            let hash = APIToken.hash(secret: fileToken.secret)
            if let existing = try? await registry.token(fileToken.id) {
                guard APIToken.constantTimeEqual(existing.secretSHA256, hash) else {
                    throw GatewayError(message: "--admin-token-file \(path): the registry holds token \(fileToken.id) with another secret")
                }
                if existing.scope != .admin {
                    log("warning: token \(fileToken.id) from --admin-token-file is not an admin token")
                } else if !existing.isUsable(atUnixMs: AuthClock.unixMillis()) {
                    log("warning: admin token \(fileToken.id) from --admin-token-file is revoked or expired")
                }
            } else {
                _ = try await registry.createToken(TokenRecord(
                    id: fileToken.id, secretSHA256: hash, scope: .admin, description: "admin token from --admin-token-file"))
                log("created admin token \(fileToken.id) from --admin-token-file \(path)")
            }
        } else if options.requireAuth {
            let now = AuthClock.unixMillis()
            let usable = try await registry.tokens().contains { $0.scope == .admin && $0.isUsable(atUnixMs: now) }
            if !usable {
                let generated = try APIToken.generate()
                _ = try await registry.createToken(TokenRecord(
                    id: generated.id, secretSHA256: APIToken.hash(secret: generated.secret), scope: .admin,
                    description: "first admin token, printed at first start"))
                // The only line that ever shows a secret: the registry keeps just its hash.
                FileHandle.standardError.write(Data(
                    "byoc-gateway: FIRST ADMIN TOKEN (shown only this once; store it, e.g. export BYOC_TOKEN=...): \(generated.text)\n".utf8))
            }
        }
        return try await registry.tokenSnapshot()
    }

    /// The token text in `path` (surrounding whitespace ignored); the error never quotes it.
    private static func readTokenFile(_ path: String) throws -> (id: String, secret: String) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw GatewayError(message: "--admin-token-file \(path): cannot read the file")
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let token = TokenText.parse(text) else {
            throw GatewayError(message: "--admin-token-file \(path): expected one token byoc_<12 lowercase hex>_<43 base64url characters>")
        }
        return token
    }
}

/// Admin token for the JSON API and the UI's data; the UI's Predict route also takes a predict
/// token for its model (the call it makes is checked again on the gRPC path).
///
/// One per worker: it reads the table that worker's router has installed on its own loop,
/// like the gRPC path: no lock per request.
final class ConsoleAuthorizer: HTTPAuthorizer {
    /// The router of the worker this authorizer serves (workers live as long as the process).
    unowned let router: RouterWorker

    init(router: RouterWorker) { self.router = router }

    func authorize(_ request: HTTPRequest, loop: EventLoop, decide: @escaping (HTTPAuthDecision) -> Void) {
        guard let table = router.authTable else {
            decide(.unauthenticated("API tokens are not loaded on this worker"))
            return
        }
        let header = request.header("authorization")
        let result: Result<AuthEntry, AuthFailure>
        if request.method == "POST", request.path.hasSuffix("/predict"), let model = request.params["model"] {
            result = table.authorizePredict(authorization: header, model: model)
        } else {
            result = table.authorizeAdmin(authorization: header)
        }
        switch result {
        case .success(let entry): decide(.allow(principal: entry.id))
        case .failure(.unauthenticated(let message)): decide(.unauthenticated(message))
        case .failure(.permissionDenied(let message)): decide(.permissionDenied(message))
        }
    }
}

/// The generations of the tables this replica installs: the registry's snapshot version plus
/// an offset, so that within a leadership term an older snapshot never replaces a newer one,
/// while the first table of a new term (or a table from a restored registry, whose versions
/// may start lower) is never older than the last one installed.
final class TableStamps: @unchecked Sendable {
    private let lock = NSLock()
    private var offset: Int64 = 0
    private var last: Int64 = 0

    /// The generation for `version`; with `atLeastLast`, the offset grows so that it is not
    /// below the last generation handed out.
    func stamp(_ version: Int64, atLeastLast: Bool = false) -> UInt64 {
        lock.withLock {
            if atLeastLast, version + offset < last { offset = last - version }
            let generation = max(0, version + offset)
            last = max(last, generation)
            return UInt64(generation)
        }
    }
}
