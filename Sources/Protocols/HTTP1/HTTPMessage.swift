import Foundation

/// A parsed HTTP request (HTTP/1.1, or HTTP/2 through the gRPC port's plain-HTTP hook).
public struct HTTPRequest: Sendable {
    /// Upper-case method, e.g. `GET`.
    public var method: String
    /// The request target as sent (path and query).
    public var target: String
    /// The path, percent-encoded as sent (no query).
    public var path: String
    /// The raw query string (after `?`), or "".
    public var query: String
    /// Header fields in arrival order, names in lower case.
    public var headers: [(name: String, value: String)]
    /// The body (at most `HTTPLimits.maxBodyBytes`).
    public var body: [UInt8]
    /// `HTTP/1.1`, `HTTP/1.0` or `HTTP/2`.
    public var version: String
    /// Path parameters filled in by the router (`{model}` -> value, percent-decoded).
    public var params: [String: String] = [:]
    /// Who the authorization hook said the caller is (nil: not checked or anonymous).
    public var principal: String?
    /// The client's `HOST:PORT` ("" when unknown), for access logs.
    public var peer = ""

    public init(method: String, target: String, headers: [(name: String, value: String)] = [], body: [UInt8] = [],
                version: String = "HTTP/1.1") {
        self.method = method
        self.target = target
        if let mark = target.firstIndex(of: "?") {
            path = String(target[..<mark])
            query = String(target[target.index(after: mark)...])
        } else {
            path = target
            query = ""
        }
        self.headers = headers
        self.body = body
        self.version = version
    }

    /// The first header named `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        for field in headers where field.name == lower { return field.value }
        return nil
    }

    /// Query parameters (percent-decoded; `+` is a space).
    public var queryItems: [String: String] {
        var items: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = HTTPRequest.decode(String(parts[0]))
            items[key] = parts.count > 1 ? HTTPRequest.decode(String(parts[1])) : ""
        }
        return items
    }

    static func decode(_ text: String) -> String {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? text
    }
}

/// An HTTP response. `Content-Length` and `Connection` are added when it is sent.
public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header fields (any case); do not set Content-Length, Connection or Transfer-Encoding.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// Close the connection after this response.
    public var closeConnection = false

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A plain-text response (a newline is added when missing).
    public static func text(_ status: Int, _ text: String) -> HTTPResponse {
        let body = text.hasSuffix("\n") || text.isEmpty ? text : text + "\n"
        return HTTPResponse(status: status, headers: [("Content-Type", "text/plain; charset=utf-8")], body: Array(body.utf8))
    }

    /// A JSON response from a JSONSerialization-compatible value.
    public static func json(_ status: Int, _ value: Any) -> HTTPResponse {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes]))
            ?? Data("{}".utf8)
        return HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: Array(data))
    }

    /// The API error shape: `{"error": {"code": "NOT_FOUND", "message": "..."}}`.
    public static func jsonError(_ status: Int, code: String, message: String) -> HTTPResponse {
        var response = json(status, ["error": ["code": code, "message": message]])
        if status == 401 { response.headers.append(("WWW-Authenticate", "Bearer")) }
        return response
    }

    /// A body with an explicit content type.
    public static func content(_ status: Int = 200, type: String, _ body: [UInt8], cache: String? = nil) -> HTTPResponse {
        var headers: [(name: String, value: String)] = [("Content-Type", type)]
        if let cache { headers.append(("Cache-Control", cache)) }
        return HTTPResponse(status: status, headers: headers, body: body)
    }

    /// The first header named `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        for field in headers where field.name.lowercased() == lower { return field.value }
        return nil
    }
}

/// Reason phrases for the status codes the gateway sends.
public enum HTTPStatus {
    public static func reason(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 201: return "Created"
        case 204: return "No Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 304: return "Not Modified"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 411: return "Length Required"
        case 412: return "Precondition Failed"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 417: return "Expectation Failed"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }
}
