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

        Kubernetes pod options (the local runtime ignores them):
          --gpus N --gpu-resource NAME     N of the extended resource per replica
                                           (default nvidia.com/gpu)
          --node-selector KEY=VALUE        schedule only on nodes with this label
          --toleration KEY[=VALUE]:EFFECT  tolerate a taint: with =VALUE the operator
                                           is Equal, without it Exists; EFFECT is
                                           NoSchedule, PreferNoSchedule, NoExecute, or
                                           empty for every effect (KEY[=VALUE]:);
                                           a lone ':' tolerates every taint
          --image-pull-secret NAME         a Secret in the models' namespace
          --allow-root                     the image runs as root (drops runAsNonRoot)
          byocctl register llm 1 --image ghcr.io/acme/llm:1 --gpus 1 \\
            --node-selector pool=gpu --toleration nvidia.com/gpu:NoSchedule
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
    @Option(help: ArgumentHelp("GPUs per replica (request = limit).", valueName: "count")) var gpus: Int32?
    @Option(help: ArgumentHelp("The extended resource --gpus counts (default nvidia.com/gpu).", valueName: "name"))
    var gpuResource: String?
    @Option(name: .customLong("node-selector"), help: ArgumentHelp("A node label the pods require (repeatable).", valueName: "key=value"))
    var nodeSelector: [String] = []
    @Option(name: .customLong("toleration"), help: ArgumentHelp("A taint the pods tolerate (repeatable; see below).", valueName: "key[=value]:effect"))
    var tolerations: [String] = []
    @Option(name: .customLong("image-pull-secret"), help: ArgumentHelp("A Secret to pull the image with (repeatable).", valueName: "name"))
    var imagePullSecrets: [String] = []
    @Flag(help: "The image runs as root: drop runAsNonRoot.") var allowRoot = false
    @OptionGroup var autoscalingOptions: AutoscalingOptions
    @OptionGroup var waitOptions: WaitOptions

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The command after a bare --, verbatim.", valueName: "command"))
    var trailing: [String] = []

    func validate() throws {
        for item in env where !item.contains("=") || item.hasPrefix("=") {
            throw ValidationError("--env takes KEY=VALUE, got \"\(item)\"")
        }
        for item in nodeSelector where !item.contains("=") || item.hasPrefix("=") {
            throw ValidationError("--node-selector takes KEY=VALUE, got \"\(item)\"")
        }
        for item in tolerations { _ = try Self.toleration(item) }
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
        var selector: [String: String] = [:]
        for item in nodeSelector {
            let eq = item.firstIndex(of: "=")!
            selector[String(item[..<eq])] = String(item[item.index(after: eq)...])
        }
        var resources: Resources?
        if cpuRequest != nil || cpuLimit != nil || memoryRequest != nil || memoryLimit != nil || gpus != nil || gpuResource != nil {
            resources = Resources(cpuRequest: cpuRequest ?? "", cpuLimit: cpuLimit ?? "",
                                  memoryRequest: memoryRequest ?? "", memoryLimit: memoryLimit ?? "",
                                  gpus: gpus ?? 0, gpuResource: gpuResource ?? "")
        }
        return RegisterModelRequest(model: model, version: version, image: image ?? "", command: argv,
                                    port: port ?? 0, env: environment, minReplicas: minReplicas ?? 0,
                                    maxReplicas: maxReplicas ?? 0, resources: resources,
                                    targetCpuUtilization: targetCpu ?? 0, nodeSelector: selector,
                                    tolerations: try tolerations.map(Self.toleration),
                                    imagePullSecrets: imagePullSecrets, allowRoot: allowRoot,
                                    autoscaling: try autoscalingOptions.message())
    }

    /// Parses `KEY[=VALUE]:EFFECT`: with `=VALUE` the operator is Equal, without it Exists; an
    /// empty EFFECT tolerates every effect; a lone `:` tolerates every taint. The server checks
    /// the names and the effect.
    static func toleration(_ text: String) throws -> Toleration {
        guard let colon = text.lastIndex(of: ":") else {
            throw ValidationError("--toleration takes KEY[=VALUE]:EFFECT (e.g. nvidia.com/gpu:NoSchedule, pool=ml:NoExecute), got \"\(text)\"")
        }
        let effect = String(text[text.index(after: colon)...])
        let taint = text[..<colon]
        guard let eq = taint.firstIndex(of: "=") else {
            return Toleration(key: String(taint), operator: "Exists", value: "", effect: effect)
        }
        return Toleration(key: String(taint[..<eq]), operator: "Equal", value: String(taint[taint.index(after: eq)...]), effect: effect)
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
