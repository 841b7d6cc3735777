import Registry
import XCTest
@testable import Kubernetes

final class KubeObjectsTests: XCTestCase {
    let options = KubeObjectOptions(namespace: "models")

    func spec(min: Int32 = 1, max: Int32 = 1, resources: ResourceSpec? = nil, target: Int32 = 0) -> VersionSpec {
        VersionSpec(key: VersionKey(model: "iris", version: "1"), image: "ghcr.io/acme/iris:1", port: 0,
                    env: ["B": "2", "A": "1"], minReplicas: min, maxReplicas: max, resources: resources,
                    targetCpuUtilization: target)
    }

    func testDeploymentCarriesImageEnvPortProbeAndSecurityContext() throws {
        let deployment = KubeObjects.deployment(spec(), options)
        XCTAssertEqual(deployment["apiVersion"], "apps/v1")
        XCTAssertEqual(deployment[path: "metadata", "name"], "iris-1")
        XCTAssertEqual(deployment[path: "metadata", "namespace"], "models")
        XCTAssertEqual(deployment.labels["app.kubernetes.io/managed-by"], "byoc")
        XCTAssertEqual(deployment[path: "spec", "replicas"], 1)
        XCTAssertEqual(deployment[path: "spec", "selector", "matchLabels"], ["byoc.dev/model": "iris", "byoc.dev/version": "1"])
        let pod = try XCTUnwrap(deployment[path: "spec", "template", "spec"])
        XCTAssertEqual(pod["automountServiceAccountToken"], false)
        XCTAssertEqual(pod[path: "securityContext", "runAsNonRoot"], true)
        let container = try XCTUnwrap(pod["containers"]?.array?.first)
        XCTAssertEqual(container["image"], "ghcr.io/acme/iris:1")
        XCTAssertEqual(container["env"], [
            ["name": "PORT", "value": "8080"], ["name": "BYOC_MODEL", "value": "iris"],
            ["name": "BYOC_VERSION", "value": "1"], ["name": "A", "value": "1"], ["name": "B", "value": "2"],
        ])
        XCTAssertEqual(container["ports"], [["name": "grpc", "containerPort": 8080, "protocol": "TCP"]])
        XCTAssertEqual(container[path: "readinessProbe", "grpc"], ["port": 8080])
        XCTAssertEqual(container["securityContext"], [
            "runAsNonRoot": true, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false, "privileged": false,
            "capabilities": ["drop": ["ALL"]], "seccompProfile": ["type": "RuntimeDefault"],
        ])
        // Default requests when none are given, so the scheduler can place the pod.
        XCTAssertEqual(container["resources"], ["requests": ["cpu": "100m", "memory": "128Mi"]])
        XCTAssertEqual(container[path: "livenessProbe", "grpc"], ["port": 8080])
        XCTAssertEqual(container[path: "startupProbe", "grpc"], ["port": 8080])
        XCTAssertEqual(container[path: "startupProbe", "failureThreshold"], 120, "600 s at 5 s periods for a slow model load")
        XCTAssertNil(pod["nodeSelector"])
        XCTAssertNil(pod["tolerations"])
        XCTAssertNil(pod["imagePullSecrets"])
    }

    func testPodOptionsReachTheDeployment() throws {
        var s = spec(resources: ResourceSpec(gpus: 2))
        s.pod = PodOptions(nodeSelector: ["accelerator": "a100"],
                           tolerations: [TolerationSpec(key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule"),
                                         TolerationSpec(key: "pool", value: "ml")],
                           imagePullSecrets: ["regcred"], allowRoot: true)
        let pod = try XCTUnwrap(KubeObjects.deployment(s, options)[path: "spec", "template", "spec"])
        XCTAssertEqual(pod["nodeSelector"], ["accelerator": "a100"])
        XCTAssertEqual(pod["tolerations"], [["key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"],
                                            ["key": "pool", "value": "ml"]])
        XCTAssertEqual(pod["imagePullSecrets"], [["name": "regcred"]])
        XCTAssertEqual(pod["securityContext"], ["seccompProfile": ["type": "RuntimeDefault"]])
        let container = try XCTUnwrap(pod["containers"]?.array?.first)
        XCTAssertNil(container[path: "securityContext", "runAsNonRoot"])
        XCTAssertEqual(container[path: "securityContext", "readOnlyRootFilesystem"], true)
        XCTAssertEqual(container["resources"], [
            "requests": ["cpu": "100m", "memory": "128Mi", "nvidia.com/gpu": "2"], "limits": ["nvidia.com/gpu": "2"],
        ])
        s.resources = ResourceSpec(memoryLimit: "1Gi", gpus: 1, gpuResource: "amd.com/gpu")
        XCTAssertEqual(KubeObjects.deployment(s, options)[path: "spec", "template", "spec", "containers"]?.array?.first?["resources"],
                       ["requests": ["cpu": "100m", "amd.com/gpu": "1"], "limits": ["memory": "1Gi", "amd.com/gpu": "1"]])
    }

    func testAutoscaledVersionsLeaveReplicasToTheHPA() throws {
        let s = spec(min: 2, max: 5, target: 65)
        XCTAssertNil(KubeObjects.deployment(s, options)[path: "spec", "replicas"])
        let hpa = try XCTUnwrap(KubeObjects.horizontalPodAutoscaler(s, options))
        XCTAssertEqual(hpa["apiVersion"], "autoscaling/v2")
        XCTAssertEqual(hpa[path: "spec", "minReplicas"], 2)
        XCTAssertEqual(hpa[path: "spec", "maxReplicas"], 5)
        XCTAssertEqual(hpa[path: "spec", "scaleTargetRef"], ["apiVersion": "apps/v1", "kind": "Deployment", "name": "iris-1"])
        XCTAssertEqual(hpa[path: "spec", "metrics"]?.array?.first?[path: "resource", "target", "averageUtilization"], 65)
        // CPU utilization needs a CPU request: a default one is set when none is given.
        XCTAssertEqual(KubeObjects.deployment(s, options)[path: "spec", "template", "spec", "containers"]?.array?.first?["resources"],
                       ["requests": ["cpu": "100m", "memory": "128Mi"]])
        XCTAssertEqual(KubeObjects.horizontalPodAutoscaler(spec(min: 1, max: 2), options)?[path: "spec", "metrics"]?
            .array?.first?[path: "resource", "target", "averageUtilization"], 80)
    }

    func testConcurrencyScaledVersionsHaveNoHPAAndTheAutoscalersReplicas() throws {
        var s = spec(min: 1, max: 6)
        s.autoscaling = AutoscalingSpec(targetConcurrency: 4)
        XCTAssertNil(KubeObjects.horizontalPodAutoscaler(s, options))
        XCTAssertEqual(KubeObjects.deployment(s, options)[path: "spec", "replicas"], 1)
        s.autoscaledReplicas = 4
        XCTAssertEqual(KubeObjects.deployment(s, options)[path: "spec", "replicas"], 4)
        // A target with min = max scales nothing: replicas are the minimum as before.
        var fixed = spec(min: 2, max: 2)
        fixed.autoscaling = AutoscalingSpec(targetConcurrency: 4)
        XCTAssertEqual(KubeObjects.deployment(fixed, options)[path: "spec", "replicas"], 2)
    }

    func testAVersionThatScalesToZeroHasNoHPAAndTheGatewaysReplicas() throws {
        var s = spec(min: 0, max: 3)
        s.autoscaling = AutoscalingSpec(scaleToZeroAfterSeconds: 60)
        XCTAssertNil(KubeObjects.horizontalPodAutoscaler(s, options))
        XCTAssertEqual(KubeObjects.deployment(s, options)[path: "spec", "replicas"], 1, "awake: at least one")
        s.autoscaledReplicas = 0
        XCTAssertEqual(KubeObjects.deployment(s, options)[path: "spec", "replicas"], 0, "IDLE")
    }

    func testHPAAndPDBOnlyWhenWanted() {
        XCTAssertNil(KubeObjects.horizontalPodAutoscaler(spec(min: 3, max: 3), options))
        XCTAssertNil(KubeObjects.podDisruptionBudget(spec(min: 1, max: 4), options))
        let pdb = KubeObjects.podDisruptionBudget(spec(min: 2, max: 2), options)
        XCTAssertEqual(pdb?[path: "spec", "maxUnavailable"], 1)
        XCTAssertEqual(pdb?[path: "spec", "selector", "matchLabels"], ["byoc.dev/model": "iris", "byoc.dev/version": "1"])
        let kinds = KubeObjects.desired(spec(min: 1, max: 1), options).map { ($0.0.plural, $0.1 != nil) }
        XCTAssertEqual(kinds.map(\.0), ["deployments", "services", "horizontalpodautoscalers", "poddisruptionbudgets"])
        XCTAssertEqual(kinds.map(\.1), [true, true, false, false])
    }

    func testResourcesFromTheRegistry() {
        let s = spec(resources: ResourceSpec(cpuRequest: "250m", cpuLimit: "1", memoryRequest: "", memoryLimit: "512Mi"))
        XCTAssertEqual(KubeObjects.deployment(s, options)[path: "spec", "template", "spec", "containers"]?.array?.first?["resources"],
                       ["requests": ["cpu": "250m"], "limits": ["cpu": "1", "memory": "512Mi"]])
    }

    func testHeadlessServiceWithTheGrpcPort() {
        var s = spec()
        s.port = 9000
        let service = KubeObjects.service(s, options)
        XCTAssertEqual(service[path: "spec", "clusterIP"], "None")
        XCTAssertEqual(service[path: "spec", "ports"], [["name": "grpc", "port": 9000, "targetPort": "grpc", "protocol": "TCP",
                                                        "appProtocol": "kubernetes.io/h2c"]])
        XCTAssertEqual(service[path: "spec", "selector"], ["byoc.dev/model": "iris", "byoc.dev/version": "1"])
    }

    func testSerializationIsStable() {
        let a = KubeObjects.deployment(spec(), options).text
        let b = KubeObjects.deployment(spec(), options).text
        XCTAssertEqual(a, b)
        XCTAssertEqual(try JSON.parse(a), KubeObjects.deployment(spec(), options))
    }
}
