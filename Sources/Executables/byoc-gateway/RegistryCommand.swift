import Foundation
import Registry

/// `byoc-gateway backup --to FILE` and `byoc-gateway restore --from FILE`: the registry's
/// online backup and its restore (see deploy/README.md, "Backup and restore").
enum RegistryCommand {
    static let usage = """
    usage: byoc-gateway backup --to FILE [--db PATH | --state-dir DIR]
           byoc-gateway restore --from FILE [--db PATH | --state-dir DIR]
      backup   copies the registry with SQLite's online backup: consistent while a gateway
               serves and writes; FILE is replaced atomically once the copy checks out
      restore  replaces the registry with a backup (checked first); refused while a gateway
               holds the registry; start the gateway afterwards and its first reconcile pass
               brings every version back
      --db, --state-dir as for the gateway (also BYOC_DB, BYOC_STATE_DIR)
    """

    /// True when `arguments` (without the program name) start with a registry verb.
    static func handles(_ arguments: [String]) -> Bool {
        arguments.first == "backup" || arguments.first == "restore"
    }

    /// Runs the verb; returns the exit status (0 done, 1 failed, 2 usage).
    static func run(_ arguments: [String], environment: [String: String]) -> Int32 {
        let verb = arguments[0]
        var values: [String: String] = [:]
        if let db = environment["BYOC_DB"], !db.isEmpty { values["db"] = db }
        if let dir = environment["BYOC_STATE_DIR"], !dir.isEmpty { values["state-dir"] = dir }
        let fileFlag = verb == "backup" ? "to" : "from"
        var index = 1
        while index < arguments.count {
            var flag = arguments[index]
            if flag == "-h" || flag == "--help" { return usageError(usage, status: 0) }
            guard flag.hasPrefix("--") else { return usageError("unexpected argument \(flag)") }
            flag.removeFirst(2)
            var value: String
            if let equals = flag.firstIndex(of: "=") {
                value = String(flag[flag.index(after: equals)...])
                flag = String(flag[..<equals])
            } else {
                index += 1
                guard index < arguments.count else { return usageError("--\(flag) needs a value") }
                value = arguments[index]
            }
            guard [fileFlag, "db", "state-dir"].contains(flag) else {
                return usageError("unknown flag --\(flag) for \(verb)")
            }
            values[flag] = value
            index += 1
        }
        guard let file = values[fileFlag], !file.isEmpty else { return usageError("\(verb) needs --\(fileFlag) FILE") }
        let stateDir = values["state-dir"] ?? GatewayOptions().stateDir
        let registry = values["db"] ?? (stateDir as NSString).appendingPathComponent("registry.sqlite")
        do {
            if verb == "backup" {
                let summary = try RegistryBackup.backup(registry: registry, to: file)
                print("backed up \(registry) to \(file): \(summary)")
            } else {
                let folder = (registry as NSString).deletingLastPathComponent
                try FileManager.default.createDirectory(atPath: folder.isEmpty ? "." : folder, withIntermediateDirectories: true)
                let lock: RegistryLock
                do { lock = try RegistryLock(registryPath: registry, holder: "pid \(getpid()), restoring \(file)") } catch {
                    throw RegistryBackupError("\(error); stop that gateway first")
                }
                defer { lock.release() }
                let summary = try RegistryBackup.restore(backup: file, to: registry)
                print("restored \(registry) from \(file): \(summary); start the gateway to bring every version back")
            }
            return 0
        } catch {
            FileHandle.standardError.write(Data("byoc-gateway \(verb): \(error)\n".utf8))
            return 1
        }
    }

    private static func usageError(_ message: String, status: Int32 = 2) -> Int32 {
        FileHandle.standardError.write(Data((message + (status == 2 ? "\n" + usage : "") + "\n").utf8))
        return status
    }
}
