import Foundation
import GRPCCore
import SegmentationAPI
import SegmentationEngine
import SegmentationMapping

/// Lists, explains, aliases, deletes and annotates model versions.
struct ModelRegistryService: Segmentation_V1_ModelRegistry.SimpleServiceProtocol {
    let models: ServedModels
    let store: DatasetStore
    /// Scoring's counts, for GetDrift (nil: drift is not measured).
    var drift: DriftRecorder?
    var registry: any Registry { models.registry }

    /// Customers per ExportAssignments message (well under the 4 MiB default receive limit).
    static let exportBatch = 10_000

    func listModels(
        request: Segmentation_V1_ListModelsRequest, context: ServerContext
    ) async throws -> Segmentation_V1_ListModelsResponse {
        let paging = try PageRequest(
            size: request.pageSize, token: request.pageToken, list: "models")
        let page = paging.page(models.summaries(), key: \.name) { $0.name > $1 }
        return .with {
            $0.nextPageToken = page.nextToken
            $0.models = page.items.map { model in
                .with {
                    $0.name = model.name
                    $0.latestVersion = Int32(model.latestVersion)
                    $0.versionCount = Int32(model.versionCount)
                    $0.aliases = model.aliases.mapValues(Int32.init)
                    $0.updatedAt = .init(model.updatedAt)
                }
            }
        }
    }

    func listVersions(
        request: Segmentation_V1_ListVersionsRequest, context: ServerContext
    ) async throws -> Segmentation_V1_ListVersionsResponse {
        try Names.validateModelName(request.name)
        let paging = try PageRequest(
            size: request.pageSize, token: request.pageToken, list: "versions", scope: request.name)
        let page = paging.page(
            try models.records(of: request.name),
            key: { String($0.version) }
        ) { $0.version > Int($1) ?? Int.max }
        let aliases = models.aliases(of: request.name)
        return .with {
            $0.nextPageToken = page.nextToken
            $0.versions = page.items.map { version in
                var summary = version.proto(aliases: aliases)
                summary.problem = models.problem(version.name, version.version) ?? ""
                return summary
            }
        }
    }

    func getModel(
        request: Segmentation_V1_GetModelRequest, context: ServerContext
    ) async throws -> Segmentation_V1_GetModelResponse {
        let resolved = try await models.resolve(try ModelReference(request.model))
        guard let version = models.record(resolved.name, resolved.version) else {
            throw RegistryError.notFound(.version(resolved.name, resolved.version))
        }
        let detail = resolved.model.detail(
            version: version.proto(aliases: models.aliases(of: resolved.name)),
            includeSample: request.includeSample)
        return .with { $0.model = detail }
    }

    func setAlias(
        request: Segmentation_V1_SetAliasRequest, context: ServerContext
    ) async throws -> Segmentation_V1_SetAliasResponse {
        let reference = try ModelReference(request.model)
        try Names.validateAlias(request.alias)
        try Self.checkAuthor(request.author)
        guard !request.hasExpectedVersion || request.expectedVersion >= 0 else {
            throw InvalidField(
                "expected_version",
                "expected_version must be a version number, or 0 for an alias that must not exist yet"
            )
        }
        let (previous, version) = try await models.setAlias(
            request.alias, to: reference,
            expecting: request.hasExpectedVersion
                ? AliasExpectation(Int(request.expectedVersion)) : nil,
            by: Caller.actor(author: request.author, context: context))
        return .with {
            $0.previousVersion = Int32(previous ?? 0); $0.version = Int32(version)
        }
    }

    func deleteAlias(
        request: Segmentation_V1_DeleteAliasRequest, context: ServerContext
    ) async throws -> Segmentation_V1_DeleteAliasResponse {
        try Names.validateModelName(request.name)
        try Self.checkAuthor(request.author)
        try await models.deleteAlias(
            request.name, alias: request.alias,
            by: Caller.actor(author: request.author, context: context))
        return .init()
    }

    func listAliasHistory(
        request: Segmentation_V1_ListAliasHistoryRequest, context: ServerContext
    ) async throws -> Segmentation_V1_ListAliasHistoryResponse {
        try Names.validateModelName(request.name)
        let paging = try PageRequest(
            size: request.pageSize, token: request.pageToken, list: "alias history",
            scope: request.name)
        let events = try await registry.aliasHistory(of: request.name)
        if events.isEmpty { _ = try models.records(of: request.name) }  // NOT_FOUND when unknown
        let page = paging.page(
            Array(events.reversed()), key: { String($0.sequence) }
        ) { $0.sequence < Int($1) ?? Int.min }
        return .with {
            $0.nextPageToken = page.nextToken
            $0.events = page.items.map(\.proto)
        }
    }

    func getDrift(
        request: Segmentation_V1_GetDriftRequest, context: ServerContext
    ) async throws -> Segmentation_V1_GetDriftResponse {
        let hours = request.sinceHours == 0 ? 24 : Int(request.sinceHours)
        guard (1...DriftWindow.retentionHours).contains(hours) else {
            throw InvalidField(
                "since_hours",
                "since_hours must be 1...\(DriftWindow.retentionHours) (90 days are kept), got \(request.sinceHours)"
            )
        }
        let resolved = try await models.resolve(try ModelReference(request.model))
        var response = Segmentation_V1_GetDriftResponse.with {
            $0.modelName = resolved.name
            $0.modelVersion = Int32(resolved.version)
            $0.sinceHours = Int32(hours)
        }
        guard let reference = resolved.model.driftReference, let drift else {
            response.unavailable =
                drift == nil
                ? "drift is not measured by this server"
                : "this version was trained before drift references were kept: retrain it to measure drift"
            return response
        }
        await drift.flush()  // this server's latest counts too
        let (windows, report) = try await drift.measure(
            resolved.name, resolved.version, reference: reference, hours: hours)
        guard let report else {
            response.unavailable =
                "no scoring of this version was counted in the last \(hours) hours"
            return response
        }
        response.fill(report)
        response.hours = windows.map { window in
            .with {
                $0.start = .init(Date(timeIntervalSince1970: Double(window.hour) * 3600))
                $0.customers = Int64(window.counts.customers)
                $0.largestPsi =
                    DriftReport(counts: window.counts, reference: reference)?.largest ?? 0
            }
        }
        if hours == DriftRecorder.gaugeHours {  // the gauges are the last day's
            drift.metrics.driftMeasured(
                model: resolved.name, version: resolved.version, report: report)
        }
        return response
    }

    /// At most this many trained versions in ListSegmentSizes.
    static let maximumSizeVersions = 100

    func listSegmentSizes(
        request: Segmentation_V1_ListSegmentSizesRequest, context: ServerContext
    ) async throws -> Segmentation_V1_ListSegmentSizesResponse {
        try Names.validateModelName(request.name)
        let records = try models.records(of: request.name)
        let trained = records.filter { $0.parentVersion == nil }
        let kept = trained.suffix(Self.maximumSizeVersions)
        // An alias on a rename's copy is shown on the trained version the copy comes from.
        let parents = Dictionary(
            uniqueKeysWithValues: records.map { ($0.version, $0.parentVersion) })
        func trainedSource(_ version: Int) -> Int {
            var current = version
            for _ in 0..<records.count {
                guard let parent = parents[current] ?? nil else { break }
                current = parent
            }
            return current
        }
        var aliases: [Int: [String]] = [:]
        for (alias, version) in models.aliases(of: request.name) {
            let source = trainedSource(version)
            aliases[source, default: []].append(
                source == version ? alias : "\(alias) (@\(version), a copy)")
        }
        var versions: [Segmentation_V1_VersionSizes] = []
        var unreadable = 0
        for record in kept {
            // A version that cannot be read (damaged) is left out and counted.
            guard
                let resolved = try? await models.resolve(
                    ModelReference(name: request.name, selector: .version(record.version)))
            else {
                unreadable += 1
                continue
            }
            versions.append(
                .with { entry in
                    entry.version = Int32(record.version)
                    entry.createdAt = .init(record.createdAt)
                    entry.aliases = (aliases[record.version] ?? []).sorted()
                    entry.segments = resolved.model.segments.map { segment in
                        .with {
                            $0.stableID = Int32(segment.stableIDOrDefault)
                            $0.id = Int32(segment.id)
                            $0.name = segment.name
                            $0.customers = Int64(segment.profile.size)
                            $0.customerShare = segment.profile.customerShare
                            if let value = segment.profile.facts?.value?.lifetimeValue {
                                $0.lifetimeValue = value
                            }
                        }
                    }
                })
        }
        return .with {
            $0.name = request.name
            $0.versions = versions
            $0.omittedVersions = Int32(trained.count - kept.count + unreadable)
        }
    }

    static func checkAuthor(_ author: String) throws {
        guard author.count <= 200, author.utf8.count <= 800 else {
            throw InvalidField("author", "author: at most 200 characters (800 bytes)")
        }
        guard !author.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw InvalidField("author", "author: no control characters")
        }
    }

    func deleteVersion(
        request: Segmentation_V1_DeleteVersionRequest, context: ServerContext
    ) async throws -> Segmentation_V1_DeleteVersionResponse {
        let reference = try ModelReference(request.model)
        guard case .version(let number) = reference.selector else {
            throw InvalidField(
                "model.version",
                "model.version is required: a version is deleted by its number, never by an alias or as the latest"
            )
        }
        let removed = try await models.deleteVersion(
            reference.name, number, force: request.force,
            by: Caller.actor(author: "", context: context))
        return .with { $0.removedAliases = removed }
    }

    func renameSegment(
        request: Segmentation_V1_RenameSegmentRequest, context: ServerContext
    ) async throws -> Segmentation_V1_RenameSegmentResponse {
        guard request.author.count <= 200 else {
            throw InvalidField("author", "author: at most 200 characters")
        }
        let version = try await models.editSegment(
            try ModelReference(request.model), segment: Int(request.segmentID),
            name: request.newName.isEmpty ? nil : request.newName,
            description: request.hasNewDescription ? request.newDescription : nil,
            actions: request.hasNewActions ? request.newActions.actions : nil,
            author: request.author.isEmpty ? nil : request.author)
        return .with { $0.version = version.proto(aliases: models.aliases(of: version.name)) }
    }

    /// At most this many moved customers in one DiffModels answer.
    static let maximumDiffCustomers = 50_000
    /// DiffModels reads and scores whole training datasets: two at a time, eight more waiting.
    let diffs = WorkSlots(
        slots: 2, maximumWaiting: 8,
        whenFull: "10 DiffModels calls are already running or waiting; retry later")

    func diffModels(
        request: Segmentation_V1_DiffModelsRequest, context: ServerContext
    ) async throws -> Segmentation_V1_DiffModelsResponse {
        guard (0...Int32(Self.maximumDiffCustomers)).contains(request.customerLimit) else {
            throw InvalidField(
                "customer_limit",
                "customer_limit must be 0...\(Self.maximumDiffCustomers), got \(request.customerLimit)"
            )
        }
        let from = try await models.resolve(try ModelReference(request.from, field: "from"))
        let to = try await models.resolve(try ModelReference(request.to, field: "to"))
        let toSources = try await trainingSources(of: to)
        let fromSources = request.rescore ? nil : try await trainingSources(of: from)
        // The client's cancel or deadline, or the server's shutdown, stops the work.
        let (call, ended) = (context.cancellation, DrainEnd())
        let cancellation = CancellationCheck { call.isCancelled || ended.isSet }
        let comparison = try await withTaskCancellationHandler {
            try await diffs.run {
                try cancellation.throwIfCancelled()
                return try await OffPool.run(name: "diff") {
                    try VersionComparison.compare(
                        from.model, trainedOn: fromSources, to.model,
                        trainedOn: toSources, cancellation: cancellation)
                }
            }
        } onCancel: {
            ended.set()
        }
        var response = comparison.proto(customerLimit: Int(request.customerLimit))
        (response.fromName, response.fromVersion) = (from.name, Int32(from.version))
        (response.toName, response.toVersion) = (to.name, Int32(to.version))
        return response
    }

    /// A version's stored training data, checked to be the uploaded bytes.
    private func trainingSources(
        of resolved: ServedModels.Resolved
    ) async throws -> [TrainingSource] {
        guard let version = try await registry.version(resolved.name, resolved.version),
            let dataset = try await registry.dataset(id: version.datasetID)
        else {
            throw RegistryError.notFound(.trainingData(resolved.name, resolved.version))
        }
        let store = self.store
        try await OffPool.run(name: "verify") { try store.verify(dataset) }
        return store.paths(of: dataset).map(TrainingSource.path)
    }

    func exportAssignments(
        request: Segmentation_V1_ExportAssignmentsRequest,
        response: RPCWriter<Segmentation_V1_ExportAssignmentsResponse>,
        context: ServerContext
    ) async throws {
        let resolved = try await models.resolve(try ModelReference(request.model))
        let (model, sources) = (resolved.model, try await trainingSources(of: resolved))
        let result = try await OffPool.run(name: "export") {
            try model.assignTrainingData(sources)
        }
        let names = result.features.names
        let count = result.assignments.count
        for start in stride(from: 0, to: count, by: Self.exportBatch) {
            let rows = start..<min(start + Self.exportBatch, count)
            try await response.write(
                .with { message in
                    if start == 0 {
                        message.modelName = resolved.name
                        message.modelVersion = Int32(resolved.version)
                        message.featureNames = names
                    }
                    let batch = result.assignments[rows]
                    message.customerIds = batch.map(\.customerID)
                    message.segmentIds = batch.map { Int32($0.segmentID) }
                    message.distances = batch.map(\.distance)
                    message.runnerUpIds = batch.map { Int32($0.runnerUpID) }
                    message.runnerUpDistances = batch.map(\.runnerUpDistance)
                    message.rfmSegments = batch.map { $0.rfmSegment?.rawValue ?? "" }
                    message.outliers = batch.map(\.outlier)
                    message.atypical = batch.map { $0.atypical.joined(separator: "; ") }
                    if batch.contains(where: { $0.value != nil }) {
                        let figures = batch.map(\.value)
                        message.pAlive = figures.map { $0?.probabilityAlive ?? .nan }
                        message.expectedPurchases90D = figures.map { $0?.expectedPurchases ?? .nan }
                        message.expectedSpend = figures.map { $0?.expectedSpend ?? .nan }
                        message.clv365D = figures.map { $0?.lifetimeValue ?? .nan }
                    }
                    message.features = rows.flatMap { row in
                        (0..<names.count).map { result.features.values[row, $0] }
                    }
                })
        }
    }
}
