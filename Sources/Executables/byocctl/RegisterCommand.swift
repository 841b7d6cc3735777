import ArgumentParser
import Messages

struct RegisterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "register",
        abstract: "Register a model version (the first version of a model becomes its default).",
        discussion: """
        Give --image, a command, or both. The command's words are, in this order:
          --command TEXT  split like a POSIX shell splits words: 'single' and
                          "double" quotes and backslashes work; no variables,
                          globs or pipes. Example: --command "python3 serve.py"
          --arg WORD      one word, verbatim (repeatable)
          -- WORD...      everything after a bare --, verbatim
        The local runtime runs it with PORT, BYOC_MODEL and BYOC_VERSION set.

        Examples:
          byocctl register iris 1 --command "python3 serve.py" --wait
          byocctl register iris 2 --min 2 --env MODEL=rf -- python3 serve.py
          byocctl register echo 1 --image ghcr.io/acme/echo:1 --port 8080
        """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The model name (lowercase DNS label).") var model: String
    @Argument(help: "The version.") var version: String

    @Option(help: "Container image.") var image: String?
    @Option(help: ArgumentHelp("The command, split like a shell would.", valueName: "command-line"))
    var command: String?
    @Option(name: .customLong("arg"), parsing: .unconditionalSingleValue, help: ArgumentHelp("One more command word, verbatim, even if it starts with - (repeatable).", valueName: "word"))
    var args: [String] = []
    @Option(help: "The gRPC port the model serves on (0 = default).") var port: Int32?
    @Option(name: .customLong("env"), help: ArgumentHelp("An environment variable for the model (repeatable).", valueName: "key=value"))
    var env: [String] = []
    @Option(name: .customLong("min"), help: "Minimum replicas.") var minReplicas: Int32?
    @Option(name: .customLong("max"), help: "Maximum replicas.") var maxReplicas: Int32?
    @Option(help: ArgumentHelp("CPU request, e.g. 500m.", valueName: "quantity")) var cpuRequest: String?
    @Option(help: ArgumentHelp("CPU limit, e.g. 2.", valueName: "quantity")) var cpuLimit: String?
    @Option(help: ArgumentHelp("Memory request, e.g. 512Mi.", valueName: "quantity")) var memoryRequest: String?
    @Option(help: ArgumentHelp("Memory limit, e.g. 1Gi.", valueName: "quantity")) var memoryLimit: String?
    @Option(name: .customLong("target-cpu"), help: ArgumentHelp("Autoscaling target CPU utilization.", valueName: "percent"))
    var targetCpu: Int32?
    @OptionGroup var waitOptions: WaitOptions

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The command after a bare --, verbatim.", valueName: "command"))
    var trailing: [String] = []

    func validate() throws {
        for item in env where !item.contains("=") || item.hasPrefix("=") {
            throw ValidationError("--env takes KEY=VALUE, got \"\(item)\"")
        }
        if let command {
            do { _ = try ShellWords.split(command) } catch let error as ShellWords.SplitError {
                throw ValidationError("--command: \(error.message)")
            }
        }
    }

    func request() throws -> RegisterModelRequest {
        var argv: [String] = []
        if let command { argv += try ShellWords.split(command) }
        argv += args + trailing
        var environment: [String: String] = [:]
        for item in env {
            let eq = item.firstIndex(of: "=")!
            environment[String(item[..<eq])] = String(item[item.index(after: eq)...])
        }
        var resources: Resources?
        if cpuRequest != nil || cpuLimit != nil || memoryRequest != nil || memoryLimit != nil {
            resources = Resources(cpuRequest: cpuRequest ?? "", cpuLimit: cpuLimit ?? "",
                                  memoryRequest: memoryRequest ?? "", memoryLimit: memoryLimit ?? "")
        }
        return RegisterModelRequest(model: model, version: version, image: image ?? "", command: argv,
                                    port: port ?? 0, env: environment, minReplicas: minReplicas ?? 0,
                                    maxReplicas: maxReplicas ?? 0, resources: resources,
                                    targetCpuUtilization: targetCpu ?? 0)
    }

    func run() async throws {
        let connection = try global.connect()
        var registered = try await connection.call(RPC.registerModel, try request(), as: ModelVersion.self)
        if waitOptions.wait {
            Stderr.line("registered \(VersionText.name(registered)); waiting for it to be READY")
            registered = try await Waiter.waitReady(connection, model: model, version: version,
                                                    timeout: waitOptions.waitTimeout)
        }
        Output.emit(global, json: registered.jsonObject(),
                    table: VersionText.versionTable([registered]).render())
    }
}
