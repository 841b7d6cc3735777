// The registry schema as an ordered list of migrations, applied once each at open.

/// One schema change: a version number, a name, and its statements.
struct Migration {
    var version: Int
    var name: String
    var statements: [String]
}

/// Every migration in order. Append new ones; never edit one that has shipped.
let registryMigrations: [Migration] = [
    Migration(version: 1, name: "models, versions and events", statements: [
        """
        CREATE TABLE models (
            name            TEXT PRIMARY KEY NOT NULL,
            default_version TEXT NOT NULL,
            created_unix_ms INTEGER NOT NULL
        )
        """,
        """
        CREATE TABLE versions (
        \(versionsColumns(states: "'PENDING', 'DEPLOYING', 'READY', 'FAILED', 'DELETING'"))
            PRIMARY KEY (model, version)
        )
        """,
        """
        CREATE TABLE events (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            time_unix_ms INTEGER NOT NULL,
            model        TEXT NOT NULL,
            version      TEXT NOT NULL DEFAULT '',
            kind         TEXT NOT NULL,
            old_state    TEXT,
            new_state    TEXT,
            detail       TEXT NOT NULL DEFAULT ''
        )
        """,
        "CREATE INDEX events_by_version ON events (model, version, id)",
        """
        CREATE TRIGGER events_no_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only'); END
        """,
        """
        CREATE TRIGGER events_no_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only'); END
        """,
    ]),
    // API tokens: only SHA-256 of each secret is stored (hex), never the secret itself.
    Migration(version: 2, name: "api tokens", statements: [
        """
        CREATE TABLE tokens (
            id              TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 12),
            secret_sha256   TEXT NOT NULL CHECK (length(secret_sha256) = 64),
            scope           TEXT NOT NULL CHECK (scope IN ('admin', 'predict')),
            models_json     TEXT NOT NULL DEFAULT '[]',
            expires_unix_ms INTEGER NOT NULL DEFAULT 0,
            created_unix_ms INTEGER NOT NULL,
            revoked_unix_ms INTEGER NOT NULL DEFAULT 0,
            description     TEXT NOT NULL DEFAULT ''
        )
        """,
    ]),
    // Traffic: aliases, the weighted split of calls that name no version, and the shadow.
    // Versions named here may be aliases; the Registry refuses deleting what they name.
    Migration(version: 3, name: "aliases and traffic", statements: [
        """
        CREATE TABLE aliases (
            model   TEXT NOT NULL REFERENCES models(name) ON DELETE CASCADE,
            alias   TEXT NOT NULL,
            version TEXT NOT NULL,
            PRIMARY KEY (model, alias)
        )
        """,
        """
        CREATE TABLE traffic (
            model    TEXT NOT NULL REFERENCES models(name) ON DELETE CASCADE,
            role     TEXT NOT NULL CHECK (role IN ('split', 'shadow')),
            position INTEGER NOT NULL,
            version  TEXT NOT NULL,
            percent  INTEGER NOT NULL CHECK (percent BETWEEN 1 AND 100),
            PRIMARY KEY (model, role, position)
        )
        """,
    ]),
    // ListEvents filters by time (`since`) across every model.
    Migration(version: 4, name: "events by time", statements: [
        "CREATE INDEX events_by_time ON events (time_unix_ms)",
    ]),
    // Kubernetes pod options of a version: GPUs, node selector, tolerations, pull secrets, root.
    Migration(version: 5, name: "kubernetes pod options", statements: [
        "ALTER TABLE versions ADD COLUMN gpus INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE versions ADD COLUMN gpu_resource TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE versions ADD COLUMN node_selector_json TEXT NOT NULL DEFAULT '{}'",
        "ALTER TABLE versions ADD COLUMN tolerations_json TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE versions ADD COLUMN image_pull_secrets_json TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE versions ADD COLUMN allow_root INTEGER NOT NULL DEFAULT 0",
    ]),
    // Lifecycle: concurrency autoscaling settings and when each version was last called.
    Migration(version: 6, name: "autoscaling and last called", statements: [
        "ALTER TABLE versions ADD COLUMN target_concurrency INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE versions ADD COLUMN scale_to_zero_after_seconds INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE versions ADD COLUMN scale_down_delay_seconds INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE versions ADD COLUMN last_called_unix_ms INTEGER NOT NULL DEFAULT 0",
    ]),
    // Scale to zero: state IDLE. SQLite cannot change a CHECK constraint, so the table is
    // rebuilt with every column of migrations 1, 5 and 6 (nothing references versions).
    Migration(version: 7, name: "idle state", statements: [
        """
        CREATE TABLE versions_new (
        \(versionsColumns(states: "'PENDING', 'DEPLOYING', 'READY', 'FAILED', 'DELETING', 'IDLE'"))
            gpus                   INTEGER NOT NULL DEFAULT 0,
            gpu_resource           TEXT NOT NULL DEFAULT '',
            node_selector_json     TEXT NOT NULL DEFAULT '{}',
            tolerations_json       TEXT NOT NULL DEFAULT '[]',
            image_pull_secrets_json TEXT NOT NULL DEFAULT '[]',
            allow_root             INTEGER NOT NULL DEFAULT 0,
            target_concurrency     INTEGER NOT NULL DEFAULT 0,
            scale_to_zero_after_seconds INTEGER NOT NULL DEFAULT 0,
            scale_down_delay_seconds INTEGER NOT NULL DEFAULT 0,
            last_called_unix_ms    INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (model, version)
        )
        """,
        """
        INSERT INTO versions_new (\(versionsColumnsOfMigration7))
        SELECT \(versionsColumnsOfMigration7)
        FROM versions
        """,
        "DROP TABLE versions",
        "ALTER TABLE versions_new RENAME TO versions",
    ]),
]

/// The columns of migration 1's `versions` table (one a line, each line ending with a comma),
/// `state`'s CHECK allowing `states`. Migration 7 rebuilds the table with these columns (and
/// IDLE), so both write them from here; the text is what shipped and must not change.
private func versionsColumns(states: String) -> String {
    """
        model                  TEXT NOT NULL REFERENCES models(name) ON DELETE CASCADE,
        version                TEXT NOT NULL,
        image                  TEXT NOT NULL DEFAULT '',
        command_json           TEXT NOT NULL DEFAULT '[]',
        port                   INTEGER NOT NULL DEFAULT 0,
        env_json               TEXT NOT NULL DEFAULT '{}',
        min_replicas           INTEGER NOT NULL,
        max_replicas           INTEGER NOT NULL,
        has_resources          INTEGER NOT NULL DEFAULT 0,
        cpu_request            TEXT NOT NULL DEFAULT '',
        cpu_limit              TEXT NOT NULL DEFAULT '',
        memory_request         TEXT NOT NULL DEFAULT '',
        memory_limit           TEXT NOT NULL DEFAULT '',
        target_cpu_utilization INTEGER NOT NULL DEFAULT 0,
        state                  TEXT NOT NULL DEFAULT 'PENDING'
            CHECK (state IN (\(states))),
        ready_replicas         INTEGER NOT NULL DEFAULT 0,
        desired_replicas       INTEGER NOT NULL DEFAULT 0,
        message                TEXT NOT NULL DEFAULT '',
        created_unix_ms        INTEGER NOT NULL,
        updated_unix_ms        INTEGER NOT NULL,
    """
}

/// Every column of `versions` after migration 6, in order: what migration 7 copies.
private let versionsColumnsOfMigration7 = """
    model, version, image, command_json, port, env_json, min_replicas, max_replicas,
        has_resources, cpu_request, cpu_limit, memory_request, memory_limit, target_cpu_utilization, state,
        ready_replicas, desired_replicas, message, created_unix_ms, updated_unix_ms, gpus, gpu_resource,
        node_selector_json, tolerations_json, image_pull_secrets_json, allow_root, target_concurrency,
        scale_to_zero_after_seconds, scale_down_delay_seconds, last_called_unix_ms
    """

extension SQLiteConnection {
    /// Creates the migrations table and applies every migration newer than the stored version,
    /// all in one transaction; returns the schema version afterwards. Idempotent.
    func migrate(_ migrations: [Migration] = registryMigrations) throws -> Int {
        try executeOnce("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version         INTEGER PRIMARY KEY NOT NULL,
                name            TEXT NOT NULL,
                applied_unix_ms INTEGER NOT NULL
            )
            """)
        return try transaction {
            var current = try statement("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
                .query { Int($0.int64(0)) }.first ?? 0
            for migration in migrations.sorted(by: { $0.version < $1.version }) where migration.version > current {
                for sql in migration.statements { try executeOnce(sql) }
                try statement("INSERT INTO schema_migrations (version, name, applied_unix_ms) VALUES (?, ?, ?)")
                    .run([.integer(Int64(migration.version)), .text(migration.name), .integer(unixMillisecondsNow())])
                current = migration.version
            }
            return current
        }
    }
}
