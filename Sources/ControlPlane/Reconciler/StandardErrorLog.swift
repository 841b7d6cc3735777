import Foundation

/// The default log of the control plane's loops: each line to standard error after `prefix`
/// (`lifecycle: scaled 1 -> 4 ...`).
public func standardErrorLog(_ prefix: String) -> @Sendable (String) -> Void {
    { line in FileHandle.standardError.write(Data("\(prefix): \(line)\n".utf8)) }
}
