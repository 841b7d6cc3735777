import ArgumentParser
import Foundation
import Messages
import Routing

/// `byocctl token create|list|revoke`: API tokens (authorization: Bearer).
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Create, list and revoke API tokens (needs an admin token when the gateway requires auth).",
        subcommands: [TokenCreateCommand.self, TokenListCommand.self, TokenRevokeCommand.self])
}

struct TokenCreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a token and print it (only this once: the gateway keeps just a hash).",
        discussion: "--scope admin: every RPC, the JSON API and the UI. --scope predict: Predict on the "
            + "--model models (repeat --model; none = every model). --expires takes a duration "
            + "(90s, 30m, 24h, 7d, 1h30m) or an RFC 3339 time (2030-01-01T00:00:00Z).")

    @OptionGroup var global: GlobalOptions
    @Option(help: "admin or predict.") var scope: String
    @Option(name: .customLong("model"), help: ArgumentHelp("A model the predict token may call (repeatable).", valueName: "model"))
    var models: [String] = []
    @Option(help: ArgumentHelp("When the token stops working: a duration or an RFC 3339 time (default: never).",
                               valueName: "when"))
    var expires: String?
    @Option(name: .customLong("description"), help: "What the token is for.") var tokenDescription: String = ""

    func run() async throws {
        var request = CreateTokenRequest(scope: scope, models: models, description: tokenDescription)
        if let expires {
            request.expiresUnixMs = try TokenTime.parse(expires, now: Date())
        }
        let response = try await global.call(RPC.createToken, request, as: CreateTokenResponse.self)
        let token = response.token ?? Token()
        Output.emit(global, json: ["token": token.jsonObject(), "secret": response.secret] as [String: Any], table: """
            created \(TokenTime.summary(token))
            token (shown only this once; the gateway keeps only a hash):
            \(response.secret)
            """)
    }
}

struct TokenListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List every token (never their secrets), revoked and expired ones too.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let response = try await global.call(RPC.listTokens, ListTokensRequest(), as: ListTokensResponse.self)
        let now = Date()
        var table = Table(["ID", "SCOPE", "MODELS", "STATUS", "EXPIRES", "AGE", "DESCRIPTION"])
        for token in response.tokens {
            table.add([token.id, token.scope, TokenTime.models(token), TokenTime.status(token, now: now),
                       token.expiresUnixMs == 0 ? "never" : TokenTime.format(token.expiresUnixMs),
                       VersionText.age(token.createdUnixMs, now: now), token.description])
        }
        Output.emit(global, json: response.tokens.map { $0.jsonObject() },
                    table: response.tokens.isEmpty ? "no tokens" : table.render())
    }
}

struct TokenRevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke a token by its id (byocctl token list shows ids); it stops working at once.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The token id (12 hex characters), or the whole token text.") var id: String

    func run() async throws {
        var id = self.id.trimmingCharacters(in: .whitespacesAndNewlines)
        // Accept the whole token text too.
        if let parsed = TokenText.parse(id) { id = parsed.id }
        let token = try await global.call(RPC.revokeToken, RevokeTokenRequest(id: id), as: Token.self)
        Output.emit(global, json: token.jsonObject(), table: "revoked \(TokenTime.summary(token))")
    }
}

/// Parsing and showing token times.
enum TokenTime {
    /// Unix milliseconds of a duration from `now` (90s, 30m, 24h, 7d, 1h30m) or an RFC 3339 time.
    static func parse(_ text: String, now: Date) throws -> Int64 {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let seconds = duration(trimmed) {
            return Int64(((now.timeIntervalSince1970 + seconds) * 1000).rounded())
        }
        if let time = rfc3339(trimmed) { return time }
        throw CLIError.usage("--expires takes a duration (90s, 30m, 24h, 7d, 1h30m) or an RFC 3339 time (2030-01-01T00:00:00Z), got \"\(text)\"")
    }

    /// Unix milliseconds of an RFC 3339 time (fractional seconds optional); nil when it is not one.
    static func rfc3339(_ text: String) -> Int64? {
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime], [.withInternetDateTime, .withFractionalSeconds]] {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = options
            if let date = formatter.date(from: text) {
                return Int64((date.timeIntervalSince1970 * 1000).rounded())
            }
        }
        return nil
    }

    /// Seconds of `1h30m`-style text; nil when it is not one.
    static func duration(_ text: String) -> Double? {
        var total = 0.0
        var number = ""
        var sawUnit = false
        for c in text {
            if c.isASCII && c.isNumber {
                number.append(c)
                continue
            }
            guard let value = Double(number) else { return nil }
            switch c {
            case "s": total += value
            case "m": total += value * 60
            case "h": total += value * 3600
            case "d": total += value * 86400
            default: return nil
            }
            number = ""
            sawUnit = true
        }
        guard sawUnit, number.isEmpty, total > 0 else { return nil }
        return total
    }

    /// One formatter for every cell (the CLI is single-threaded).
    nonisolated(unsafe) private static let iso8601: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter
    }()

    static func format(_ unixMs: Int64) -> String {
        iso8601.string(from: Date(timeIntervalSince1970: Double(unixMs) / 1000))
    }

    static func models(_ token: Token) -> String {
        token.scope == "admin" || token.models.isEmpty ? "*" : token.models.joined(separator: ",")
    }

    static func status(_ token: Token, now: Date) -> String {
        if token.revokedUnixMs != 0 { return "revoked" }
        if token.expiresUnixMs != 0 && Double(token.expiresUnixMs) <= now.timeIntervalSince1970 * 1000 { return "expired" }
        return "active"
    }

    /// `token 0123456789ab (scope predict, models iris,wine, expires 2030-01-01T00:00:00Z)`.
    static func summary(_ token: Token) -> String {
        var parts = ["scope \(token.scope)"]
        if token.scope == "predict" { parts.append(token.models.isEmpty ? "every model" : "models \(token.models.joined(separator: ","))") }
        parts.append(token.expiresUnixMs == 0 ? "never expires" : "expires \(format(token.expiresUnixMs))")
        return "token \(token.id) (\(parts.joined(separator: ", ")))"
    }
}
