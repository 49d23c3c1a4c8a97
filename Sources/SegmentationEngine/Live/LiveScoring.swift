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
        customers.values.lazy.filter { $0.netSpend > 0 || $0.refunded == 0 }
            .compactMap(\.lastDay).max().map { $0 + 1 }
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
