import GRPC
import Routing
import Transport

/// The calls one worker holds for one model version while the version has no ready endpoint
/// (IDLE, or its replicas still starting). A held call is a routed `ProxyCall` with no
/// upstream attempt yet: it waits on the worker's loop (no thread, no polling) until a route
/// table gives the version endpoints, its wake fails or times out, its own deadline passes,
/// or its client goes away.
///
/// The queue exists from the first held call of a wake until it is released or emptied; its
/// creation is when the worker asks the control plane for the wake, so a burst of calls sends
/// one wake per worker.
final class HoldQueue {
    /// The concrete version's model and version.
    let model: String
    let version: String
    /// The calls in arrival order.
    private(set) var calls: [ProxyCall] = []
    /// `monotonicNanos()` when the first call was held: the wake latency counts from here.
    let since: UInt64
    /// The `--wake-timeout-ms` timer (nil once fired or cancelled).
    var timer: UInt64?

    init(model: String, version: String, since: UInt64) {
        self.model = model
        self.version = version
        self.since = since
    }

    var count: Int { calls.count }

    func append(_ call: ProxyCall) {
        calls.append(call)
    }

    /// Removes `call` (it finished while held); true when it was here.
    func remove(_ call: ProxyCall) -> Bool {
        guard let index = calls.lastIndex(where: { $0 === call }) else { return false }
        calls.remove(at: index)
        return true
    }

    /// Every call, the queue left empty.
    func takeAll() -> [ProxyCall] {
        defer { calls = [] }
        return calls
    }
}
