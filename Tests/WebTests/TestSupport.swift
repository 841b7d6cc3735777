#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TestSupport
import XCTest
import GRPC
import HTTP1
import Transport

/// An HTTP/1.1 server on 127.0.0.1:0 with a test service, on its own loop thread.
final class TestHTTPServer: @unchecked Sendable {
    let thread: LoopThread
    var server: HTTP1ServerWorker!
    var listener: Listener!
    let port: Int

    init(limits: HTTPLimits = HTTPLimits(), authorizer: HTTPAuthorizer? = nil,
         routes: @escaping (HTTPRouter, EventLoop) -> Void = TestHTTPServer.defaultRoutes) throws {
        thread = try LoopThread()
        let loop = thread.loop
        let address = try SocketAddress(host: "127.0.0.1", port: 0)
        var made: (HTTP1ServerWorker, Listener)?
        var failure: Error?
        thread.sync {
            let router = HTTPRouter()
            routes(router, loop)
            let service = HTTPService(router: router, authorizer: authorizer)
            let server = HTTP1ServerWorker(loop: loop, service: service, limits: limits)
            do {
                let listener = try Listener(address: address, sharing: .exclusive, loop: loop) { fd, _ in
                    server.serve(PlainChannel(fd: fd), loop: loop)
                }
                made = (server, listener)
            } catch {
                failure = error
            }
            return ()
        }
        if let failure { throw failure }
        server = made!.0
        listener = made!.1
        port = listener.address.port
    }

    static func defaultRoutes(_ r: HTTPRouter, _ loop: EventLoop) {
        r.add("GET", "/hello") { _, responder in responder.respond(.text(200, "hi")) }
        r.add("POST", "/echo") { request, responder in
            responder.respond(HTTPResponse(status: 200, headers: [("Content-Type", "application/octet-stream")], body: request.body))
        }
        r.add("GET", "/later") { _, responder in
            loop.schedule(afterNanos: 30_000_000) { responder.respond(.text(200, "later")) }
        }
        r.add("GET", "/async") { _, responder in
            responder.respond {
                try? await Task.sleep(nanoseconds: 10_000_000)
                return .text(200, "async")
            }
        }
        r.add("GET", "/items/{id}") { request, responder in responder.respond(.text(200, "item \(request.params["id"]!)")) }
        r.add("GET", "/private", requiresAuth: true) { request, responder in
            responder.respond(.text(200, "hello \(request.principal ?? "?")"))
        }
    }

    var connectionCount: Int { thread.sync { self.server.connectionCount } }
    var counters: HTTP1Counters { thread.sync { self.server.counters } }

    func stop() {
        thread.sync {
            self.listener.close()
            self.server.closeAll()
            return ()
        }
        thread.stop()
    }
}

/// A blocking TCP client for tests.
final class RawClient {
    let fd: Int32

    init(port: Int, timeout: Double = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw SystemError("connect") }
        setTimeout(timeout)
    }

    deinit { Glibc.close(fd) }

    func setTimeout(_ seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends everything; false when the peer is gone.
    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    private var buffer: [UInt8] = []

    /// Reads more bytes; nil on EOF/reset, [] on timeout.
    func readSome() -> [UInt8]? {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 { return Array(chunk[0..<n]) }
        if n == 0 { return nil }
        return errno == EAGAIN || errno == EWOULDBLOCK ? [] : nil
    }

    /// Reads one HTTP response (headers plus Content-Length body); nil when the connection
    /// closed first. `head`: the request was HEAD (no body follows).
    func readResponse(head: Bool = false) -> TestResponse? {
        while true {
            if let end = find(Array("\r\n\r\n".utf8), in: buffer) {
                let headText = String(decoding: buffer[0..<end], as: UTF8.self)
                var lines = headText.components(separatedBy: "\r\n")
                let statusLine = lines.removeFirst()
                let status = Int(statusLine.split(separator: " ")[1]) ?? 0
                var headers: [String: String] = [:]
                for line in lines {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                let length = head ? 0 : Int(headers["content-length"] ?? "0") ?? 0
                while buffer.count < end + 4 + length {
                    guard let more = readSome(), !more.isEmpty else { return nil }
                    buffer += more
                }
                let body = Array(buffer[(end + 4)..<(end + 4 + length)])
                buffer.removeFirst(end + 4 + length)
                if status == 100 { continue }
                return TestResponse(status: status, headers: headers, body: String(decoding: body, as: UTF8.self))
            }
            guard let more = readSome(), !more.isEmpty else { return nil }
            buffer += more
        }
    }

    /// True when the server closed the connection (EOF or reset) within the timeout.
    func closedByPeer() -> Bool {
        while true {
            guard let more = readSome() else { return true }
            if more.isEmpty { return false }
        }
    }

    private func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle {
            return i
        }
        return nil
    }
}

struct TestResponse {
    var status: Int
    var headers: [String: String]
    var body: String
}
