import Foundation
import Reconciler
import Registry
import Routing
import XCTest
@testable import Kubernetes

final class ControlPlaneLogicTests: XCTestCase {
    func testKubeConfigFromFlagsAndInCluster() throws {
        let flags = try KubeConfig.resolve(apiURL: "http://127.0.0.1:6443", tokenFile: "/t", caFile: nil, namespace: "ns",
                                           environment: [:], fileExists: { _ in false }, readFile: { _ in nil })
        XCTAssertEqual(flags.scheme, "http")
        XCTAssertEqual(flags.authority, "127.0.0.1:6443")
        XCTAssertEqual(flags.tokenFile, "/t")
        XCTAssertEqual(flags.namespace, "ns")

        let inCluster = try KubeConfig.resolve(apiURL: nil, tokenFile: nil, caFile: nil, namespace: nil,
                                               environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"],
                                               fileExists: { _ in true }, readFile: { _ in "models\n" })
        XCTAssertEqual(inCluster.url, "https://10.96.0.1:443")
        XCTAssertEqual(inCluster.tokenFile, "/var/run/secrets/kubernetes.io/serviceaccount/token")
        XCTAssertEqual(inCluster.caFile, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
        XCTAssertEqual(inCluster.namespace, "models")

        XCTAssertThrowsError(try KubeConfig.resolve(apiURL: nil, tokenFile: nil, caFile: nil, namespace: nil, environment: [:]))
        XCTAssertEqual(try KubeConfig.parse(url: "https://[::1]:8443").host, "::1")
        XCTAssertEqual(try KubeConfig.parse(url: "https://kubernetes.default.svc").port, 443)
        XCTAssertThrowsError(try KubeConfig.parse(url: "ftp://x"))
        XCTAssertThrowsError(try KubeConfig.parse(url: "https://x:99999"))
    }

    func testForbiddenNamesTheMissingPermission() {
        let error = KubeAPIError(status: 403, reason: "Forbidden", message: "nope",
                                 request: KubeRequestInfo(verb: "patch", resource: .deployments, namespace: "models", name: "iris-1"))
        XCTAssertTrue(error.description.contains("may not patch deployments.apps in namespace models"), error.description)
        XCTAssertTrue(error.description.contains(#"apiGroups ["apps"], resources ["deployments"], verbs ["patch"]"#))
        let core = KubeAPIError(status: 403, request: KubeRequestInfo(verb: "watch", resource: .pods, namespace: "x"))
        XCTAssertTrue(core.description.contains("may not watch pods in namespace x"))
        XCTAssertEqual(KubeResource.endpointSlices.collectionPath(namespace: "n"), "/apis/discovery.k8s.io/v1/namespaces/n/endpointslices")
        XCTAssertEqual(KubeResource.services.objectPath(namespace: "n", name: "s"), "/api/v1/namespaces/n/services/s")
    }

    func testLeaseDecisions() {
        let held = LeaseRecord(holderIdentity: "b", leaseDurationSeconds: 15, renewTime: "t", leaseTransitions: 1)
        XCTAssertEqual(LeaseDecision.decide(record: held, identity: "b", unchangedFor: .seconds(100)), .renew)
        XCTAssertEqual(LeaseDecision.decide(record: held, identity: "a", unchangedFor: .seconds(14)), .follow(holder: "b"))
        XCTAssertEqual(LeaseDecision.decide(record: held, identity: "a", unchangedFor: .seconds(15)), .takeOver)
        let released = LeaseRecord(holderIdentity: "", leaseDurationSeconds: 15, renewTime: "t", leaseTransitions: 1)
        XCTAssertEqual(LeaseDecision.decide(record: released, identity: "a", unchangedFor: .zero), .takeOver)
        XCTAssertTrue(LeaderElector.microTime(Date(timeIntervalSince1970: 1.5)) == "1970-01-01T00:00:01.500000Z")
    }

    func testElectionRequestsAreSingleAttemptsWithinTheRenewInterval() {
        var base = KubeClientOptions()
        base.requestTimeout = .seconds(30)
        base.maxAttempts = 5
        let options = LeaderElector.electionClientOptions(base, renewInterval: .seconds(5))
        XCTAssertEqual(options.maxAttempts, 1)
        XCTAssertEqual(options.requestTimeout, .seconds(5))
        base.requestTimeout = .seconds(2)
        XCTAssertEqual(LeaderElector.electionClientOptions(base, renewInterval: .seconds(5)).requestTimeout, .seconds(2))
    }

    /// The elector's requests end by its renew deadline: a request's timeout is cut to the
    /// caller's deadline (here against a socket that accepts and never answers).
    func testARequestEndsAtItsDeadline() async throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
                bind(fd, pointer, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        XCTAssertTrue(bound)
        var options = KubeClientOptions()
        options.requestTimeout = .seconds(60)
        options.maxAttempts = 1
        let client = KubeClient(config: KubeConfig(scheme: "http", host: "127.0.0.1", port: Int(UInt16(bigEndian: address.sin_port))),
                                options: options)
        defer { client.close() }
        do {
            _ = try await client.get(.leases, name: "byoc-gateway", deadline: ContinuousClock.now + .milliseconds(200))
            XCTFail("a request to a silent server returned")
        } catch {
            XCTAssertTrue("\(error)".contains("before the caller's deadline"), "\(error)")
        }
        do {
            _ = try await client.get(.leases, name: "byoc-gateway", deadline: ContinuousClock.now - .seconds(1))
            XCTFail("a request after its deadline was sent")
        } catch {
            XCTAssertTrue("\(error)".contains("the deadline passed"), "\(error)")
        }
    }

    func testEndpointsFromSlices() {
        let slices: [JSON] = [
            ["metadata": ["name": "a", "labels": ["kubernetes.io/service-name": "iris-1"]],
             "ports": [["name": "grpc", "port": 9001]],
             "endpoints": [["addresses": ["10.0.0.1"], "conditions": ["ready": true]],
                           ["addresses": ["10.0.0.2"], "conditions": ["ready": false]],
                           ["addresses": ["10.0.0.3"]]]],
            ["metadata": ["name": "b", "labels": ["kubernetes.io/service-name": "iris-1"]],
             "ports": [["name": "grpc", "port": 9002]],
             "endpoints": [["addresses": ["127.0.0.1"], "conditions": ["ready": true, "terminating": false]],
                           ["addresses": ["10.0.0.9"], "conditions": ["ready": true, "terminating": true]]]],
            ["metadata": ["name": "c", "labels": ["kubernetes.io/service-name": "other"]],
             "ports": [["name": "grpc", "port": 1]], "endpoints": [["addresses": ["10.9.9.9"]]]],
        ]
        XCTAssertEqual(ObservedState.endpoints(serviceName: "iris-1", slices: slices).map(\.description),
                       ["10.0.0.1:9001", "10.0.0.3:9001", "127.0.0.1:9002"])
    }

    func testObservedStates() {
        let spec = VersionSpec(key: VersionKey(model: "iris", version: "1"), image: "x", minReplicas: 2, maxReplicas: 2)
        XCTAssertEqual(ObservedState.observe(spec, deployment: nil, pods: [], slices: []).state, .deploying)
        let ready: JSON = ["spec": ["replicas": 2], "status": ["readyReplicas": 2]]
        let observed = ObservedState.observe(spec, deployment: ready, pods: [], slices: [])
        XCTAssertEqual(observed.state, .ready)
        XCTAssertEqual(observed.readyReplicas, 2)
        let half: JSON = ["spec": ["replicas": 2], "status": ["readyReplicas": 1]]
        XCTAssertEqual(ObservedState.observe(spec, deployment: half, pods: [], slices: []).message, "1/2 replicas ready")

        let pullFailing: JSON = ["metadata": ["name": "iris-1-abc"], "status": ["containerStatuses": [
            ["name": "model", "state": ["waiting": ["reason": "ImagePullBackOff", "message": "not found"]]]]]]
        let failed = ObservedState.observe(spec, deployment: ["spec": ["replicas": 2], "status": [:]], pods: [pullFailing], slices: [])
        XCTAssertEqual(failed.state, .failed)
        XCTAssertEqual(failed.message, "pod iris-1-abc: ImagePullBackOff: not found")
        // Some replicas ready: still DEPLOYING, with the reason.
        XCTAssertEqual(ObservedState.observe(spec, deployment: half, pods: [pullFailing], slices: []).state, .deploying)

        let stuck: JSON = ["spec": ["replicas": 2], "status": ["conditions": [
            ["type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": "ReplicaSet \"iris-1-x\" has timed out progressing."]]]]
        let deadline = ObservedState.observe(spec, deployment: stuck, pods: [], slices: [])
        XCTAssertEqual(deadline.state, .failed)
        XCTAssertTrue(deadline.message.hasPrefix("ProgressDeadlineExceeded"))
    }

    func testRouteConfigMapRoundTrip() throws {
        let routes: [String: ModelRoutes] = [
            "iris": ModelRoutes(defaultVersion: "2.0", versions: ["1": [Endpoint(host: "10.0.0.1", port: 1)], "2.0": []]),
        ]
        let map = RouteConfigMap.configMap(name: "byoc-gateway-routes", namespace: "models", routes: routes)
        XCTAssertEqual(map.labels, ["app.kubernetes.io/managed-by": "byoc", "byoc.dev/role": "routes"])
        XCTAssertFalse(try XCTUnwrap(map[path: "data", "routes.json"]?.string).contains("10.0.0.1"))
        let table = try XCTUnwrap(RouteConfigMap.table(map))
        XCTAssertEqual(table["iris"]?.defaultVersion, "2.0")
        XCTAssertEqual(table["iris"]?.services, ["1": "iris-1", "2.0": KubeNames(VersionKey(model: "iris", version: "2.0")).name])
        let slice: JSON = ["metadata": ["labels": ["kubernetes.io/service-name": "iris-1"]], "ports": [["name": "grpc", "port": 7]],
                           "endpoints": [["addresses": ["10.1.1.1"]]]]
        let rebuilt = RouteConfigMap.routes(table, slices: [slice])
        XCTAssertEqual(rebuilt["iris"], ModelRoutes(defaultVersion: "2.0", versions: ["1": [Endpoint(host: "10.1.1.1", port: 7)], "2.0": []]))
    }

    /// Every replica routes the leader's split, aliases and shadow: they travel in the ConfigMap.
    func testRouteConfigMapCarriesTraffic() throws {
        let traffic = ModelTraffic(aliases: ["stable": "1"], split: [TrafficShare(version: "1", percent: 90), TrafficShare(version: "2.0", percent: 10)],
                                   shadow: TrafficShare(version: "2.0", percent: 5))
        let routes: [String: ModelRoutes] = ["iris": ModelRoutes(defaultVersion: "1", versions: ["1": [], "2.0": []], traffic: traffic)]
        let map = RouteConfigMap.configMap(name: "r", namespace: "models", routes: routes)
        let table = try XCTUnwrap(RouteConfigMap.table(map))
        XCTAssertEqual(table["iris"]?.traffic, traffic)
        XCTAssertEqual(RouteConfigMap.routes(table, slices: [])["iris"]?.traffic, traffic)
        // A table without traffic (an older leader) reads as none.
        let plain = RouteConfigMap.configMap(name: "r", namespace: "models",
                                             routes: ["iris": ModelRoutes(defaultVersion: "1", versions: ["1": []])])
        XCTAssertEqual(try XCTUnwrap(RouteConfigMap.table(plain))["iris"]?.traffic, ModelTraffic())
    }

    /// Followers hold calls for a version that scales to zero like the leader: the policy travels too.
    func testRouteConfigMapCarriesWakePolicies() throws {
        let wake: [String: WakePolicy] = ["1": .hold, "2.0": .failed("replica 0 exited with status 3")]
        let routes: [String: ModelRoutes] = ["iris": ModelRoutes(defaultVersion: "1", versions: ["1": [], "2.0": []], wake: wake)]
        let table = try XCTUnwrap(RouteConfigMap.table(RouteConfigMap.configMap(name: "r", namespace: "models", routes: routes)))
        XCTAssertEqual(table["iris"]?.wake, wake)
        XCTAssertEqual(RouteConfigMap.routes(table, slices: [])["iris"]?.wake, wake)
    }

    func testAnIdleDeploymentIsIdle() {
        var spec = VersionSpec(key: VersionKey(model: "iris", version: "1"), image: "x", minReplicas: 0, maxReplicas: 2,
                               autoscaling: AutoscalingSpec(scaleToZeroAfterSeconds: 60))
        let zero: JSON = ["spec": ["replicas": 0], "status": [:]]
        // Not asked to be idle (a wake is on its way): still deploying.
        XCTAssertEqual(ObservedState.observe(spec, deployment: zero, pods: [], slices: []).state, .deploying)
        spec.autoscaledReplicas = 0
        let idle = ObservedState.observe(spec, deployment: zero, pods: [], slices: [])
        XCTAssertEqual(idle.state, .idle)
        XCTAssertEqual(idle.desiredReplicas, 0)
    }

    func testFingerprintsIgnoreStatusButNotSpecOrLabels() {
        let a: JSON = ["metadata": ["generation": 3, "resourceVersion": "10", "labels": ["x": "1"]], "status": ["readyReplicas": 1]]
        var b = a
        b["metadata"]?["resourceVersion"] = "11"
        b["status"] = ["readyReplicas": 2]
        XCTAssertEqual(KubernetesRuntime.fingerprint(a), KubernetesRuntime.fingerprint(b))
        var c = a
        c["metadata"]?["generation"] = 4
        XCTAssertNotEqual(KubernetesRuntime.fingerprint(a), KubernetesRuntime.fingerprint(c))
        var d = a
        d["metadata"]?["labels"] = ["x": "2"]
        XCTAssertNotEqual(KubernetesRuntime.fingerprint(a), KubernetesRuntime.fingerprint(d))
        let service: JSON = ["metadata": ["resourceVersion": "5"]]
        XCTAssertEqual(KubernetesRuntime.fingerprint(service), "rv5")
    }
}

final class TokenSourceTests: XCTestCase {
    func testTheTokenIsReReadWhenTheFileChanges() throws {
        let path = NSTemporaryDirectory() + "byoc-token-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "first\n".write(toFile: path, atomically: true, encoding: .utf8)
        let source = TokenSource(path: path)
        XCTAssertEqual(try source.current(), "first")
        try "second\n".write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 5)], ofItemAtPath: path)
        XCTAssertEqual(try source.current(), "second")
        XCTAssertNil(try TokenSource(path: nil).current())
        XCTAssertThrowsError(try TokenSource(path: path + "-missing").current())
    }
}

/// A crashing container's FAILED message ends with its termination message's last line.
final class TerminationMessageTests: XCTestCase {
    func testCrashLoopNamesTheLastTermination() {
        let spec = VersionSpec(key: VersionKey(model: "iris", version: "1"), image: "x")
        let crashing: JSON = ["metadata": ["name": "iris-1-abc"], "status": ["containerStatuses": [[
            "name": "model", "restartCount": 3,
            "state": ["waiting": ["reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"]],
            "lastState": ["terminated": ["exitCode": 1, "reason": "Error",
                                         "message": "Traceback (most recent call last):\n  File \"serve.py\"\nModuleNotFoundError: No module named 'torch'\n"]],
        ]]]]
        let failed = ObservedState.observe(spec, deployment: ["spec": ["replicas": 1], "status": [:]], pods: [crashing], slices: [])
        XCTAssertEqual(failed.state, .failed)
        XCTAssertEqual(failed.message, "pod iris-1-abc: CrashLoopBackOff: back-off 40s restarting failed container; "
                       + "exited with status 1: ModuleNotFoundError: No module named 'torch'")
    }

    func testWithoutAMessageTheReasonIsShown() {
        let status: JSON = ["lastState": ["terminated": ["exitCode": 137, "reason": "OOMKilled"]]]
        XCTAssertEqual(ObservedState.lastTermination(status), "exited with status 137 (OOMKilled)")
        XCTAssertNil(ObservedState.lastTermination(["lastState": [:]]))
    }
}
