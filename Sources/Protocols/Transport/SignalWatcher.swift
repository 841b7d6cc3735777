#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Delivers SIGTERM, SIGINT and SIGHUP to a handler on a dedicated thread (sigwait), so no
/// code runs in signal context. Create it before starting other threads: the mask it sets is
/// inherited by every thread created afterwards. SIGPIPE is ignored process-wide.
public final class SignalWatcher: @unchecked Sendable {
    private let handler: @Sendable (Int32) -> Void
    private var set = sigset_t()

    public init(signals: [Int32] = [SIGTERM, SIGINT, SIGHUP], handler: @escaping @Sendable (Int32) -> Void) {
        self.handler = handler
        signal(SIGPIPE, SIG_IGN)
        sigemptyset(&set)
        for number in signals { sigaddset(&set, number) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let thread = Thread { [self] in self.waitLoop() }
        thread.name = "signals"
        thread.start()
    }

    private func waitLoop() {
        var copy = set
        while true {
            var number: Int32 = 0
            if sigwait(&copy, &number) == 0 { handler(number) }
        }
    }
}
