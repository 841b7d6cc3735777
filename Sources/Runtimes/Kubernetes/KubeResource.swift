/// A namespaced Kubernetes resource type: where its REST paths are and what RBAC calls it. The
/// types the runtime uses are the static members (the memberwise init is this module's).
public struct KubeResource: Sendable, Hashable, CustomStringConvertible {
    /// API group ("" for the core group).
    public var group: String
    public var version: String
    /// The plural resource name in paths and RBAC rules ("deployments").
    public var plural: String
    public var kind: String

    /// `apiVersion` of objects of this type ("apps/v1", "v1").
    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    /// The collection path in `namespace`.
    public func collectionPath(namespace: String) -> String {
        let base = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        return "\(base)/namespaces/\(namespace)/\(plural)"
    }

    /// One object's path.
    public func objectPath(namespace: String, name: String) -> String {
        "\(collectionPath(namespace: namespace))/\(name)"
    }

    /// The RBAC form: `deployments.apps`, or `pods` for the core group.
    public var description: String { group.isEmpty ? plural : "\(plural).\(group)" }

    public static let deployments = KubeResource(group: "apps", version: "v1", plural: "deployments", kind: "Deployment")
    public static let services = KubeResource(group: "", version: "v1", plural: "services", kind: "Service")
    public static let pods = KubeResource(group: "", version: "v1", plural: "pods", kind: "Pod")
    public static let configMaps = KubeResource(group: "", version: "v1", plural: "configmaps", kind: "ConfigMap")
    public static let secrets = KubeResource(group: "", version: "v1", plural: "secrets", kind: "Secret")
    public static let horizontalPodAutoscalers = KubeResource(group: "autoscaling", version: "v2",
                                                              plural: "horizontalpodautoscalers", kind: "HorizontalPodAutoscaler")
    public static let podDisruptionBudgets = KubeResource(group: "policy", version: "v1", plural: "poddisruptionbudgets",
                                                          kind: "PodDisruptionBudget")
    public static let endpointSlices = KubeResource(group: "discovery.k8s.io", version: "v1", plural: "endpointslices",
                                                    kind: "EndpointSlice")
    public static let leases = KubeResource(group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease")
}

/// One API request as RBAC sees it, for error messages.
public struct KubeRequestInfo: Sendable, CustomStringConvertible {
    /// RBAC verb: get, list, watch, create, update, patch, delete.
    public var verb: String
    public var resource: KubeResource
    public var namespace: String
    public var name: String?

    public init(verb: String, resource: KubeResource, namespace: String, name: String? = nil) {
        self.verb = verb
        self.resource = resource
        self.namespace = namespace
        self.name = name
    }

    public var description: String {
        "\(verb) \(resource)\(name.map { " \($0)" } ?? "") in namespace \(namespace)"
    }
}

/// A failed API call: the HTTP status and the API's Status reason and message.
public struct KubeAPIError: Error, Sendable, CustomStringConvertible {
    public var status: Int
    /// Status.reason ("NotFound", "Conflict", "Forbidden", "Expired", ...).
    public var reason: String
    public var message: String
    public var request: KubeRequestInfo?

    public init(status: Int, reason: String = "", message: String = "", request: KubeRequestInfo? = nil) {
        self.status = status
        self.reason = reason
        self.message = message
        self.request = request
    }

    public var isNotFound: Bool { status == 404 }
    public var isConflict: Bool { status == 409 }
    /// 410 Gone: the resourceVersion asked for is too old; list again.
    public var isGone: Bool { status == 410 }

    public var description: String {
        switch status {
        case 401:
            let what = request.map { " to \($0)" } ?? ""
            return "unauthorized (HTTP 401)\(what): the API server did not accept the service-account token"
                + (message.isEmpty ? "" : " (\(message))")
        case 403:
            guard let request else { return "forbidden (HTTP 403): \(message)" }
            return "forbidden (HTTP 403): the gateway's service account may not \(request.verb) \(request.resource) "
                + "in namespace \(request.namespace); grant it in the Role: apiGroups [\"\(request.resource.group)\"], "
                + "resources [\"\(request.resource.plural)\"], verbs [\"\(request.verb)\"]"
                + (message.isEmpty ? "" : " (\(message))")
        default:
            let what = request.map { "\($0): " } ?? ""
            let why = [reason, message].filter { !$0.isEmpty }.joined(separator: ": ")
            return "\(what)HTTP \(status)" + (why.isEmpty ? "" : " \(why)")
        }
    }
}

/// The API could not be reached or answered garbage.
public struct KubeTransportError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
