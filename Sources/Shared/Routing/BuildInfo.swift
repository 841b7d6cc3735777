/// What this build is: shown by `byocctl --version`, ServerMetadata-style answers and the
/// `byoc_build_info` metric.
public enum BuildInfo {
    /// The platform's version.
    public static let version = "0.1.0"
}
