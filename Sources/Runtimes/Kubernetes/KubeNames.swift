import Registry

/// Names and labels of the objects of one model version.
///
/// The name is `MODEL-VERSION`, a valid DNS-1035 label (what Services need) when it starts with
/// a letter and has at most 63 characters; it is unambiguous when the version has no `-` or
/// `.` (the last `-` splits it). Otherwise (so `a-1`/`2` and `a`/`1-2`, or `1.2` and `1-2`, cannot
/// collide) the name gets an 8-hex-digit hash of `MODEL/VERSION` as a suffix, is cut to fit 63
/// characters, and starts with `m` when the model starts with a digit. The labels, not the
/// name, identify a version: garbage collection and removal select by label.
public struct KubeNames: Sendable, Equatable {
    public static let managedByLabel = "app.kubernetes.io/managed-by"
    public static let managedByValue = "byoc"
    public static let modelLabel = "byoc.dev/model"
    public static let versionLabel = "byoc.dev/version"
    /// Our objects: `app.kubernetes.io/managed-by=byoc`.
    public static let managedSelector = "\(managedByLabel)=\(managedByValue)"
    public static let maxLength = 63

    public let key: VersionKey
    /// The Deployment, Service, HPA and PDB name.
    public let name: String

    public init(_ key: VersionKey) {
        self.key = key
        self.name = Self.objectName(key)
    }

    /// Labels on every object (and on the pods).
    public var labels: [String: String] {
        [Self.managedByLabel: Self.managedByValue, Self.modelLabel: key.model, Self.versionLabel: key.version]
    }

    /// The Deployment's selector: model and version (both immutable parts of the identity).
    public var selector: [String: String] {
        [Self.modelLabel: key.model, Self.versionLabel: key.version]
    }

    /// The label selector string selecting exactly this version's objects.
    public var labelSelector: String {
        "\(Self.managedSelector),\(Self.modelLabel)=\(key.model),\(Self.versionLabel)=\(key.version)"
    }

    /// The version an object belongs to, from its labels (nil when it is not ours).
    public static func key(ofLabels labels: [String: String]) -> VersionKey? {
        guard labels[managedByLabel] == managedByValue, let model = labels[modelLabel], let version = labels[versionLabel],
              !model.isEmpty, !version.isEmpty else { return nil }
        return VersionKey(model: model, version: version)
    }

    static func objectName(_ key: VersionKey) -> String {
        let plain = "\(key.model)-\(key.version.replacingOccurrences(of: ".", with: "-"))"
        let startsWithLetter = plain.first.map { ("a"..."z").contains($0) } ?? false
        let ambiguous = key.version.utf8.contains(UInt8(ascii: ".")) || key.version.utf8.contains(UInt8(ascii: "-"))
        if plain.count <= maxLength, startsWithLetter, !ambiguous { return plain }
        let hash = String(fnv1a("\(key.model)/\(key.version)") & 0xffff_ffff, radix: 16)
        let suffix = "-" + String(repeating: "0", count: 8 - hash.count) + hash
        var base = (startsWithLetter ? "" : "m") + plain
        base = String(base.prefix(maxLength - suffix.count))
        while base.hasSuffix("-") { base.removeLast() }
        return base + suffix
    }

    /// 64-bit FNV-1a: a stable hash across processes and platforms.
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// True when `name` is a DNS-1035 label of at most 63 characters.
    public static func isDNSLabel(_ name: String) -> Bool {
        guard let first = name.first, let last = name.last, name.count <= maxLength,
              ("a"..."z").contains(first), ("a"..."z").contains(last) || ("0"..."9").contains(last) else { return false }
        return name.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }
}
