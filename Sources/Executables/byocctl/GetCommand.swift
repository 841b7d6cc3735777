import ArgumentParser
import Messages

struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Show one model: its default version and every version's state.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The model name.") var model: String

    func run() async throws {
        let found = try await global.call(RPC.getModel, GetModelRequest(model: model), as: Model.self)
        var text = "model: \(found.name)\ndefault version: \(found.defaultVersion.isEmpty ? "-" : found.defaultVersion)\n"
        text += TrafficText.lines(found)
        text += VersionText.lifecycleLines(found)
        text += found.versions.isEmpty ? "no versions" : "\n" + VersionText.listTable([found], withMessage: true).render()
        Output.emit(global, json: found.jsonObject(), table: text)
    }
}
