import Foundation

/// The trainer's steps for customer value and what each segment buys (transactions models only).
extension SegmentationTrainer {
    /// Fits the customer-value model, and puts each segment's value figures into its facts and
    /// its product lists into its profile. nil for customer tables (no purchase history).
    func valueStep(
        _ data: PreparedData, labels: [Int32], profiles: inout [SegmentProfile]
    ) -> ModelCustomerValue? {
        if let purchases = data.purchases {
            let products = SegmentProducts.perSegment(
                purchases, labels: labels, segments: profiles.count)
            for c in profiles.indices { profiles[c].products = products[c] }
        }
        guard let histories = data.histories, let snapshotDay = data.snapshotDay else {
            return nil
        }
        let (value, summaries) = ModelCustomerValue.fit(histories, snapshotDay: snapshotDay)
        if let figures = value.figures(summaries) {
            let segments = SegmentValue.bySegment(
                figures, labels: labels.map(Int.init), segments: profiles.count,
                settings: value.settings)
            for c in profiles.indices {
                profiles[c].facts?.value = segments[c]
                profiles[c].facts?.value?.dropoutProbability = value.model?.dropoutProbability
            }
        }
        return value
    }
}
