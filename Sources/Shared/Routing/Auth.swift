// The immutable AuthTable snapshot every worker checks `authorization: Bearer <token>` against
// without a lock, and the scopes and failures it speaks of.
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What a token may call.
public enum TokenScope: Sendable, Equatable {
    /// Every RPC: the Admin API, the JSON API and UI, and Predict on every model.
    case admin
    /// Predict (and the routed OIP calls: ModelInfer, ModelMetadata, ...) on the listed models;
    /// empty = every model.
    case predict(models: Set<String>)

    /// "admin" or "predict".
    public var name: String {
        switch self {
        case .admin: return "admin"
        case .predict: return "predict"
        }
    }
}

/// Why a call was refused. Messages never contain the presented token (at most its public id).
public enum AuthFailure: Error, Equatable, Sendable {
    /// Missing, malformed, unknown, wrong, expired or revoked credentials: UNAUTHENTICATED.
    case unauthenticated(String)
    /// A valid token without the right scope or model: PERMISSION_DENIED.
    case permissionDenied(String)
}

/// One token as the request path sees it.
public struct AuthEntry: Sendable, Equatable {
    public let id: String
    /// SHA-256 of the secret.
    public let secretHash: [UInt8]
    public let scope: TokenScope
    /// 0 = never.
    public let expiresUnixMs: Int64
    /// 0 = not revoked.
    public let revokedUnixMs: Int64

    public init(id: String, secretHash: [UInt8], scope: TokenScope, expiresUnixMs: Int64 = 0, revokedUnixMs: Int64 = 0) {
        self.id = id
        self.secretHash = secretHash
        self.scope = scope
        self.expiresUnixMs = expiresUnixMs
        self.revokedUnixMs = revokedUnixMs
    }

    public var isAdmin: Bool { scope == .admin }

    /// True when the token may call `model` (admin tokens may call every model).
    public func allows(model: String) -> Bool {
        switch scope {
        case .admin: return true
        case .predict(let models): return models.isEmpty || models.contains(model)
        }
    }
}

/// An immutable snapshot of the tokens: id -> entry. Built off the request path whenever the
/// tokens change and installed on every worker like a `RouteTable`; checking a request reads
/// only this value (no lock, no SQLite). Expiry is checked per request against the wall clock.
public final class AuthTable: Sendable {
    /// Increases with every published table.
    public let generation: UInt64
    let entries: [String: AuthEntry]
    /// Compared against when the id is unknown, so unknown ids cost the same as wrong secrets.
    private static let placeholderHash = [UInt8](repeating: 0, count: 32)

    public init(generation: UInt64, entries: [AuthEntry]) {
        self.generation = generation
        var map: [String: AuthEntry] = [:]
        for entry in entries { map[entry.id] = entry }
        self.entries = map
    }

    /// Who the `authorization` header value says the caller is.
    public func authenticate(authorization: String?, nowUnixMs: Int64 = AuthClock.unixMillis()) -> Result<AuthEntry, AuthFailure> {
        guard let authorization, !authorization.isEmpty else {
            return .failure(.unauthenticated("missing credentials: send the header authorization: Bearer <token>"))
        }
        guard let text = APIToken.bearer(authorization) else {
            return .failure(.unauthenticated("the authorization header must be \"Bearer <token>\""))
        }
        guard let (id, secret) = TokenText.parse(text) else {
            return .failure(.unauthenticated("malformed API token (expected byoc_<id>_<secret>)"))
        }
        let presented = APIToken.hash(secret: secret)
        let entry = entries[id]
        let matches = APIToken.constantTimeEqual(presented, entry?.secretHash ?? Self.placeholderHash)
        guard let entry, matches else { return .failure(.unauthenticated("invalid API token")) }
        if entry.revokedUnixMs != 0 { return .failure(.unauthenticated("API token \(entry.id) has been revoked")) }
        if entry.expiresUnixMs != 0 && entry.expiresUnixMs <= nowUnixMs {
            return .failure(.unauthenticated("API token \(entry.id) has expired"))
        }
        return .success(entry)
    }

    /// The Admin API (and the JSON API and UI): an admin token.
    public func authorizeAdmin(authorization: String?, nowUnixMs: Int64 = AuthClock.unixMillis()) -> Result<AuthEntry, AuthFailure> {
        authenticate(authorization: authorization, nowUnixMs: nowUnixMs).flatMap { entry in
            entry.isAdmin ? .success(entry)
                : .failure(.permissionDenied("API token \(entry.id) has scope \(entry.scope.name); the Admin API needs an admin token"))
        }
    }

    /// Predict on `model`: a predict token listing the model (or every model), or an admin token.
    public func authorizePredict(authorization: String?, model: String,
                                 nowUnixMs: Int64 = AuthClock.unixMillis()) -> Result<AuthEntry, AuthFailure> {
        authenticate(authorization: authorization, nowUnixMs: nowUnixMs).flatMap { entry in
            Self.check(entry, model: model).map { .failure($0) } ?? .success(entry)
        }
    }

    /// PERMISSION_DENIED when `entry` may not call `model`, else nil.
    public static func check(_ entry: AuthEntry, model: String) -> AuthFailure? {
        entry.allows(model: model) ? nil
            : .permissionDenied("API token \(entry.id) may not call model \"\(model)\"")
    }
}

/// The wall clock for token expiry.
public enum AuthClock {
    /// Milliseconds since the Unix epoch (CLOCK_REALTIME).
    public static func unixMillis() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}
