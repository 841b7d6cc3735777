import Foundation
import Local
import Reconciler
import Routing
import XCTest

final class GRPCHealthProberTests: XCTestCase {
    func testNothingListeningIsNotServing() async throws {
        let port = try XCTUnwrap(closedPort())
        let started = ContinuousClock.now
        let serving = await GRPCHealthProber(timeoutMs: 500).isServing(Endpoint(host: "127.0.0.1", port: port))
        XCTAssertFalse(serving)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(3))
    }

    func testPlainTCPListenerIsNotServing() async throws {
        // Accepts TCP but never speaks HTTP/2: a TCP check would pass, the gRPC probe must not.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 4) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        XCTAssertTrue(ok)
        let endpoint = Endpoint(host: "127.0.0.1", port: Int(UInt16(bigEndian: address.sin_port)))
        let tcpReady = await TCPConnectProber().isServing(endpoint)
        XCTAssertTrue(tcpReady)
        let started = ContinuousClock.now
        let serving = await GRPCHealthProber(timeoutMs: 500).isServing(endpoint)
        XCTAssertFalse(serving)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(3))
    }

    /// A port nobody listens on: bound, read and released.
    private func closedPort() -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        return ok ? Int(UInt16(bigEndian: address.sin_port)) : nil
    }
}
