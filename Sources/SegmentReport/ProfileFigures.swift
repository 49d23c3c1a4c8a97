import Foundation
import SegmentationMessages

/// How the segments differ: the z-score heatmap, box plots of the raw features, the scatter
/// matrix, and the customer and revenue shares.
enum ProfileFigures {
    /// Segments x clustering features, coloured by z-score, the segment's median in the cells
    /// (the z-score is of the mean on the scale clustered, log where the model logs: a raw mean
    /// in the cell could contradict its colour on skewed features).
    static func heatmap(_ detail: Segmentation_V1_ModelDetail) -> Figure? {
        let features = detail.features
        guard !features.isEmpty, !detail.segments.isEmpty else { return nil }
        let labelWidth = 200.0
        let cell = min(110, (700 - labelWidth) / Double(features.count))
        let rowHeight = 30.0
        // Headers that would not fit their cell stand upright (cut at 24 characters), never overprint.
        let headers = features.map { String(readable($0).prefix(24)) }
        let upright = headers.contains { Double($0.count) * 5.8 > cell - 4 }
        let top = upright ? 12 + (headers.map { Double($0.count) }.max() ?? 0) * 5.8 : 36
        var svg = SVG(
            width: max(700, labelWidth + cell * Double(features.count) + 10),
            height: top + 4 + rowHeight * Double(detail.segments.count) + 30)
        for (j, header) in headers.enumerated() {
            let x = labelWidth + cell * (Double(j) + 0.5)
            if upright {
                svg.text(
                    header, x: x + 3.5, y: top - 6, size: 10, anchor: .start, weight: "bold",
                    rotate: true)
            } else {
                svg.text(header, x: x, y: 28, size: 10, anchor: .middle, weight: "bold")
            }
        }
        var strongest: (segment: Int, feature: Int, z: Double)?
        for (i, segment) in detail.segments.enumerated() {
            let y = top + rowHeight * Double(i)
            svg.text(
                segmentLabel(segment), x: labelWidth - 8, y: y + rowHeight / 2 + 4, size: 10,
                anchor: .end)
            for (j, feature) in features.enumerated() {
                guard let summary = segment.features.first(where: { $0.feature == feature }) else {
                    continue
                }
                let x = labelWidth + cell * Double(j)
                let fill = Palette.diverging(summary.zScore)
                svg.rect(
                    x: x, y: y, width: cell - 2, height: rowHeight - 2, fill: fill,
                    cssClass: "heat-cell",
                    title:
                        "\(readable(feature)): median \(Format.feature(feature, summary.median)), mean \(Format.amount(summary.mean)), "
                        + "z \(String(format: "%+.2f", summary.zScore))")
                // A 0/1 column's cell is the share of the segment's customers with it, not a 0 or 1 median.
                let shown =
                    isIndicator(feature)
                    ? Format.percent(summary.mean) : Format.amount(summary.median)
                svg.text(
                    shown, x: x + (cell - 2) / 2, y: y + rowHeight / 2 + 4,
                    size: cell < 40 ? 8 : 10, anchor: .middle,
                    fill: Palette.ink(on: fill))
                if abs(summary.zScore) > abs(strongest?.z ?? 0) {
                    strongest = (i, j, summary.zScore)
                }
            }
        }
        let keyY = top + 4 + rowHeight * Double(detail.segments.count) + 8
        for (index, z) in [-2.0, -1, 0, 1, 2].enumerated() {
            svg.rect(
                x: labelWidth + Double(index) * 46, y: keyY, width: 44, height: 12,
                fill: Palette.diverging(z))
            svg.text(
                String(format: "%+.0f", z), x: labelWidth + Double(index) * 46 + 22, y: keyY + 21,
                size: 8.5, anchor: .middle, fill: "#555")
        }
        let logged = features.contains { detail.isLogged($0) }
        svg.text(
            "blue below all customers, orange above (z-score)", x: labelWidth + 240, y: keyY + 10,
            size: 8.5, fill: "#555")
        var reading =
            "Each cell is a segment's median (for a 0/1 column, the share of its customers with it); its colour how far the "
            + "segment's mean lies from all customers' mean, in standard deviations"
            + (logged ? " of the scale the model clusters on (log(1 + x) for logged features)" : "")
            + ". One meaning whatever the measure: blue is below all customers, orange above, whether that is good or bad "
            + "(for recency, orange is more days since the last purchase)."
        if let strongest {
            let segment = detail.segments[strongest.segment]
            reading +=
                " The strongest difference: segment \(segment.id)'s \(readable(features[strongest.feature])), "
                + String(format: "%.1f", abs(strongest.z))
                + " standard deviations \(strongest.z > 0 ? "above" : "below") the mean."
        }
        return Figure(
            id: "profile-heatmap", title: "Segment profiles",
            svg: svg.render(label: "heatmap of segment z-scores", id: "heatmap-chart"),
            reading: reading)
    }

    /// One panel per clustering feature: a box per segment (quartiles, median, whiskers, outliers).
    static func boxPlots(_ detail: Segmentation_V1_ModelDetail) -> Figure? {
        let boxes = detail.charts.boxes
        guard !boxes.isEmpty, let features = boxes.first?.features.map(\.feature), !features.isEmpty
        else { return nil }
        let columns = 2, panelWidth = 345.0, panelHeight = 190.0
        let rows = (features.count + columns - 1) / columns
        var svg = SVG(
            width: Double(columns) * panelWidth + 10, height: Double(rows) * (panelHeight + 20) + 10
        )
        for (j, feature) in features.enumerated() {
            let left = Double(j % columns) * panelWidth,
                top = Double(j / columns) * (panelHeight + 20)
            let area = PlotArea(
                left: left + 52, top: top + 20, width: panelWidth - 64, height: panelHeight - 50)
            if isIndicator(feature) {
                shareBars(
                    &svg, detail, feature: feature, area: area,
                    title: (readable(feature), left + 52, top + 12))
                continue
            }
            let stats = boxes.compactMap { segment in
                segment.features.first { $0.feature == feature }
            }
            let low = stats.map(\.minimum).filter(\.isFinite).min() ?? 0,
                high = stats.map(\.maximum).filter(\.isFinite).max() ?? 1
            let logged = detail.isLogged(feature) && low >= 0
            let y = Scale(
                domain: (logged ? max(0, low) : low, max(high, low + 1e-9)),
                range: (area.bottom, area.top), log1p: logged)
            svg.axes(area, x: nil, y: y, xTitle: nil, yTitle: nil, yLabel: Format.compact)
            svg.text(
                readable(feature) + (logged ? " (log scale)" : ""), x: left + 52, y: top + 12,
                size: 10.5, weight: "bold")
            let slot = area.width / Double(max(1, stats.count))
            for (index, box) in stats.enumerated() where box.median.isFinite {
                let centre = area.left + slot * (Double(index) + 0.5), half = min(14, slot * 0.3)
                let colour = Palette.colour(index)
                svg.line(
                    x1: centre, y1: y(box.lowerWhisker), x2: centre, y2: y(box.q1),
                    stroke: "#444444")
                svg.line(
                    x1: centre, y1: y(box.q3), x2: centre, y2: y(box.upperWhisker),
                    stroke: "#444444")
                svg.line(
                    x1: centre - half / 2, y1: y(box.lowerWhisker), x2: centre + half / 2,
                    y2: y(box.lowerWhisker), stroke: "#444444")
                svg.line(
                    x1: centre - half / 2, y1: y(box.upperWhisker), x2: centre + half / 2,
                    y2: y(box.upperWhisker), stroke: "#444444")
                svg.rect(
                    x: centre - half, y: y(box.q3), width: 2 * half, height: y(box.q1) - y(box.q3),
                    fill: colour, stroke: "#333333",
                    cssClass: "box",
                    title:
                        "segment \(detail.segments[index].id): median \(Format.amount(box.median)), "
                        + "quartiles \(Format.amount(box.q1))-\(Format.amount(box.q3)), \(box.outliers) outliers"
                )
                svg.line(
                    x1: centre - half, y1: y(box.median), x2: centre + half, y2: y(box.median),
                    stroke: "#000000", width: 2)
                if box.outliers > 0 {
                    svg.circle(x: centre, y: y(box.maximum), r: 2, fill: "none", stroke: "#444444")
                    svg.text(
                        "+\(Format.compact(Double(box.outliers)))", x: centre,
                        y: max(area.top + 8, y(box.maximum) - 4), size: 7.5,
                        anchor: .middle, fill: "#555")
                }
                svg.text(
                    String(detail.segments[index].id), x: centre, y: area.bottom + 12, size: 9,
                    anchor: .middle, fill: "#333")
            }
            svg.text(
                "segment", x: area.left + area.width / 2, y: area.bottom + 25, size: 9,
                anchor: .middle, fill: "#555")
        }
        return Figure(
            id: "box-plots", title: "Each feature by segment (raw values)",
            svg: svg.render(
                label: "box plots of every clustering feature per segment", id: "box-chart"),
            reading:
                "Boxes hold the middle half of each segment's customers with the median as a line; whiskers reach the furthest "
                + "customers within 1.5 interquartile ranges of the box; +N counts the customers beyond the whiskers on either side, "
                + "the circle marks the largest value.")
    }

    /// A 0/1 column's panel: each segment's share with it as a bar, all customers' as a line (a
    /// box of zeros and ones would collapse to a line).
    private static func shareBars(
        _ svg: inout SVG, _ detail: Segmentation_V1_ModelDetail, feature: String, area: PlotArea,
        title: (String, Double, Double)
    ) {
        let y = Scale(domain: (0, 1), range: (area.bottom, area.top))
        svg.axes(area, x: nil, y: y, xTitle: nil, yTitle: nil, yLabel: { Format.percent($0) })
        svg.text(
            title.0 + " (share of customers)", x: title.1, y: title.2, size: 10.5, weight: "bold")
        let slot = area.width / Double(max(1, detail.segments.count))
        for (index, segment) in detail.segments.enumerated() {
            guard let summary = segment.features.first(where: { $0.feature == feature }) else {
                continue
            }
            let centre = area.left + slot * (Double(index) + 0.5), half = min(14, slot * 0.3)
            svg.rect(
                x: centre - half, y: y(summary.mean), width: 2 * half,
                height: area.bottom - y(summary.mean), fill: Palette.colour(index),
                stroke: "#333333", cssClass: "share-box",
                title: "segment \(segment.id): \(Format.percent(summary.mean))")
            svg.text(
                String(segment.id), x: centre, y: area.bottom + 12, size: 9, anchor: .middle,
                fill: "#333")
        }
        if let all = detail.segments.first?.features.first(where: { $0.feature == feature }),
            all.hasPopulationMean
        {
            svg.line(
                x1: area.left, y1: y(all.populationMean), x2: area.right, y2: y(all.populationMean),
                stroke: "#333333", width: 1, dashed: true)
            svg.text(
                "all \(Format.percent(all.populationMean))", x: area.right - 2,
                y: y(all.populationMean) - 3, size: 8, anchor: .end, fill: "#333")
        }
    }

    /// A 0/1 column made from a category (`Channel=Online`).
    static func isIndicator(_ feature: String) -> Bool { feature.contains("=") }

    /// The scatter matrix of the clustering features (at most five) over the sample.
    static func pairPlot(_ detail: Segmentation_V1_ModelDetail) -> Figure? {
        let sample = detail.sample, d = detail.features.count
        let n = sample.labels.count
        guard n > 0, d >= 2, sample.raw.count == n * d else { return nil }
        let shown = Array(0..<min(d, 5))
        // Every n-th sampled customer, at most 800: enough to see the clouds, light enough to print.
        let step = max(1, (n + 799) / 800)
        let drawn = Array(stride(from: 0, to: n, by: step))
        let size = 690.0 / Double(shown.count)
        var svg = SVG(width: 700, height: size * Double(shown.count) + 10)
        let scales = shown.map { j -> Scale in
            let values = (0..<n).map { sample.raw[$0 * d + j] }.filter(\.isFinite)
            let low = values.min() ?? 0, high = max(values.max() ?? 1, (values.min() ?? 0) + 1e-9)
            return Scale(
                domain: (low, high), range: (0, size - 12),
                log1p: detail.isLogged(detail.features[j]) && low >= 0)
        }
        for (row, a) in shown.enumerated() {
            for (column, b) in shown.enumerated() {
                let left = 5 + Double(column) * size, top = 5 + Double(row) * size
                svg.rect(
                    x: left, y: top, width: size - 6, height: size - 6,
                    fill: row == column ? "#F4F4F4" : "#FFFFFF", stroke: "#CCCCCC")
                if row == column {
                    svg.text(
                        readable(detail.features[a]), x: left + (size - 6) / 2,
                        y: top + (size - 6) / 2, size: 10.5, anchor: .middle,
                        weight: "bold")
                    let domain = scales[row].domain
                    svg.text(
                        "\(Format.compact(domain.0)) to \(Format.compact(domain.1))"
                            + (scales[row].log1p ? ", log" : ""),
                        x: left + (size - 6) / 2, y: top + (size - 6) / 2 + 14, size: 8.5,
                        anchor: .middle, fill: "#555")
                    continue
                }
                for i in drawn {
                    let (vx, vy) = (sample.raw[i * d + b], sample.raw[i * d + a])
                    guard vx.isFinite, vy.isFinite else { continue }
                    let colour =
                        detail.segmentIndex(sample.labels[i]).map(Palette.colour) ?? "#999999"
                    svg.circle(
                        x: left + 3 + scales[column](vx), y: top + size - 9 - scales[row](vy),
                        r: 1.2, fill: colour, opacity: 0.5,
                        cssClass: "pair-pt")
                }
            }
        }
        let note = d > shown.count ? " The first \(shown.count) of \(d) features are shown." : ""
        return Figure(
            id: "pair-plot", title: "Features against each other (sampled customers)",
            svg: svg.render(label: "scatter matrix of the clustering features", id: "pair-chart"),
            reading:
                "Row feature up, column feature across, each point one of \(Format.grouped(drawn.count)) sampled customers in its segment's colour; "
                + "where colours form separate clouds those two features alone tell the segments apart.\(note)"
        )
    }

    /// Each segment's share of customers and of revenue.
    static func shares(_ detail: Segmentation_V1_ModelDetail) -> Figure? {
        guard !detail.segments.isEmpty else { return nil }
        let hasRevenue = detail.segments.allSatisfy(\.hasRevenueShare)
        let rowHeight = hasRevenue ? 34.0 : 22.0
        var svg = SVG(width: 700, height: 30 + rowHeight * Double(detail.segments.count) + 10)
        let largest =
            detail.segments.map { max($0.customerShare, hasRevenue ? $0.revenueShare : 0) }.max()
            ?? 1
        let x = Scale(domain: (0, max(largest, 1e-9)), range: (220, 640))
        svg.rect(x: 220, y: 6, width: 10, height: 10, fill: "#0072B2")
        svg.text("customers", x: 234, y: 15, size: 9.5)
        if hasRevenue {
            svg.rect(x: 310, y: 6, width: 10, height: 10, fill: "#555555")
            svg.text("revenue", x: 324, y: 15, size: 9.5)
        }
        for (i, segment) in detail.segments.enumerated() {
            let top = 26 + rowHeight * Double(i)
            svg.text(segmentLabel(segment), x: 212, y: top + 12, size: 10, anchor: .end)
            svg.rect(
                x: 220, y: top + 2, width: x(segment.customerShare) - 220, height: 12,
                fill: "#0072B2", cssClass: "share-bar")
            svg.text(
                Format.percent(segment.customerShare), x: x(segment.customerShare) + 4, y: top + 12,
                size: 9.5)
            if hasRevenue {
                svg.rect(
                    x: 220, y: top + 16, width: x(segment.revenueShare) - 220, height: 12,
                    fill: "#555555", cssClass: "revenue-bar")
                svg.text(
                    Format.percent(segment.revenueShare), x: x(segment.revenueShare) + 4,
                    y: top + 26, size: 9.5)
            }
        }
        let largestSegment = detail.segments.max { $0.customerShare < $1.customerShare }!
        var reading =
            "The largest segment, \(largestSegment.id) \(largestSegment.name), holds \(Format.percent(largestSegment.customerShare)) of customers"
        if hasRevenue,
            let richest = detail.segments.max(by: {
                $0.revenueShare / max($0.customerShare, 1e-9) < $1.revenueShare
                    / max($1.customerShare, 1e-9)
            })
        {
            reading +=
                "; segment \(richest.id) brings \(Format.percent(richest.revenueShare)) of revenue from \(Format.percent(richest.customerShare)) of customers"
        }
        return Figure(
            id: "shares", title: "Share of customers and revenue",
            svg: svg.render(label: "customer and revenue share per segment", id: "share-chart"),
            reading: reading + ".")
    }
}
