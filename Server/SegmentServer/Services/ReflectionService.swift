import Foundation
import GRPCCore
import SegmentationAPI
import SwiftProtobuf

/// The schema index server reflection answers from: every .proto of the API (imports included),
/// from the descriptor set `scripts/generate-protos.sh` embeds in the generated code.
struct ReflectionIndex: Sendable {
    /// Serialized FileDescriptorProto by file name.
    private var files: [String: Data] = [:]
    private var dependencies: [String: [String]] = [:]
    /// File declaring each fully-qualified symbol: messages, their fields and oneofs, enums and
    /// their values (in the enclosing scope, as protobuf scopes them), services, methods, extensions.
    private var fileOfSymbol: [String: String] = [:]
    private var messages: Set<String> = []
    /// Extension numbers by extended type, and the file declaring each.
    private var extensions: [String: [Int32: String]] = [:]
    /// The services this server registered, as list_services names them.
    let services: [String]

    init(
        services: [String],
        descriptorSet set: Google_Protobuf_FileDescriptorSet = APISchema.descriptorSet
    ) {
        self.services = services.sorted()
        for file in set.file {
            // Re-encoding a descriptor that was just decoded cannot fail.
            files[file.name] = try! file.serializedData()
            dependencies[file.name] = file.dependency
            let prefix = file.package.isEmpty ? "" : file.package + "."
            for message in file.messageType { index(message, prefix: prefix, in: file.name) }
            for enumeration in file.enumType { index(enumeration, prefix: prefix, in: file.name) }
            for service in file.service {
                fileOfSymbol[prefix + service.name] = file.name
                for method in service.method {
                    fileOfSymbol[prefix + service.name + "." + method.name] = file.name
                }
            }
            for field in file.extension { record(extension: field, prefix: prefix, in: file.name) }
        }
    }

    private mutating func index(
        _ message: Google_Protobuf_DescriptorProto, prefix: String, in file: String
    ) {
        let name = prefix + message.name
        fileOfSymbol[name] = file
        messages.insert(name)
        for field in message.field { fileOfSymbol[name + "." + field.name] = file }
        for oneof in message.oneofDecl { fileOfSymbol[name + "." + oneof.name] = file }
        for nested in message.nestedType { index(nested, prefix: name + ".", in: file) }
        for enumeration in message.enumType { index(enumeration, prefix: name + ".", in: file) }
        for field in message.extension { record(extension: field, prefix: name + ".", in: file) }
    }

    private mutating func index(
        _ enumeration: Google_Protobuf_EnumDescriptorProto, prefix: String, in file: String
    ) {
        fileOfSymbol[prefix + enumeration.name] = file
        for value in enumeration.value { fileOfSymbol[prefix + value.name] = file }
    }

    private mutating func record(
        extension field: Google_Protobuf_FieldDescriptorProto, prefix: String, in file: String
    ) {
        fileOfSymbol[prefix + field.name] = file
        // Type names in descriptors are fully qualified with a leading dot.
        let extended =
            field.extendee.hasPrefix(".") ? String(field.extendee.dropFirst()) : field.extendee
        extensions[extended, default: [:]][field.number] = file
    }

    /// The answer to one request, as grpc.reflection.v1 defines it.
    func answer(
        _ request: Grpc_Reflection_V1_ServerReflectionRequest
    ) -> Grpc_Reflection_V1_ServerReflectionResponse {
        var response = Grpc_Reflection_V1_ServerReflectionResponse.with {
            $0.validHost = request.host
            $0.originalRequest = request
        }
        switch request.messageRequest {
        case .listServices:
            response.listServicesResponse = .with {
                $0.service = services.map { name in .with { $0.name = name } }
            }
        case .fileByFilename(let name):
            response.messageResponse = withDependencies(
                of: name, missing: "no file named \(name.quotedForMessage)")
        case .fileContainingSymbol(let symbol):
            response.messageResponse = withDependencies(
                of: fileOfSymbol[Self.unqualified(symbol)],
                missing: "no symbol named \(symbol.quotedForMessage)")
        case .fileContainingExtension(let request):
            response.messageResponse = withDependencies(
                of: extensions[Self.unqualified(request.containingType)]?[request.extensionNumber],
                missing:
                    "no extension \(request.extensionNumber) of \(request.containingType.quotedForMessage)"
            )
        case .allExtensionNumbersOfType(let asked):
            let type = Self.unqualified(asked)
            if messages.contains(type) {
                response.allExtensionNumbersResponse = .with {
                    $0.baseTypeName = type
                    $0.extensionNumber = (extensions[type]?.keys).map { Array($0).sorted() } ?? []
                }
            } else {
                response.messageResponse = Self.error(
                    .notFound, "no message type named \(asked.quotedForMessage)")
            }
        case nil:
            response.messageResponse = Self.error(
                .invalidArgument, "the request names nothing to look up")
        }
        return response
    }

    /// A name without the leading dot descriptors put on fully-qualified names.
    private static func unqualified(_ name: String) -> String {
        name.hasPrefix(".") ? String(name.dropFirst()) : name
    }

    /// The file first, then every file it imports, directly or not, each once.
    private func withDependencies(
        of name: String?, missing: String
    ) -> Grpc_Reflection_V1_ServerReflectionResponse.OneOf_MessageResponse {
        guard let name, files[name] != nil else { return Self.error(.notFound, missing) }
        var order: [String] = []
        var seen: Set<String> = []
        var pending = [name]
        while let next = pending.popLast() {
            guard seen.insert(next).inserted, files[next] != nil else { continue }
            order.append(next)
            pending.append(contentsOf: (dependencies[next] ?? []).reversed())
        }
        return .fileDescriptorResponse(
            .with { $0.fileDescriptorProto = order.compactMap { files[$0] } })
    }

    private static func error(
        _ code: RPCError.Code, _ message: String
    ) -> Grpc_Reflection_V1_ServerReflectionResponse.OneOf_MessageResponse {
        .errorResponse(
            .with {
                $0.errorCode = Int32(code.rawValue)
                $0.errorMessage = message
            })
    }
}

/// grpc.reflection.v1: lets grpcurl, grpcui and Postman list and call the API without the .proto files.
struct ReflectionService: Grpc_Reflection_V1_ServerReflection.SimpleServiceProtocol {
    let index: ReflectionIndex
    let health: HealthStatus

    func serverReflectionInfo(
        request: RPCAsyncSequence<Grpc_Reflection_V1_ServerReflectionRequest, any Error>,
        response: RPCWriter<Grpc_Reflection_V1_ServerReflectionResponse>, context: ServerContext
    ) async throws {
        try await endingAtShutdown(health) {
            for try await message in request { try await response.write(index.answer(message)) }
        }
    }
}

/// Runs `body` until it ends or the server begins shutting down: tools such as grpcui keep one
/// reflection stream open for a whole session, and it must not hold a graceful shutdown open.
func endingAtShutdown(
    _ health: HealthStatus, _ body: @escaping @Sendable () async throws -> Void
) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await body() }
        group.addTask { await health.untilStopping() }
        try await group.next()
        group.cancelAll()
    }
}

/// grpc.reflection.v1alpha, which older tools still ask for: the same messages under the older
/// package name, so each is translated through its (identical) wire form.
struct ReflectionServiceV1Alpha: Grpc_Reflection_V1alpha_ServerReflection.SimpleServiceProtocol {
    let index: ReflectionIndex
    let health: HealthStatus

    func serverReflectionInfo(
        request: RPCAsyncSequence<Grpc_Reflection_V1alpha_ServerReflectionRequest, any Error>,
        response: RPCWriter<Grpc_Reflection_V1alpha_ServerReflectionResponse>,
        context: ServerContext
    ) async throws {
        try await endingAtShutdown(health) {
            for try await message in request {
                let asked = try Grpc_Reflection_V1_ServerReflectionRequest(
                    serializedBytes: try message.serializedBytes() as [UInt8])
                let answer = index.answer(asked)
                try await response.write(
                    try Grpc_Reflection_V1alpha_ServerReflectionResponse(
                        serializedBytes: try answer.serializedBytes() as [UInt8]))
            }
        }
    }
}
