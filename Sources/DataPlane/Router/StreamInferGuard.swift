import GRPC
import Messages

/// Keeps a proxied ModelStreamInfer stream on the model of its first request.
///
/// Requests: each message's fields 1 and 2 are read from its first bytes (at most
/// `ProxyCall.maxScanBytes`, held until read); a message for the bound model and version is
/// forwarded as it flows, any other is dropped as it arrives and answered by the gateway with
/// a ModelStreamInferResponse carrying `error_message`, so the stream stays usable.
/// Responses: the model's message boundaries are found, and the gateway's answers are put in
/// between. A struct driven by `ProxyCall`, which performs what it emits.
struct StreamInferGuard {
    /// What a run of request bytes is.
    enum RequestSegment {
        /// Bytes for the model (the same bytes the client sent).
        case forward(UnsafeRawBufferPointer)
        /// Bytes of a refused message: returned to the client's window, not sent.
        case drop(Int)
    }

    /// The bound model, the version its first request named and the concrete version serving it.
    let model: String
    let namedVersion: String
    let servedVersion: String
    /// The stream was routed by the `byoc-model` header: a request naming no model is for it.
    let routedByHeader: Bool
    private let maxScanBytes: Int

    /// The request message being read: its first bytes until fields 1 and 2 are read, then how
    /// many bytes of it are left and whether they go to the model.
    private var head: [UInt8] = []
    private var remaining = 0
    private var forwarding = true
    /// Response boundaries: prefix bytes seen of the current message, its length so far, and
    /// body bytes left.
    private var responsePrefixSeen = 0
    private var responseLength = 0
    private var responseBodyLeft = 0
    /// The gateway's framed answers waiting for a response message boundary.
    private(set) var pendingAnswers: [[UInt8]] = []
    /// Response bytes of the model written to the client and not yet returned to its window.
    private var modelBytesOutstanding = 0

    init(model: String, namedVersion: String, servedVersion: String, routedByHeader: Bool = false, maxScanBytes: Int) {
        self.model = model
        self.namedVersion = namedVersion
        self.servedVersion = servedVersion
        self.routedByHeader = routedByHeader
        self.maxScanBytes = maxScanBytes
    }

    /// Request bytes held while a message's fields are read (returned to the client's window
    /// when the call ends).
    var heldBytes: Int { head.count }

    /// True between response messages (an answer may be written now).
    var responseAtBoundary: Bool { responsePrefixSeen == 0 && responseBodyLeft == 0 }

    // MARK: Requests

    /// Splits client bytes into runs to forward or drop; a refused message queues its answer.
    mutating func request(_ data: UnsafeRawBufferPointer, _ emit: (RequestSegment) -> Void) {
        var offset = 0
        while offset < data.count {
            if remaining > 0 {
                let n = min(remaining, data.count - offset)
                let run = UnsafeRawBufferPointer(rebasing: data[offset..<offset + n])
                emit(forwarding ? .forward(run) : .drop(n))
                remaining -= n
                offset += n
                continue
            }
            // The start of a message: collect its prefix and first bytes until decided.
            let wanted = head.count < GRPCFraming.prefixLength
                ? GRPCFraming.prefixLength - head.count
                : min(messageLength - (head.count - GRPCFraming.prefixLength), maxScanBytes - head.count)
            let n = min(wanted, data.count - offset)
            head.append(contentsOf: UnsafeRawBufferPointer(rebasing: data[offset..<offset + n]))
            offset += n
            if head.count >= GRPCFraming.prefixLength { decide(emit) }
        }
    }

    /// The length of the message whose prefix is in `head`.
    private var messageLength: Int {
        Int(head[1]) << 24 | Int(head[2]) << 16 | Int(head[3]) << 8 | Int(head[4])
    }

    /// Decides the message in `head` once its fields can be read (or its first bytes are all
    /// there is to read), and emits what is held.
    private mutating func decide(_ emit: (RequestSegment) -> Void) {
        let length = messageLength
        let body = head.count - GRPCFraming.prefixLength
        let refusal: String?
        if head[0] == 1 {
            // A compressed message cannot be read: the model it reaches is the bound one anyway.
            refusal = nil
        } else {
            let scanned = head.withUnsafeBytes {
                RouteFieldScanner.scan(UnsafeRawBufferPointer(rebasing: $0[GRPCFraming.prefixLength...]), messageLength: length)
            }
            switch scanned {
            case .needMore:
                guard body >= length || head.count >= maxScanBytes else { return }
                refusal = "model and version fields are longer than \(maxScanBytes) bytes"
            case .invalid(let why):
                refusal = "cannot read model and version from the request: \(why)"
            case .found(let model, let version):
                refusal = accepts(model: model, version: version) ? nil
                    : "this stream is bound to model \"\(self.model)\" version \"\(servedVersion)\" (its first request);"
                    + " a request for model \"\(model)\" version \"\(version)\" was not sent"
            }
        }
        forwarding = refusal == nil
        remaining = length - body
        let held = head
        head = []
        if let refusal {
            pendingAnswers.append(GRPCFraming.frame(ModelStreamInferResponse(errorMessage: refusal).serializedBytes()))
            emit(.drop(held.count))
        } else {
            held.withUnsafeBytes { emit(.forward($0)) }
        }
    }

    /// A request may name the bound model (or none, on a stream routed by the `byoc-model`
    /// header) with no version, the version the first one named, or the version serving the stream.
    private func accepts(model: String, version: String) -> Bool {
        (model == self.model || (model.isEmpty && routedByHeader))
            && (version.isEmpty || version == namedVersion || version == servedVersion)
    }

    // MARK: Responses

    /// Model response bytes about to be written to the client: the offsets in `data` where a
    /// response message ends (where the gateway's answers may go in).
    mutating func responseBoundaries(_ data: UnsafeRawBufferPointer) -> [Int] {
        modelBytesOutstanding += data.count
        var ends: [Int] = []
        var index = 0
        while index < data.count {
            if responseBodyLeft > 0 {
                let n = min(responseBodyLeft, data.count - index)
                index += n
                responseBodyLeft -= n
            } else {
                if responsePrefixSeen > 0 { responseLength = responseLength << 8 | Int(data[index]) }
                responsePrefixSeen += 1
                index += 1
                guard responsePrefixSeen == GRPCFraming.prefixLength else { continue }
                responsePrefixSeen = 0
                responseBodyLeft = responseLength
                responseLength = 0
            }
            if responseAtBoundary { ends.append(index) }
        }
        return ends
    }

    /// Takes the answers waiting (call at a response boundary, once response headers went out).
    mutating func takeAnswers() -> [[UInt8]] {
        defer { pendingAnswers = [] }
        return pendingAnswers
    }

    /// `bytes` left for the client: how many of them to return to the model's window (never
    /// more than the model sent; the gateway's own answers are not the model's).
    mutating func drained(_ bytes: Int) -> Int {
        let give = min(bytes, modelBytesOutstanding)
        modelBytesOutstanding -= give
        return give
    }
}
