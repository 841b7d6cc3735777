import ArgumentParser
import Messages

struct SetDefaultCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-default",
        abstract: "Make VERSION the version served when a call names none.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The model name.") var model: String
    @Argument(help: "The version to make the default.") var version: String

    func run() async throws {
        let updated = try await global.call(RPC.setDefaultVersion,
                                            SetDefaultVersionRequest(model: model, version: version), as: Model.self)
        Output.emit(global, json: updated.jsonObject(),
                    table: "\(updated.name): default version is now \(updated.defaultVersion)")
    }
}
