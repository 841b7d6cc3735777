// byoc-gateway: routes Predict calls to model endpoints and serves the Admin API.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GRPC
import Router
import Routing
import Server
import Transport

AllocatorTuning.reexecIfNeeded()
setvbuf(stdout, nil, _IOLBF, 0)

/// Writes one line to stderr.
func log(_ message: String) {
    FileHandle.standardError.write(Data("byoc-gateway: \(message)\n".utf8))
}

if RegistryCommand.handles(Array(CommandLine.arguments.dropFirst())) {
    exit(RegistryCommand.run(Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment))
}

let options: GatewayOptions
do {
    options = try GatewayOptions.parse(Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment)
} catch let error as GatewayOptions.UsageError {
    FileHandle.standardError.write(Data((error.message + "\n").utf8))
    exit(error.message == GatewayOptions.usage ? 0 : 2)
}

let signalQueue = SignalQueue()
let signals = SignalWatcher { signalQueue.post($0) }

let gateway = Gateway(options: options)
do {
    try gateway.start()
} catch {
    log("\(error)")
    exit(1)
}
print("listening on \(gateway.address)")
if let tlsAddress = gateway.tlsAddress { print("listening on \(tlsAddress) (tls)") }

while true {
    let signal = signalQueue.next()
    if signal == SIGHUP {
        gateway.reload()
        continue
    }
    log("received \(signal == SIGINT ? "SIGINT" : "SIGTERM"): draining in-flight calls for up to \(options.gracePeriodMs) ms")
    gateway.stop()
    exit(0)
}
