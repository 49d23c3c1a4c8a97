// Hand-written (not generated): the detail types segment-server puts in a google.rpc.Status.
import SwiftProtobuf

public enum ErrorDetailTypes {
    /// Registers them with SwiftProtobuf's registry of Any types (once, whoever asks first), so a
    /// Status inside a message (Job.status) reads and writes as proto3 JSON, where an Any
    /// spells out its message's fields.
    public static let registered: Void = {
        let types: [any SwiftProtobuf.Message.Type] = [
            Google_Rpc_ErrorInfo.self, Google_Rpc_BadRequest.self, Google_Rpc_ResourceInfo.self,
            Google_Rpc_QuotaFailure.self,
        ]
        for type in types { _ = Google_Protobuf_Any.register(messageType: type) }
    }()
}
