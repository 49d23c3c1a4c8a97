import Foundation
import SegmentReport
import SegmentationAPI
import SegmentationEngine
import Synchronization

/// Prints scores as they arrive: CSV row by row (numbers as numbers, one contribution column
/// per feature), a table or one JSON ScoreResponse at the end.
final class ScorePrinter: Sendable {
    let format: OutputFormat
    let features: [String]
    private let pending = Mutex<(rows: [[String]], merged: Segmentation_V1_ScoreResponse)>(
        ([], .init()))

    /// Customer-value columns, when the model gives the figures.
    let value: ValueColumns?
    /// Whether a recommendations column is printed.
    let recommends: Bool

    init(
        format: OutputFormat, model: Segmentation_V1_ModelDetail,
        horizons: ValueSettings = .init(), recommends: Bool = false
    ) {
        self.format = format
        features = model.features
        value =
            model.hasCustomerValue && model.customerValue.unavailable.isEmpty
            ? ValueColumns(horizons: horizons, money: model.customerValue.hasSpend) : nil
        self.recommends = recommends
        // Mixture models explain by membership probabilities, one per segment, not by feature shares.
        let explanation =
            model.algorithm == .gaussianMixture
            ? model.segments.map { "membership_\($0.id)" }
            : features.map { "contribution_\($0)" }
        if format == .csv {
            Output.print(
                Output.csv(
                    [
                        "customer", "segment_id", "segment", "distance", "runner_up_id",
                        "runner_up", "runner_up_distance",
                        "rfm_segment", "outlier", "atypical",
                    ] + (value?.names ?? []) + (recommends ? ["recommendations"] : [])
                        + explanation, []))
        }
    }

    func add(_ response: Segmentation_V1_ScoreResponse) {
        switch format {
        case .csv:
            let lines = response.scores.scores.map { score in
                CSVText.line(
                    [
                        score.customerID, String(score.segmentID), score.segmentName,
                        Output.raw(score.distance),
                        String(score.runnerUpID), score.runnerUpName,
                        Output.raw(score.runnerUpDistance), score.rfmSegment,
                        score.outlier ? "true" : "false", score.atypical.joined(separator: "; "),
                    ] + (value?.raw(score) ?? [])
                        + (recommends ? [Self.products(score.recommendations)] : [])
                        + (score.memberships.isEmpty ? score.contributions : score.memberships).map(
                            Output.raw))
            }
            if !lines.isEmpty { Output.print(lines.joined(separator: "\n")) }
        case .table:
            let rows = response.scores.scores.map { score in
                [
                    score.customerID, String(score.segmentID), score.segmentName,
                    Output.number(score.distance, digits: 3),
                    score.runnerUpName, score.outlier ? "yes" : "", why(score),
                    score.atypical.joined(separator: "; "), score.rfmSegment,
                ] + (value?.shown(score) ?? [])
                    + (recommends ? [Self.products(score.recommendations)] : [])
            }
            pending.withLock { $0.rows += rows }
        case .json:
            pending.withLock { state in
                state.merged.modelName = response.modelName
                state.merged.modelVersion = response.modelVersion
                state.merged.scores.scores += response.scores.scores
                if response.hasDataReport {
                    Self.merge(response.dataReport, into: &state.merged.dataReport)
                }
            }
        }
    }

    func finish() {
        switch format {
        case .csv: break
        case .table:
            let rows = pending.withLock { $0.rows }
            Output.print(
                Output.table(
                    [
                        "customer", "segment_id", "segment", "distance", "runner_up", "outlier",
                        "why (+ pulls in, - pushes away, vs the runner-up)", "atypical",
                        "rfm_segment",
                    ] + (value?.shownNames ?? []) + (recommends ? ["recommended"] : []), rows))
        case .json:
            let merged = pending.withLock { $0.merged }
            Output.print((try? Output.json(merged)) ?? "{}")
        }
    }

    /// "85123A WHITE HANGING HEART T-LIGHT HOLDER; 22423 REGENCY CAKESTAND 3 TIER".
    static func products(_ products: [Segmentation_V1_ProductStat]) -> String {
        products.map { $0.name.isEmpty ? $0.code : "\($0.code) \($0.name)" }.joined(
            separator: "; ")
    }

    /// Adds one message's cleaning counts to the whole input's (steps matched by name and rule).
    static func merge(
        _ part: Segmentation_V1_DataReport, into total: inout Segmentation_V1_DataReport
    ) {
        total.kind = part.kind
        total.rowsIn += part.rowsIn
        total.rowsOut += part.rowsOut
        total.customersIn += part.customersIn
        total.customersOut += part.customersOut
        for step in part.steps {
            if let index = total.steps.firstIndex(where: {
                $0.name == step.name && $0.rule == step.rule
            }) {
                total.steps[index].removed += step.removed
            } else {
                total.steps.append(step)
            }
        }
        var remaining = total.rowsIn
        for index in total.steps.indices {
            remaining -= total.steps[index].removed
            total.steps[index].remaining = remaining
        }
        for problem in part.problems where total.problems.count < 20 {
            total.problems.append(problem)
        }
        total.unusedColumns = part.unusedColumns
    }

    /// Both directions, as signed shares of the gap between the customer's distances to the
    /// runner-up's centre and to its segment's (they sum to 100%): the two features that pull it
    /// in most, then every feature that pushes it toward the runner-up ("frequency +61%,
    /// monetary +52%, recency -23%").
    /// For a mixture model, how likely its segment and the runner-up are: "likely 82% (runner-up 15%)".
    func why(_ score: Segmentation_V1_CustomerScore) -> String {
        guard !score.memberships.isEmpty else { return why(score.contributions) }
        let likely =
            score.memberships.indices.contains(Int(score.segmentID))
            ? score.memberships[Int(score.segmentID)] : 0
        let runnerUp =
            score.memberships.indices.contains(Int(score.runnerUpID))
            ? score.memberships[Int(score.runnerUpID)] : 0
        return "likely \(Format.percent(likely)) (runner-up \(Format.percent(runnerUp)))"
    }

    func why(_ contributions: [Double]) -> String {
        let named = zip(features, contributions).map {
            (SegmentLabeler.displayName($0.0).lowercased(), $0.1)
        }
        let pulls = named.filter { $0.1 > 0 }.sorted { $0.1 > $1.1 }.prefix(2)
        let pushes = named.filter { $0.1 < 0 }.sorted { $0.1 < $1.1 }
        return (Array(pulls) + pushes).map {
            "\($0.0) \($0.1 > 0 ? "+" : "-")\(Int((abs($0.1) * 100).rounded()))%"
        }.joined(separator: ", ")
    }
}

/// The customer-value columns of scores: named after their horizons, empty for a customer the
/// model gave no figures (a missing money figure: no spend model).
struct ValueColumns: Sendable {
    let horizons: ValueSettings
    let money: Bool

    var names: [String] {
        ["p_alive", "expected_purchases_\(horizons.purchaseHorizonDays)d"]
            + (money ? ["expected_spend", "clv_\(horizons.valueHorizonDays)d"] : [])
    }
    var shownNames: [String] {
        ["P(alive)", "purchases \(horizons.purchaseHorizonDays)d"]
            + (money ? ["value \(horizons.valueHorizonDays)d"] : [])
    }

    func raw(_ score: Segmentation_V1_CustomerScore) -> [String] {
        guard score.hasValue else { return names.map { _ in "" } }
        let v = score.value
        return [Output.raw(v.pAlive), Output.raw(v.expectedPurchases)]
            + (money
                ? [
                    v.hasSpend ? Output.raw(v.spend.expectedSpend) : "",
                    v.hasSpend ? Output.raw(v.spend.lifetimeValue) : "",
                ] : [])
    }

    func shown(_ score: Segmentation_V1_CustomerScore) -> [String] {
        guard score.hasValue else { return shownNames.map { _ in "" } }
        let v = score.value
        return [Output.number(v.pAlive, digits: 2), Output.number(v.expectedPurchases, digits: 2)]
            + (money ? [v.hasSpend ? Output.number(v.spend.lifetimeValue, digits: 0) : ""] : [])
    }
}
