import GRPC
import Messages
import Registry
import Routing

/// The Admin API's token RPCs: CreateToken, ListTokens, RevokeToken.
///
/// A token is `byoc_<id>_<secret>`; the registry keeps only SHA-256 of the secret, so the full
/// text leaves the gateway exactly once, in the CreateToken response. Nothing here logs.
struct AdminTokens: Sendable {
    /// Longest description accepted.
    static let maxDescriptionLength = 200
    /// Most models one predict token may list.
    static let maxModels = 100

    let registry: Registry
    let changed: @Sendable (TokenSnapshot) async -> Void

    /// Validates, generates the secret (OpenSSL RAND_bytes), stores its hash, and returns the
    /// token with its full text.
    func create(_ request: CreateTokenRequest) async throws -> CreateTokenResponse {
        let record = try Self.validate(request, nowUnixMs: AuthClock.unixMillis())
        let generated: (id: String, secret: String, text: String)
        do { generated = try APIToken.generate() } catch {
            throw GRPCStatus(.internal, "cannot generate a token: \(error)")
        }
        var token = record
        token.id = generated.id
        token.secretSHA256 = APIToken.hash(secret: generated.secret)
        let created = try await registry.createToken(token)
        try await publish()
        return CreateTokenResponse(token: Self.message(created), secret: generated.text)
    }

    /// Every token, oldest first, without secrets.
    func list(_ request: ListTokensRequest) async throws -> ListTokensResponse {
        ListTokensResponse(tokens: try await registry.tokens().map(Self.message))
    }

    /// Revokes a token; it stops authenticating as soon as the workers have the new table.
    func revoke(_ request: RevokeTokenRequest) async throws -> Token {
        guard TokenText.isValidID(request.id) else {
            throw GRPCStatus(.invalidArgument, request.id.isEmpty ? "id is required"
                                : "id must be the token's 12 lowercase hex characters (byocctl token list shows them)")
        }
        let revoked = try await registry.revokeToken(request.id)
        try await publish()
        return Self.message(revoked)
    }

    /// Installs the new token table on every worker before the RPC answers; a failed read fails
    /// the RPC (INTERNAL) rather than answering while the workers keep the old table.
    private func publish() async throws {
        await changed(try await registry.tokenSnapshot())
    }

    /// The request as a record to store (id and hash still empty); INVALID_ARGUMENT naming the field.
    static func validate(_ request: CreateTokenRequest, nowUnixMs: Int64) throws -> TokenRecord {
        guard let scope = TokenScopeName(rawValue: request.scope) else {
            throw GRPCStatus(.invalidArgument, request.scope.isEmpty ? "scope is required: admin or predict"
                                : "scope must be admin or predict, got \"\(request.scope)\"")
        }
        var models: [String] = []
        if scope == .admin {
            guard request.models.isEmpty else {
                throw GRPCStatus(.invalidArgument, "models apply to predict tokens only (an admin token may call every model)")
            }
        } else {
            guard request.models.count <= maxModels else {
                throw GRPCStatus(.invalidArgument, "a token may list at most \(maxModels) models, got \(request.models.count)")
            }
            // Names need not be registered yet (a token may be issued before the model is), but
            // they must be valid model names.
            for model in request.models {
                try AdminValidation.model(model, field: "models")
                if !models.contains(model) { models.append(model) }
            }
        }
        if request.expiresUnixMs != 0 {
            guard request.expiresUnixMs > nowUnixMs else {
                throw GRPCStatus(.invalidArgument, request.expiresUnixMs < 0
                                    ? "expires_unix_ms must not be negative (0 = never)"
                                    : "expires_unix_ms must be in the future (0 = never)")
            }
        }
        guard request.description.count <= maxDescriptionLength else {
            throw GRPCStatus(.invalidArgument, "description is too long: \(request.description.count) characters, at most \(maxDescriptionLength)")
        }
        guard !request.description.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw GRPCStatus(.invalidArgument, "description must not contain control characters")
        }
        return TokenRecord(id: "", secretSHA256: [], scope: scope, models: models, expiresUnixMs: request.expiresUnixMs,
                           description: request.description)
    }

    /// The API message of a stored token (no secret, no hash).
    static func message(_ record: TokenRecord) -> Token {
        Token(id: record.id, scope: record.scope.rawValue, models: record.models, expiresUnixMs: record.expiresUnixMs,
              createdUnixMs: record.createdUnixMs, revokedUnixMs: record.revokedUnixMs, description: record.description)
    }
}

extension AuthTable {
    /// The request path's snapshot of stored tokens (revoked ones kept, so their callers are
    /// told so; their hashes still have to match first).
    public convenience init(_ snapshot: TokenSnapshot) {
        self.init(generation: UInt64(max(0, snapshot.version)), records: snapshot.tokens)
    }

    /// A snapshot of `records` stamped `generation`.
    public convenience init(generation: UInt64, records: [TokenRecord]) {
        self.init(generation: generation, entries: records.compactMap { record in
            guard record.secretSHA256.count == 32 else { return nil }
            let scope: TokenScope = record.scope == .admin ? .admin : .predict(models: Set(record.models))
            return AuthEntry(id: record.id, secretHash: record.secretSHA256, scope: scope,
                             expiresUnixMs: record.expiresUnixMs, revokedUnixMs: record.revokedUnixMs)
        })
    }
}
