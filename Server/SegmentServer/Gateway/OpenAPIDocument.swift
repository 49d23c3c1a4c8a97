import Foundation
import SwiftProtobuf

/// The HTTP gateway's OpenAPI 3.1 document, derived at run time from the API's descriptors (the
/// set `scripts/generate-protos.sh` embeds, with the protos' comments): one POST path per unary
/// method the gateway serves, its request and response as the proto3 JSON mapping of their
/// messages, errors as the Connect protocol's error object. `GET /openapi.json` serves it;
/// `docs/openapi.json` is a copy a test keeps equal.
enum OpenAPIDocument {
    /// The document for `paths` ("/package.Service/Method"), as sorted, indented JSON.
    static func json(paths: [String], version: String) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding a JSONValue cannot fail.
        return Array(try! encoder.encode(document(paths: paths, version: version))) + [0x0A]
    }

    static func document(paths: [String], version: String) -> JSONValue {
        let schema = SchemaIndex(APISchema.descriptorSet)
        var operations: [String: JSONValue] = [:]
        var referenced: [String] = []
        for path in paths.sorted() {
            guard let method = schema.methods[path] else { continue }
            referenced += [method.input, method.output]
            operations[path] = .object([
                "post": .object([
                    "operationId": .string(method.operationID),
                    "tags": .array([.string(method.service)]),
                    "summary": .string(method.summary),
                    "description": .string(method.comment.isEmpty ? method.name : method.comment),
                    "requestBody": .object([
                        "required": true,
                        "content": .object([
                            "application/json": .object(["schema": .reference(method.input)])
                        ]),
                    ]),
                    "responses": .object([
                        "200": .object([
                            "description": "The call's response message (proto3 JSON).",
                            "content": .object([
                                "application/json": .object(["schema": .reference(method.output)])
                            ]),
                        ]),
                        "default": .object([
                            "description":
                                "The call failed: the gRPC status as a Connect error, with the HTTP status google.rpc.Code maps it to.",
                            "content": .object([
                                "application/json": .object([
                                    "schema": .reference(ConnectError.schemaName)
                                ])
                            ]),
                        ]),
                    ]),
                ])
            ])
        }
        var schemas = schema.schemas(reachableFrom: referenced)
        schemas[ConnectError.schemaName] = ConnectError.schema
        return .object([
            "openapi": "3.1.0",
            "info": .object([
                "title": "segment-server HTTP/JSON gateway",
                "version": .string(version),
                "description": .string(
                    "The unary methods of segment-server's gRPC services over HTTP/1.1 as the Connect protocol's unary calls: POST /package.Service/Method with the request message as proto3 JSON (Content-Type: application/json), or binary protobuf (application/proto). Streaming methods (uploads, ScoreStream, WatchJob, exports and imports) are gRPC's alone."
                ),
            ]),
            "paths": .object(operations),
            "components": .object([
                "schemas": .object(schemas),
                "securitySchemes": .object([
                    "bearer": .object([
                        "type": "http", "scheme": "bearer",
                        "description":
                            "A token of the server's --auth-tokens file (when the server requires tokens).",
                    ])
                ]),
            ]),
            // Optional: a server without --auth-tokens takes calls without a token.
            "security": .array([.object([:]), .object(["bearer": .array([])])]),
        ])
    }
}

/// The messages, enums and unary methods of a descriptor set, with their comments, as JSON
/// Schemas of the proto3 JSON mapping.
private struct SchemaIndex {
    struct Method {
        var service: String
        var name: String
        var input: String
        var output: String
        var comment: String
        var operationID: String { "\(service.split(separator: ".").last ?? "")_\(name)" }
        /// The comment's first sentence (comments wrap lines mid-sentence).
        var summary: String {
            let text = comment.split(separator: "\n").joined(separator: " ")
            guard !text.isEmpty else { return name }
            guard let end = text.range(of: ". ") else { return text }
            return String(text[..<end.lowerBound]) + "."
        }
    }

    var messages: [String: (Google_Protobuf_DescriptorProto, comments: [String: String])] = [:]
    var enums: [String: (Google_Protobuf_EnumDescriptorProto, comment: String)] = [:]
    var methods: [String: Method] = [:]

    init(_ set: Google_Protobuf_FileDescriptorSet) {
        for file in set.file {
            let comments = Self.comments(file)
            let package = file.package.isEmpty ? "" : file.package + "."
            for (index, message) in file.messageType.enumerated() {
                add(message, name: package + message.name, path: [4, Int32(index)], comments)
            }
            for (index, kind) in file.enumType.enumerated() {
                enums[package + kind.name] = (kind, comments[[5, Int32(index)]] ?? "")
            }
            for (serviceIndex, service) in file.service.enumerated() {
                for (index, method) in service.method.enumerated()
                where !method.clientStreaming && !method.serverStreaming {
                    methods["/\(package)\(service.name)/\(method.name)"] = Method(
                        service: package + service.name, name: method.name,
                        input: String(method.inputType.drop(while: { $0 == "." })),
                        output: String(method.outputType.drop(while: { $0 == "." })),
                        comment: comments[[6, Int32(serviceIndex), 2, Int32(index)]] ?? "")
                }
            }
        }
    }

    /// Each message with its nested messages and enums; comments keyed by the field's number.
    private mutating func add(
        _ message: Google_Protobuf_DescriptorProto, name: String, path: [Int32],
        _ comments: [[Int32]: String]
    ) {
        var fields: [String: String] = [:]
        fields[""] = comments[path] ?? ""
        for (index, field) in message.field.enumerated() {
            fields[field.name] = comments[path + [2, Int32(index)]] ?? ""
        }
        messages[name] = (message, fields)
        for (index, nested) in message.nestedType.enumerated() {
            add(nested, name: name + "." + nested.name, path: path + [3, Int32(index)], comments)
        }
        for (index, kind) in message.enumType.enumerated() {
            enums[name + "." + kind.name] = (kind, comments[path + [4, Int32(index)]] ?? "")
        }
    }

    /// Leading comments by source path, trimmed.
    private static func comments(_ file: Google_Protobuf_FileDescriptorProto) -> [[Int32]: String] {
        var comments: [[Int32]: String] = [:]
        for location in file.sourceCodeInfo.location where location.hasLeadingComments {
            comments[location.path] = location.leadingComments
                .split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
                .joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return comments
    }

    /// The schemas of `roots` and of every message and enum their fields reach.
    func schemas(reachableFrom roots: [String]) -> [String: JSONValue] {
        var schemas: [String: JSONValue] = [:]
        var pending = roots
        while let name = pending.popLast() {
            guard schemas[name] == nil else { continue }
            if let (kind, comment) = enums[name] {
                var members: [String: JSONValue] = [
                    "type": "string", "enum": .array(kind.value.map { .string($0.name) }),
                ]
                if !comment.isEmpty { members["description"] = .string(comment) }
                schemas[name] = .object(members)
            } else if let (message, comments) = messages[name] {
                var properties: [String: JSONValue] = [:]
                for field in message.field {
                    // proto3 JSON reads null as the field's default.
                    var members: [String: JSONValue] = [
                        "anyOf": [
                            fieldSchema(field, in: name, pending: &pending),
                            .object(["type": "null"]),
                        ]
                    ]
                    if let text = comments[field.name], !text.isEmpty {
                        members["description"] = .string(text)
                    }
                    properties[field.jsonName] = .object(members)
                }
                var members: [String: JSONValue] = [
                    "type": "object", "properties": .object(properties),
                    "additionalProperties": false,
                ]
                if let text = comments[""], !text.isEmpty { members["description"] = .string(text) }
                let exclusive = Self.oneofPairs(message)
                if !exclusive.isEmpty {
                    // At most one member of each oneof.
                    members["allOf"] = .array(
                        exclusive.map { pair in
                            .object([
                                "not": .object(["required": [.string(pair.0), .string(pair.1)]])
                            ])
                        })
                }
                schemas[name] = .object(members)
            }
        }
        return schemas
    }

    /// The JSON names of every two members of one oneof (proto3 `optional`'s one-member oneofs
    /// aside): proto3 JSON refuses a message that sets both.
    private static func oneofPairs(_ message: Google_Protobuf_DescriptorProto) -> [(String, String)]
    {
        var groups: [Int32: [String]] = [:]
        for field in message.field where field.hasOneofIndex && !field.proto3Optional {
            groups[field.oneofIndex, default: []].append(field.jsonName)
        }
        return groups.keys.sorted().flatMap { key in
            let names = groups[key]!
            return names.indices.flatMap { i in names[(i + 1)...].map { (names[i], $0) } }
        }
    }

    private func fieldSchema(
        _ field: Google_Protobuf_FieldDescriptorProto, in message: String,
        pending: inout [String]
    ) -> JSONValue {
        let typeName = String(field.typeName.drop(while: { $0 == "." }))
        if field.label == .repeated, field.type == .message,
            let (entry, _) = messages[typeName], entry.options.mapEntry,
            let value = entry.field.first(where: { $0.number == 2 })
        {
            return .object([
                "type": "object",
                "additionalProperties": singular(value, pending: &pending),
            ])
        }
        let one = singular(field, pending: &pending)
        return field.label == .repeated ? .object(["type": "array", "items": one]) : one
    }

    /// The proto3 JSON mapping of one value of the field's type.
    private func singular(
        _ field: Google_Protobuf_FieldDescriptorProto, pending: inout [String]
    ) -> JSONValue {
        let typeName = String(field.typeName.drop(while: { $0 == "." }))
        switch field.type {
        case .double, .float:
            // Not-a-number and the infinities are strings in proto3 JSON.
            return .object([
                "anyOf": .array([
                    .object(["type": "number"]),
                    .object(["type": "string", "enum": ["NaN", "Infinity", "-Infinity"]]),
                ])
            ])
        case .int32, .sint32, .sfixed32:
            return .object([
                "type": "integer", "format": "int32", "minimum": .number(-2_147_483_648),
                "maximum": .number(2_147_483_647),
            ])
        case .uint32, .fixed32:
            return .object([
                "type": "integer", "format": "uint32", "minimum": 0,
                "maximum": .number(4_294_967_295),
            ])
        case .int64, .sint64, .sfixed64:
            // 64-bit integers are decimal strings in proto3 JSON (numbers are accepted too).
            return .object([
                "type": "string", "format": "int64", "pattern": "^-?(0|[1-9][0-9]{0,17})$",
            ])
        case .uint64, .fixed64:
            return .object([
                "type": "string", "format": "uint64", "pattern": "^(0|[1-9][0-9]{0,18})$",
            ])
        case .bool:
            return .object(["type": "boolean"])
        case .string:
            return .object(["type": "string"])
        case .bytes:
            return .object(["type": "string", "contentEncoding": "base64"])
        case .enum:
            pending.append(typeName)
            return .reference(typeName)
        case .message, .group:
            if typeName == "google.protobuf.Timestamp" {
                return .object(["type": "string", "format": "date-time"])
            }
            if typeName == "google.protobuf.Any" {
                // proto3 JSON: the packed message's own fields, with its type URL in "@type".
                return .object([
                    "type": "object", "required": ["@type"],
                    "properties": .object(["@type": .object(["type": "string"])]),
                ])
            }
            pending.append(typeName)
            return .reference(typeName)
        }
    }
}

/// A JSON document built in code (the OpenAPI document): encodes as itself.
indirect enum JSONValue: Encodable, Equatable, ExpressibleByStringLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral
{
    case object([String: JSONValue])
    case array([JSONValue])
    case string(String)
    case number(Double)
    case bool(Bool)

    static func reference(_ name: String) -> JSONValue {
        .object(["$ref": .string("#/components/schemas/\(name)")])
    }

    init(stringLiteral value: String) { self = .string(value) }
    init(booleanLiteral value: Bool) { self = .bool(value) }
    init(integerLiteral value: Int) { self = .number(Double(value)) }
    init(arrayLiteral elements: JSONValue...) { self = .array(elements) }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .object(let members): try container.encode(members)
        case .array(let elements): try container.encode(elements)
        case .string(let text): try container.encode(text)
        case .bool(let flag): try container.encode(flag)
        case .number(let value):
            // Whole numbers as integers: "minimum": 0, not 0.0.
            if value == value.rounded(), abs(value) < 1e15 {
                try container.encode(Int64(value))
            } else {
                try container.encode(value)
            }
        }
    }
}
