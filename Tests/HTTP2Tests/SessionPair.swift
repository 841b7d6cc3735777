import HTTP2
import XCTest

/// One side of an in-memory HTTP/2 connection: a session and what it told its driver.
final class SessionPeer: HTTP2SessionDriver {
    let session: HTTP2Session
    private let scratch: UnsafeMutableRawBufferPointer
    /// Streams the peer opened (server side), each with a recorder as delegate.
    private(set) var opened: [(stream: HTTP2Stream, recorder: StreamRecorder)] = []
    private(set) var goaway: (lastStreamID: Int32, errorCode: HTTP2ErrorCode)?
    private(set) var sawPeerSettings = false
    /// Whether a recorder made for an opened stream consumes what it receives at once.
    var autoConsume = true

    init(role: HTTP2Session.Role, settings: HTTP2Settings) throws {
        scratch = .allocate(byteCount: 32 * 1024, alignment: 16)
        session = try HTTP2Session(role: role, settings: settings, headerScratch: scratch)
        super.init()
        session.driver = self
    }

    deinit {
        scratch.deallocate()
    }

    override func session(_ session: HTTP2Session, didOpen stream: HTTP2Stream) {
        let recorder = StreamRecorder(autoConsume: autoConsume)
        stream.delegate = recorder
        opened.append((stream, recorder))
    }

    override func sessionDidReceivePeerSettings(_ session: HTTP2Session) { sawPeerSettings = true }

    override func session(_ session: HTTP2Session, didReceiveGoaway lastStreamID: Int32, errorCode: HTTP2ErrorCode) {
        goaway = (lastStreamID, errorCode)
    }

}

/// Everything a stream told its delegate.
final class StreamRecorder: HTTP2StreamDelegate {
    var headers: [(kind: HeaderKind, fields: [HeaderField])] = []
    var data: [UInt8] = []
    var ended = false
    var closed: StreamCloseReason?
    var drained = 0
    let autoConsume: Bool

    init(autoConsume: Bool = true) {
        self.autoConsume = autoConsume
    }

    func streamHeaders(_ stream: HTTP2Stream, _ headers: HeaderBlock, kind: HeaderKind) {
        self.headers.append((kind, headers.fields))
    }

    func streamData(_ stream: HTTP2Stream, _ data: UnsafeRawBufferPointer) {
        self.data += data
        if autoConsume { stream.consume(data.count) }
    }

    func streamEnded(_ stream: HTTP2Stream) { ended = true }

    func streamDrained(_ stream: HTTP2Stream, bytes: Int) { drained += bytes }

    func streamClosed(_ stream: HTTP2Stream, reason: StreamCloseReason) { closed = reason }
}

/// A client and a server session wired together in memory: `pump` carries the bytes each
/// produces to the other until neither has anything left to send.
final class SessionPair {
    let client: SessionPeer
    let server: SessionPeer

    init(client clientSettings: HTTP2Settings = HTTP2Settings(), server serverSettings: HTTP2Settings = HTTP2Settings()) throws {
        client = try SessionPeer(role: .client, settings: clientSettings)
        server = try SessionPeer(role: .server, settings: serverSettings)
    }

    /// Exchanges frames until both sides are quiet.
    func pump(file: StaticString = #filePath, line: UInt = #line) {
        var rounds = 0
        while true {
            let sent = transfer(from: client, to: server)
            let answered = transfer(from: server, to: client)
            if !sent && !answered { return }
            rounds += 1
            if rounds > 100 { return XCTFail("the sessions never went quiet", file: file, line: line) }
        }
    }

    /// Moves what `from` produces into `to`; true when any byte moved.
    private func transfer(from: SessionPeer, to: SessionPeer) -> Bool {
        var bytes: [UInt8] = []
        do {
            while let chunk = try from.session.nextOutput() { bytes += chunk }
        } catch {
            XCTFail("\(error)")
        }
        from.session.notifyDrained()
        guard !bytes.isEmpty else { return false }
        do { try bytes.withUnsafeBytes { try to.session.receive($0) } } catch {
            XCTFail("\(error)")
        }
        return true
    }

    static let request = [HeaderField(":method", "POST"), HeaderField(":scheme", "http"),
                          HeaderField(":authority", "test"), HeaderField(":path", "/test.Echo/Echo"),
                          HeaderField("content-type", "application/grpc")]

    /// Opens a client stream with the test request headers.
    func openStream(_ recorder: StreamRecorder) -> HTTP2Stream? {
        client.session.openStream(delegate: recorder) { $0.append(contentsOf: Self.request) }
    }
}
