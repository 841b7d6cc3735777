import Foundation
import CSQLite
import Routing

/// The model registry: models, versions and their events in one SQLite file.
///
/// An actor, so every call runs off the data-plane worker loops and one at a time on this
/// connection; the schema's constraints (primary keys, foreign keys, CHECKs) keep the data
/// consistent even when another process opens the same file. Every change is one
/// transaction that also appends to the `events` table.
public actor Registry {
    private let db: SQLiteConnection
    /// The schema version after migrations ran at open.
    public nonisolated let schemaVersion: Int
    /// Write transactions committed since the registry was opened: of two reads, the one with
    /// the higher revision saw the newer registry (see `modelsWithRevision`).
    private var revision: UInt64 = 0

    /// Opens (creating if needed) the registry at `path` and applies pending migrations.
    public init(path: String) throws {
        do {
            let connection = try SQLiteConnection(path: path)
            try connection.setBusyTimeout(milliseconds: 5_000)
            let mode = try connection.executeOnce("PRAGMA journal_mode = WAL")
            guard mode?.lowercased() == "wal" else {
                throw SQLiteError(code: 0, message: "cannot switch \(path) to WAL (journal_mode is \(mode ?? "unknown"))")
            }
            try connection.executeOnce("PRAGMA synchronous = NORMAL")
            try connection.executeOnce("PRAGMA foreign_keys = ON")
            schemaVersion = try connection.migrate()
            db = connection
        } catch {
            throw Self.wrap(error)
        }
    }

    /// Closes the database; later calls fail with INTERNAL.
    public func close() { db.close() }

    // MARK: - Changes

    /// Registers a new version; the first version of a model creates the model and becomes its
    /// default. Throws ALREADY_EXISTS when the model version is registered (enforced by the
    /// primary key, so concurrent registrations cannot both succeed).
    public func register(_ spec: VersionSpec) throws -> VersionRecord {
        let now = unixMillisecondsNow()
        return try write {
            if try aliasTarget(model: spec.key.model, alias: spec.key.version) != nil {
                throw RegistryError(.alreadyExists,
                    "model \(spec.key.model) has an alias \(spec.key.version); a version cannot take an alias's name")
            }
            try db.statement("""
                INSERT INTO models (name, default_version, created_unix_ms) VALUES (?, ?, ?)
                ON CONFLICT (name) DO NOTHING
                """).run([.text(spec.key.model), .text(spec.key.version), .integer(now)])
            do {
                try db.statement("""
                    INSERT INTO versions (model, version, image, command_json, port, env_json,
                        min_replicas, max_replicas, has_resources, cpu_request, cpu_limit,
                        memory_request, memory_limit, target_cpu_utilization, gpus, gpu_resource,
                        node_selector_json, tolerations_json, image_pull_secrets_json, allow_root,
                        target_concurrency, scale_to_zero_after_seconds, scale_down_delay_seconds,
                        state, desired_replicas, created_unix_ms, updated_unix_ms)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """).run(Self.specValues(spec) + [.text(DeploymentState.pending.rawValue),
                                                      .integer(Int64(spec.minReplicas)), .integer(now), .integer(now)])
            } catch let error as SQLiteError where error.isConstraintViolation {
                throw RegistryError(.alreadyExists, "model \(spec.key.model) version \(spec.key.version) is already registered")
            }
            try appendEvent(spec.key, .registered, old: nil, new: .pending, detail: Self.describe(spec), at: now)
            // Until the runtime reports, it aims for the minimum.
            let status = VersionStatus(state: .pending, readyReplicas: 0, desiredReplicas: spec.minReplicas, message: "")
            return VersionRecord(spec: spec, status: status, createdUnixMs: now)
        }
    }

    /// Makes `version` the default of `model`; returns the model.
    public func setDefault(model: String, version: String) throws -> ModelRecord {
        try write {
            let current = try loadModel(model)
            guard current.versions.contains(where: { $0.key.version == version }) else {
                throw RegistryError(.notFound, "model \(model) has no version \(version)")
            }
            guard current.defaultVersion != version || !current.traffic.isEmpty else { return current }
            try db.statement("UPDATE models SET default_version = ? WHERE name = ?").run([.text(version), .text(model)])
            // The default replaces a split: every call that names no version goes to it.
            try db.statement("DELETE FROM traffic WHERE model = ? AND role = 'split'").run([.text(model)])
            let replaced = current.traffic.isEmpty ? "" : " (replaces the split \(Self.describe(current.traffic)))"
            try appendEvent(VersionKey(model: model, version: ""), .defaultChanged, old: nil, new: nil,
                            detail: "default version \(current.defaultVersion) -> \(version)\(replaced)", at: unixMillisecondsNow())
            return try loadModel(model)
        }
    }

    /// Sets a version's replica bounds and (non-nil) its autoscaling settings, all already
    /// validated; returns the version.
    public func scale(_ key: VersionKey, minReplicas: Int32, maxReplicas: Int32,
                      autoscaling: AutoscalingSpec? = nil) throws -> VersionRecord {
        try write {
            let current = try loadVersion(key)
            let now = unixMillisecondsNow()
            let settings = autoscaling ?? current.spec.autoscaling
            try db.statement("""
                UPDATE versions SET min_replicas = ?, max_replicas = ?, target_concurrency = ?,
                    scale_to_zero_after_seconds = ?, scale_down_delay_seconds = ?, updated_unix_ms = ?
                WHERE model = ? AND version = ?
                """).run([.integer(Int64(minReplicas)), .integer(Int64(maxReplicas)),
                          .integer(Int64(settings.targetConcurrency)), .integer(Int64(settings.scaleToZeroAfterSeconds)),
                          .integer(Int64(settings.scaleDownDelaySeconds)), .integer(now),
                          .text(key.model), .text(key.version)])
            var detail = "replicas \(current.spec.minReplicas)-\(current.spec.maxReplicas) -> \(minReplicas)-\(maxReplicas)"
            if settings != current.spec.autoscaling {
                detail += ", autoscaling \(current.spec.autoscaling.description) -> \(settings.description)"
            }
            try appendEvent(key, .scaled, old: current.status.state, new: current.status.state, detail: detail, at: now)
            return try loadVersion(key)
        }
    }

    /// Appends an `autoscaled` event (the concurrency autoscaler changed the replica count).
    public func noteAutoscaled(_ key: VersionKey, detail: String) throws {
        try write {
            let current = try loadVersion(key)
            try appendEvent(key, .autoscaled, old: current.status.state, new: current.status.state, detail: detail,
                            at: unixMillisecondsNow())
        }
    }

    /// Records when versions were last called, all in one transaction (the gateway batches its
    /// workers' notes, never a write per call); a time never moves back, and keys no longer
    /// registered are ignored. Appends no events (this is not a change of the desired state).
    public func recordLastCalled(_ times: [VersionKey: Int64]) throws {
        guard !times.isEmpty else { return }
        try write {
            let update = try db.statement("""
                UPDATE versions SET last_called_unix_ms = ?1
                WHERE model = ?2 AND version = ?3 AND last_called_unix_ms < ?1
                """)
            for (key, time) in times.sorted(by: { $0.key < $1.key }) {
                try update.run([.integer(time), .text(key.model), .text(key.version)])
            }
        }
    }

    /// Garbage collection: every version with what happens to it. A version not called since
    /// `cutoffUnixMs` (never called: not since it was registered) is deleted, unless it is its
    /// model's default or named by an alias, the split or the shadow (kept, saying so). With
    /// `dryRun` nothing is deleted. Each deletion appends a `deleted` event naming why; all in
    /// one transaction, so nothing that names a version can appear between check and delete.
    public func collectUnused(cutoffUnixMs: Int64, unusedAfter: String, dryRun: Bool) throws -> [CollectionVerdict] {
        try write {
            let models = try db.statement("SELECT name FROM models ORDER BY name").query { $0.text(0) }
            var verdicts: [CollectionVerdict] = []
            let now = unixMillisecondsNow()
            for name in models {
                let model = try loadModel(name)
                for record in model.versions {
                    let verdict = Self.verdict(record, in: model, cutoffUnixMs: cutoffUnixMs, unusedAfter: unusedAfter)
                    verdicts.append(verdict)
                    guard verdict.deleted, !dryRun else { continue }
                    try db.statement("DELETE FROM versions WHERE model = ? AND version = ?")
                        .run([.text(name), .text(record.key.version)])
                    try appendEvent(record.key, .deleted, old: record.status.state, new: .deleting,
                                    detail: "version \(record.key.version) deleted by garbage collection: \(verdict.reason)", at: now)
                }
            }
            return verdicts
        }
    }

    /// What garbage collection does with one version, and why.
    static func verdict(_ record: VersionRecord, in model: ModelRecord, cutoffUnixMs: Int64,
                        unusedAfter: String) -> CollectionVerdict {
        let last = record.lastCalledUnixMs
        func kept(_ reason: String) -> CollectionVerdict {
            CollectionVerdict(key: record.key, deleted: false, reason: reason, lastCalledUnixMs: last)
        }
        if record.key.version == model.defaultVersion { return kept("the default version of model \(model.name)") }
        if let reference = reference(to: record.key.version, in: model) { return kept("named by \(reference)") }
        if last >= cutoffUnixMs { return kept("called within the last \(unusedAfter)") }
        if last == 0, record.createdUnixMs >= cutoffUnixMs { return kept("never called, registered within the last \(unusedAfter)") }
        let reason = last == 0 ? "never called since it was registered more than \(unusedAfter) ago"
                               : "not called for more than \(unusedAfter)"
        return CollectionVerdict(key: record.key, deleted: true, reason: reason, lastCalledUnixMs: last)
    }

    /// Deletes one version, or every version of the model when `version` is nil or empty;
    /// returns what was deleted (state DELETING). Deleting the last version deletes the model.
    /// Deleting the default version while others remain is FAILED_PRECONDITION: set another
    /// default first.
    public func delete(model: String, version: String? = nil) throws -> [VersionRecord] {
        try write {
            let current = try loadModel(model)
            let doomed: [VersionRecord]
            if let version, !version.isEmpty {
                guard let record = current.versions.first(where: { $0.key.version == version }) else {
                    throw RegistryError(.notFound, "model \(model) has no version \(version)")
                }
                if version == current.defaultVersion, current.versions.count > 1 {
                    throw RegistryError(.failedPrecondition,
                        "version \(version) is the default of model \(model), which has other versions; set another default version first")
                }
                if let reference = Self.reference(to: version, in: current) {
                    throw RegistryError(.failedPrecondition, "version \(version) of model \(model) is named by \(reference); change that first")
                }
                doomed = [record]
            } else {
                doomed = current.versions
            }
            let now = unixMillisecondsNow()
            let wholeModel = doomed.count == current.versions.count
            for record in doomed {
                try db.statement("DELETE FROM versions WHERE model = ? AND version = ?")
                    .run([.text(model), .text(record.key.version)])
                try appendEvent(record.key, .deleted, old: record.status.state, new: .deleting,
                                detail: wholeModel ? "model \(model) deleted" : "version \(record.key.version) deleted", at: now)
            }
            if wholeModel {
                try db.statement("DELETE FROM models WHERE name = ?").run([.text(model)])
            }
            return doomed.map { record in
                var deleted = record
                deleted.status.state = .deleting
                return deleted
            }
        }
    }

    /// Points `alias` of `model` at `version`, or removes the alias when `version` is empty;
    /// returns the model. NOT_FOUND for an unknown model or version (or removing an unknown
    /// alias); INVALID_ARGUMENT when the alias is the name of a version or names an alias;
    /// FAILED_PRECONDITION when removing an alias that the split or shadow names.
    public func setAlias(model: String, alias: String, version: String) throws -> ModelRecord {
        try write {
            let current = try loadModel(model)
            let now = unixMillisecondsNow()
            let key = VersionKey(model: model, version: "")
            let old = current.aliases[alias]
            if version.isEmpty {
                guard let old else { throw RegistryError(.notFound, "model \(model) has no alias \(alias)") }
                if let reference = Self.trafficReference(to: alias, in: current) {
                    throw RegistryError(.failedPrecondition, "alias \(alias) of model \(model) is named by \(reference); change that first")
                }
                try db.statement("DELETE FROM aliases WHERE model = ? AND alias = ?").run([.text(model), .text(alias)])
                try appendEvent(key, .aliasChanged, old: nil, new: nil, detail: "alias \(alias) (was \(old)) removed", at: now)
                return try loadModel(model)
            }
            guard !current.versions.contains(where: { $0.key.version == alias }) else {
                throw RegistryError(.invalidArgument, "alias: \(alias) is a version of model \(model); an alias needs a name of its own")
            }
            guard current.versions.contains(where: { $0.key.version == version }) else {
                if current.aliases[version] != nil {
                    throw RegistryError(.invalidArgument, "version: \(version) is an alias; an alias names a version")
                }
                throw RegistryError(.notFound, "model \(model) has no version \(version)")
            }
            guard old != version else { return current }
            try db.statement("""
                INSERT INTO aliases (model, alias, version) VALUES (?, ?, ?)
                ON CONFLICT (model, alias) DO UPDATE SET version = excluded.version
                """).run([.text(model), .text(alias), .text(version)])
            try appendEvent(key, .aliasChanged, old: nil, new: nil,
                            detail: "alias \(alias) -> \(version)" + (old.map { " (was \($0))" } ?? ""), at: now)
            return try loadModel(model)
        }
    }

    /// Replaces the split (`targets`, percents already validated to sum to 100, or empty for
    /// "every call to the default") and the shadow (nil: none) of `model`; returns the model.
    /// INVALID_ARGUMENT naming a target that is neither a version nor an alias (the old split
    /// stays in force).
    public func setTraffic(model: String, targets: [TrafficTargetRecord], shadow: TrafficTargetRecord?) throws -> ModelRecord {
        try write {
            let current = try loadModel(model)
            for (index, target) in targets.enumerated() where current.concreteVersion(target.version) == nil {
                throw RegistryError(.invalidArgument, "targets[\(index)].version: model \(model) has no version or alias \(target.version)")
            }
            if let shadow, current.concreteVersion(shadow.version) == nil {
                throw RegistryError(.invalidArgument, "shadow.version: model \(model) has no version or alias \(shadow.version)")
            }
            guard targets != current.traffic || shadow != current.shadow else { return current }
            try db.statement("DELETE FROM traffic WHERE model = ?").run([.text(model)])
            let insert = "INSERT INTO traffic (model, role, position, version, percent) VALUES (?, ?, ?, ?, ?)"
            for (index, target) in targets.enumerated() {
                try db.statement(insert).run([.text(model), .text("split"), .integer(Int64(index)), .text(target.version),
                                              .integer(Int64(target.percent))])
            }
            if let shadow {
                try db.statement(insert).run([.text(model), .text("shadow"), .integer(0), .text(shadow.version),
                                              .integer(Int64(shadow.percent))])
            }
            let split = targets.isEmpty ? "every call to the default version \(current.defaultVersion)" : Self.describe(targets)
            try appendEvent(VersionKey(model: model, version: ""), .trafficChanged, old: nil, new: nil,
                            detail: "split \(split), shadow \(shadow?.description ?? "none")"
                                + " (was \(current.traffic.isEmpty ? "the default" : Self.describe(current.traffic)), shadow \(current.shadow?.description ?? "none"))",
                            at: unixMillisecondsNow())
            return try loadModel(model)
        }
    }

    /// Records what the reconciler observed; appends an `observed` event and returns true only
    /// when something changed. A version deleted meanwhile is ignored (returns false).
    @discardableResult
    public func updateObserved(_ key: VersionKey, _ status: VersionStatus) throws -> Bool {
        try write {
            let rows = try db.statement("""
                SELECT state, ready_replicas, desired_replicas, message FROM versions WHERE model = ? AND version = ?
                """).query([.text(key.model), .text(key.version)]) { row in
                VersionStatus(state: DeploymentState(rawValue: row.text(0)) ?? .pending, readyReplicas: row.int32(1),
                              desiredReplicas: row.int32(2), message: row.text(3))
            }
            guard let old = rows.first, old != status else { return false }
            let now = unixMillisecondsNow()
            try db.statement("""
                UPDATE versions SET state = ?, ready_replicas = ?, desired_replicas = ?, message = ?, updated_unix_ms = ?
                WHERE model = ? AND version = ?
                """).run([.text(status.state.rawValue), .integer(Int64(status.readyReplicas)),
                          .integer(Int64(status.desiredReplicas)), .text(status.message), .integer(now),
                          .text(key.model), .text(key.version)])
            try appendEvent(key, .observed, old: old.state, new: status.state,
                            detail: "ready \(status.readyReplicas)/\(status.desiredReplicas)"
                                + (status.message.isEmpty ? "" : ": \(status.message)"), at: now)
            return true
        }
    }

    // MARK: - Reads

    /// Every model with its versions, models by name, versions in registration order.
    public func models() throws -> [ModelRecord] {
        try read {
            let versions = try db.statement("\(Self.versionColumns) ORDER BY rowid").query([], Self.versionRecord)
            let byModel = Dictionary(grouping: versions, by: { $0.key.model })
            let aliases = try loadAliases(model: nil)
            let traffic = try loadTraffic(model: nil)
            return try db.statement("SELECT name, default_version, created_unix_ms FROM models ORDER BY name")
                .query { row in
                    let name = row.text(0)
                    return ModelRecord(name: name, defaultVersion: row.text(1), createdUnixMs: row.int64(2),
                                       versions: byModel[name] ?? [], aliases: aliases[name] ?? [:],
                                       traffic: traffic[name]?.split ?? [], shadow: traffic[name]?.shadow)
                }
        }
    }

    /// Every model (as `models()`) and the revision they are from, read together.
    public func modelsWithRevision() throws -> (models: [ModelRecord], revision: UInt64) {
        (try models(), revision)
    }

    /// One model with its versions; NOT_FOUND when it is not registered.
    public func model(_ name: String) throws -> ModelRecord {
        try read { try loadModel(name) }
    }

    /// One version; NOT_FOUND when the model or version is not registered.
    public func version(_ key: VersionKey) throws -> VersionRecord {
        try read { try loadVersion(key) }
    }

    /// Events, oldest first, optionally only those of `model` (and `version`), at or after
    /// `sinceUnixMs`; with `limit`, only the newest `limit` of them (still oldest first).
    public func events(model: String? = nil, version: String? = nil, sinceUnixMs: Int64 = 0,
                       limit: Int? = nil) throws -> [RegistryEvent] {
        try read {
            let rows = try db.statement("""
                SELECT id, time_unix_ms, model, version, kind, old_state, new_state, detail FROM events
                WHERE (?1 IS NULL OR model = ?1) AND (?2 IS NULL OR version = ?2) AND time_unix_ms >= ?3
                ORDER BY id DESC LIMIT ?4
                """).query([model.map { .text($0) } ?? .null, version.map { .text($0) } ?? .null,
                            .integer(sinceUnixMs), .integer(limit.map { Int64($0) } ?? -1)]) { row in
                RegistryEvent(id: row.int64(0), timeUnixMs: row.int64(1), model: row.text(2), version: row.text(3),
                              kind: RegistryEvent.Kind(rawValue: row.text(4)) ?? .observed,
                              oldState: row.optionalText(5).flatMap(DeploymentState.init(rawValue:)),
                              newState: row.optionalText(6).flatMap(DeploymentState.init(rawValue:)),
                              detail: row.text(7))
            }
            return rows.reversed()
        }
    }

    /// Rows of the migrations table: (version, name), oldest first.
    public func appliedMigrations() throws -> [(version: Int, name: String)] {
        try read {
            try db.statement("SELECT version, name FROM schema_migrations ORDER BY version")
                .query { (version: Int($0.int64(0)), name: $0.text(1)) }
        }
    }

    // MARK: - API tokens

    /// Stores a new token (`createdUnixMs` 0 = now); ALREADY_EXISTS when the id is taken.
    /// Appends a `token_created` event naming the id and scope (never the secret).
    public func createToken(_ token: TokenRecord) throws -> TokenRecord {
        var token = token
        if token.createdUnixMs == 0 { token.createdUnixMs = unixMillisecondsNow() }
        guard TokenText.isValidID(token.id) else {
            throw RegistryError(.internal, "a token id is 12 lowercase hex characters")
        }
        guard token.secretSHA256.count == 32 else {
            throw RegistryError(.internal, "token \(token.id): the secret hash must be 32 bytes")
        }
        let stored = token
        return try write {
            do {
                try db.statement("""
                    INSERT INTO tokens (id, secret_sha256, scope, models_json, expires_unix_ms, created_unix_ms,
                        revoked_unix_ms, description)
                    VALUES (?, ?, ?, ?, ?, ?, 0, ?)
                    """).run([.text(stored.id), .text(Self.hex(stored.secretSHA256)), .text(stored.scope.rawValue),
                              .text(try JSONColumn.encode(stored.models)), .integer(stored.expiresUnixMs),
                              .integer(stored.createdUnixMs), .text(stored.description)])
            } catch let error as SQLiteError where error.isConstraintViolation {
                throw RegistryError(.alreadyExists, "token \(stored.id) already exists")
            }
            try appendEvent(VersionKey(model: "", version: ""), .tokenCreated, old: nil, new: nil,
                            detail: Self.describe(stored), at: stored.createdUnixMs)
            var created = stored
            created.revokedUnixMs = 0
            return created
        }
    }

    /// Every token (revoked and expired ones too), oldest first.
    public func tokens() throws -> [TokenRecord] {
        try read { try db.statement("\(Self.tokenColumns) ORDER BY created_unix_ms, id").query([], Self.tokenRecord) }
    }

    /// Every token and the newest event id, read together (the gateway's `AuthTable` generation).
    public func tokenSnapshot() throws -> TokenSnapshot {
        try read {
            let version = try db.statement("SELECT COALESCE(MAX(id), 0) FROM events").query { $0.int64(0) }.first ?? 0
            let tokens = try db.statement("\(Self.tokenColumns) ORDER BY created_unix_ms, id").query([], Self.tokenRecord)
            return TokenSnapshot(version: version, tokens: tokens)
        }
    }

    /// One token; NOT_FOUND when there is none with `id`.
    public func token(_ id: String) throws -> TokenRecord {
        try read { try loadToken(id) }
    }

    /// Revokes a token (from now on it authenticates nothing) and returns it; revoking a revoked
    /// token changes nothing. NOT_FOUND when unknown. Appends a `token_revoked` event.
    public func revokeToken(_ id: String) throws -> TokenRecord {
        try write {
            let current = try loadToken(id)
            guard current.revokedUnixMs == 0 else { return current }
            let now = unixMillisecondsNow()
            try db.statement("UPDATE tokens SET revoked_unix_ms = ? WHERE id = ?").run([.integer(now), .text(id)])
            try appendEvent(VersionKey(model: "", version: ""), .tokenRevoked, old: nil, new: nil,
                            detail: "token \(id) revoked", at: now)
            return try loadToken(id)
        }
    }

    private func loadToken(_ id: String) throws -> TokenRecord {
        guard let token = try db.statement("\(Self.tokenColumns) WHERE id = ?").query([.text(id)], Self.tokenRecord).first else {
            throw RegistryError(.notFound, "there is no token \(id)")
        }
        return token
    }

    private static let tokenColumns = """
        SELECT id, secret_sha256, scope, models_json, expires_unix_ms, created_unix_ms, revoked_unix_ms, description
        FROM tokens
        """

    private static func tokenRecord(_ row: SQLiteStatement) throws -> TokenRecord {
        TokenRecord(id: row.text(0), secretSHA256: unhex(row.text(1)), scope: TokenScopeName(rawValue: row.text(2)) ?? .predict,
                    models: try JSONColumn.decode([String].self, row.text(3)), expiresUnixMs: row.int64(4),
                    createdUnixMs: row.int64(5), revokedUnixMs: row.int64(6), description: row.text(7))
    }

    private static func describe(_ token: TokenRecord) -> String {
        var text = "token \(token.id) scope \(token.scope.rawValue)"
        if token.scope == .predict { text += token.models.isEmpty ? " on every model" : " on \(token.models.joined(separator: ","))" }
        if token.expiresUnixMs != 0 { text += ", expires \(token.expiresUnixMs)" }
        return text
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    private static func unhex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex, let next = text.index(index, offsetBy: 2, limitedBy: text.endIndex) {
            guard let byte = UInt8(text[index..<next], radix: 16) else { return [] }
            bytes.append(byte)
            index = next
        }
        return bytes
    }

    // MARK: - Helpers

    private func write<T>(_ body: () throws -> T) throws -> T {
        let result: T
        do { result = try db.transaction(body) } catch { throw Self.wrap(error) }
        revision &+= 1
        return result
    }

    private func read<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch { throw Self.wrap(error) }
    }

    private func loadModel(_ name: String) throws -> ModelRecord {
        let models = try db.statement("SELECT default_version, created_unix_ms FROM models WHERE name = ?")
            .query([.text(name)]) { (defaultVersion: $0.text(0), created: $0.int64(1)) }
        guard let model = models.first else { throw RegistryError(.notFound, "model \(name) is not registered") }
        let versions = try db.statement("\(Self.versionColumns) WHERE model = ? ORDER BY rowid")
            .query([.text(name)], Self.versionRecord)
        let traffic = try loadTraffic(model: name)[name]
        return ModelRecord(name: name, defaultVersion: model.defaultVersion, createdUnixMs: model.created, versions: versions,
                           aliases: try loadAliases(model: name)[name] ?? [:], traffic: traffic?.split ?? [],
                           shadow: traffic?.shadow)
    }

    /// Model -> alias -> version, of one model or (nil) every model.
    private func loadAliases(model: String?) throws -> [String: [String: String]] {
        var result: [String: [String: String]] = [:]
        for (name, alias, version) in try db.statement("SELECT model, alias, version FROM aliases WHERE ?1 IS NULL OR model = ?1")
            .query([model.map { .text($0) } ?? .null], { ($0.text(0), $0.text(1), $0.text(2)) }) {
            result[name, default: [:]][alias] = version
        }
        return result
    }

    /// Model -> split (in order) and shadow, of one model or (nil) every model.
    private func loadTraffic(model: String?) throws -> [String: (split: [TrafficTargetRecord], shadow: TrafficTargetRecord?)] {
        var result: [String: (split: [TrafficTargetRecord], shadow: TrafficTargetRecord?)] = [:]
        let rows = try db.statement("""
            SELECT model, role, version, percent FROM traffic WHERE ?1 IS NULL OR model = ?1 ORDER BY model, role, position
            """).query([model.map { .text($0) } ?? .null]) { ($0.text(0), $0.text(1), TrafficTargetRecord(version: $0.text(2), percent: $0.int32(3))) }
        for (name, role, target) in rows {
            if role == "shadow" { result[name, default: ([], nil)].shadow = target } else { result[name, default: ([], nil)].split.append(target) }
        }
        return result
    }

    /// The alias's version, or nil when `model` has no such alias.
    private func aliasTarget(model: String, alias: String) throws -> String? {
        try db.statement("SELECT version FROM aliases WHERE model = ? AND alias = ?").query([.text(model), .text(alias)]) { $0.text(0) }.first
    }

    /// What names `version` of `model` (an alias, the split or the shadow, directly or through
    /// an alias), as text for an error; nil when nothing does.
    static func reference(to version: String, in model: ModelRecord) -> String? {
        if let alias = model.aliases.first(where: { $0.value == version })?.key { return "alias \(alias)" }
        return trafficReference(to: version, in: model)
    }

    /// What in the split or shadow names `name` (a version or an alias), as text; nil when nothing.
    static func trafficReference(to name: String, in model: ModelRecord) -> String? {
        if model.traffic.contains(where: { $0.version == name }) { return "the traffic split (\(describe(model.traffic)))" }
        if model.shadow?.version == name { return "the shadow (\(model.shadow!.description))" }
        return nil
    }

    /// `1=90 2=10`.
    static func describe(_ targets: [TrafficTargetRecord]) -> String {
        targets.map(\.description).joined(separator: " ")
    }

    private func loadVersion(_ key: VersionKey) throws -> VersionRecord {
        let rows = try db.statement("\(Self.versionColumns) WHERE model = ? AND version = ?")
            .query([.text(key.model), .text(key.version)], Self.versionRecord)
        if let record = rows.first { return record }
        _ = try loadModel(key.model)  // NOT_FOUND naming the model when the model is missing
        throw RegistryError(.notFound, "model \(key.model) has no version \(key.version)")
    }

    private func appendEvent(_ key: VersionKey, _ kind: RegistryEvent.Kind, old: DeploymentState?,
                             new: DeploymentState?, detail: String, at time: Int64) throws {
        try db.statement("""
            INSERT INTO events (time_unix_ms, model, version, kind, old_state, new_state, detail)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """).run([.integer(time), .text(key.model), .text(key.version), .text(kind.rawValue),
                      old.map { .text($0.rawValue) } ?? .null, new.map { .text($0.rawValue) } ?? .null,
                      .text(detail)])
    }

    private static let versionColumns = """
        SELECT model, version, image, command_json, port, env_json, min_replicas, max_replicas,
               has_resources, cpu_request, cpu_limit, memory_request, memory_limit, target_cpu_utilization,
               state, ready_replicas, desired_replicas, message, created_unix_ms,
               gpus, gpu_resource, node_selector_json, tolerations_json, image_pull_secrets_json, allow_root,
               target_concurrency, scale_to_zero_after_seconds, scale_down_delay_seconds, last_called_unix_ms
        FROM versions
        """

    private static func versionRecord(_ row: SQLiteStatement) throws -> VersionRecord {
        let resources = row.int64(8) != 0
            ? ResourceSpec(cpuRequest: row.text(9), cpuLimit: row.text(10), memoryRequest: row.text(11), memoryLimit: row.text(12),
                           gpus: row.int32(19), gpuResource: row.text(20))
            : nil
        let pod = PodOptions(
            nodeSelector: try JSONColumn.decode([String: String].self, row.text(21)),
            tolerations: try JSONColumn.decode([TolerationSpec].self, row.text(22)),
            imagePullSecrets: try JSONColumn.decode([String].self, row.text(23)), allowRoot: row.int64(24) != 0)
        let spec = VersionSpec(
            key: VersionKey(model: row.text(0), version: row.text(1)), image: row.text(2),
            command: try JSONColumn.decode([String].self, row.text(3)), port: row.int32(4),
            env: try JSONColumn.decode([String: String].self, row.text(5)), minReplicas: row.int32(6),
            maxReplicas: row.int32(7), resources: resources, targetCpuUtilization: row.int32(13), pod: pod,
            autoscaling: AutoscalingSpec(targetConcurrency: row.int32(25), scaleToZeroAfterSeconds: row.int32(26),
                                         scaleDownDelaySeconds: row.int32(27)))
        let status = VersionStatus(state: DeploymentState(rawValue: row.text(14)) ?? .pending, readyReplicas: row.int32(15),
                                   desiredReplicas: row.int32(16), message: row.text(17))
        return VersionRecord(spec: spec, status: status, createdUnixMs: row.int64(18), lastCalledUnixMs: row.int64(28))
    }

    private static func specValues(_ spec: VersionSpec) throws -> [SQLiteValue] {
        let resources = spec.resources ?? ResourceSpec()
        return [
            .text(spec.key.model), .text(spec.key.version), .text(spec.image),
            .text(try JSONColumn.encode(spec.command)), .integer(Int64(spec.port)), .text(try JSONColumn.encode(spec.env)),
            .integer(Int64(spec.minReplicas)), .integer(Int64(spec.maxReplicas)), .integer(spec.resources == nil ? 0 : 1),
            .text(resources.cpuRequest), .text(resources.cpuLimit), .text(resources.memoryRequest), .text(resources.memoryLimit),
            .integer(Int64(spec.targetCpuUtilization)), .integer(Int64(resources.gpus)), .text(resources.gpuResource),
            .text(try JSONColumn.encode(spec.pod.nodeSelector)), .text(try JSONColumn.encode(spec.pod.tolerations)),
            .text(try JSONColumn.encode(spec.pod.imagePullSecrets)), .integer(spec.pod.allowRoot ? 1 : 0),
            .integer(Int64(spec.autoscaling.targetConcurrency)), .integer(Int64(spec.autoscaling.scaleToZeroAfterSeconds)),
            .integer(Int64(spec.autoscaling.scaleDownDelaySeconds)),
        ]
    }

    private static func describe(_ spec: VersionSpec) -> String {
        let what = spec.command.isEmpty ? "image \(spec.image)" : "command \(spec.command.joined(separator: " "))"
        let autoscaling = spec.autoscaling.targetConcurrency > 0 ? ", autoscaling \(spec.autoscaling.description)" : ""
        return "\(what), replicas \(spec.minReplicas)-\(spec.maxReplicas)\(autoscaling)"
    }

    /// A failure of the database as a `RegistryError` (RegistryErrors pass unchanged).
    static func wrap(_ error: Error) -> Error {
        if error is RegistryError { return error }
        if let sqlite = error as? SQLiteError {
            switch sqlite.code & 0xff {
            case SQLITE_FULL:
                return RegistryError(.resourceExhausted, "the disk holding the registry is full, nothing was written "
                                                         + "(free space and retry): \(sqlite)")
            case SQLITE_READONLY:
                return RegistryError(.unavailable, "the registry is read-only, nothing was written: \(sqlite)")
            case SQLITE_BUSY, SQLITE_LOCKED:
                return RegistryError(.unavailable, "the registry is busy, nothing was written (retry): \(sqlite)")
            default:
                break
            }
        }
        return RegistryError(.internal, "registry database: \(error)")
    }
}

/// JSON text columns (command, env): compact, keys sorted so equal values store equal text.
enum JSONColumn {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }
}
