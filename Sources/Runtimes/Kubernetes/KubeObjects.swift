import Registry

/// Settings for the objects built per model version.
public struct KubeObjectOptions: Sendable {
    public var namespace: String
    /// Container port when the version's port is 0.
    public var defaultPort: Int32 = 8080
    /// HPA CPU target when the version's target is 0.
    public var defaultTargetCPU: Int32 = 80
    /// CPU request set when the version gives neither a CPU request nor a CPU limit (the
    /// scheduler needs one to place the pod, and HPA utilization is measured against it).
    public var defaultCPURequest = "100m"
    /// Memory request set when the version gives neither a memory request nor a memory limit.
    public var defaultMemoryRequest = "128Mi"
    /// startupProbe: a model may take this long to load before liveness applies.
    public var startupTimeoutSeconds: Int64 = 600
    /// `progressDeadlineSeconds`: after this the Deployment reports ProgressDeadlineExceeded.
    public var progressDeadlineSeconds: Int64 = 600
    public var terminationGracePeriodSeconds: Int64 = 30

    public init(namespace: String) {
        self.namespace = namespace
    }
}

/// Builds the Kubernetes objects of one model version, complete, for server-side apply: every
/// apply sends the whole desired object, so fields someone edited are put back.
///
/// - Deployment: the image, env PORT/BYOC_MODEL/BYOC_VERSION plus the version's env, one
///   container port named `grpc`, gRPC startup, readiness and liveness probes on it (the
///   startup probe allows `startupTimeoutSeconds` for a slow model load), resources from the
///   registry (default CPU and memory requests when none are given; GPUs as request = limit of
///   the extended resource), the pod options (node selector, tolerations, image pull secrets),
///   and a locked-down security context (non-root unless the version allows root, read-only
///   root filesystem with an emptyDir on /tmp, no privilege escalation, all capabilities
///   dropped, RuntimeDefault seccomp, no service-account token). `replicas` is set only when there is no HPA (min == max);
///   otherwise the HPA owns it.
/// - Service: headless (clusterIP None), port `grpc`, so EndpointSlices list every pod and the
///   router balances per request.
/// - HorizontalPodAutoscaler (autoscaling/v2) when max > min: CPU utilization target from the
///   registry (default 80%); none for a version the gateway scales on concurrency or to zero
///   (the Deployment's replicas are the gateway's count then: 0 while IDLE).
/// - PodDisruptionBudget (policy/v1) when min >= 2: maxUnavailable 1.
public enum KubeObjects {
    public static func port(_ spec: VersionSpec, _ options: KubeObjectOptions) -> Int32 {
        spec.port == 0 ? options.defaultPort : spec.port
    }

    /// A CPU HPA scales the version: max > min and not the gateway's concurrency autoscaler,
    /// nor a version that scales to zero (the gateway writes its replicas, 0 while IDLE).
    public static func hasHPA(_ spec: VersionSpec) -> Bool {
        spec.maxReplicas > spec.minReplicas && !spec.scalesOnConcurrency && !spec.scalesToZero
    }
    public static func hasPDB(_ spec: VersionSpec) -> Bool { spec.minReplicas >= 2 }

    static func metadata(_ names: KubeNames, _ options: KubeObjectOptions) -> JSON {
        ["name": .string(names.name), "namespace": .string(options.namespace), "labels": .strings(names.labels)]
    }

    public static func deployment(_ spec: VersionSpec, _ options: KubeObjectOptions) -> JSON {
        let names = KubeNames(spec.key)
        let port = port(spec, options)
        var env: [JSON] = [
            ["name": "PORT", "value": .string(String(port))],
            ["name": "BYOC_MODEL", "value": .string(spec.key.model)],
            ["name": "BYOC_VERSION", "value": .string(spec.key.version)],
        ]
        for (name, value) in spec.env.sorted(by: { $0.key < $1.key }) {
            env.append(["name": .string(name), "value": .string(value)])
        }
        let startupPeriod: Int64 = 5
        var container: JSON = [
            "name": "model",
            "image": .string(spec.image),
            "imagePullPolicy": "IfNotPresent",
            // A crashing container's log tail becomes its termination message: the FAILED message.
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "env": .array(env),
            "ports": [["name": "grpc", "containerPort": .int(Int64(port)), "protocol": "TCP"]],
            "readinessProbe": [
                "grpc": ["port": .int(Int64(port))],
                "initialDelaySeconds": 1, "periodSeconds": 5, "timeoutSeconds": 2, "failureThreshold": 3,
            ],
            "startupProbe": [
                "grpc": ["port": .int(Int64(port))], "periodSeconds": .int(startupPeriod), "timeoutSeconds": 2,
                "failureThreshold": .int(max(1, (options.startupTimeoutSeconds + startupPeriod - 1) / startupPeriod)),
            ],
            "livenessProbe": [
                "grpc": ["port": .int(Int64(port))], "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3,
            ],
            "resources": resources(spec, options),
            "securityContext": [
                "readOnlyRootFilesystem": true,
                "allowPrivilegeEscalation": false,
                "privileged": false,
                "capabilities": ["drop": ["ALL"]],
                "seccompProfile": ["type": "RuntimeDefault"],
            ],
            "volumeMounts": [["name": "tmp", "mountPath": "/tmp"]],
        ]
        var podSecurity: JSON = ["seccompProfile": ["type": "RuntimeDefault"]]
        if !spec.pod.allowRoot {
            container["securityContext"]?["runAsNonRoot"] = true
            podSecurity["runAsNonRoot"] = true
        }
        var podSpec: JSON = [
            "automountServiceAccountToken": false,
            "enableServiceLinks": false,
            "terminationGracePeriodSeconds": .int(options.terminationGracePeriodSeconds),
            "securityContext": podSecurity,
            "containers": [container],
            "volumes": [["name": "tmp", "emptyDir": ["sizeLimit": "256Mi"]]],
        ]
        if !spec.pod.nodeSelector.isEmpty { podSpec["nodeSelector"] = .strings(spec.pod.nodeSelector) }
        if !spec.pod.tolerations.isEmpty { podSpec["tolerations"] = .array(spec.pod.tolerations.map(toleration)) }
        if !spec.pod.imagePullSecrets.isEmpty {
            podSpec["imagePullSecrets"] = .array(spec.pod.imagePullSecrets.map { ["name": .string($0)] })
        }
        var deploymentSpec: JSON = [
            "selector": ["matchLabels": .strings(names.selector)],
            "revisionHistoryLimit": 3,
            "progressDeadlineSeconds": .int(options.progressDeadlineSeconds),
            "template": ["metadata": ["labels": .strings(names.labels)], "spec": podSpec],
        ]
        if !hasHPA(spec) { deploymentSpec["replicas"] = .int(Int64(spec.replicasToRun)) }
        return ["apiVersion": .string(KubeResource.deployments.apiVersion), "kind": .string(KubeResource.deployments.kind),
                "metadata": metadata(names, options), "spec": deploymentSpec]
    }

    static func resources(_ spec: VersionSpec, _ options: KubeObjectOptions) -> JSON {
        let given = spec.resources ?? ResourceSpec()
        var requests: [String: JSON] = [:]
        var limits: [String: JSON] = [:]
        if !given.cpuRequest.isEmpty { requests["cpu"] = .string(given.cpuRequest) }
        if !given.memoryRequest.isEmpty { requests["memory"] = .string(given.memoryRequest) }
        if !given.cpuLimit.isEmpty { limits["cpu"] = .string(given.cpuLimit) }
        if !given.memoryLimit.isEmpty { limits["memory"] = .string(given.memoryLimit) }
        if requests["cpu"] == nil, limits["cpu"] == nil { requests["cpu"] = .string(options.defaultCPURequest) }
        if requests["memory"] == nil, limits["memory"] == nil { requests["memory"] = .string(options.defaultMemoryRequest) }
        if given.gpus > 0 {
            let name = given.gpuResource.isEmpty ? ResourceSpec.defaultGPUResource : given.gpuResource
            requests[name] = .string(String(given.gpus))
            limits[name] = .string(String(given.gpus))
        }
        var result: [String: JSON] = [:]
        if !requests.isEmpty { result["requests"] = .object(requests) }
        if !limits.isEmpty { result["limits"] = .object(limits) }
        return .object(result)
    }

    /// A `corev1.Toleration`; empty fields are left out (the API's defaults).
    static func toleration(_ toleration: TolerationSpec) -> JSON {
        var object: [String: JSON] = [:]
        if !toleration.key.isEmpty { object["key"] = .string(toleration.key) }
        if !toleration.operator.isEmpty { object["operator"] = .string(toleration.operator) }
        if !toleration.value.isEmpty { object["value"] = .string(toleration.value) }
        if !toleration.effect.isEmpty { object["effect"] = .string(toleration.effect) }
        return .object(object)
    }

    public static func service(_ spec: VersionSpec, _ options: KubeObjectOptions) -> JSON {
        let names = KubeNames(spec.key)
        return [
            "apiVersion": .string(KubeResource.services.apiVersion), "kind": .string(KubeResource.services.kind),
            "metadata": metadata(names, options),
            "spec": [
                "clusterIP": "None",
                "selector": .strings(names.selector),
                "ports": [["name": "grpc", "port": .int(Int64(port(spec, options))), "targetPort": "grpc",
                           "protocol": "TCP", "appProtocol": "kubernetes.io/h2c"]],
                "publishNotReadyAddresses": false,
            ],
        ]
    }

    /// nil when min == max.
    public static func horizontalPodAutoscaler(_ spec: VersionSpec, _ options: KubeObjectOptions) -> JSON? {
        guard hasHPA(spec) else { return nil }
        let names = KubeNames(spec.key)
        let target = spec.targetCpuUtilization == 0 ? options.defaultTargetCPU : spec.targetCpuUtilization
        return [
            "apiVersion": .string(KubeResource.horizontalPodAutoscalers.apiVersion),
            "kind": .string(KubeResource.horizontalPodAutoscalers.kind), "metadata": metadata(names, options),
            "spec": [
                "scaleTargetRef": ["apiVersion": .string(KubeResource.deployments.apiVersion),
                                   "kind": .string(KubeResource.deployments.kind), "name": .string(names.name)],
                "minReplicas": .int(Int64(spec.minReplicas)),
                "maxReplicas": .int(Int64(spec.maxReplicas)),
                "metrics": [[
                    "type": "Resource",
                    "resource": ["name": "cpu", "target": ["type": "Utilization", "averageUtilization": .int(Int64(target))]],
                ]],
            ],
        ]
    }

    /// nil when min < 2.
    public static func podDisruptionBudget(_ spec: VersionSpec, _ options: KubeObjectOptions) -> JSON? {
        guard hasPDB(spec) else { return nil }
        let names = KubeNames(spec.key)
        return [
            "apiVersion": .string(KubeResource.podDisruptionBudgets.apiVersion),
            "kind": .string(KubeResource.podDisruptionBudgets.kind), "metadata": metadata(names, options),
            "spec": ["maxUnavailable": 1, "selector": ["matchLabels": .strings(names.selector)]],
        ]
    }

    /// Every kind we create per version, in apply order.
    public static let kinds: [KubeResource] = [.deployments, .services, .horizontalPodAutoscalers, .podDisruptionBudgets]

    /// The desired objects of `spec` by kind; a nil value means "must not exist".
    public static func desired(_ spec: VersionSpec, _ options: KubeObjectOptions) -> [(KubeResource, JSON?)] {
        [(.deployments, deployment(spec, options)), (.services, service(spec, options)),
         (.horizontalPodAutoscalers, horizontalPodAutoscaler(spec, options)),
         (.podDisruptionBudgets, podDisruptionBudget(spec, options))]
    }
}
