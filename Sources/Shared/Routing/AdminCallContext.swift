/// The caller's credentials of the Admin call being served, for the code that forwards it:
/// a follower replica forwards Admin calls to the leader with the caller's own
/// `authorization` metadata, so the leader checks the same token (nothing is trusted on the
/// strength of coming from a replica).
public enum AdminCallContext {
    /// The `authorization` metadata value of the Admin call this task serves (nil: none).
    @TaskLocal public static var authorization: String?
}
