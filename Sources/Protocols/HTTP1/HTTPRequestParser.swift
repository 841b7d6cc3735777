import CHTTPParser

/// Why a request was refused while it was being read; the connection answers `status` and closes.
public struct HTTPParseFailure: Error, Equatable, Sendable {
    public var status: Int
    public var message: String

    public init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }
}

/// What feeding bytes to the parser produced.
public enum HTTPParseEvent {
    /// The bytes were consumed; the request is not complete yet.
    case needMore
    /// A complete request. The parser stops after it (bytes of a pipelined next request are
    /// left unconsumed): feed them again once the response is sent.
    case request(HTTPRequest)
    /// The request is refused (limit, smuggling attempt, malformed).
    case failure(HTTPParseFailure)
}

/// An incremental HTTP/1.x request parser on libhttp-parser (`http_parser_execute` with
/// callbacks), enforcing `HTTPLimits` as the bytes arrive. A state machine without I/O:
/// feed it bytes, get events.
public final class HTTPRequestParser {
    public let limits: HTTPLimits
    private let parser: UnsafeMutablePointer<http_parser>

    private var url: [UInt8] = []
    /// This request's body limit (`HTTPLimits.maxBodyBytes(forTarget:)`), known once the
    /// request line is.
    private var bodyLimit = 0
    private var headers: [(name: String, value: String)] = []
    private var field: [UInt8] = []
    private var value: [UInt8] = []
    private var inValue = false
    private var headerBytes = 0
    private var body: [UInt8] = []
    private var contentLength: String?
    private var transferEncoding: String?
    private var complete: HTTPRequest?
    private var failure: HTTPParseFailure?

    /// Bytes of the current request have arrived (its line or headers are being read).
    public private(set) var messageStarted = false
    /// The current request's headers are complete (its body is being read).
    public private(set) var headersComplete = false
    /// The client sent `Expect: 100-continue` and waits for a 100 before the body.
    public var wantsContinue = false
    /// The last request allows keep-alive (HTTP/1.1 without `Connection: close`, or
    /// HTTP/1.0 with `Connection: keep-alive`).
    public private(set) var keepAlive = true
    /// The last request asked for a protocol upgrade (not supported: close after the response).
    public private(set) var upgrade = false

    public init(limits: HTTPLimits) {
        self.limits = limits
        parser = .allocate(capacity: 1)
        http_parser_init(parser, HTTP_REQUEST)
    }

    deinit {
        parser.deallocate()
    }

    /// Parses `bytes`; returns how many were consumed and what happened. After `.request`,
    /// the unconsumed rest belongs to the next request; after `.failure` the parser is dead.
    public func feed(_ bytes: UnsafeRawBufferPointer) -> (consumed: Int, event: HTTPParseEvent) {
        if let failure { return (0, .failure(failure)) }
        if byoc_http_errno(parser) == HPE_PAUSED { http_parser_pause(parser, 0) }
        guard let base = bytes.baseAddress, bytes.count > 0 else { return (0, .needMore) }
        parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        let consumed = http_parser_execute(parser, &parserSettings, base.assumingMemoryBound(to: CChar.self), bytes.count)
        parser.pointee.data = nil
        if let failure { return (consumed, .failure(failure)) }
        if let request = complete {
            complete = nil
            return (consumed, .request(request))
        }
        let errno = byoc_http_errno(parser)
        if errno != HPE_OK && errno != HPE_PAUSED {
            let failure = Self.failure(for: errno)
            self.failure = failure
            return (consumed, .failure(failure))
        }
        return (consumed, .needMore)
    }

    /// The answers to the parser errors a client provokes on purpose (too large, smuggling,
    /// unsupported framing); `failure(for:)` names any other as a malformed request.
    private static let knownFailures: [(http_errno, HTTPParseFailure)] = [
        (HPE_HEADER_OVERFLOW, HTTPParseFailure(431, "request header fields too large")),
        (HPE_UNEXPECTED_CONTENT_LENGTH,
         HTTPParseFailure(400, "a request may not carry both Content-Length and Transfer-Encoding, nor conflicting Content-Length headers")),
        (HPE_INVALID_TRANSFER_ENCODING, HTTPParseFailure(400, "unsupported Transfer-Encoding (only chunked is accepted)")),
        (HPE_INVALID_CONTENT_LENGTH, HTTPParseFailure(400, "invalid Content-Length")),
        (HPE_INVALID_VERSION, HTTPParseFailure(505, "unsupported HTTP version")),
        (HPE_INVALID_METHOD, HTTPParseFailure(400, "invalid or unsupported method")),
    ]

    static func failure(for errno: http_errno) -> HTTPParseFailure {
        if let known = knownFailures.first(where: { $0.0 == errno }) { return known.1 }
        let name = String(cString: http_errno_name(errno))
        let description = String(cString: http_errno_description(errno))
        return HTTPParseFailure(400, "malformed request: \(description) (\(name))")
    }

    // MARK: Callbacks (called from http_parser_execute)

    fileprivate func messageBegin() -> Int32 {
        url.removeAll(keepingCapacity: true)
        headers.removeAll(keepingCapacity: true)
        field.removeAll(keepingCapacity: true)
        value.removeAll(keepingCapacity: true)
        body = []
        inValue = false
        headerBytes = 0
        contentLength = nil
        transferEncoding = nil
        messageStarted = true
        headersComplete = false
        wantsContinue = false
        upgrade = false
        return 0
    }

    fileprivate func url(_ data: UnsafeRawBufferPointer) -> Int32 {
        guard url.count + data.count <= limits.maxURLBytes else {
            return fail(414, "the request target is longer than \(limits.maxURLBytes) bytes")
        }
        url.append(contentsOf: data)
        return 0
    }

    fileprivate func headerField(_ data: UnsafeRawBufferPointer) -> Int32 {
        if inValue {
            if let rc = finishField() { return rc }
            inValue = false
        }
        field.append(contentsOf: data)
        return countHeaderBytes(data.count)
    }

    fileprivate func headerValue(_ data: UnsafeRawBufferPointer) -> Int32 {
        inValue = true
        value.append(contentsOf: data)
        return countHeaderBytes(data.count)
    }

    private func countHeaderBytes(_ n: Int) -> Int32 {
        headerBytes += n
        guard headerBytes <= limits.maxHeaderBytes else {
            return fail(431, "request header fields are larger than \(limits.maxHeaderBytes) bytes")
        }
        return 0
    }

    /// Completes one header field; nil when fine, else the callback's abort code.
    private func finishField() -> Int32? {
        guard !field.isEmpty else { return nil }
        let name = String(decoding: field, as: UTF8.self).lowercased()
        let text = String(decoding: value, as: UTF8.self).trimmingCharacters(in: [" ", "\t"])
        field.removeAll(keepingCapacity: true)
        value.removeAll(keepingCapacity: true)
        headers.append((name: name, value: text))
        headerBytes += 4
        if headers.count > limits.maxHeaderCount {
            return fail(431, "more than \(limits.maxHeaderCount) request header fields")
        }
        if headerBytes > limits.maxHeaderBytes {
            return fail(431, "request header fields are larger than \(limits.maxHeaderBytes) bytes")
        }
        switch name {
        case "content-length":
            if let previous = contentLength, previous != text {
                return fail(400, "conflicting Content-Length headers")
            }
            contentLength = text
        case "transfer-encoding":
            transferEncoding = (transferEncoding.map { $0 + ", " } ?? "") + text
        default:
            break
        }
        if contentLength != nil && transferEncoding != nil {
            return fail(400, "a request may not carry both Content-Length and Transfer-Encoding (request smuggling)")
        }
        return nil
    }

    fileprivate func headersDone() -> Int32 {
        if inValue || !field.isEmpty {
            if let rc = finishField() { return rc }
            inValue = false
        }
        headersComplete = true
        if parser.pointee.http_major != 1 {
            return fail(505, "only HTTP/1.0 and HTTP/1.1 are served here")
        }
        if let transferEncoding, transferEncoding.lowercased() != "chunked" {
            return fail(400, "unsupported Transfer-Encoding \"\(transferEncoding)\" (only chunked is accepted)")
        }
        bodyLimit = limits.maxBodyBytes(forTarget: String(decoding: url, as: UTF8.self))
        if let contentLength {
            guard let length = Int(contentLength), length >= 0 else { return fail(400, "invalid Content-Length") }
            if length > bodyLimit {
                return fail(413, "the request body (\(length) bytes) is larger than \(bodyLimit) bytes")
            }
        }
        keepAlive = http_should_keep_alive(parser) != 0
        if let expect = headers.first(where: { $0.name == "expect" })?.value {
            guard expect.lowercased() == "100-continue" else { return fail(417, "unsupported Expect: \(expect)") }
            wantsContinue = true
        }
        return 0
    }

    fileprivate func bodyBytes(_ data: UnsafeRawBufferPointer) -> Int32 {
        guard body.count + data.count <= bodyLimit else {
            return fail(413, "the request body is larger than \(bodyLimit) bytes")
        }
        body.append(contentsOf: data)
        return 0
    }

    fileprivate func messageComplete() -> Int32 {
        let method = String(cString: http_method_str(http_method(rawValue: UInt32(parser.pointee.method))))
        let version = "HTTP/\(parser.pointee.http_major).\(parser.pointee.http_minor)"
        keepAlive = http_should_keep_alive(parser) != 0
        upgrade = parser.pointee.upgrade != 0
        var request = HTTPRequest(method: method, target: String(decoding: url, as: UTF8.self), headers: headers,
                                  body: body, version: version)
        request.body = body
        body = []
        complete = request
        messageStarted = false
        headersComplete = false
        wantsContinue = false
        http_parser_pause(parser, 1)
        return 0
    }

    private func fail(_ status: Int, _ message: String) -> Int32 {
        if failure == nil { failure = HTTPParseFailure(status, message) }
        return 1
    }
}

// MARK: - C callbacks

@inline(__always)
private func owner(_ parser: UnsafeMutablePointer<http_parser>?) -> HTTPRequestParser? {
    guard let data = parser?.pointee.data else { return nil }
    return Unmanaged<HTTPRequestParser>.fromOpaque(data).takeUnretainedValue()
}

@inline(__always)
private func buffer(_ at: UnsafePointer<CChar>?, _ length: Int) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: at.map(UnsafeRawPointer.init), count: at == nil ? 0 : length)
}

private var parserSettings: http_parser_settings = {
    var settings = http_parser_settings()
    settings.on_message_begin = { parser in owner(parser)?.messageBegin() ?? 1 }
    settings.on_url = { parser, at, length in owner(parser)?.url(buffer(at, length)) ?? 1 }
    settings.on_header_field = { parser, at, length in owner(parser)?.headerField(buffer(at, length)) ?? 1 }
    settings.on_header_value = { parser, at, length in owner(parser)?.headerValue(buffer(at, length)) ?? 1 }
    settings.on_headers_complete = { parser in owner(parser)?.headersDone() ?? 1 }
    settings.on_body = { parser, at, length in owner(parser)?.bodyBytes(buffer(at, length)) ?? 1 }
    settings.on_message_complete = { parser in owner(parser)?.messageComplete() ?? 1 }
    return settings
}()
