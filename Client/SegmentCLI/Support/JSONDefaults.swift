import Foundation
import SegmentationAPI
import SwiftProtobuf

/// The proto3 JSON mapping with every field present: proto3 JSON leaves out fields that hold
/// their zero value (segment 0, distance 0, false, ""), which breaks scripts that index them,
/// and swift-protobuf has no option to keep them. This walks the encoded JSON beside the API's
/// schema (the descriptor set generated with the code) and adds what was left out:
/// numbers as 0, 64-bit integers as "0", booleans as false, strings and bytes as "", enums as
/// their zero name, repeated fields as [] and maps as {}. Fields of a oneof and `optional`
/// fields keep proto3's meaning (absent: not set); so do message fields that are not set.
enum JSONDefaults {
    /// Messages and enums' zero names by full name (".segmentation.v1.Segment"), read once.
    private struct Schema {
        var messages: [String: Google_Protobuf_DescriptorProto] = [:]
        var enumZeroNames: [String: String] = [:]

        init() {
            // The descriptor set is generated with the code it describes; it always decodes.
            let data = Data(base64Encoded: SegmentationDescriptors.fileDescriptorSetBase64)!
            let set = try! Google_Protobuf_FileDescriptorSet(serializedBytes: data)
            for file in set.file {
                let prefix = file.package.isEmpty ? "" : "." + file.package
                for value in file.enumType { addEnum(value, prefix: prefix) }
                for message in file.messageType { addMessage(message, prefix: prefix) }
            }
        }

        private mutating func addMessage(_ message: Google_Protobuf_DescriptorProto, prefix: String)
        {
            let name = prefix + "." + message.name
            messages[name] = message
            for value in message.enumType { addEnum(value, prefix: name) }
            for nested in message.nestedType { addMessage(nested, prefix: name) }
        }

        private mutating func addEnum(_ value: Google_Protobuf_EnumDescriptorProto, prefix: String)
        {
            enumZeroNames[prefix + "." + value.name] =
                value.value.first { $0.number == 0 }?.name ?? ""
        }
    }

    private static let schema = Schema()

    /// The message as JSON with its zero-valued fields filled in, keys sorted.
    static func json(_ message: some SwiftProtobuf.Message) throws -> String {
        _ = ErrorDetailTypes.registered  // Job.status's details
        let encoded = try message.jsonUTF8Data()
        let object = try JSONSerialization.jsonObject(with: encoded)
        let filled = fill(object, type: "." + type(of: message).protoMessageName)
        let data = try JSONSerialization.data(
            withJSONObject: filled, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    static func fill(_ value: Any, type: String) -> Any {
        // An Any's JSON is its message's ("@type" and that message's fields), not Any's own.
        guard type != ".google.protobuf.Any", var object = value as? [String: Any],
            let descriptor = schema.messages[type]
        else {
            return value
        }
        for field in descriptor.field {
            let key = field.jsonName.isEmpty ? field.name : field.jsonName
            if let present = object[key] {
                object[key] = fillPresent(present, field: field)
                continue
            }
            // oneof members and proto3 `optional`: absence means "not set"
            if field.hasOneofIndex { continue }
            if field.label == .repeated {
                object[key] = isMap(field) ? [String: Any]() : [Any]()
                continue
            }
            switch field.type {
            case .message, .group: continue  // a message that is not set stays absent
            case .string, .bytes: object[key] = ""
            case .bool: object[key] = false
            case .int64, .uint64, .sint64, .fixed64, .sfixed64: object[key] = "0"
            case .enum: object[key] = schema.enumZeroNames[field.typeName] ?? 0
            default: object[key] = 0
            }
        }
        return object
    }

    private static func fillPresent(
        _ value: Any, field: Google_Protobuf_FieldDescriptorProto
    ) -> Any {
        guard field.type == .message else { return value }
        if isMap(field) {
            // A map's value type is the entry message's second field.
            guard let entry = schema.messages[field.typeName], entry.field.count == 2,
                entry.field[1].type == .message,
                let map = value as? [String: Any]
            else { return value }
            return map.mapValues { fill($0, type: entry.field[1].typeName) }
        }
        if let array = value as? [Any] { return array.map { fill($0, type: field.typeName) } }
        return fill(value, type: field.typeName)
    }

    private static func isMap(_ field: Google_Protobuf_FieldDescriptorProto) -> Bool {
        field.label == .repeated && field.type == .message
            && (schema.messages[field.typeName]?.options.mapEntry ?? false)
    }
}
