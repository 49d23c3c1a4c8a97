import ArgumentParser
import Crypto
import Foundation
import GRPCCore
import SegmentationAPI

/// One model version in one portable, checksummed file:
///
///     segment-model 1\n
///     <header length>\n<header: ModelFileHeader as proto3 JSON>
///     <the model's stored bytes>
///     \nsha256 <hex of every byte before this line>\n
enum ModelFile {
    static let magic = "segment-model 1\n"

    static func encode(header: Segmentation_V1_ModelFileHeader, model: Data) throws -> Data {
        let json = try header.jsonUTF8Data()
        var file = Data(magic.utf8)
        file.append(Data("\(json.count)\n".utf8))
        file.append(json)
        file.append(model)
        file.append(Data("\nsha256 \(SHA256.hash(data: file).hex)\n".utf8))
        return file
    }

    /// The header and the model's bytes of a file, checked (its own checksum, then the model's
    /// size and SHA-256 against the header); a damaged or foreign file is refused.
    static func decode(_ file: Data, path: String) throws -> (Segmentation_V1_ModelFileHeader, Data)
    {
        func damaged(_ why: String) -> CLIError {
            .invalidInput("\(path) \(why): export the model again")
        }
        guard file.starts(with: Data(magic.utf8)) else {
            throw CLIError.invalidInput(
                "\(path) is not a model file written by segment models export-model")
        }
        var rest = file.dropFirst(magic.utf8.count)
        guard let newline = rest.firstIndex(of: UInt8(ascii: "\n")),
            let length = Int(String(decoding: rest[rest.startIndex..<newline], as: UTF8.self)),
            length > 0, length <= rest.count
        else { throw damaged("has an unreadable header") }
        rest = rest[(newline + 1)...]
        guard
            let header = try? Segmentation_V1_ModelFileHeader(
                jsonUTF8Data: Data(rest.prefix(length)))
        else { throw damaged("has a damaged header") }
        rest = rest.dropFirst(length)
        let trailerLength = 8 + 64 + 1
        guard header.size >= 0, header.size <= Int64(rest.count),
            rest.count == Int(header.size) + trailerLength
        else {
            throw damaged("is truncated or has extra bytes")
        }
        let body = file.prefix(file.count - trailerLength)
        let trailer = String(decoding: file.suffix(trailerLength), as: UTF8.self)
        guard trailer == "\nsha256 \(SHA256.hash(data: body).hex)\n" else {
            throw damaged("fails its checksum")
        }
        let model = Data(rest.prefix(Int(header.size)))
        guard SHA256.hash(data: model).hex == header.sha256 else {
            throw damaged("holds a model that fails its SHA-256")
        }
        return (header, model)
    }
}

extension Models {
    struct ExportModel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export-model",
            abstract:
                "Write one model version to a portable, checksummed file (import it with import-model).",
            discussion:
                "The file holds the stored model (segments, names, actions, scaling) with its size, SHA-256 and origin; not the training data."
        )
        @Argument(help: "name, name@version or name@alias.") var reference: String
        @Option(name: .customLong("to"), help: "The file to write.") var file: String
        @OptionGroup var server: ServerOptions

        func run() async throws {
            let (reference, file) = (reference, file)
            try await server.call { services, format in
                let (header, model) = try await services.models.exportModel(
                    .with { $0.model = .init(text: reference) }, options: largeResponses
                ) { response in
                    var header: Segmentation_V1_ModelFileHeader?
                    var model = Data()
                    for try await part in response.messages {
                        if part.hasHeader { header = part.header }
                        model.append(part.data)
                    }
                    guard let header else { throw CLIError.failed("the server sent no header") }
                    guard Int64(model.count) == header.size,
                        SHA256.hash(data: model).hex == header.sha256
                    else {
                        throw CLIError.failed(
                            "the model received does not match its header's size and SHA-256; export it again"
                        )
                    }
                    return (header, model)
                }
                try ModelFile.encode(header: header, model: model).write(
                    to: URL(fileURLWithPath: file), options: .atomic)
                try Output.emit(
                    format, header: ["model", "version", "k", "customers", "bytes", "file"],
                    rows: [
                        [
                            header.name, String(header.version), String(header.k),
                            String(header.customers), String(header.size), file,
                        ]
                    ]
                ) { try Output.json(header) }
            }
        }
    }

    struct ImportModel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-model",
            abstract:
                "Register a model file (from export-model, on this or another server) as a new version.",
            discussion:
                "The file is checked before it is sent and again by the server; a damaged file exits 4, one from a newer server 6."
        )
        @Argument(help: "The file export-model wrote.") var file: String
        @Option(help: "The model to add the version to (default: the name it was exported under).")
        var name: String?
        @OptionGroup var server: ServerOptions

        func run() async throws {
            let (path, name) = (file, name)
            try await server.call { services, format in
                let contents: Data
                do {
                    contents = try Data(contentsOf: URL(fileURLWithPath: path))
                } catch {
                    throw CLIError.invalidInput("cannot read \(path)")
                }
                let (header, model) = try ModelFile.decode(contents, path: path)
                let response = try await services.models.importModel { writer in
                    var offset = 0
                    repeat {
                        let end = min(model.count, offset + (1 << 20))
                        try await writer.write(
                            .with {
                                if offset == 0 {
                                    $0.header = header
                                    $0.name = name ?? ""
                                }
                                $0.data = model.subdata(in: offset..<end)
                            })
                        offset = end
                    } while offset < model.count
                }
                let version = response.version
                try Output.emit(
                    format, header: ["model", "version", "k", "customers", "from"],
                    rows: [
                        [
                            version.name, String(version.version), String(version.k),
                            String(version.customers), "\(header.name)@\(header.version)",
                        ]
                    ]
                ) { try Output.json(response) }
            }
        }
    }
}

extension SHA256.Digest {
    fileprivate var hex: String { map { String(format: "%02x", $0) }.joined() }
}
