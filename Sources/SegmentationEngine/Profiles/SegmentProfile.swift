import Foundation

/// Mean, median and standing against the whole population of one raw feature in one segment.
public struct FeatureSummary: Codable, Sendable, Equatable {
    public var feature: String
    public var mean: Double
    public var median: Double
    /// (segment mean - population mean) / population standard deviation, measured after the
    /// pipeline's log transform where it applies: how unusual the segment is on this feature.
    public var zScore: Double
    /// The mean over all customers (nil in models from before it was kept).
    public var populationMean: Double?
    /// The median over all customers.
    public var populationMedian: Double?
}

/// How a segment splits by one sensitive attribute (gender, ethnicity...), beside the whole
/// population's split, so a person can audit fairness. Never used in names or actions.
public struct AttributeComposition: Codable, Sendable, Equatable {
    public var attribute: String
    /// Shares of the attribute's values in the segment, largest first.
    public var shares: [ValueShare]
    /// The same values' shares among all customers.
    public var populationShares: [ValueShare]
}

public struct ValueShare: Codable, Sendable, Equatable {
    public var value: String
    public var share: Double
}

public struct CountryShare: Codable, Sendable, Equatable {
    public var country: String
    public var share: Double
}

public struct RFMShare: Codable, Sendable, Equatable {
    public var segment: RFMSegment
    public var share: Double
}

/// What a segment looks like.
public struct SegmentProfile: Codable, Sendable, Equatable {
    public var size: Int
    public var customerShare: Double
    /// Share of total monetary value, when the features include it.
    public var revenueShare: Double?
    public var features: [FeatureSummary]
    public var modeQuantity: Double?
    public var topCountries: [CountryShare]
    /// The RFM score segments found in this cluster, largest first.
    public var rfmMix: [RFMShare]
    /// Composition by sensitive attributes, for customer tables that have them.
    public var composition: [AttributeComposition]?
    /// Transactions models: lapsed and one-time shares, spend and basket against all customers
    /// (nil for customer tables and in models from before facts were kept).
    public var facts: SegmentFacts?
    /// Transactions with a product column: what the segment's customers buy (nil otherwise and in
    /// models from before it was kept).
    public var products: SegmentProducts?
    /// Customer tables: standout columns ("High Balance") the stability refits do not steadily
    /// find, so the name leaves them out (transactions keep theirs in `facts`).
    public var unsteadyColumns: [UnsteadyClaim]?

    public func summary(of feature: String) -> FeatureSummary? {
        features.first { $0.feature == feature }
    }
}

/// Builds segment profiles from raw features and cluster labels.
public enum SegmentProfiler {
    public static func profiles(
        features: CustomerFeatures, labels: [Int32], k: Int, pipeline: FittedPipeline,
        rfm: [RFMSegment]?
    ) -> [SegmentProfile] {
        let sensitive = features.sensitiveAttributes.sorted { $0.key < $1.key }
        let populationComposition = sensitive.map { name, values in
            (name, topShares(values, limit: 10).map { ValueShare(value: $0.key, share: $0.share) })
        }
        let populationMedians = features.names.indices.map {
            Statistics.median(features.values.column($0))
        }
        let populationMeans = features.names.indices.map {
            Statistics.mean(features.values.column($0))
        }
        let n = features.count
        var members = [[Int]](repeating: [], count: k)
        for row in 0..<n { members[Int(labels[row])].append(row) }
        let facts = SegmentFacts.perSegment(features: features, members: members)
        let monetary = features.column(named: TransactionFeature.monetary.rawValue)
        let totalRevenue = monetary?.reduce(0, +) ?? 0
        let logged: [[Double]] = features.names.indices.map { j in
            let column = features.values.column(j)
            guard let p = pipeline.features.firstIndex(of: features.names[j]) else { return column }
            return column.map { pipeline.logged($0, feature: p) }
        }
        let population = logged.map { column -> (Double, Double) in
            let mean = Statistics.mean(column)
            return (mean, Statistics.populationStandardDeviation(column, mean: mean))
        }
        return members.enumerated().map { segment, rows in
            let summaries = features.names.indices.map { j -> FeatureSummary in
                let raw = rows.map { features.values[$0, j] }
                let segmentLoggedMean = Statistics.mean(rows.map { logged[j][$0] })
                let (mean, sd) = population[j]
                return FeatureSummary(
                    feature: features.names[j], mean: Statistics.mean(raw),
                    median: Statistics.median(raw),
                    zScore: sd > 0 ? (segmentLoggedMean - mean) / sd : 0,
                    populationMean: populationMeans[j], populationMedian: populationMedians[j])
            }
            let revenue = monetary.map { m in rows.reduce(0) { $0 + m[$1] } }
            return SegmentProfile(
                size: rows.count,
                customerShare: Double(rows.count) / Double(max(n, 1)),
                revenueShare: revenue.map { totalRevenue > 0 ? $0 / totalRevenue : 0 },
                features: summaries,
                modeQuantity: summaries.first {
                    $0.feature == TransactionFeature.modeQuantity.rawValue
                }.map { _ in
                    var quantities = rows.map {
                        features.values[
                            $0,
                            features.names.firstIndex(of: TransactionFeature.modeQuantity.rawValue)!
                        ]
                    }
                    return RFMFeatureBuilder.mode(of: &quantities)
                },
                topCountries: topShares(rows.compactMap { features.homeCountry?[$0] }, limit: 3)
                    .map { CountryShare(country: $0.key, share: $0.share) },
                rfmMix: rfm.map { segments in
                    topShares(rows.map { segments[$0].rawValue }, limit: 10)
                        .map { RFMShare(segment: RFMSegment(rawValue: $0.key)!, share: $0.share) }
                } ?? [],
                composition: sensitive.isEmpty
                    ? nil
                    : zip(sensitive, populationComposition).map { attribute, population in
                        AttributeComposition(
                            attribute: attribute.key,
                            shares: topShares(rows.map { attribute.value[$0] }, limit: 10).map {
                                ValueShare(value: $0.key, share: $0.share)
                            },
                            populationShares: population.1)
                    },
                facts: facts?[segment])
        }
    }

    /// The most common values and their shares, largest first (ties by value).
    static func topShares(_ values: [String], limit: Int) -> [(key: String, share: Double)] {
        guard !values.isEmpty else { return [] }
        var counts: [String: Int] = [:]
        for value in values { counts[value, default: 0] += 1 }
        return counts.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
            .prefix(limit)
            .map { ($0.key, Double($0.value) / Double(values.count)) }
    }
}
