import ArgumentParser
import Messages

/// `--target-concurrency`, `--scale-down-delay` and `--scale-to-zero-after` of register and scale.
struct AutoscalingOptions: ParsableArguments {
    @Option(name: .customLong("target-concurrency"),
            help: ArgumentHelp("In-flight calls per replica the gateway scales between --min and --max to (0 = off).", valueName: "calls"))
    var targetConcurrency: Int32?
    @Option(name: .customLong("scale-down-delay"),
            help: ArgumentHelp("How long demand must stay lower before replicas are removed (e.g. 30s, 5m; default 30s).", valueName: "duration"))
    var scaleDownDelay: String?
    @Option(name: .customLong("scale-to-zero-after"),
            help: ArgumentHelp("With --min 0: stop every replica after this long without a call (IDLE; the next call is held and wakes it; e.g. 5m; 0 = never).", valueName: "duration"))
    var scaleToZeroAfter: String?

    func validate() throws {
        for (flag, value) in [("--scale-down-delay", scaleDownDelay), ("--scale-to-zero-after", scaleToZeroAfter)] {
            if let value, Self.seconds(value) == nil {
                throw ValidationError("\(flag) takes a duration like 90s, 5m or 2h (or 0), got \"\(value)\"")
            }
        }
    }

    /// The settings (nil when no flag was given: unchanged on scale, off on register).
    func message() throws -> Autoscaling? {
        guard targetConcurrency != nil || scaleDownDelay != nil || scaleToZeroAfter != nil else { return nil }
        return Autoscaling(targetConcurrency: targetConcurrency ?? 0,
                           scaleToZeroAfterSeconds: scaleToZeroAfter.flatMap(Self.seconds) ?? 0,
                           scaleDownDelaySeconds: scaleDownDelay.flatMap(Self.seconds) ?? 0)
    }

    /// Seconds in `0`, `45`, or a duration (`90s`, `5m`, `1h30m`); nil otherwise (or beyond Int32).
    static func seconds(_ text: String) -> Int32? {
        if let plain = Int32(text), plain >= 0 { return plain }
        guard let seconds = TokenTime.duration(text), seconds >= 0, seconds <= Double(Int32.max) else { return nil }
        return Int32(seconds.rounded())
    }
}
