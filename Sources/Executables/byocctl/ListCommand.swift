import ArgumentParser
import Messages

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List every model version with its state and ready/desired replicas.",
        discussion: """
        DEFAULT marks each model's default version with *; each FAILED version's message follows on
        stderr. -o json (or yaml) prints the list of models.
        """)

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let response = try await global.call(RPC.listModels, ListModelsRequest(), as: ListModelsResponse.self)
        let models = response.models.sorted { $0.name < $1.name }
        Output.emit(global, json: models.map { $0.jsonObject() },
                    table: models.isEmpty ? "no models registered" : VersionText.listTable(models).render())
        // Why a version failed, on stderr: the table's columns stay what scripts parse.
        if global.output == .table {
            for model in models {
                for v in VersionText.sortedVersions(model.versions) where v.state == .failed && !v.message.isEmpty {
                    Stderr.line("\(VersionText.name(v)) FAILED: \(v.message)")
                }
            }
        }
    }
}
