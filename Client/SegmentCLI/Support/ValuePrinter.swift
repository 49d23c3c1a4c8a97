import Foundation
import SegmentationAPI

/// `models show`'s customer-value and product sections (transactions models).
enum ValuePrinter {
    /// The customer-value model in a few lines and each segment's figures, or why there are none.
    static func valueSection(_ model: Segmentation_V1_ModelDetail) -> String? {
        guard model.hasCustomerValue else {
            return model.kind == .customers
                ? "customer value: none (a customers table has no purchase history)" : nil
        }
        let value = model.customerValue
        guard value.unavailable.isEmpty else {
            return "customer value: none (\(value.unavailable))"
        }
        let p = value.purchases, h = value.horizons
        var lines = [
            String(
                format:
                    "customer value (BG/NBD r %.4g, alpha %.4g, a %.4g, b %.4g; %d customers, %@):",
                p.r, p.alpha, p.a, p.b, Int(value.purchasesFit.customers),
                value.hasSpend
                    ? String(
                        format: "Gamma-Gamma p %.4g, q %.4g, v %.4g on %d repeat buyers",
                        value.spend.p, value.spend.q, value.spend.v, Int(value.spendFit.customers))
                    : "no spend model")
        ]
        let money = value.hasSpend
        let rows = model.segments.map { segment -> [String] in
            let v = segment.facts.value
            return [
                String(segment.id), segment.name, Output.number(v.meanPAlive, digits: 2),
                Output.percent(v.shareLikelyLapsed), Output.number(v.expectedPurchases, digits: 0),
            ]
                + (money
                    ? [
                        Output.number(v.expectedRevenue, digits: 0),
                        Output.number(v.lifetimeValue, digits: 0),
                        Output.number(v.valueAtRisk, digits: 0),
                    ] : [])
        }
        lines.append(
            Output.table(
                [
                    "id", "segment", "mean_p_alive", "likely_lapsed",
                    "purchases_\(h.purchaseHorizonDays)d",
                ]
                    + (money
                        ? [
                            "revenue_\(h.purchaseHorizonDays)d", "value_\(h.valueHorizonDays)d",
                            "value_at_risk",
                        ] : []),
                rows))
        lines.append(
            "likely lapsed: P(alive) under 0.5; value at risk: the value of those customers; "
                + "one-time buyers count as alive (the model sees no dropout before a repeat purchase)"
        )
        if value.hasCalibration {
            let c = value.calibration
            lines.append(
                String(
                    format:
                        "holdout check: fitted to %@, the next %d days' repeat purchases predicted %.0f, made %.0f (%+.1f%%)",
                    c.calibrationEndDate, Int(c.holdoutDays), c.totalPredicted, c.totalActual,
                    c.totalActual > 0 ? (c.totalPredicted / c.totalActual - 1) * 100 : 0))
        } else if !value.calibrationNote.isEmpty {
            lines.append(value.calibrationNote)
        }
        lines += value.warnings.map { "warning: \($0)" }
        return lines.joined(separator: "\n")
    }

    /// Each segment's three most distinctive and three most popular products.
    static func productsSection(_ model: Segmentation_V1_ModelDetail) -> String? {
        guard model.segments.contains(where: \.hasProducts) else { return nil }
        func named(_ p: Segmentation_V1_ProductStat) -> String {
            p.name.isEmpty ? p.code : "\(p.code) \(p.name)"
        }
        let rows = model.segments.map { segment -> [String] in
            let products = segment.products
            return [
                String(segment.id), segment.name,
                products.distinctive.prefix(3).map {
                    "\(named($0)) (\(String(format: "%.1fx", $0.lift)))"
                }.joined(separator: "; "),
                products.popular.prefix(3).map {
                    "\(named($0)) (\(Output.percent($0.share)))"
                }.joined(separator: "; "),
            ]
        }
        return "what each segment buys (lift: how much more often than all customers; products "
            + "bought by at least 10 of the segment's customers, or 1%):\n"
            + Output.table(
                ["id", "segment", "distinctive (lift)", "popular (share of buyers)"], rows)
    }
}
