// JSON forms of byoc.v1 messages (protobuf JSON names), shared by byocctl (--json) and the web
// console's JSON API. Hand-written: each form is chosen for its readers, not derived from the proto.
import Foundation

extension Resources {
    /// Returns a JSON-compatible dictionary with protobuf JSON names ("cpuRequest", ...).
    public func jsonObject() -> [String: Any] {
        ["cpuRequest": cpuRequest, "cpuLimit": cpuLimit, "memoryRequest": memoryRequest,
         "memoryLimit": memoryLimit, "gpus": Int(gpus), "gpuResource": gpuResource]
    }
}

extension Autoscaling {
    /// Returns a JSON-compatible dictionary: "targetConcurrency", "scaleToZeroAfterSeconds",
    /// "scaleDownDelaySeconds".
    public func jsonObject() -> [String: Any] {
        ["targetConcurrency": Int(targetConcurrency), "scaleToZeroAfterSeconds": Int(scaleToZeroAfterSeconds),
         "scaleDownDelaySeconds": Int(scaleDownDelaySeconds)]
    }
}

extension Toleration {
    /// Returns a JSON-compatible dictionary: "key", "operator", "value" and "effect".
    public func jsonObject() -> [String: Any] {
        ["key": key, "operator": self.operator, "value": value, "effect": effect]
    }
}

extension ModelVersion {
    /// Returns a JSON-compatible dictionary with protobuf JSON names; "state" is the enum name,
    /// "createdUnixMs" a number, and "resources" is present only when set.
    public func jsonObject() -> [String: Any] {
        var object: [String: Any] = [
            "model": model, "version": version, "image": image, "command": command,
            "port": Int(port), "env": env, "minReplicas": Int(minReplicas), "maxReplicas": Int(maxReplicas),
            "state": state.name, "readyReplicas": Int(readyReplicas), "message": message,
            "createdUnixMs": Int(createdUnixMs), "targetCpuUtilization": Int(targetCpuUtilization),
            "desiredReplicas": Int(desiredReplicas), "nodeSelector": nodeSelector,
            "tolerations": tolerations.map { $0.jsonObject() }, "imagePullSecrets": imagePullSecrets,
            "allowRoot": allowRoot, "lastCalledUnixMs": Int(lastCalledUnixMs),
        ]
        if let resources { object["resources"] = resources.jsonObject() }
        if let autoscaling { object["autoscaling"] = autoscaling.jsonObject() }
        return object
    }
}

extension Model {
    /// Returns a JSON-compatible dictionary: "name", "defaultVersion", "versions", "aliases",
    /// "traffic" (the split; empty = every call to the default) and "shadow" (present when set).
    public func jsonObject() -> [String: Any] {
        var object: [String: Any] = ["name": name, "defaultVersion": defaultVersion, "versions": versions.map { $0.jsonObject() },
                                     "aliases": aliases, "traffic": traffic.map { $0.jsonObject() }]
        if let shadow, !shadow.version.isEmpty { object["shadow"] = shadow.jsonObject() }
        return object
    }
}

extension TrafficTarget {
    /// Returns `{"version": ..., "percent": ...}`.
    public func jsonObject() -> [String: Any] {
        ["version": version, "percent": Int(percent)]
    }
}

extension Token {
    /// Returns a JSON-compatible dictionary with protobuf JSON names ("expiresUnixMs", ...).
    public func jsonObject() -> [String: Any] {
        ["id": id, "scope": scope, "models": models, "expiresUnixMs": Int(expiresUnixMs),
         "createdUnixMs": Int(createdUnixMs), "revokedUnixMs": Int(revokedUnixMs), "description": description]
    }
}

extension Event {
    /// Returns a JSON-compatible dictionary with protobuf JSON names ("timeUnixMs", ...).
    public func jsonObject() -> [String: Any] {
        ["id": Int(id), "timeUnixMs": Int(timeUnixMs), "model": model, "version": version, "kind": kind,
         "message": message]
    }
}

extension LogLine {
    /// Returns a JSON-compatible dictionary with protobuf JSON names ("timeUnixMs", ...).
    public func jsonObject() -> [String: Any] {
        ["replica": replica, "line": line, "timeUnixMs": Int(timeUnixMs)]
    }
}

extension Tensor {
    /// Returns a JSON-compatible dictionary: "dtype" (name), "shape" and each non-empty value list
    /// under its field name ("raw" as base64; non-finite floats as "NaN"/"Infinity"/"-Infinity").
    public func jsonObject() -> [String: Any] {
        var object: [String: Any] = ["dtype": dtype.name, "shape": shape.map { Int($0) }]
        if !floats.isEmpty { object["floats"] = floats.map { jsonNumber(Double($0)) } }
        if !doubles.isEmpty { object["doubles"] = doubles.map(jsonNumber) }
        if !ints.isEmpty { object["ints"] = ints.map { Int($0) } }
        if !bools.isEmpty { object["bools"] = bools }
        if !strings.isEmpty { object["strings"] = strings }
        if !raw.isEmpty { object["raw"] = Data(raw).base64EncodedString() }
        return object
    }
}

/// A JSON number, or protobuf's JSON string for a non-finite value.
private func jsonNumber(_ value: Double) -> Any {
    if value.isNaN { return "NaN" }
    if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
    return value
}
