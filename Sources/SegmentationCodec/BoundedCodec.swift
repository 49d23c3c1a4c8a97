import GRPCCore
import GRPCProtobuf
import SwiftProtobuf

/// The codec the generated gRPC code uses (scripts/generate-protos.sh names this module with the
/// plugin's `GRPCProtobufModuleName` option). Serializing is GRPCProtobuf's; deserializing first
/// checks the message's size against the limit in force, so an oversized request is answered with
/// RESOURCE_EXHAUSTED naming the limit instead of the HTTP/2 stream reset the transport gives
/// (clients would see CANCELLED or UNAVAILABLE and no reason).
public typealias ProtobufSerializer<Message: SwiftProtobuf.Message> = GRPCProtobuf
    .ProtobufSerializer<Message>

/// The largest message a server accepts, set around the server's `serve()` and inherited by the
/// tasks that handle its calls. Unset (clients): no limit beyond the transport's.
public enum MessageSizeLimit {
    @TaskLocal public static var bytes: Int?
    /// The server flag that sets it, named in the error.
    @TaskLocal public static var flag = "--max-message-mb"
}

public struct ProtobufDeserializer<Message: SwiftProtobuf.Message>: MessageDeserializer {
    public init() {}

    public func deserialize<Bytes: GRPCContiguousBytes>(
        _ serializedMessageBytes: Bytes
    ) throws -> Message {
        if let limit = MessageSizeLimit.bytes, serializedMessageBytes.count > limit {
            let message =
                "the request message is \(serializedMessageBytes.count) bytes, over the server's limit of \(limit) "
                + "(\(MessageSizeLimit.flag)); send it in smaller parts (fewer customers per Score request)"
            let status = GoogleRPCStatus(
                code: .resourceExhausted, message: message,
                details: [
                    .errorInfo(reason: "MESSAGE_TOO_LARGE", domain: "segmentation.v1"),
                    .quotaFailure(violations: [
                        .init(subject: "request message bytes", description: MessageSizeLimit.flag)
                    ]),
                ])
            throw RPCError(
                code: .resourceExhausted, message: message, metadata: status.rpcErrorMetadata)
        }
        return try GRPCProtobuf.ProtobufDeserializer<Message>().deserialize(serializedMessageBytes)
    }
}
