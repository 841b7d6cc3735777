import Foundation

/// A model endpoint (a pod or a local replica) reached over h2c.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public let host: String
    public let port: Int
    /// `HOST:PORT` (IPv6 in brackets), computed once: it is the `:authority` of every call.
    public let description: String

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
        let description = host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]:\(port)" : "\(host):\(port)"
        self.description = description
        var key: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in description.utf8 { key = (key ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        self.key = key
    }

    /// FNV-1a of `description`, computed once: pools hash endpoints on every call.
    private let key: UInt64

    public static func == (lhs: Endpoint, rhs: Endpoint) -> Bool {
        lhs.key == rhs.key && lhs.port == rhs.port && lhs.host == rhs.host
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(key)
    }

    /// Parses `HOST:PORT` (IPv6 as `[::1]:PORT`).
    public init?(parsing text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              port > 0, port < 65536 else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }
}

/// What a worker does with a call to a version that has no ready endpoint.
public enum WakePolicy: Sendable, Equatable {
    /// Hold the call and wake the version (it scales to zero: IDLE, or its replicas start).
    case hold
    /// The version cannot start (its wake failed): UNAVAILABLE with this reason.
    case failed(String)
}

/// The routes of one model: its default version, each version's ready endpoints, and how
/// calls are spread over the versions (aliases, split, shadow).
public struct ModelRoutes: Sendable, Equatable {
    /// The version an empty `version` resolves to when there is no split.
    public var defaultVersion: String
    /// Version -> ready endpoints. A registered version with no ready endpoint has `[]`.
    public var versions: [String: [Endpoint]]
    /// Aliases, split and shadow (every version in it is one of `versions`).
    public var traffic: ModelTraffic
    /// Versions that scale to zero: what a call does while they have no endpoint (a version
    /// not here fails such a call UNAVAILABLE at once).
    public var wake: [String: WakePolicy]

    public init(defaultVersion: String, versions: [String: [Endpoint]], traffic: ModelTraffic = ModelTraffic(),
                wake: [String: WakePolicy] = [:]) {
        self.defaultVersion = defaultVersion
        self.versions = versions
        self.traffic = traffic
        self.wake = wake
    }
}

/// An immutable routing snapshot: model -> default version, model+version -> endpoints.
///
/// Built off the request path (static file, or registry plus observed endpoints) and handed
/// to each worker, which swaps its reference on its own loop: no lock on the request path.
public final class RouteTable: Sendable {
    /// Increases with every published table.
    public let generation: UInt64
    /// Model name -> routes.
    public let models: [String: ModelRoutes]

    public init(generation: UInt64, models: [String: ModelRoutes]) {
        self.generation = generation
        self.models = models
    }

    /// The empty table a worker starts with.
    public static let empty = RouteTable(generation: 0, models: [:])

    /// The outcome of resolving a model and version.
    public enum Resolution: Equatable {
        /// Routable: the concrete version and its ready endpoints (possibly empty).
        case found(version: String, endpoints: [Endpoint])
        /// No such model.
        case unknownModel
        /// The model exists, the version does not.
        case unknownVersion
    }

    /// Resolves `model`/`version`: a version, an alias, or empty for the model's split (at
    /// `bucket`, see `TrafficBucket`) or default version.
    public func resolve(model: String, version: String, bucket: UInt32 = 0) -> Resolution {
        guard let routes = models[model] else { return .unknownModel }
        guard let concrete = routes.concreteVersion(version, bucket: bucket),
              let endpoints = routes.versions[concrete] else { return .unknownVersion }
        return .found(version: concrete, endpoints: endpoints)
    }

    /// A copy with another generation number.
    public func withGeneration(_ generation: UInt64) -> RouteTable {
        RouteTable(generation: generation, models: models)
    }
}

/// An error in a static route file, with the reason.
public struct RouteFileError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

extension RouteTable {
    /// Loads a static route file:
    /// `{"models": {"iris": {"default": "1", "versions": {"1": ["127.0.0.1:9001"]}}}}`.
    public static func load(path: String, generation: UInt64 = 1) throws -> RouteTable {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw RouteFileError(message: "cannot read route file \(path): \(error.localizedDescription)")
        }
        return try parse(data, source: path, generation: generation)
    }

    /// Parses the JSON of a static route file; `source` names it in errors.
    public static func parse(_ data: Data, source: String = "routes", generation: UInt64 = 1) throws -> RouteTable {
        func fail(_ why: String) -> RouteFileError { RouteFileError(message: "\(source): \(why)") }
        let root: Any
        do { root = try JSONSerialization.jsonObject(with: data) } catch {
            throw fail("not valid JSON (\(error.localizedDescription))")
        }
        guard let object = root as? [String: Any], let models = object["models"] as? [String: Any] else {
            throw fail("expected an object with a \"models\" object")
        }
        var result: [String: ModelRoutes] = [:]
        for (name, value) in models {
            guard let model = value as? [String: Any] else { throw fail("models.\(name) must be an object") }
            guard let versions = model["versions"] as? [String: Any], !versions.isEmpty else {
                throw fail("models.\(name).versions must be a non-empty object")
            }
            var parsed: [String: [Endpoint]] = [:]
            for (version, list) in versions {
                guard let addresses = list as? [String] else {
                    throw fail("models.\(name).versions.\(version) must be a list of \"HOST:PORT\" strings")
                }
                parsed[version] = try addresses.map { address in
                    guard let endpoint = Endpoint(parsing: address) else {
                        throw fail("models.\(name).versions.\(version): \"\(address)\" is not HOST:PORT")
                    }
                    return endpoint
                }
            }
            let defaultVersion: String
            if let given = model["default"] {
                guard let given = given as? String, parsed[given] != nil else {
                    throw fail("models.\(name).default must name one of its versions")
                }
                defaultVersion = given
            } else if parsed.count == 1 {
                defaultVersion = parsed.keys.first!
            } else {
                throw fail("models.\(name).default is required when a model has several versions")
            }
            result[name] = ModelRoutes(defaultVersion: defaultVersion, versions: parsed,
                                       traffic: try parseTraffic(model, versions: parsed, field: "models.\(name)", fail: fail))
        }
        return RouteTable(generation: generation, models: result)
    }

    /// The optional `aliases` (`{"stable": "1"}`), `split` (`[{"version": "1", "percent": 90}, ...]`,
    /// summing to 100) and `shadow` (`{"version": "2", "percent": 10}`) of a model in a route
    /// file; split and shadow may name aliases.
    private static func parseTraffic(_ model: [String: Any], versions: [String: [Endpoint]], field: String,
                                     fail: (String) -> RouteFileError) throws -> ModelTraffic {
        var traffic = ModelTraffic()
        if let aliases = model["aliases"] {
            guard let aliases = aliases as? [String: Any] else { throw fail("\(field).aliases must be an object") }
            for (alias, version) in aliases {
                guard let version = version as? String, versions[version] != nil, versions[alias] == nil else {
                    throw fail("\(field).aliases.\(alias) must name one of its versions (and not be a version itself)")
                }
                traffic.aliases[alias] = version
            }
        }
        func share(_ value: Any, _ where_: String) throws -> TrafficShare {
            guard let object = value as? [String: Any], let name = object["version"] as? String,
                  let version = versions[name] != nil ? name : traffic.aliases[name],
                  let percent = object["percent"] as? Int, (1...100).contains(percent) else {
                throw fail("\(where_) must be {\"version\": a version or alias, \"percent\": 1..100}")
            }
            return TrafficShare(version: version, percent: percent)
        }
        if let split = model["split"] {
            guard let list = split as? [Any] else { throw fail("\(field).split must be a list") }
            traffic.split = try list.enumerated().map { try share($0.element, "\(field).split[\($0.offset)]") }
            let sum = traffic.split.reduce(0) { $0 + $1.percent }
            guard traffic.split.isEmpty || sum == 100 else { throw fail("\(field).split percents must sum to 100, got \(sum)") }
        }
        if let shadow = model["shadow"] { traffic.shadow = try share(shadow, "\(field).shadow") }
        return traffic
    }
}
