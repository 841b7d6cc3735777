import ArgumentParser
import Foundation
import Messages

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Show the registry's events: registrations, state changes, scaling, defaults, deletions.",
        discussion: """
        Oldest first: the newest --limit events (default 100, at most 1000) of every model, one
        model, or one version, optionally only those since a time.
          byocctl events iris 2 --since 1h
          byocctl events --since 2030-01-01T00:00:00Z --limit 1000 -o json
        """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Only this model's events.") var model: String?
    @Argument(help: "Only this version's events (with MODEL).") var version: String?

    @Option(name: .long, help: ArgumentHelp(
        "Only events since then: a duration ago (90s, 30m, 24h, 7d, 1h30m) or an RFC 3339 time.", valueName: "duration|time"))
    var since: String?

    @Option(name: .long, help: ArgumentHelp("The newest N events (default 100, at most 1000).", valueName: "n"))
    var limit: Int32 = 0

    func run() async throws {
        var request = ListEventsRequest(model: model ?? "", version: version ?? "", limit: limit)
        if let since { request.sinceUnixMs = try Self.sinceUnixMs(since, now: Date()) }
        let response = try await global.call(RPC.listEvents, request, as: ListEventsResponse.self)
        Output.emit(global, json: response.events.map { $0.jsonObject() },
                    table: response.events.isEmpty ? "no events" : Self.table(response.events).render())
    }

    /// Unix milliseconds of `--since`: now minus a duration, or an RFC 3339 time.
    static func sinceUnixMs(_ text: String, now: Date) throws -> Int64 {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let seconds = TokenTime.duration(trimmed) {
            return max(0, Int64(((now.timeIntervalSince1970 - seconds) * 1000).rounded()))
        }
        if let time = TokenTime.rfc3339(trimmed) { return time }
        throw CLIError.usage("--since takes a duration (90s, 30m, 24h, 7d, 1h30m) or an RFC 3339 time (2030-01-01T00:00:00Z), got \"\(text)\"")
    }

    /// TIME, MODEL, VERSION, KIND, MESSAGE.
    static func table(_ events: [Event]) -> Table {
        var table = Table(["TIME", "MODEL", "VERSION", "KIND", "MESSAGE"])
        for event in events {
            table.add([TokenTime.format(event.timeUnixMs), event.model.isEmpty ? "-" : event.model,
                       event.version.isEmpty ? "-" : event.version, event.kind, event.message])
        }
        return table
    }
}
