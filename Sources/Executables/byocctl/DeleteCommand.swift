import ArgumentParser
import Messages

struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete one version, or the whole model when no VERSION is given (no confirmation).",
        discussion: "Deleting the default version of a model with other versions is refused until another default is set.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The model name.") var model: String
    @Argument(help: "The version (default: every version).") var version: String?

    func run() async throws {
        let response = try await global.call(RPC.deleteModel,
                                             DeleteModelRequest(model: model, version: version ?? ""),
                                             as: DeleteModelResponse.self)
        let lines = response.deleted.map { "deleted \(VersionText.name($0))" }
        Output.emit(global, json: ["deleted": response.deleted.map { $0.jsonObject() }] as [String: Any],
                    table: lines.isEmpty ? "nothing deleted" : lines.joined(separator: "\n"))
    }
}
