import Messages
import Registry

/// Maps registry records to and from the Admin API's messages.
enum AdminConversions {
    static func resourceSpec(_ resources: Resources) -> ResourceSpec {
        ResourceSpec(cpuRequest: resources.cpuRequest, cpuLimit: resources.cpuLimit,
                     memoryRequest: resources.memoryRequest, memoryLimit: resources.memoryLimit,
                     gpus: resources.gpus, gpuResource: resources.gpuResource)
    }

    static func resources(_ spec: ResourceSpec) -> Resources {
        Resources(cpuRequest: spec.cpuRequest, cpuLimit: spec.cpuLimit,
                  memoryRequest: spec.memoryRequest, memoryLimit: spec.memoryLimit,
                  gpus: spec.gpus, gpuResource: spec.gpuResource)
    }

    static func podOptions(_ request: RegisterModelRequest) -> PodOptions {
        PodOptions(nodeSelector: request.nodeSelector,
                   tolerations: request.tolerations.map {
                       TolerationSpec(key: $0.key, operator: $0.operator, value: $0.value, effect: $0.effect)
                   },
                   imagePullSecrets: request.imagePullSecrets, allowRoot: request.allowRoot)
    }

    static func state(_ state: DeploymentState) -> VersionState {
        switch state {
        case .pending: return .pending
        case .deploying: return .deploying
        case .ready: return .ready
        case .failed: return .failed
        case .deleting: return .deleting
        case .idle: return .idle
        }
    }

    static func modelVersion(_ record: VersionRecord) -> ModelVersion {
        let spec = record.spec
        return ModelVersion(
            model: spec.key.model, version: spec.key.version, image: spec.image, command: spec.command,
            port: spec.port, env: spec.env, minReplicas: spec.minReplicas, maxReplicas: spec.maxReplicas,
            state: state(record.status.state), readyReplicas: record.status.readyReplicas,
            message: record.status.message, createdUnixMs: record.createdUnixMs,
            resources: spec.resources.map(resources), targetCpuUtilization: spec.targetCpuUtilization,
            desiredReplicas: record.status.desiredReplicas, nodeSelector: spec.pod.nodeSelector,
            tolerations: spec.pod.tolerations.map {
                Toleration(key: $0.key, operator: $0.operator, value: $0.value, effect: $0.effect)
            },
            imagePullSecrets: spec.pod.imagePullSecrets, allowRoot: spec.pod.allowRoot,
            autoscaling: autoscaling(spec.autoscaling), lastCalledUnixMs: record.lastCalledUnixMs)
    }

    /// The API's settings; nil (absent) when autoscaling is entirely off.
    static func autoscaling(_ spec: AutoscalingSpec) -> Autoscaling? {
        guard spec != AutoscalingSpec() else { return nil }
        return Autoscaling(targetConcurrency: spec.targetConcurrency, scaleToZeroAfterSeconds: spec.scaleToZeroAfterSeconds,
                           scaleDownDelaySeconds: spec.scaleDownDelaySeconds)
    }

    static func model(_ record: ModelRecord) -> Model {
        Model(name: record.name, defaultVersion: record.defaultVersion, versions: record.versions.map(modelVersion),
              aliases: record.aliases, traffic: record.traffic.map { TrafficTarget(version: $0.version, percent: $0.percent) },
              shadow: record.shadow.map { TrafficTarget(version: $0.version, percent: $0.percent) })
    }
}
