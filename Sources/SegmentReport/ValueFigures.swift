import Foundation
import SegmentationMessages

/// The customer-value model's charts: its holdout check (predicted against actual repeat
/// purchases), P(alive) per segment, and each segment's value with the part at risk.
enum ValueFigures {
    /// The papers' check: mean repeat purchases in the holdout period, made and predicted, by the
    /// number of repeat purchases in the calibration period.
    static func calibration(_ detail: Segmentation_V1_ModelDetail) -> Figure? {
        let value = detail.customerValue
        guard detail.hasCustomerValue, value.hasCalibration, value.calibration.groups.count >= 2
        else { return nil }
        let check = value.calibration
        let groups = check.groups
        let (width, height) = (700.0, 300.0)
        let area = PlotArea(left: 70, top: 20, width: width - 100, height: height - 80)
        let x = Scale(domain: (-0.5, Double(groups.count) - 0.5), range: (area.left, area.right))
        let high = groups.map { max($0.meanActual, $0.meanPredicted) }.max() ?? 1
        let y = Scale(domain: (0, max(high * 1.1, 1e-9)), range: (area.bottom, area.top))
        var svg = SVG(width: width, height: height)
        svg.axes(
            area, x: nil, y: y, xTitle: "repeat purchases in the calibration period",
            yTitle: "mean holdout purchases", yLabel: Format.compact)
        let open = Int(groups.last!.calibrationPurchases)
        for (i, group) in groups.enumerated() {
            let label =
                Int(group.calibrationPurchases) == open && i == groups.count - 1
                    && open >= 7 ? "\(open)+" : "\(group.calibrationPurchases)"
            svg.text(
                label, x: x(Double(i)), y: area.bottom + 13, size: 9, anchor: .middle, fill: "#555")
            svg.text(
                "\(Format.grouped(Int(group.customers)))", x: x(Double(i)), y: area.bottom + 40,
                size: 8, anchor: .middle, fill: "#888")
        }
        for (name, keyPath, colour, dashed) in [
            ("actual", \Segmentation_V1_CalibrationGroup.meanActual, "#0072B2", false),
            ("predicted", \Segmentation_V1_CalibrationGroup.meanPredicted, "#D55E00", true),
        ] {
            let points = groups.enumerated().map {
                (x(Double($0.offset)), y($0.element[keyPath: keyPath]))
            }
            svg.path(
                "M"
                    + points.map { "\(SVG.number($0.0)),\(SVG.number($0.1))" }.joined(
                        separator: " L"),
                stroke: colour, dashed: dashed)
            for point in points {
                svg.circle(
                    x: point.0, y: point.1, r: 3, fill: colour, cssClass: "calibration-\(name)")
            }
        }
        svg.text("— made", x: area.left + 8, y: area.top + 14, size: 10, fill: "#0072B2")
        svg.text("- - predicted", x: area.left + 8, y: area.top + 28, size: 10, fill: "#D55E00")
        svg.text(
            "customers:", x: area.left - 8, y: area.bottom + 40, size: 8, anchor: .end,
            fill: "#888")
        let gap = check.totalActual > 0 ? check.totalPredicted / check.totalActual - 1 : 0
        let reading =
            "The purchase model fitted on the data up to \(check.calibrationEndDate) predicts "
            + "\(Format.grouped(Int(check.totalPredicted.rounded()))) repeat purchases in the next "
            + "\(check.holdoutDays) days by the customers it knew; they made "
            + "\(Format.grouped(Int(check.totalActual.rounded()))) (\(gap >= 0 ? "+" : "")\(Format.percent(gap))). "
            + "Where the lines part, its figures for such customers lean that way."
        return Figure(
            id: "value-calibration", title: "Does the purchase model predict? A holdout check",
            svg: svg.render(
                label: "mean holdout purchases, made and predicted, by calibration purchases",
                id: "calibration-chart"),
            reading: reading)
    }

    /// Each segment's customers by P(alive), in tenths, as a strip of shaded cells.
    static func probabilityAlive(_ detail: Segmentation_V1_ModelDetail) -> Figure? {
        let segments = detail.segments.filter { $0.facts.hasValue }
        guard !segments.isEmpty,
            segments.allSatisfy({ $0.facts.value.pAliveHistogram.count == 10 })
        else { return nil }
        let (left, cell, rowHeight) = (250.0, 42.0, 26.0)
        var svg = SVG(
            width: left + 10 * cell + 80, height: 40 + rowHeight * Double(segments.count) + 30)
        for bin in 0..<10 {
            svg.text(
                String(format: "%.1f", Double(bin) / 10), x: left + Double(bin) * cell, y: 20,
                size: 9, anchor: .middle, fill: "#555")
        }
        svg.text("1.0", x: left + 10 * cell, y: 20, size: 9, anchor: .middle, fill: "#555")
        for (row, segment) in segments.enumerated() {
            let counts = segment.facts.value.pAliveHistogram
            let total = Double(max(1, counts.reduce(0, +)))
            let top = 28 + Double(row) * rowHeight
            svg.text(
                segmentLabel(segment, limit: 40), x: left - 8, y: top + 15, size: 10, anchor: .end)
            for (bin, count) in counts.enumerated() {
                let share = Double(count) / total
                let fill = Palette.sequential(share * 2)
                svg.rect(
                    x: left + Double(bin) * cell, y: top, width: cell - 1, height: rowHeight - 2,
                    fill: fill, cssClass: "alive-cell",
                    title:
                        "\(segment.name): \(count) customers with P(alive) \(String(format: "%.1f", Double(bin) / 10))-\(String(format: "%.1f", Double(bin + 1) / 10))"
                )
                if count > 0 {
                    svg.text(
                        Format.percent(share), x: left + (Double(bin) + 0.5) * cell, y: top + 15,
                        size: 8.5, anchor: .middle, fill: Palette.ink(on: fill))
                }
            }
        }
        svg.text(
            "P(alive): the probability a customer still buys, by the purchase model",
            x: left + 5 * cell, y: 40 + rowHeight * Double(segments.count) + 14, size: 10,
            anchor: .middle, fill: "#333")
        let most = segments.max {
            $0.facts.value.shareLikelyLapsed < $1.facts.value.shareLikelyLapsed
        }!
        var reading =
            "Share of each segment's customers in each tenth of P(alive). "
            + "\(segmentLabel(most)) has the most likely lapsed (P(alive) under 0.5): "
            + "\(Format.percent(most.facts.value.shareLikelyLapsed)). One-time buyers count as alive: "
            + "the model sees no dropout before a repeat purchase."
        let dropout = most.facts.value.dropoutProbability
        if dropout > 0 && dropout < 0.01 {
            reading +=
                " The model finds almost no dropout in this data, so P(alive) is near 1 for nearly everyone "
                + "and cannot single out lapsed customers; days since the last purchase are the better guide."
        }
        return Figure(
            id: "p-alive", title: "Who is still a customer: P(alive) by segment",
            svg: svg.render(label: "customers by P(alive) per segment", id: "p-alive-chart"),
            reading: reading)
    }

    /// Lifetime value per segment as bars, the part from customers likely lapsed darker.
    static func segmentValue(_ detail: Segmentation_V1_ModelDetail) -> Figure? {
        let segments = detail.segments.filter { $0.facts.value.hasLifetimeValue }
        guard !segments.isEmpty else { return nil }
        let horizon = segments[0].facts.value.valueHorizonDays
        let (left, barWidth, rowHeight) = (250.0, 360.0, 26.0)
        let largest = segments.map(\.facts.value.lifetimeValue).max() ?? 1
        var svg = SVG(
            width: left + barWidth + 150, height: 20 + rowHeight * Double(segments.count) + 40)
        for (row, segment) in segments.enumerated() {
            let value = segment.facts.value
            let top = 10 + Double(row) * rowHeight
            let whole = barWidth * value.lifetimeValue / max(largest, 1e-9)
            let risk = barWidth * value.valueAtRisk / max(largest, 1e-9)
            let index = detail.segments.firstIndex { $0.id == segment.id } ?? row
            svg.text(
                segmentLabel(segment, limit: 40), x: left - 8, y: top + 15, size: 10, anchor: .end)
            svg.rect(
                x: left, y: top + 2, width: whole, height: rowHeight - 6,
                fill: Palette.colour(index), cssClass: "value-bar",
                title: "\(segment.name): \(Format.amount(value.lifetimeValue)) over \(horizon) days"
            )
            if risk > 0 {
                svg.rect(
                    x: left + whole - risk, y: top + 2, width: risk, height: rowHeight - 6,
                    fill: "#333333", cssClass: "value-at-risk",
                    title:
                        "\(segment.name): \(Format.amount(value.valueAtRisk)) from customers likely lapsed"
                )
            }
            svg.text(
                Format.amount(value.lifetimeValue)
                    + (value.valueAtRisk > 0
                        ? " (\(Format.amount(value.valueAtRisk)) at risk)" : ""),
                x: left + whole + 6, y: top + 15, size: 9.5, fill: "#333")
        }
        svg.text(
            "expected spend over the next \(horizon) days (dark: from customers likely lapsed)",
            x: left + barWidth / 2, y: 20 + rowHeight * Double(segments.count) + 16, size: 10,
            anchor: .middle, fill: "#333")
        let total = segments.reduce(0) { $0 + $1.facts.value.lifetimeValue }
        let atRisk = segments.reduce(0) { $0 + $1.facts.value.valueAtRisk }
        let top = segments.max { $0.facts.value.lifetimeValue < $1.facts.value.lifetimeValue }!
        let reading =
            "Expected spend over the next \(horizon) days (BG/NBD purchases times Gamma-Gamma spend per purchase, undiscounted): "
            + "\(Format.amount(total)) in all, \(Format.percent(total > 0 ? top.facts.value.lifetimeValue / total : 0)) of it from "
            + "\(segmentLabel(top)); \(Format.amount(atRisk)) comes from customers likely lapsed (P(alive) under 0.5)."
        return Figure(
            id: "segment-value", title: "What each segment is worth",
            svg: svg.render(
                label: "lifetime value per segment with the value at risk", id: "value-chart"),
            reading: reading)
    }
}
