import ArgumentParser
import GRPC
import Messages

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the gateway's health and each version's state and ready/desired replicas.",
        discussion: "Exits 1 when the gateway is not SERVING. A gateway without the Admin API (--routes) shows its health only.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let connection = try global.connect()
        let health = try await connection.call(RPC.healthCheck, HealthCheckRequest(service: ""),
                                               as: HealthCheckResponse.self)
        var models: [Model]?
        var note: String?
        do {
            models = try await connection.callStatus(RPC.listModels, ListModelsRequest(),
                                                     as: ListModelsResponse.self).models
                .sorted { $0.name < $1.name }
        } catch let status as GRPCStatus where status.code == .unimplemented {
            note = "the gateway does not serve the Admin API"
        } catch let status as GRPCStatus {
            throw connection.failure(status)
        }

        var json: [String: Any] = ["server": connection.endpoint.text, "gateway": health.status.name]
        if let models {
            json["versions"] = models.flatMap { model in
                VersionText.sortedVersions(model.versions).map { v -> [String: Any] in
                    ["model": v.model, "version": v.version, "default": v.version == model.defaultVersion,
                     "state": v.state.name, "readyReplicas": Int(v.readyReplicas),
                     "desiredReplicas": Int(VersionText.desired(v)), "message": v.message]
                }
            }
        }
        if let note { json["note"] = note }

        var text = "gateway \(connection.endpoint.text): \(health.status.name)"
        if let note {
            text += "\n\(note)"
        } else if let models {
            var table = Table(["VERSION", "STATE", "READY", "MESSAGE"])
            for model in models {
                for v in VersionText.sortedVersions(model.versions) {
                    let star = v.version == model.defaultVersion ? " *" : ""
                    table.add([VersionText.name(v) + star, v.state.name, VersionText.ready(v), v.message])
                }
            }
            text += table.rows.isEmpty ? "\nno models registered" : "\n" + table.render()
        }
        Output.emit(global, json: json, table: text)
        if health.status != .serving {
            throw CLIError("the gateway at \(connection.endpoint.text) is \(health.status.name)")
        }
    }
}
