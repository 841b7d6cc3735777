/// How many frames that move no stream forward a client connection may send: a token bucket of
/// `perSecond` tokens (the burst too), refilled continuously. PING, SETTINGS, PRIORITY,
/// WINDOW_UPDATE and zero-length DATA without END_STREAM each take a token; each frame of real
/// progress (HEADERS or DATA with bytes received, DATA sent) gives `creditPerProgress` back (up
/// to the burst), so a busy client's WINDOW_UPDATEs and pings (grpcio sends one or two per
/// call) never run out. Floods of such frames cost the gateway a frame's work each and move
/// nothing (an empty-DATA flood: 1.8 M frames a second on one connection), as with Envoy's
/// limits on frames with an empty payload and on WINDOW_UPDATEs per DATA frame sent (10).
public struct ControlFrameBudget: Sendable {
    /// Tokens per second, and the most the bucket holds.
    public let perSecond: Int
    /// Tokens a frame of progress gives back.
    public static let creditPerProgress = 10
    private var tokens: Int
    /// When the bucket was last refilled (monotonic nanoseconds; 0: not yet).
    private var refilledAt: UInt64 = 0

    public init(perSecond: Int) {
        self.perSecond = max(1, perSecond)
        tokens = self.perSecond
    }

    /// Takes a token for a frame that arrived at `now`; false when none is left (the
    /// connection is over its budget).
    public mutating func take(now: UInt64) -> Bool {
        if refilledAt == 0 { refilledAt = now }
        if now > refilledAt {
            // Whole tokens only; the remainder of the elapsed time carries over.
            let elapsed = min(now - refilledAt, 1_000_000_000)
            let refill = Int(elapsed) * perSecond / 1_000_000_000
            if refill > 0 {
                tokens = min(perSecond, tokens + refill)
                refilledAt = now
            }
        }
        guard tokens > 0 else { return false }
        tokens -= 1
        return true
    }

    /// A frame of progress went either way: a few more control frames are the client's due.
    public mutating func credit() {
        tokens = min(perSecond, tokens + Self.creditPerProgress)
    }
}

/// Client side: an estimate of how many more streams a server lets this connection reset.
/// Servers limit resets (nghttp2's rapid-reset defence, CVE-2023-44487: a burst of 1,000,
/// refilled by 33 each whole second; others alike) and end a connection over it with GOAWAY,
/// refusing the streams in flight. A client that cancels many calls for its callers (a proxy
/// whose callers hit their deadlines) keeps a smaller bucket of its own and moves to a new
/// connection once it is spent (issue 18: a deadline storm through the gateway tripped the
/// model's limit and a refused call was answered UNAVAILABLE).
public struct PeerResetBudget: Sendable {
    /// Resets allowed at once, and per whole second after.
    public let burst: Int
    public let perSecond: Int
    private var tokens: Int
    /// When the bucket was last refilled (monotonic nanoseconds; 0: not yet).
    private var refilledAt: UInt64 = 0

    public init(burst: Int, perSecond: Int) {
        self.burst = max(1, burst)
        self.perSecond = max(0, perSecond)
        tokens = self.burst
    }

    /// Tokens left after the last `take`.
    public var remaining: Int { tokens }

    /// Takes a token for a reset sent at `now`; false when none is left.
    public mutating func take(now: UInt64) -> Bool {
        if refilledAt == 0 { refilledAt = now }
        if now > refilledAt {
            let seconds = (now - refilledAt) / 1_000_000_000
            if seconds > 0 {
                tokens = Int(min(UInt64(burst), UInt64(tokens) + min(seconds, UInt64(burst)) * UInt64(perSecond)))
                refilledAt += seconds * 1_000_000_000
            }
        }
        guard tokens > 0 else { return false }
        tokens -= 1
        return true
    }
}
