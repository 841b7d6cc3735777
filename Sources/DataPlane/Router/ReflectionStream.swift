import GRPC
import HTTP2
import Messages
import Transport

/// gRPC server reflection (v1, and v1alpha: the same messages on the wire) for the gateway's
/// own services, answered from the descriptors embedded at generation time
/// (`ProtoDescriptors`): list_services, file_by_filename and file_containing_symbol (the file
/// and its imports not yet sent on this stream), extension queries (the gateway's protos
/// declare no extensions), and NOT_FOUND / INVALID_ARGUMENT error responses that keep the
/// stream open. Loop-confined: one instance per stream.
final class ReflectionStream {
    /// The method paths served.
    static let paths = [
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ]

    /// Files already sent on this stream (their dependents do not resend them).
    private var sent: Set<String> = []

    /// A call answering each request on `stream` as it arrives.
    static func call(stream: HTTP2Stream, head: GRPCRequestHead, loop: EventLoop, maxMessageBytes: Int) -> BidiCall {
        let state = ReflectionStream()
        return BidiCall(stream: stream, head: head, loop: loop, maxMessageBytes: maxMessageBytes) { call, message in
            guard let request = try? ServerReflectionRequest(serializedBytes: message) else {
                call.end(GRPCStatus(.invalidArgument, "cannot decode ServerReflectionRequest"))
                return
            }
            call.send(state.answer(request).serializedBytes())
        }
    }

    /// The response to one request.
    func answer(_ request: ServerReflectionRequest) -> ServerReflectionResponse {
        ServerReflectionResponse(validHost: request.host, originalRequest: request, messageResponse: response(request))
    }

    private func response(_ request: ServerReflectionRequest) -> ServerReflectionResponse.MessageResponse {
        switch request.messageRequest {
        case .listServices?:
            return .listServices(ListServiceResponse(service: ProtoDescriptors.services.map { ServiceResponse(name: $0) }))
        case .fileByFilename(let name)?:
            guard ProtoDescriptors.files[name] != nil else { return Self.error(.notFound, "file not found: \(name)") }
            return .fileDescriptor(FileDescriptorResponse(fileDescriptorProto: withDependencies(name)))
        case .fileContainingSymbol(let symbol)?:
            guard let file = ProtoDescriptors.symbols[symbol] else { return Self.error(.notFound, "symbol not found: \(symbol)") }
            return .fileDescriptor(FileDescriptorResponse(fileDescriptorProto: withDependencies(file)))
        case .fileContainingExtension(let extensionRequest)?:
            return Self.error(.notFound, "extension not found: \(extensionRequest.containingType) field \(extensionRequest.extensionNumber)"
                              + " (the gateway's protos declare no extensions)")
        case .allExtensionNumbersOfType(let type)?:
            guard ProtoDescriptors.messageTypes.contains(type) else { return Self.error(.notFound, "message type not found: \(type)") }
            return .allExtensionNumbers(ExtensionNumberResponse(baseTypeName: type, extensionNumber: []))
        case nil:
            return Self.error(.invalidArgument, "the request sets none of message_request")
        }
    }

    /// `file`'s descriptor, then those of its transitive imports not sent before on this stream
    /// (the requested file is always sent).
    private func withDependencies(_ file: String) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var queue = [file]
        while !queue.isEmpty {
            let name = queue.removeFirst()
            guard let descriptor = ProtoDescriptors.files[name] else { continue }
            if out.isEmpty || !sent.contains(name) {
                sent.insert(name)
                out.append(descriptor.descriptor)
            }
            queue.append(contentsOf: descriptor.dependencies)
        }
        return out
    }

    private static func error(_ code: GRPCStatusCode, _ message: String) -> ServerReflectionResponse.MessageResponse {
        .error(ErrorResponse(errorCode: Int32(code.rawValue), errorMessage: message))
    }
}
