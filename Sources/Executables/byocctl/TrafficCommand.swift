import ArgumentParser
import Messages

struct TrafficCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "traffic",
        abstract: "Split the calls that name no version over versions, and shadow some to another.",
        discussion: """
        byocctl traffic iris 1=90 2=10 sends 90 % of iris's calls that name no version to
        version 1 and 10 % to version 2 (a call with header byoc-split-key stays on one target);
        --shadow 3=100 also copies 100 % of them to version 3 and drops its answers. Versions may
        be aliases. No VERSION=PERCENT: every such call to the default version (no split);
        --no-shadow removes the shadow. The percents must sum to 100.
        """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The model name.") var model: String
    @Argument(help: "VERSION=PERCENT targets, summing to 100.") var targets: [String] = []
    @Option(help: "VERSION=PERCENT: also send this percent of the calls to VERSION, answers dropped.") var shadow: String?
    @Flag(help: "Remove the shadow.") var noShadow = false

    func validate() throws {
        _ = try parsedTargets()
        if shadow != nil && noShadow { throw ValidationError("give either --shadow or --no-shadow") }
        if let shadow { _ = try Self.parse(shadow, what: "--shadow") }
    }

    func run() async throws {
        let connection = try global.connect()
        var request = SetTrafficRequest(model: model, targets: try parsedTargets())
        if let shadow {
            request.shadow = try Self.parse(shadow, what: "--shadow")
        } else if !noShadow {
            // Keep the current shadow: SetTraffic replaces both.
            let current = try await connection.call(RPC.getModel, GetModelRequest(model: model), as: Model.self)
            request.shadow = current.shadow
        }
        let updated = try await connection.call(RPC.setTraffic, request, as: Model.self)
        Output.emit(global, json: updated.jsonObject(), table: "\(updated.name):\n" + TrafficText.lines(updated))
    }

    private func parsedTargets() throws -> [TrafficTarget] {
        try targets.map { try Self.parse($0, what: "target") }
    }

    /// `VERSION=PERCENT`.
    static func parse(_ text: String, what: String) throws -> TrafficTarget {
        guard let equals = text.firstIndex(of: "="), let percent = Int32(text[text.index(after: equals)...]),
              equals != text.startIndex else {
            throw ValidationError("\(what) \"\(text)\" must be VERSION=PERCENT, e.g. 2=10")
        }
        return TrafficTarget(version: String(text[..<equals]), percent: percent)
    }
}

/// The traffic lines of `byocctl get` and `byocctl traffic`.
enum TrafficText {
    static func lines(_ model: Model) -> String {
        var text = ""
        if !model.aliases.isEmpty {
            text += "aliases: " + model.aliases.sorted { $0.key < $1.key }.map { "\($0.key) -> \($0.value)" }.joined(separator: ", ") + "\n"
        }
        text += "traffic: " + (model.traffic.isEmpty ? "100 % to the default version"
            : model.traffic.map { "\($0.version) \($0.percent) %" }.joined(separator: ", ")) + "\n"
        if let shadow = model.shadow, !shadow.version.isEmpty {
            text += "shadow: \(shadow.percent) % copied to \(shadow.version)\n"
        }
        return text
    }
}
