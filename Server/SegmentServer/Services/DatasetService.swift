import Foundation
import GRPCCore
import SegmentationAPI
import SegmentationEngine
import SegmentationMapping

/// Receives uploads, checks they read as training will read them, stores them once by hash.
struct DatasetService: Segmentation_V1_DatasetService.SimpleServiceProtocol {
    static let uploadMethod = "UploadDataset"
    let registry: any Registry
    let store: DatasetStore
    let limits: TrainingLimits
    /// The final quota check and the record's insert, one upload at a time: no upload can pass
    /// between another's check and its insert.
    let commits = SerialLock()
    let metrics: ServerMetrics
    var afterChunk: (@Sendable () async -> Void)?

    func uploadDataset(
        request: RPCAsyncSequence<Segmentation_V1_UploadDatasetRequest, any Error>,
        context: ServerContext
    ) async throws -> Segmentation_V1_UploadDatasetResponse {
        var messages = request.makeAsyncIterator()
        guard case .header(let header)? = try await messages.next()?.part else {
            throw InvalidField("header", "the first message of an upload must be its header")
        }
        let kind = try InputKind(header.kind)
        let columns = DatasetColumns(header.columns)
        let requestID = try RequestIDs.check(header.requestID, field: "header.request_id")
        var configuration = TrainingConfiguration()
        configuration.kind = kind
        if kind == .transactions {
            configuration.transactionColumns = try TransactionColumns(roles: columns.roles)
        }
        if !columns.idColumn.isEmpty { configuration.customerColumns.id = columns.idColumn }

        let stored = try await registry.datasets().items.reduce(Int64(0)) { $0 + $1.sizeBytes }
        let upload = try store.beginUpload(kind: kind, columns: columns, storedBytes: stored)
        // Held until the record is stored (then the registry's total counts it) or discarded.
        defer { store.release(upload) }
        do {
            while let message = try await messages.next() {
                guard case .chunk(let chunk)? = message.part else {
                    throw InvalidField("header", "an upload has one header, then only file chunks")
                }
                try upload.append(fileName: chunk.fileName, data: chunk.data)
                metrics.uploadReceived(bytes: chunk.data.count)
                await afterChunk?()
            }
            let id = try upload.finish()
            // A request id used before for other files is refused before anything is stored.
            let request = requestID.map {
                ClientRequest(
                    method: Self.uploadMethod, id: $0, fingerprint: id, resultID: id,
                    createdAt: Date.wholeSeconds())
            }
            if let request,
                let earlier = try await registry.clientRequest(
                    method: Self.uploadMethod, id: request.id)
            {
                _ = try request.isRetry(of: earlier)
            }
            if let existing = try await registry.dataset(id: id) {
                if let request { _ = try await registry.insertDataset(existing, request: request) }
                // The same content again: keep the stored copy, unless it was damaged since,
                // in which case this upload repairs it.
                let store = self.store
                if (try? await OffPool.run(name: "verify-upload") { try store.verify(existing) })
                    == nil
                {
                    try store.replace(id: id, with: upload)
                } else {
                    store.discard(upload)
                }
                return .with {
                    $0.dataset = existing.proto; $0.alreadyExisted = true
                }
            }
            let paths = upload.paths
            for (file, path) in zip(upload.files, paths) {
                let columns = try CSVReader.header(ofFile: path)?.count ?? 0
                guard columns <= limits.maximumColumns else {
                    throw UploadError.tooManyColumns(
                        file: file.name, count: columns, limit: limits.maximumColumns)
                }
            }
            let prepared = try await OffPool.run(name: "check-upload") { [configuration] in
                try SegmentationTrainer(configuration: configuration).prepare(
                    paths.map(TrainingSource.path))
            }
            guard prepared.report.rowsIn <= limits.maximumRows else {
                throw UploadError.tooManyRows(
                    count: prepared.report.rowsIn, limit: limits.maximumRows)
            }
            let record = DatasetRecord(
                id: id, name: header.name.isEmpty ? upload.files[0].name : header.name, kind: kind,
                columns: columns,
                files: upload.files, rows: Int64(prepared.report.rowsIn),
                customers: Int64(prepared.features.count),
                features: prepared.customerEncoder.map { encoder in
                    // Every column a spec may name: the default features, and the identifiers
                    // and sensitive attributes left out by default.
                    encoder.columns.map(\.name) + (prepared.report.identifierColumns ?? [])
                        + (prepared.report.sensitiveColumns ?? [])
                } ?? prepared.features.names,
                createdAt: Date.wholeSeconds())
            let inserted = try await commits.run {
                try store.claim(
                    upload,
                    storedBytes: try await registry.datasets().items.reduce(Int64(0)) {
                        $0 + $1.sizeBytes
                    })
                _ = try store.commit(upload, id: id)
                let inserted = try await registry.insertDataset(record, request: request)
                store.release(upload)
                return inserted
            }
            return .with {
                $0.dataset = record.proto; $0.alreadyExisted = !inserted
            }
        } catch {
            store.discard(upload)
            throw error
        }
    }

    func getDataset(
        request: Segmentation_V1_GetDatasetRequest, context: ServerContext
    ) async throws -> Segmentation_V1_GetDatasetResponse {
        guard let dataset = try await registry.dataset(id: request.id) else {
            throw RegistryError.notFound(.dataset(request.id))
        }
        return .with { $0.dataset = dataset.proto }
    }

    func listDatasets(
        request: Segmentation_V1_ListDatasetsRequest, context: ServerContext
    ) async throws -> Segmentation_V1_ListDatasetsResponse {
        let paging = try PageRequest(
            size: request.pageSize, token: request.pageToken, list: "datasets")
        let datasets = try await registry.datasets()
        // Newest first, then by id: the key is "seconds id".
        let page = paging.page(
            datasets.items, key: { "\(Int64($0.createdAt.timeIntervalSince1970)) \($0.id)" }
        ) { item, key in
            let parts = key.split(separator: " ", maxSplits: 1).map(String.init)
            let (seconds, id) = (Int64(parts.first ?? "") ?? 0, parts.count > 1 ? parts[1] : "")
            let itemSeconds = Int64(item.createdAt.timeIntervalSince1970)
            return itemSeconds < seconds || (itemSeconds == seconds && item.id > id)
        }
        return .with {
            $0.datasets = page.items.map(\.proto)
            $0.unreadable = Int32(datasets.unreadable)
            $0.nextPageToken = page.nextToken
        }
    }

    func deleteDataset(
        request: Segmentation_V1_DeleteDatasetRequest, context: ServerContext
    ) async throws -> Segmentation_V1_DeleteDatasetResponse {
        guard !request.id.isEmpty else { throw InvalidField("id", "id is required") }
        let trained = try await registry.deleteDataset(id: request.id, force: request.force)
        store.delete(id: request.id)
        // The registry names them "name@N".
        return .with { $0.trainedVersions = trained.map(Segmentation_V1_ModelRef.init(text:)) }
    }
}
