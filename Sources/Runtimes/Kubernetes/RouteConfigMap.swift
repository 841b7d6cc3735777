import Foundation
import Routing

/// The route table as the leader shares it with router replicas: a ConfigMap holding every
/// model's default version and, per version, the Service whose EndpointSlices list its pods.
/// Endpoints are not in it: every replica watches EndpointSlices itself.
///
/// `data["routes.json"]`:
/// `{"models": {"iris": {"default": "1", "versions": {"1": {"service": "iris-1"}},
///   "aliases": {"stable": "1"}, "split": [{"version": "1", "percent": 100}],
///   "shadow": {"version": "2", "percent": 10}, "wake": {"1": {"hold": true}}}}}` (the last four
/// only when set), so every replica spreads calls, and sticky keys land, exactly as the leader
/// does, and holds calls for a version that scales to zero while it has no ready pod (`wake`:
/// `{"failed": REASON}` while it cannot start).
public enum RouteConfigMap {
    public static let dataKey = "routes.json"
    public static let roleLabel = "byoc.dev/role"
    public static let roleValue = "routes"
    /// Selects the routes ConfigMap.
    public static let selector = "\(KubeNames.managedSelector),\(roleLabel)=\(roleValue)"

    /// Model -> (default version, version -> Service name, aliases/split/shadow).
    public typealias Table = [String: (defaultVersion: String, services: [String: String], traffic: ModelTraffic,
                                       wake: [String: WakePolicy])]

    /// The ConfigMap for `routes` (endpoints dropped).
    public static func configMap(name: String, namespace: String, routes: [String: ModelRoutes]) -> JSON {
        var models: [String: JSON] = [:]
        for (model, route) in routes {
            var versions: [String: JSON] = [:]
            for version in route.versions.keys {
                versions[version] = ["service": .string(KubeNames(.init(model: model, version: version)).name)]
            }
            var entry: [String: JSON] = ["default": .string(route.defaultVersion), "versions": .object(versions)]
            let traffic = route.traffic
            if !traffic.aliases.isEmpty { entry["aliases"] = .object(traffic.aliases.mapValues { .string($0) }) }
            if !traffic.split.isEmpty { entry["split"] = .array(traffic.split.map(share)) }
            if let shadow = traffic.shadow { entry["shadow"] = share(shadow) }
            if !route.wake.isEmpty {
                entry["wake"] = .object(route.wake.mapValues { policy -> JSON in
                    switch policy {
                    case .hold: return ["hold": .bool(true)]
                    case .failed(let reason): return ["failed": .string(reason)]
                    }
                })
            }
            models[model] = .object(entry)
        }
        let document: JSON = ["models": .object(models)]
        return [
            "apiVersion": .string(KubeResource.configMaps.apiVersion), "kind": .string(KubeResource.configMaps.kind),
            "metadata": ["name": .string(name), "namespace": .string(namespace),
                         "labels": [.init(stringLiteral: KubeNames.managedByLabel): .string(KubeNames.managedByValue),
                                    .init(stringLiteral: roleLabel): .string(roleValue)]],
            "data": [.init(stringLiteral: dataKey): .string(document.text)],
        ]
    }

    /// Reads the table back (nil when the ConfigMap holds none).
    public static func table(_ configMap: JSON) -> Table? {
        guard let text = configMap[path: "data", dataKey]?.string, let document = try? JSON.parse(text),
              let models = document["models"]?.object else { return nil }
        var result: Table = [:]
        for (model, entry) in models {
            guard let defaultVersion = entry["default"]?.string, let versions = entry["versions"]?.object else { continue }
            var services: [String: String] = [:]
            for (version, value) in versions {
                services[version] = value["service"]?.string ?? KubeNames(.init(model: model, version: version)).name
            }
            var traffic = ModelTraffic()
            for (alias, version) in entry["aliases"]?.object ?? [:] {
                if let version = version.string, services[version] != nil { traffic.aliases[alias] = version }
            }
            traffic.split = (entry["split"]?.array ?? []).compactMap { share($0, services) }
            traffic.shadow = entry["shadow"].flatMap { share($0, services) }
            var wake: [String: WakePolicy] = [:]
            for (version, policy) in entry["wake"]?.object ?? [:] where services[version] != nil {
                wake[version] = policy["failed"]?.string.map { .failed($0) } ?? .hold
            }
            result[model] = (defaultVersion, services, traffic, wake)
        }
        return result
    }

    private static func share(_ share: TrafficShare) -> JSON {
        ["version": .string(share.version), "percent": .int(Int64(share.percent))]
    }

    /// A share read back; nil unless it names a version of the table with a percent 1...100.
    private static func share(_ json: JSON, _ services: [String: String]) -> TrafficShare? {
        guard let version = json["version"]?.string, services[version] != nil,
              let percent = json["percent"]?.int, (1...100).contains(percent) else { return nil }
        return TrafficShare(version: version, percent: Int(percent))
    }

    /// Routes from the table and the namespace's EndpointSlices.
    public static func routes(_ table: Table, slices: [JSON]) -> [String: ModelRoutes] {
        var result: [String: ModelRoutes] = [:]
        for (model, entry) in table {
            var versions: [String: [Endpoint]] = [:]
            for (version, service) in entry.services {
                versions[version] = ObservedState.endpoints(serviceName: service, slices: slices)
            }
            result[model] = ModelRoutes(defaultVersion: entry.defaultVersion, versions: versions, traffic: entry.traffic,
                                        wake: entry.wake)
        }
        return result
    }
}

/// What a router replica routes with while it is not the leader: the leader's routes ConfigMap
/// plus EndpointSlices, both watched here. When the leader dies both stay as they were (the
/// ConfigMap lives in the API server, EndpointSlices are maintained by Kubernetes), so routing
/// goes on with the last table and still follows pods coming and going.
public final class RouteFollower: @unchecked Sendable {
    private let configMapName: String
    private let configMaps: Informer
    private let slices: Informer
    private let publish: @Sendable ([String: ModelRoutes]) -> Void
    private let lock = NSLock()
    private var last: [String: ModelRoutes]?
    private var lastTable: RouteConfigMap.Table?

    /// - Parameter configMapChanged: called after every change of the watched ConfigMaps (the
    ///   routes ConfigMap written, edited or deleted, or the watch relisted), so the leader can
    ///   put back what it wrote.
    public init(client: KubeClient, configMapName: String, log: @escaping @Sendable (String) -> Void,
                configMapChanged: @escaping @Sendable () -> Void = {},
                publish: @escaping @Sendable ([String: ModelRoutes]) -> Void) {
        self.configMapName = configMapName
        self.publish = publish
        let box = WeakBox()
        configMaps = Informer(client: client, resource: .configMaps, labelSelector: RouteConfigMap.selector, log: log) { _ in
            box.target?.rebuild()
            configMapChanged()
        }
        slices = Informer(client: client, resource: .endpointSlices, labelSelector: KubeNames.managedSelector, log: log) { _ in
            box.target?.rebuild()
        }
        box.target = self
    }

    public func start() {
        configMaps.start()
        slices.start()
    }

    public func stop() {
        configMaps.stop()
        slices.stop()
    }

    /// The routes ConfigMap as last observed: nil while it is missing, or before the watch
    /// synced (`isSynced`).
    public var observedConfigMap: JSON? { configMaps.get(configMapName) }

    /// True once the ConfigMap watch listed (so a nil `observedConfigMap` means missing).
    public var isSynced: Bool { configMaps.hasSynced }

    /// The routes built last (nil before the ConfigMap was first seen).
    public var current: [String: ModelRoutes]? {
        lock.lock()
        defer { lock.unlock() }
        return last
    }

    func rebuild() {
        guard configMaps.hasSynced else { return }
        lock.lock()
        // Keep the last table when the ConfigMap is missing (deleted, or not written yet).
        if let map = configMaps.get(configMapName), let table = RouteConfigMap.table(map) { lastTable = table }
        guard let table = lastTable else {
            lock.unlock()
            return
        }
        let routes = RouteConfigMap.routes(table, slices: slices.list())
        let changed = routes != last
        last = routes
        lock.unlock()
        if changed { publish(routes) }
    }

    private final class WeakBox: @unchecked Sendable {
        weak var target: RouteFollower?
    }
}
