import Foundation
import GRPC
import HTTP1
@testable import Messages
import WebConsole

/// One fuzz target: a name (its corpus is Tests/Fuzz/corpus/NAME) and what it does with an input.
/// A target traps (precondition, sanitizer) only on a real defect; refusing input is fine.
struct FuzzTarget {
    let name: String
    let run: (UnsafeRawBufferPointer) -> Void

    static let all: [FuzzTarget] = [
        FuzzTarget(name: "proto", run: proto),
        FuzzTarget(name: "grpc-framing", run: grpcFraming),
        FuzzTarget(name: "route-scanner", run: routeScanner),
        FuzzTarget(name: "http1", run: http1),
        FuzzTarget(name: "json", run: json),
    ]

    /// Every generated message (Admin, Predict, Open Inference, health): byte 0 picks the type,
    /// the rest is decoded under the standard and the Admin limits; what decodes must re-encode
    /// to bytes that decode to the same encoding.
    static func proto(_ input: UnsafeRawBufferPointer) {
        guard let selector = input.first else { return }
        let types = GeneratedMessages.all
        let type = types[Int(selector) % types.count]
        let body = UnsafeRawBufferPointer(rebasing: input.dropFirst())
        for limits in [ProtoDecodeLimits.standard, ProtoDecodeLimits(maxEntriesPerField: 8, maxFields: 64,
                                                                     maxUnknownFields: 4, maxUnknownBytes: 64, maxDepth: 2)] {
            guard let message = try? type.init(serializedBytes: body, limits: limits) else { continue }
            let encoded = message.serializedBytes()
            guard let again = try? type.init(serializedBytes: encoded) else {
                preconditionFailure("\(type): re-encoding of a decoded message does not decode")
            }
            precondition(again.serializedBytes() == encoded, "\(type): encoding is not stable")
        }
    }

    /// gRPC length-prefixed framing: the reader and the tracker agree on every split of the input.
    static func grpcFraming(_ input: UnsafeRawBufferPointer) {
        guard let split = input.first else { return }
        let body = UnsafeRawBufferPointer(rebasing: input.dropFirst())
        let cut = body.isEmpty ? 0 : Int(split) % (body.count + 1)
        var reader = GRPCMessageReader(maxMessageBytes: 1 << 16, compressionAllowed: split & 1 == 0, encoding: "gzip")
        var tracker = GRPCFrameTracker(maxMessageBytes: 1 << 16, compressionAllowed: split & 1 == 0, encoding: "gzip")
        var readerFailed = false
        var trackerFailed = false
        for part in [UnsafeRawBufferPointer(rebasing: body[..<cut]), UnsafeRawBufferPointer(rebasing: body[cut...])] {
            if !readerFailed {
                do { try reader.append(part) } catch { readerFailed = true }
                _ = reader.takeMessages()
            }
            if !trackerFailed {
                do { try tracker.advance(over: part) } catch { trackerFailed = true }
            }
        }
        precondition(readerFailed == trackerFailed, "GRPCMessageReader and GRPCFrameTracker disagree")
    }

    /// The route field scanner on every prefix length it may be handed; on the canonical
    /// encoding (fields in number order, as every mainstream encoder writes them: the scanner
    /// stops at the first field above 2 by design) it finds the fields protobuf-c decodes.
    static func routeScanner(_ input: UnsafeRawBufferPointer) {
        let full = RouteFieldScanner.scan(input, messageLength: input.count)
        if input.count > 1 {
            let prefix = UnsafeRawBufferPointer(rebasing: input[..<(input.count / 2)])
            let partial = RouteFieldScanner.scan(prefix, messageLength: input.count)
            if case .found(let model, let version) = partial {
                precondition(full == .found(model: model, version: version), "a prefix found other fields than the whole message")
            }
        }
        guard let request = try? PredictRequest(serializedBytes: input) else { return }
        let canonical = request.serializedBytes()
        let scanned = canonical.withUnsafeBytes { RouteFieldScanner.scan($0, messageLength: canonical.count) }
        precondition(scanned == .found(model: request.model, version: request.version),
                     "scanner and protobuf-c disagree on a canonical encoding: \(scanned)")
    }

    /// The HTTP/1.1 request parser on pipelined requests: the rest is fed again after each one.
    static func http1(_ input: UnsafeRawBufferPointer) {
        var limits = HTTPLimits()
        limits.maxBodyBytes = 4096
        let parser = HTTPRequestParser(limits: limits)
        var rest = input
        var rounds = 0
        while !rest.isEmpty, rounds < 64 {
            rounds += 1
            let (consumed, event) = parser.feed(rest)
            precondition(consumed <= rest.count, "the parser consumed more than it was given")
            rest = UnsafeRawBufferPointer(rebasing: rest[consumed...])
            switch event {
            case .needMore: if consumed == 0 { return }
            case .failure: return
            case .request: continue
            }
        }
    }

    /// The web console's JSON input: a body parsed as an object, then its fields as tensors.
    static func json(_ input: UnsafeRawBufferPointer) {
        guard let fields = try? JSONValue.object(Array(input)) else { return }
        _ = try? TensorJSON.inputs(fields)
        _ = try? TensorJSON.inputs(fields, dtypes: ["": .int64])
    }
}
