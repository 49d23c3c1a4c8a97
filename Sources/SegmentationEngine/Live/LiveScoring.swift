extension SegmentationModel {
    /// A loader for live batches, cleaned as this model's training data was (its columns,
    /// filters and cancellation rules), keeping each line's identity.
    public func liveBatchLoader() -> TransactionLoader {
        var loader = TransactionLoader(
            columns: transactionColumns ?? TransactionColumns(),
            filters: training.configuration.filters ?? [],
            cleaning: training.configuration.cleaning ?? .legacy)
        loader.keepsLineIdentities = true
        return loader
    }
}

extension LiveCustomerStore {
    /// The day after the latest purchase of a customer who has features (nil when none has).
    public var dayAfterLatestPurchase: Int? {
        customers.values.lazy.filter(\.hasFeatures).compactMap(\.lastDay).max().map { $0 + 1 }
    }

    /// "Now" on the event clock, for replaying history: the later of `model`'s snapshot and the
    /// day after the latest purchase seen, as batch scoring of the same lines measures recency.
    public func eventClockDay(for model: SegmentationModel) -> Int? {
        dayAfterLatestPurchase.map { max(model.snapshotDay ?? 0, $0) }
    }

    /// Every customer who has features, scored by `model` as of `snapshotDay`, in customer-id order.
    public func score(
        with model: SegmentationModel, snapshotDay: Int, cancellation: CancellationCheck = .never
    ) throws -> [Assignment] {
        guard model.kind == .transactions else {
            throw ModelError.wrongKind(expected: model.kind, found: .transactions)
        }
        let features = features(snapshotDay: snapshotDay)
        guard features.count > 0 else { return [] }
        return try model.score(
            customerIDs: features.customerIDs, columns: model.pipeline.features,
            values: features.selecting(features: model.pipeline.features),
            cancellation: cancellation)
    }
}

extension LiveCustomerStore {
    /// The segment of each of `ids` who has features as of `day`, under `model` (a customer
    /// without features, or unknown to the store, is in none: absent from the answer).
    public func segments(
        of ids: [String], under model: SegmentationModel, day: Int
    ) throws -> [String: Int] {
        var scored: [String] = []
        var rows: [Double] = []
        for id in ids {
            guard let row = features(of: id, snapshotDay: day) else { continue }
            scored.append(id)
            rows += row
        }
        guard !scored.isEmpty else { return [:] }
        guard model.kind == .transactions else {
            throw ModelError.wrongKind(expected: model.kind, found: .transactions)
        }
        let names = featureNames
        let values = try CustomerFeatures(
            customerIDs: scored, names: names,
            values: Matrix(rows: scored.count, columns: names.count, values: rows)
        ).selecting(features: model.pipeline.features)
        let scores = try model.scoreBatch(
            customerIDs: scored, columns: model.pipeline.features, values: values)
        return Dictionary(
            uniqueKeysWithValues: zip(scored, scores.segmentIDs.lazy.map { Int($0) }))
    }
}

extension LiveCustomerStore {
    /// One customer placed by `model` as of `day`, as `SegmentationModel.score` places them from
    /// their transactions: segment, explanation, atypical facts, and, when the model has a
    /// customer-value model, their value figures (`options.value`'s horizons). nil without
    /// features.
    public func assignment(
        of id: String, under model: SegmentationModel, day: Int, options: ScoreOptions = .init()
    ) throws -> Assignment? {
        guard let state = customers[id], let row = features(of: state, snapshotDay: day) else {
            return nil
        }
        guard model.kind == .transactions else {
            throw ModelError.wrongKind(expected: model.kind, found: .transactions)
        }
        var columns = model.pipeline.features
        var values = try CustomerFeatures(
            customerIDs: [id], names: featureNames,
            values: Matrix(rows: 1, columns: row.count, values: row)
        ).selecting(features: columns).values
        if model.customerValue?.model != nil, let summary = state.purchaseSummary(snapshotDay: day)
        {
            columns += PurchaseSummary.columnNames
            values += [
                Double(summary.frequency), summary.recency, summary.age, summary.monetary,
            ]
        }
        return try model.score(
            customerIDs: [id], columns: columns,
            values: Matrix(rows: 1, columns: columns.count, values: values), options: options)[0]
    }
}
