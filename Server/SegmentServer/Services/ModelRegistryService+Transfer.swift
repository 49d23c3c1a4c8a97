import Crypto
import Foundation
import GRPCCore
import SegmentBuild
import SegmentationAPI
import SegmentationEngine
import SegmentationMapping

/// ExportModel and ImportModel: a version's stored model moved between servers, checked by size
/// and SHA-256 at both ends.
extension ModelRegistryService {
    /// Bytes per ExportModel message.
    static let transferChunk = 1 << 20
    /// The largest model ImportModel takes (held in memory while checked): models are a few
    /// megabytes; the largest trained here stay far below this.
    static let maximumImportBytes: Int64 = 256 << 20

    func exportModel(
        request: Segmentation_V1_ExportModelRequest,
        response: RPCWriter<Segmentation_V1_ExportModelResponse>, context: ServerContext
    ) async throws {
        let resolved = try await models.resolve(try ModelReference(request.model))
        let bytes = try await registry.modelBytes(resolved.name, resolved.version)
        let header = Segmentation_V1_ModelFileHeader.with {
            $0.name = resolved.name
            $0.version = Int32(resolved.version)
            $0.size = Int64(bytes.count)
            $0.sha256 = SHA256.hash(data: bytes).hex
            $0.server = BuildInfo.current.line(program: "segment-server")
            $0.exportedAt = .init(date: Date())
            $0.k = Int32(resolved.model.segments.count)
            $0.customers = Int64(resolved.model.dataReport.customersOut)
            $0.datasetID = models.record(resolved.name, resolved.version)?.datasetID ?? ""
        }
        var offset = 0
        repeat {
            let end = min(bytes.count, offset + Self.transferChunk)
            try await response.write(
                .with {
                    if offset == 0 { $0.header = header }
                    $0.data = bytes.subdata(in: offset..<end)
                })
            offset = end
        } while offset < bytes.count
    }

    func importModel(
        request: RPCAsyncSequence<Segmentation_V1_ImportModelRequest, any Error>,
        context: ServerContext
    ) async throws -> Segmentation_V1_ImportModelResponse {
        var header: Segmentation_V1_ModelFileHeader?
        var name = ""
        var bytes = Data()
        for try await message in request {
            if header == nil {
                guard message.hasHeader else {
                    throw InvalidField("header", "the first message must carry the model's header")
                }
                header = message.header
                name = message.name.isEmpty ? message.header.name : message.name
                try Names.validateModelName(name)
                let limit = min(store.maximumBytes, Self.maximumImportBytes)
                guard message.header.size >= 0, message.header.size <= limit else {
                    throw ModelTransferError.tooLarge(size: message.header.size, limit: limit)
                }
                try Self.check(message.header)
            }
            bytes.append(message.data)
            guard Int64(bytes.count) <= header!.size else {
                throw ModelTransferError.mismatch("more bytes than the header's \(header!.size)")
            }
        }
        guard let header else {
            throw InvalidField("header", "the stream ended before the model's header")
        }
        guard Int64(bytes.count) == header.size else {
            throw ModelTransferError.mismatch(
                "\(bytes.count) bytes where the header says \(header.size)")
        }
        guard SHA256.hash(data: bytes).hex == header.sha256.lowercased() else {
            throw ModelTransferError.mismatch("the bytes fail the header's SHA-256")
        }
        let model: SegmentationModel
        do {
            model = try SegmentationModel(serialized: bytes)
        } catch ModelError.newerFormat(let found, let supported) {
            throw ModelTransferError.newerFormat(found: found, supported: supported)
        }
        let origin = header.server.isEmpty ? "another server" : header.server
        let source = "\(header.name)@\(header.version) of \(origin)"
        let (target, datasetID) = (name, header.datasetID)
        let record = try await models.addVersion(named: target, completing: nil) { latest in
            let previous = try latest.map { try $0.get() }
            let joined = model.imported(
                after: previous.map { ($0.model, $0.version) }, source: source)
            return NewVersion(
                name: target, model: joined, modelBytes: try joined.serialized(),
                datasetID: datasetID, jobID: nil, parentVersion: nil)
        }
        return .with { $0.version = record.proto(aliases: models.aliases(of: name)) }
    }
}

extension ModelRegistryService {
    /// What an import stores from the header: a dataset id of this server's form, short text.
    static func check(_ header: Segmentation_V1_ModelFileHeader) throws {
        let id = header.datasetID
        let hex = id.dropFirst("sha256:".count)
        guard
            id.isEmpty
                || (id.hasPrefix("sha256:") && hex.count == 64
                    && hex.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        else {
            throw InvalidField(
                "header.dataset_id", "header.dataset_id must be sha256: and 64 hex digits, or empty"
            )
        }
        guard header.name.utf8.count <= 200, header.server.utf8.count <= 200 else {
            throw InvalidField("header", "header.name and header.server are at most 200 bytes")
        }
    }
}

/// Why an imported model is refused.
enum ModelTransferError: Error, CustomStringConvertible {
    case mismatch(String)
    case newerFormat(found: Int, supported: Int)
    case tooLarge(size: Int64, limit: Int64)

    var description: String {
        switch self {
        case .mismatch(let what): "the imported model is damaged: \(what); export it again"
        case .newerFormat(let found, let supported):
            "the model was written by a newer server (model format \(found); this server reads up to \(supported)): upgrade this server first"
        case .tooLarge(let size, let limit):
            "the model is \(size) bytes; this server takes uploads of at most \(limit)"
        }
    }
}
