import Registry

/// Settings for the objects built per model version.
public struct KubeObjectOptions: Sendable {
    public var namespace: String
    /// Container port when the version's port is 0.
    public var defaultPort: Int32 = 8080
    /// HPA CPU target when the version's target is 0.
    public var defaultTargetCPU: Int32 = 80
    /// CPU request set when the version has an HPA but no CPU request (utilization needs one).
    public var defaultCPURequestForHPA = "100m"
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
///   container port named `grpc`, a gRPC readiness probe on it, resources from the registry,
///   and a locked-down security context (non-root, read-only root filesystem with an emptyDir
///   on /tmp, no privilege escalation, all capabilities dropped, RuntimeDefault seccomp, no
///   service-account token). `replicas` is set only when there is no HPA (min == max);
///   otherwise the HPA owns it.
/// - Service: headless (clusterIP None), port `grpc`, so EndpointSlices list every pod and the
///   router balances per request.
/// - HorizontalPodAutoscaler (autoscaling/v2) when max > min: CPU utilization target from the
///   registry (default 80%).
/// - PodDisruptionBudget (policy/v1) when min >= 2: maxUnavailable 1.
public enum KubeObjects {
    public static func port(_ spec: VersionSpec, _ options: KubeObjectOptions) -> Int32 {
        spec.port == 0 ? options.defaultPort : spec.port
    }

    public static func hasHPA(_ spec: VersionSpec) -> Bool { spec.maxReplicas > spec.minReplicas }
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
        let container: JSON = [
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
            "resources": resources(spec, options),
            "securityContext": [
                "runAsNonRoot": true,
                "readOnlyRootFilesystem": true,
                "allowPrivilegeEscalation": false,
                "privileged": false,
                "capabilities": ["drop": ["ALL"]],
                "seccompProfile": ["type": "RuntimeDefault"],
            ],
            "volumeMounts": [["name": "tmp", "mountPath": "/tmp"]],
        ]
        var deploymentSpec: JSON = [
            "selector": ["matchLabels": .strings(names.selector)],
            "revisionHistoryLimit": 3,
            "progressDeadlineSeconds": .int(options.progressDeadlineSeconds),
            "template": [
                "metadata": ["labels": .strings(names.labels)],
                "spec": [
                    "automountServiceAccountToken": false,
                    "enableServiceLinks": false,
                    "terminationGracePeriodSeconds": .int(options.terminationGracePeriodSeconds),
                    "securityContext": ["runAsNonRoot": true, "seccompProfile": ["type": "RuntimeDefault"]],
                    "containers": [container],
                    "volumes": [["name": "tmp", "emptyDir": ["sizeLimit": "256Mi"]]],
                ],
            ],
        ]
        if !hasHPA(spec) { deploymentSpec["replicas"] = .int(Int64(spec.minReplicas)) }
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
        if hasHPA(spec), requests["cpu"] == nil, limits["cpu"] == nil { requests["cpu"] = .string(options.defaultCPURequestForHPA) }
        var result: [String: JSON] = [:]
        if !requests.isEmpty { result["requests"] = .object(requests) }
        if !limits.isEmpty { result["limits"] = .object(limits) }
        return .object(result)
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
