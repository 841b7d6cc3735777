import ArgumentParser
import Messages

struct AliasCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alias",
        abstract: "Point ALIAS of MODEL at VERSION (calls may name the alias as their version).",
        discussion: "byocctl alias iris stable 2 points iris/stable at version 2; --remove removes the alias.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The model name.") var model: String
    @Argument(help: "The alias (the version name pattern; not one of the model's versions).") var alias: String
    @Argument(help: "The version it names (omit with --remove).") var version: String?
    @Flag(help: "Remove the alias.") var remove = false

    func validate() throws {
        if remove && version != nil { throw ValidationError("give either VERSION or --remove, not both") }
        if !remove && version == nil { throw ValidationError("missing VERSION (or --remove)") }
    }

    func run() async throws {
        let updated = try await global.call(RPC.setAlias,
                                            SetAliasRequest(model: model, alias: alias, version: version ?? ""),
                                            as: Model.self)
        Output.emit(global, json: updated.jsonObject(),
                    table: remove ? "\(updated.name): alias \(alias) removed"
                        : "\(updated.name): \(alias) -> \(updated.aliases[alias] ?? version ?? "")")
    }
}
