import Registry
import Routing

/// Builds route tables from the registry's models and the runtime's ready endpoints.
enum RouteTableBuilder {
    /// Model -> routes: every registered version is present, with `[]` when nothing is ready;
    /// versions that scale to zero are wakeable (calls wait for an endpoint), with the reason
    /// from `wakeFailures` when they cannot start.
    static func routes(models: [ModelRecord], endpoints: [VersionKey: [Endpoint]],
                       wakeFailures: [VersionKey: String] = [:]) -> [String: ModelRoutes] {
        var result: [String: ModelRoutes] = [:]
        for model in models {
            var versions: [String: [Endpoint]] = [:]
            var wake: [String: WakePolicy] = [:]
            for version in model.versions {
                versions[version.key.version] = (endpoints[version.key] ?? []).sorted { $0.description < $1.description }
                if version.spec.scalesToZero {
                    wake[version.key.version] = wakeFailures[version.key].map { .failed($0) } ?? .hold
                }
            }
            result[model.name] = ModelRoutes(defaultVersion: model.defaultVersion, versions: versions, traffic: traffic(model),
                                             wake: wake)
        }
        return result
    }

    /// The model's aliases, split and shadow with every name made concrete (a split target or
    /// shadow may name an alias; the registry keeps every name pointing at a version).
    static func traffic(_ model: ModelRecord) -> ModelTraffic {
        ModelTraffic(
            aliases: model.aliases,
            split: model.traffic.compactMap { target in
                model.concreteVersion(target.version).map { TrafficShare(version: $0, percent: Int(target.percent)) }
            },
            shadow: model.shadow.flatMap { target in
                model.concreteVersion(target.version).map { TrafficShare(version: $0, percent: Int(target.percent)) }
            })
    }
}
