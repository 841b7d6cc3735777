import Messages

/// Configured ceilings for Admin input.
public struct AdminLimits: Sendable, Equatable {
    /// The most replicas (min or max) a version may ask for.
    public var maxReplicas: Int32
    /// What the wire pre-scan allows in an Admin request before protobuf-c decodes it.
    public var decoding: ProtoDecodeLimits

    public init(maxReplicas: Int32 = 16, decoding: ProtoDecodeLimits = .adminRequest) {
        self.maxReplicas = maxReplicas
        self.decoding = decoding
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
