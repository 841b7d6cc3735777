import Messages

/// Configured ceilings for Admin input.
public struct AdminLimits: Sendable, Equatable {
    /// The most replicas (min or max) a version may ask for.
    public var maxReplicas: Int32
    /// What the wire pre-scan allows in an Admin request before protobuf-c decodes it.
    public var decoding: ProtoDecodeLimits
    /// `--gc-unused-after` in seconds (0: garbage collection is off); CollectUnused uses it.
    public var gcUnusedAfterSeconds: Int64
    /// `--gc-unused-after` as given (`90s`, `36h`, `7d`), for reasons and messages.
    public var gcUnusedAfterText: String

    public init(maxReplicas: Int32 = 16, decoding: ProtoDecodeLimits = .adminRequest, gcUnusedAfterSeconds: Int64 = 0,
                gcUnusedAfterText: String = "") {
        self.maxReplicas = maxReplicas
        self.decoding = decoding
        self.gcUnusedAfterSeconds = gcUnusedAfterSeconds
        self.gcUnusedAfterText = gcUnusedAfterText
    }
}

extension ProtoDecodeLimits {
    /// Admin requests are small: a registration has a few command arguments, env entries,
    /// tolerations and secrets, a token a few model names (at most 100, AdminTokens), so
    /// thousands of entries or any sizeable run of unknown fields is an attack, refused before
    /// protobuf-c allocates for it.
    public static let adminRequest = ProtoDecodeLimits(maxEntriesPerField: 4096, maxFields: 65_536,
                                                       maxUnknownFields: 256, maxUnknownBytes: 64 << 10, maxDepth: 8)
}
