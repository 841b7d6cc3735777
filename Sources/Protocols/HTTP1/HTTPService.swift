import Foundation
import Transport

/// Answers one request, now or later, exactly once, on the request's loop.
///
/// Handlers on a worker loop must never block: answer at once with `respond`, or start the
/// work elsewhere (`respond(after:)` runs an async body in a Task) and answer from there.
public final class HTTPResponder: @unchecked Sendable {
    /// The loop the request arrived on; `respond` must be called on it.
    public let loop: EventLoop
    private var sink: ((HTTPResponse) -> Void)?

    public init(loop: EventLoop, sink: @escaping (HTTPResponse) -> Void) {
        self.loop = loop
        self.sink = sink
    }

    /// True once answered.
    public var isDone: Bool { sink == nil }

    /// Sends `response` (call on `loop`); later calls are ignored.
    public func respond(_ response: HTTPResponse) {
        guard let sink else { return }
        self.sink = nil
        sink(response)
    }

    /// Runs `body` in a Task off the loop and sends its response back on the loop.
    public func respond(after body: @escaping @Sendable () async -> HTTPResponse) {
        Task {
            let response = await body()
            self.loop.execute { self.respond(response) }
        }
    }
}

/// A request handler: answer through the responder (synchronously or later).
public typealias HTTPHandler = (HTTPRequest, HTTPResponder) -> Void

/// What the authorization hook decided.
public enum HTTPAuthDecision: Sendable {
    /// Go on; `principal` names the caller (nil when anonymous access is allowed).
    case allow(principal: String?)
    /// Refuse with this response (401 with `WWW-Authenticate: Bearer`, or 403).
    case deny(HTTPResponse)

    /// The standard 401 in the API's error shape.
    public static func unauthenticated(_ message: String = "a bearer token is required") -> HTTPAuthDecision {
        .deny(.jsonError(401, code: "UNAUTHENTICATED", message: message))
    }

    /// The standard 403 in the API's error shape.
    public static func permissionDenied(_ message: String) -> HTTPAuthDecision {
        .deny(.jsonError(403, code: "PERMISSION_DENIED", message: message))
    }
}

/// The single request-authorization hook: every route marked `requiresAuth` passes through it
/// before its handler runs. Called on the request's loop; `decide` may be called later (after
/// an async token lookup) but must then be called on that loop too (`loop.execute`).
public protocol HTTPAuthorizer: AnyObject {
    func authorize(_ request: HTTPRequest, loop: EventLoop, decide: @escaping (HTTPAuthDecision) -> Void)
}

/// Method + path pattern -> handler. Patterns are `/`-separated; a `{name}` segment matches
/// one non-empty segment and is passed percent-decoded in `request.params`.
public final class HTTPRouter {
    struct Route {
        var method: String
        var segments: [Substring]
        var requiresAuth: Bool
        var handler: HTTPHandler
    }

    public enum Match {
        case found(handler: HTTPHandler, params: [String: String], requiresAuth: Bool)
        /// The path exists with other methods.
        case methodNotAllowed(allowed: [String])
        case notFound
    }

    private var routes: [Route] = []

    /// Runs the handler of an authorized `requiresAuth` request (the closure it is given), e.g.
    /// inside a task-local binding of the caller's credentials; nil = call it directly.
    public var aroundAuthorized: ((HTTPRequest, () -> Void) -> Void)?

    public init() {}

    /// Adds a route. HEAD is served by GET routes (without the body).
    public func add(_ method: String, _ pattern: String, requiresAuth: Bool = false, _ handler: @escaping HTTPHandler) {
        routes.append(Route(method: method.uppercased(), segments: Self.split(pattern), requiresAuth: requiresAuth,
                            handler: handler))
    }

    /// True when some route matches `path` with any method.
    public func servesPath(_ path: String) -> Bool {
        let segments = Self.split(Self.stripQuery(path))
        return routes.contains { Self.bind($0.segments, segments) != nil }
    }

    public func match(method: String, path: String) -> Match {
        let segments = Self.split(path)
        var allowed: [String] = []
        let wanted = method == "HEAD" ? "GET" : method
        for route in routes {
            guard let params = Self.bind(route.segments, segments) else { continue }
            if route.method == wanted { return .found(handler: route.handler, params: params, requiresAuth: route.requiresAuth) }
            allowed.append(route.method)
            if route.method == "GET" { allowed.append("HEAD") }
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed)
    }

    static func split(_ path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: true)
    }

    static func stripQuery(_ path: String) -> String {
        guard let mark = path.firstIndex(of: "?") else { return path }
        return String(path[..<mark])
    }

    static func bind(_ pattern: [Substring], _ segments: [Substring]) -> [String: String]? {
        guard pattern.count == segments.count else { return nil }
        var params: [String: String] = [:]
        for (p, s) in zip(pattern, segments) {
            if p.hasPrefix("{") && p.hasSuffix("}") {
                guard let decoded = String(s).removingPercentEncoding, !decoded.isEmpty else { return nil }
                params[String(p.dropFirst().dropLast())] = decoded
            } else if p != s {
                return nil
            }
        }
        return params
    }
}

/// Routes requests to handlers through the authorization hook; shared by the HTTP/1.1
/// connections and the HTTP/2 plain-request bridge of one worker.
public final class HTTPService {
    public let router: HTTPRouter
    /// The request-authorization hook (nil: every route is open).
    public var authorizer: HTTPAuthorizer?
    /// Answers for paths no route serves, e.g. to send JSON errors under `/api/`.
    public var errorResponse: (_ request: HTTPRequest, _ status: Int, _ message: String) -> HTTPResponse = { _, status, message in
        .text(status, message)
    }

    /// Told of every answered request with its response and when it arrived (monotonic
    /// nanoseconds), on the request's loop: the access log (nil: nobody listens).
    public var completed: ((_ request: HTTPRequest, _ response: HTTPResponse, _ receivedAt: UInt64) -> Void)?

    public init(router: HTTPRouter, authorizer: HTTPAuthorizer? = nil) {
        self.router = router
        self.authorizer = authorizer
    }

    /// Dispatches `request` (call on `responder.loop`).
    public func handle(_ request: HTTPRequest, responder: HTTPResponder) {
        guard let completed else {
            route(request, responder: responder)
            return
        }
        let receivedAt = monotonicNanos()
        let observed = HTTPResponder(loop: responder.loop) { response in
            completed(request, response, receivedAt)
            responder.respond(response)
        }
        route(request, responder: observed)
    }

    private func route(_ request: HTTPRequest, responder: HTTPResponder) {
        switch router.match(method: request.method, path: request.path) {
        case .notFound:
            responder.respond(errorResponse(request, 404, "no such resource: \(request.path)"))
        case .methodNotAllowed(let allowed):
            var response = errorResponse(request, 405, "\(request.method) is not allowed on \(request.path)")
            response.headers.append(("Allow", Set(allowed).sorted().joined(separator: ", ")))
            responder.respond(response)
        case .found(let handler, let params, let requiresAuth):
            var request = request
            request.params = params
            guard requiresAuth, let authorizer else {
                handler(request, responder)
                return
            }
            authorizer.authorize(request, loop: responder.loop) { decision in
                switch decision {
                case .allow(let principal):
                    request.principal = principal
                    if let around = self.router.aroundAuthorized {
                        around(request) { handler(request, responder) }
                    } else {
                        handler(request, responder)
                    }
                case .deny(let response):
                    responder.respond(response)
                }
            }
        }
    }
}
