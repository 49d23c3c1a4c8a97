import Foundation
import SegmentationMessages

/// The report's customer-value section (the model in words, its charts) and each segment card's
/// products.
enum ValueSection {
    static func html(_ detail: Segmentation_V1_ModelDetail, figures: [String: Figure]) -> String {
        guard detail.hasCustomerValue else {
            return detail.kind == .customers
                ? "<p class=\"reason\">A customers table has no purchase history, so there is no customer-value model.</p>"
                : ""
        }
        let value = detail.customerValue
        guard value.unavailable.isEmpty else {
            return
                "<p class=\"reason\"><strong>No customer-value figures:</strong> \(h(value.unavailable)).</p>"
        }
        let p = value.purchases
        var text =
            "Purchases and dropout follow BG/NBD (Fader, Hardie &amp; Lee 2005), fitted on "
            + h(Format.grouped(Int(value.purchasesFit.customers))) + " customers' purchase days: "
            + h(String(format: "r %.4g, alpha %.4g, a %.4g, b %.4g", p.r, p.alpha, p.a, p.b))
            + "; a customer stops after a purchase with probability "
            + h(String(format: "%.2g", p.a / (p.a + p.b))) + ". "
        if value.hasSpend {
            let s = value.spend
            text +=
                "Spend per purchase follows Gamma-Gamma, fitted on "
                + h(Format.grouped(Int(value.spendFit.customers))) + " repeat buyers: "
                + h(String(format: "p %.4g, q %.4g, v %.4g", s.p, s.q, s.v)) + "."
        } else {
            text += "There is no spend model, so no money figures."
        }
        var html = "<p class=\"reason\">\(text)</p>"
        if !value.calibrationNote.isEmpty {
            html += "<p class=\"reason\">\(h(value.calibrationNote)).</p>"
        }
        if !value.warnings.isEmpty {
            html +=
                "<ul class=\"warnings\">" + value.warnings.map { "<li>\(h($0))</li>" }.joined()
                + "</ul>"
        }
        return html
            + ["value-calibration", "p-alive", "segment-value"].map {
                HTMLReport.figureHTML(figures[$0])
            }
            .joined()
    }

    /// A segment card's value line and products, "" when it has neither.
    static func card(_ segment: Segmentation_V1_Segment) -> String {
        var html = ""
        if segment.facts.hasValue {
            let v = segment.facts.value
            var line =
                "Mean P(alive) \(String(format: "%.2f", v.meanPAlive)), \(Format.percent(v.shareLikelyLapsed)) likely lapsed; "
                + "\(Format.amount(v.expectedPurchases)) purchases expected in \(v.purchaseHorizonDays) days"
            if v.hasLifetimeValue {
                line +=
                    "; \(v.valueHorizonDays)-day value \(Format.amount(v.lifetimeValue)), \(Format.amount(v.valueAtRisk)) of it at risk"
            }
            html += "<p class=\"label\">Customer value</p><p>\(h(line))</p>"
        }
        if segment.hasProducts {
            let products = segment.products
            func named(_ p: Segmentation_V1_ProductStat) -> String {
                p.name.isEmpty ? p.code : "\(p.code) \(p.name)"
            }
            if !products.distinctive.isEmpty {
                html +=
                    "<p class=\"label\">Bought far more often than by all customers (lift)</p><p>"
                    + products.distinctive.prefix(5).map {
                        h("\(named($0)) \(String(format: "%.1fx", $0.lift))")
                    }.joined(separator: " · ") + "</p>"
            }
            if !products.popular.isEmpty {
                html +=
                    "<p class=\"label\">Bought by most of them</p><p>"
                    + products.popular.prefix(5).map {
                        h("\(named($0)) \(Format.percent($0.share))")
                    }.joined(separator: " · ") + "</p>"
            }
        }
        return html
    }

    private static func h(_ text: String) -> String { SVG.escape(text) }
}
