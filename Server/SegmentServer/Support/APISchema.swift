import Foundation
import SegmentationAPI
import SwiftProtobuf

/// The API's schema at run time: the descriptor set `scripts/generate-protos.sh` embeds with the
/// generated code (every .proto, imports included). Reflection serves it; the metrics take each
/// method's streaming kind from it.
enum APISchema {
    static let descriptorSet: Google_Protobuf_FileDescriptorSet = {
        // Generated and committed together with the code that uses it: failing to decode is a build defect.
        try! Google_Protobuf_FileDescriptorSet(
            serializedBytes: Data(base64Encoded: SegmentationDescriptors.fileDescriptorSetBase64)!)
    }()

    /// "unary", "client_stream", "server_stream" or "bidi_stream" by "package.Service/Method"
    /// (go-grpc-prometheus's `grpc_type`).
    static let methodTypes: [String: String] = {
        var types: [String: String] = [:]
        for file in descriptorSet.file {
            let prefix = file.package.isEmpty ? "" : file.package + "."
            for service in file.service {
                for method in service.method {
                    types[prefix + service.name + "/" + method.name] =
                        switch (method.clientStreaming, method.serverStreaming) {
                        case (false, false): "unary"
                        case (true, false): "client_stream"
                        case (false, true): "server_stream"
                        case (true, true): "bidi_stream"
                        }
                }
            }
        }
        return types
    }()
}
