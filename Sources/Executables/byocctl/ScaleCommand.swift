import ArgumentParser
import Messages

struct ScaleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract: "Change a version's replica bounds.",
        discussion: """
        --max defaults to --min. With --wait, waits until the desired replicas are ready.
        Without autoscaling flags the autoscaling settings stay as they are; with any, those left out
        take their defaults (--target-concurrency 0 = off, --scale-down-delay 30s).
        """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The model name.") var model: String
    @Argument(help: "The version.") var version: String
    @Option(name: .customLong("min"), help: "Minimum replicas.") var minReplicas: Int32
    @Option(name: .customLong("max"), help: "Maximum replicas (default: --min).") var maxReplicas: Int32?
    @OptionGroup var autoscalingOptions: AutoscalingOptions
    @OptionGroup var waitOptions: WaitOptions

    func run() async throws {
        let connection = try global.connect()
        let request = ScaleModelVersionRequest(model: model, version: version, minReplicas: minReplicas,
                                               maxReplicas: maxReplicas ?? 0, autoscaling: try autoscalingOptions.message())
        var scaled = try await connection.call(RPC.scaleModelVersion, request, as: ModelVersion.self)
        if waitOptions.wait {
            Stderr.line("scaled \(VersionText.name(scaled)) to min \(scaled.minReplicas) max \(scaled.maxReplicas); waiting for it to be READY")
            scaled = try await Waiter.waitReady(connection, model: model, version: version,
                                                timeout: waitOptions.waitTimeout)
        }
        Output.emit(global, json: scaled.jsonObject(), table: VersionText.versionTable([scaled]).render())
    }
}
