import ArgumentParser
import Messages

struct GCCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Delete the versions not called for the gateway's --gc-unused-after.",
        discussion: """
        A version not called for that long (never called: since it was registered) is deleted,
        unless it is its model's default or named by an alias, the traffic split or the shadow.
        Every version is listed with what happens to it and why; --dry-run deletes nothing.
          byocctl gc --dry-run
          byocctl gc --dry-run --unused-after 30d   (preview another period, even with GC off)
        """)

    @OptionGroup var global: GlobalOptions
    @Flag(name: .customLong("dry-run"), help: "Only show what would be deleted.") var dryRun = false
    @Option(name: .customLong("unused-after"),
            help: ArgumentHelp("This period instead of the gateway's --gc-unused-after (e.g. 36h, 7d).", valueName: "duration"))
    var unusedAfter: String?

    func validate() throws {
        if let unusedAfter, (AutoscalingOptions.seconds(unusedAfter) ?? 0) <= 0 {
            throw ValidationError("--unused-after takes a duration like 90s, 36h or 7d, got \"\(unusedAfter)\"")
        }
    }

    func run() async throws {
        let response = try await global.call(RPC.collectUnused, CollectUnusedRequest(dryRun: dryRun, unusedAfterSeconds: Int64(unusedAfter.flatMap(AutoscalingOptions.seconds) ?? 0)),
                                             as: CollectUnusedResponse.self)
        let json: [String: Any] = [
            "unusedAfterSeconds": Int(response.unusedAfterSeconds), "dryRun": dryRun,
            "versions": response.versions.map { v -> [String: Any] in
                ["model": v.model, "version": v.version, "deleted": v.deleted, "reason": v.reason,
                 "lastCalledUnixMs": Int(v.lastCalledUnixMs)]
            },
        ]
        var table = Table(["MODEL", "VERSION", "ACTION", "CALLED", "REASON"])
        let action = dryRun ? "would delete" : "deleted"
        for v in response.versions {
            table.add([v.model, v.version, v.deleted ? action : "keep",
                       v.lastCalledUnixMs == 0 ? "never" : VersionText.age(v.lastCalledUnixMs) + " ago", v.reason])
        }
        Output.emit(global, json: json, table: response.versions.isEmpty ? "no versions" : table.render())
    }
}
