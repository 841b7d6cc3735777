import GRPC
import Messages
import Registry
import Routing

/// Admin input rules; every failure is INVALID_ARGUMENT naming the field and the reason.
enum AdminValidation {
    /// Model names: lowercase DNS labels, at most 40 characters.
    static let maxModelLength = 40
    /// Versions: lowercase alphanumerics with inner `-` and `.`, at most 20 characters.
    static let maxVersionLength = 20
    /// Names the runtime sets itself; the version's env may not override them.
    static let reservedEnvNames: Set<String> = ["PORT", "BYOC_MODEL", "BYOC_VERSION", "BYOC_REPLICA"]
    /// GPUs per replica: more than any node has.
    static let maxGPUs: Int32 = 64
    static let tolerationOperators: Set<String> = ["", "Equal", "Exists"]
    static let tolerationEffects: Set<String> = ["", "NoSchedule", "PreferNoSchedule", "NoExecute"]

    static func invalid(_ message: String) -> GRPCStatus { GRPCStatus(.invalidArgument, message) }

    /// Checks a model name (`field` names it in the message).
    static func model(_ name: String, field: String = "model") throws {
        guard !name.isEmpty else { throw invalid("\(field) is required") }
        guard name.utf8.count <= maxModelLength else {
            throw invalid("\(field) \"\(name)\" is too long: \(name.utf8.count) bytes, at most \(maxModelLength)")
        }
        guard isLabel(name, innerExtra: [UInt8(ascii: "-")]) else {
            throw invalid("\(field) \"\(name)\" must be lowercase letters, digits and '-', starting and ending with a letter or digit")
        }
    }

    /// Checks a version name.
    static func version(_ name: String, field: String = "version") throws {
        guard !name.isEmpty else { throw invalid("\(field) is required") }
        guard name.utf8.count <= maxVersionLength else {
            throw invalid("\(field) \"\(name)\" is too long: \(name.utf8.count) bytes, at most \(maxVersionLength)")
        }
        guard isLabel(name, innerExtra: [UInt8(ascii: "-"), UInt8(ascii: ".")]) else {
            throw invalid("\(field) \"\(name)\" must be lowercase letters, digits, '-' and '.', starting and ending with a letter or digit")
        }
    }

    /// Checks a model name and a version name; the version's key.
    static func key(model: String, version: String) throws -> VersionKey {
        try self.model(model)
        try self.version(version)
        return VersionKey(model: model, version: version)
    }

    /// Checks and normalises replica bounds: min 0 means 1 (0 stays 0 with `scalesToZero`: the
    /// version runs no replica while IDLE), max 0 means min (at least 1).
    static func replicas(min: Int32, max: Int32, limit: Int32, scalesToZero: Bool = false) throws -> (min: Int32, max: Int32) {
        guard min >= 0 else { throw invalid("min_replicas must not be negative, got \(min)") }
        guard max >= 0 else { throw invalid("max_replicas must not be negative, got \(max)") }
        let effectiveMin = min == 0 && !scalesToZero ? 1 : min
        let effectiveMax = max == 0 ? Swift.max(1, effectiveMin) : max
        guard effectiveMin <= effectiveMax else {
            throw invalid("min_replicas (\(effectiveMin)) must not be greater than max_replicas (\(effectiveMax))")
        }
        guard effectiveMin <= limit else { throw invalid("min_replicas \(effectiveMin) is above the limit of \(limit)") }
        guard effectiveMax <= limit else { throw invalid("max_replicas \(effectiveMax) is above the limit of \(limit)") }
        return (effectiveMin, effectiveMax)
    }

    /// The largest `target_concurrency`: more calls per replica than any model serves at once.
    static let maxTargetConcurrency: Int32 = 10_000
    /// The longest scale-down delay and idle period: one day.
    static let maxDelaySeconds: Int32 = 86_400

    /// Checks autoscaling settings (`field` prefixes the names in messages) and turns them into
    /// the stored spec. `scale_to_zero_after_seconds` takes effect with `min_replicas` 0.
    static func autoscaling(_ given: Autoscaling, field: String = "autoscaling") throws -> AutoscalingSpec {
        guard (0...maxTargetConcurrency).contains(given.targetConcurrency) else {
            throw invalid("\(field).target_concurrency must be between 0 and \(maxTargetConcurrency) (0 = off), got \(given.targetConcurrency)")
        }
        guard (0...maxDelaySeconds).contains(given.scaleToZeroAfterSeconds) else {
            throw invalid("\(field).scale_to_zero_after_seconds must be between 0 and \(maxDelaySeconds) (0 = never), got \(given.scaleToZeroAfterSeconds)")
        }
        guard (0...maxDelaySeconds).contains(given.scaleDownDelaySeconds) else {
            throw invalid("\(field).scale_down_delay_seconds must be between 0 and \(maxDelaySeconds) (0 = 30), got \(given.scaleDownDelaySeconds)")
        }
        return AutoscalingSpec(targetConcurrency: given.targetConcurrency, scaleToZeroAfterSeconds: given.scaleToZeroAfterSeconds,
                               scaleDownDelaySeconds: given.scaleDownDelaySeconds)
    }

    /// The longest reporter identity (a Kubernetes object name).
    static let maxReporterLength = 253
    /// The most calls a report may say are in flight on one replica.
    static let maxReportedInFlight: Int32 = 1_000_000

    /// Checks a follower's `ActivityReport` and turns it into the lifecycle loop's input.
    static func activityReport(_ given: ActivityReport, field: String = "report") throws -> FollowerActivity {
        guard !given.reporter.isEmpty else { throw invalid("\(field).reporter is required") }
        guard given.reporter.utf8.count <= maxReporterLength else {
            throw invalid("\(field).reporter is too long: \(given.reporter.utf8.count) bytes, at most \(maxReporterLength)")
        }
        guard (0...maxReportedInFlight).contains(given.inFlight) else {
            throw invalid("\(field).in_flight must be between 0 and \(maxReportedInFlight), got \(given.inFlight)")
        }
        guard given.lastCalledMsAgo >= -1 else {
            throw invalid("\(field).last_called_ms_ago must be -1 (no call since the previous report) or more, got \(given.lastCalledMsAgo)")
        }
        return FollowerActivity(reporter: given.reporter, inFlight: Int(given.inFlight),
                                lastCalledAgoMs: given.lastCalledMsAgo < 0 ? nil : given.lastCalledMsAgo)
    }

    /// Checks a SetTraffic request: every target a version name with a percent in 1...100,
    /// no version twice, percents summing to 100 (or no targets); the shadow (absent or version
    /// "" = none) a version name with a percent in 1...100.
    static func traffic(_ request: SetTrafficRequest) throws -> (targets: [TrafficTargetRecord], shadow: TrafficTargetRecord?) {
        var seen = Set<String>()
        var sum: Int64 = 0
        for (index, target) in request.targets.enumerated() {
            try version(target.version, field: "targets[\(index)].version")
            guard (1...100).contains(target.percent) else {
                throw invalid("targets[\(index)].percent must be between 1 and 100, got \(target.percent)")
            }
            guard seen.insert(target.version).inserted else {
                throw invalid("targets[\(index)].version \(target.version) is named twice; give each version one share")
            }
            sum += Int64(target.percent)
        }
        guard request.targets.isEmpty || sum == 100 else {
            throw invalid("targets' percents must sum to 100, got \(sum)")
        }
        var shadow: TrafficTargetRecord?
        if let given = request.shadow, !given.version.isEmpty {
            try version(given.version, field: "shadow.version")
            guard (1...100).contains(given.percent) else {
                throw invalid("shadow.percent must be between 1 and 100, got \(given.percent)")
            }
            shadow = TrafficTargetRecord(version: given.version, percent: given.percent)
        } else if let given = request.shadow, given.percent != 0 {
            throw invalid("shadow.version is required with shadow.percent \(given.percent)")
        }
        return (request.targets.map { TrafficTargetRecord(version: $0.version, percent: $0.percent) }, shadow)
    }

    /// Checks a registration and turns it into the spec the registry stores.
    static func registration(_ request: RegisterModelRequest, limits: AdminLimits) throws -> VersionSpec {
        try model(request.model)
        try version(request.version)
        guard (0...65535).contains(request.port) else {
            throw invalid("port must be between 0 and 65535 (0 = the default), got \(request.port)")
        }
        let settings = try request.autoscaling.map { try autoscaling($0) } ?? AutoscalingSpec()
        let bounds = try replicas(min: request.minReplicas, max: request.maxReplicas, limit: limits.maxReplicas,
                                  scalesToZero: settings.scaleToZeroAfterSeconds > 0)
        let image = request.image.trimmingWhitespace
        guard !image.isEmpty || !request.command.isEmpty else {
            throw invalid("image or command is required: give the container image, or the command that serves the model on $PORT")
        }
        if let program = request.command.first, program.trimmingWhitespace.isEmpty {
            throw invalid("command[0] must name the program to run, got an empty string")
        }
        if request.command.contains(where: { $0.contains("\0") }) {
            throw invalid("command must not contain NUL characters")
        }
        for (name, value) in request.env {
            guard isEnvName(name) else {
                throw invalid("env name \"\(name)\" is not a valid environment variable name (letters, digits and '_', not starting with a digit)")
            }
            guard !reservedEnvNames.contains(name) else { throw invalid("env name \(name) is set by the platform and cannot be overridden") }
            guard !value.contains("\0") else { throw invalid("env \(name) must not contain NUL characters") }
        }
        if let resources = request.resources {
            for (field, value) in [("cpu_request", resources.cpuRequest), ("cpu_limit", resources.cpuLimit),
                                   ("memory_request", resources.memoryRequest), ("memory_limit", resources.memoryLimit)]
                where !value.isEmpty && !isQuantity(value) {
                throw invalid("resources.\(field) \"\(value)\" is not a Kubernetes quantity (e.g. 500m, 2, 256Mi, 1Gi)")
            }
            try gpus(resources)
        }
        try podOptions(request)
        guard (0...100).contains(request.targetCpuUtilization) else {
            throw invalid("target_cpu_utilization must be a percentage between 0 and 100 (0 = the default), got \(request.targetCpuUtilization)")
        }
        return VersionSpec(
            key: VersionKey(model: request.model, version: request.version), image: image, command: request.command,
            port: request.port, env: request.env, minReplicas: bounds.min, maxReplicas: bounds.max,
            resources: request.resources.map(AdminConversions.resourceSpec), targetCpuUtilization: request.targetCpuUtilization,
            pod: AdminConversions.podOptions(request),
            autoscaling: settings)
    }

    /// Checks the GPU count and the extended resource it counts.
    static func gpus(_ resources: Resources) throws {
        guard (0...maxGPUs).contains(resources.gpus) else {
            throw invalid("resources.gpus must be between 0 and \(maxGPUs), got \(resources.gpus)")
        }
        let name = resources.gpuResource
        guard !name.isEmpty else { return }
        guard let slash = name.firstIndex(of: "/"), isDNSSubdomain(String(name[..<slash])),
              isQualifiedNamePart(String(name[name.index(after: slash)...])) else {
            throw invalid("resources.gpu_resource \"\(name)\" is not an extended resource name (DOMAIN/NAME, e.g. nvidia.com/gpu)")
        }
        let domain = name[..<slash]
        guard domain != "kubernetes.io", !domain.hasSuffix(".kubernetes.io"), !name.hasPrefix("requests.") else {
            throw invalid("resources.gpu_resource \"\(name)\" must not be in the kubernetes.io domain (those are not extended resources)")
        }
    }

    /// Checks the Kubernetes pod options: node selector labels, tolerations, pull-secret names.
    static func podOptions(_ request: RegisterModelRequest) throws {
        for (key, value) in request.nodeSelector.sorted(by: { $0.key < $1.key }) {
            guard isLabelKey(key) else {
                throw invalid("node_selector key \"\(key)\" is not a label key ([PREFIX/]NAME: NAME at most 63 letters, digits, '-', '_', '.', PREFIX a DNS subdomain)")
            }
            guard isLabelValue(value) else {
                throw invalid("node_selector value \"\(value)\" of \(key) is not a label value (at most 63 letters, digits, '-', '_', '.', starting and ending with a letter or digit)")
            }
        }
        for (index, toleration) in request.tolerations.enumerated() {
            let field = "tolerations[\(index)]"
            guard tolerationOperators.contains(toleration.operator) else {
                throw invalid("\(field).operator must be Equal or Exists, got \"\(toleration.operator)\"")
            }
            guard tolerationEffects.contains(toleration.effect) else {
                throw invalid("\(field).effect must be NoSchedule, PreferNoSchedule, NoExecute or empty (every effect), got \"\(toleration.effect)\"")
            }
            if toleration.key.isEmpty {
                guard toleration.operator == "Exists" else {
                    throw invalid("\(field).operator must be Exists when the key is empty (tolerate every taint)")
                }
            } else if !isLabelKey(toleration.key) {
                throw invalid("\(field).key \"\(toleration.key)\" is not a label key")
            }
            if toleration.operator == "Exists" {
                guard toleration.value.isEmpty else {
                    throw invalid("\(field).value must be empty with operator Exists, got \"\(toleration.value)\"")
                }
            } else if !isLabelValue(toleration.value) {
                throw invalid("\(field).value \"\(toleration.value)\" is not a label value")
            }
        }
        for (index, name) in request.imagePullSecrets.enumerated() where !isDNSSubdomain(name) {
            throw invalid("image_pull_secrets[\(index)] \"\(name)\" is not a Secret name (a lowercase DNS subdomain, at most 253 characters)")
        }
    }

    /// `[PREFIX/]NAME`: PREFIX a DNS subdomain, NAME a qualified-name part.
    static func isLabelKey(_ key: String) -> Bool {
        guard let slash = key.firstIndex(of: "/") else { return isQualifiedNamePart(key) }
        return isDNSSubdomain(String(key[..<slash])) && isQualifiedNamePart(String(key[key.index(after: slash)...]))
    }

    /// Empty, or a qualified-name part.
    static func isLabelValue(_ value: String) -> Bool { value.isEmpty || isQualifiedNamePart(value) }

    /// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, at most 63 bytes.
    static func isQualifiedNamePart(_ text: String) -> Bool {
        func isAlphanumeric(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        let bytes = text.utf8
        guard bytes.count <= 63, let first = bytes.first, let last = bytes.last, isAlphanumeric(first), isAlphanumeric(last) else {
            return false
        }
        return bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }

    /// Lowercase DNS labels joined by '.', at most 253 bytes (RFC 1123 subdomain).
    static func isDNSSubdomain(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 253 else { return false }
        return text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy {
            $0.utf8.count <= 63 && isLabel(String($0), innerExtra: [UInt8(ascii: "-")])
        }
    }

    /// `[a-z0-9]([-a-z0-9<extra>]*[a-z0-9])?`, checked byte by byte: comparing `Character`s
    /// would let a letter followed by a combining mark through.
    private static func isLabel(_ text: String, innerExtra: [UInt8]) -> Bool {
        func isAlphanumeric(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        let bytes = text.utf8
        guard let first = bytes.first, let last = bytes.last, isAlphanumeric(first), isAlphanumeric(last) else { return false }
        return bytes.allSatisfy { isAlphanumeric($0) || innerExtra.contains($0) }
    }

    /// A Kubernetes resource quantity: a decimal number (optionally signed, with a fraction)
    /// and a suffix: binary (Ki Mi Gi Ti Pi Ei), decimal (n u m k M G T P E) or an exponent (e3).
    static func isQuantity(_ text: String) -> Bool {
        let scalars = Array(text.unicodeScalars)
        var index = 0
        if index < scalars.count, scalars[index] == "+" || scalars[index] == "-" { index += 1 }
        var digits = 0
        var sawDot = false
        while index < scalars.count {
            let c = scalars[index]
            if ("0"..."9").contains(c) {
                digits += 1
            } else if c == ".", !sawDot {
                sawDot = true
            } else {
                break
            }
            index += 1
        }
        guard digits > 0 else { return false }
        let suffix = String(String.UnicodeScalarView(scalars[index...]))
        if ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E"].contains(suffix) { return true }
        guard let first = suffix.first, first == "e" || first == "E" else { return false }
        var exponent = Substring(suffix.dropFirst())
        if exponent.first == "+" || exponent.first == "-" { exponent = exponent.dropFirst() }
        return !exponent.isEmpty && exponent.allSatisfy { ("0"..."9").contains($0) }
    }

    /// `[A-Za-z_][A-Za-z0-9_]*`
    private static func isEnvName(_ name: String) -> Bool {
        guard let first = name.first, first == "_" || first.isASCII && first.isLetter else { return false }
        return name.allSatisfy { $0 == "_" || $0.isASCII && ($0.isLetter || $0.isNumber) }
    }
}

extension String {
    fileprivate var trimmingWhitespace: String {
        var text = Substring(self)
        while text.first?.isWhitespace == true { text.removeFirst() }
        while text.last?.isWhitespace == true { text.removeLast() }
        return String(text)
    }
}
