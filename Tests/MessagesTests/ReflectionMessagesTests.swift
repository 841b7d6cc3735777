import XCTest
@testable import Messages

/// The server reflection messages (a oneof with message members) and the descriptors embedded
/// for reflection by Protos/generate.sh.
final class ReflectionMessagesTests: XCTestCase {
    func testOneofMessageMembersRoundTrip() throws {
        let responses: [ServerReflectionResponse.MessageResponse] = [
            .fileDescriptor(FileDescriptorResponse(fileDescriptorProto: [[1, 2, 3], []])),
            .allExtensionNumbers(ExtensionNumberResponse(baseTypeName: "a.B", extensionNumber: [100, 7])),
            .listServices(ListServiceResponse(service: [ServiceResponse(name: "a.S")])),
            .error(ErrorResponse(errorCode: 5, errorMessage: "symbol not found: x")),
            .listServices(ListServiceResponse()),
        ]
        for member in responses {
            let response = ServerReflectionResponse(validHost: "h", originalRequest: ServerReflectionRequest(
                host: "h", messageRequest: .fileContainingExtension(ExtensionRequest(containingType: "a.B", extensionNumber: 9))),
                                                    messageResponse: member)
            XCTAssertEqual(try ServerReflectionResponse(serializedBytes: response.serializedBytes()), response)
        }
        // An empty message member is still set: field 6 with length 0.
        XCTAssertEqual(ServerReflectionResponse(messageResponse: .listServices(ListServiceResponse())).serializedBytes(), [0x32, 0x00])
    }

    func testEmbeddedDescriptorsIndexEveryServiceAndSymbol() {
        XCTAssertEqual(ProtoDescriptors.services, ["byoc.v1.Admin", "byoc.v1.Inference", "grpc.health.v1.Health",
                                                   "grpc.reflection.v1.ServerReflection", "inference.GRPCInferenceService"])
        for file in ProtoDescriptors.files.values {
            XCTAssertFalse(file.descriptor.isEmpty)
            for dependency in file.dependencies { XCTAssertNotNil(ProtoDescriptors.files[dependency], dependency) }
        }
        for (symbol, file) in ProtoDescriptors.symbols {
            XCTAssertNotNil(ProtoDescriptors.files[file], "\(symbol) -> \(file)")
        }
        XCTAssertEqual(ProtoDescriptors.symbols["byoc.v1.Admin.RegisterModel"], "byoc/v1/admin.proto")
        XCTAssertEqual(ProtoDescriptors.symbols["grpc.health.v1.HealthCheckResponse.SERVING"], "grpc/health/v1/health.proto")
        XCTAssertTrue(ProtoDescriptors.messageTypes.contains("inference.ModelInferRequest.InferInputTensor"))
        XCTAssertFalse(ProtoDescriptors.messageTypes.contains("byoc.v1.Admin"))
        for type in GeneratedMessages.all {
            XCTAssertTrue(ProtoDescriptors.messageTypes.contains(type.protoMessageName), type.protoMessageName)
        }
    }
}
