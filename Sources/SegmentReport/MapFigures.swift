import Foundation
import SegmentationMessages

/// The 2-D segment map (the sample on the first two principal components) and the silhouette plot.
enum MapFigures {
    static func segmentMap(_ detail: Segmentation_V1_ModelDetail) -> Figure? {
        let sample = detail.sample, charts = detail.charts
        let n = sample.labels.count
        guard n > 0, sample.pcaXy.count == 2 * n,
            charts.pcaComponents.count >= detail.features.count
        else { return nil }
        let xs = stride(from: 0, to: 2 * n, by: 2).map { sample.pcaXy[$0] }
        let ys = stride(from: 1, to: 2 * n, by: 2).map { sample.pcaXy[$0] }
        let centroids = detail.segments.map { project($0.centroid, charts) }
        let allX = xs + centroids.map(\.0), allY = ys + centroids.map(\.1)
        let width = 700.0
        let area = PlotArea(left: 60, top: 16, width: width - 80, height: 350)
        var svg = SVG(
            width: width,
            height: area.bottom + 48 + SVG.legendHeight(detail.segments, width: area.width))
        let pad = { (values: [Double]) -> (Double, Double) in
            let (low, high) = (values.min() ?? 0, values.max() ?? 1)
            let margin = max(1e-9, (high - low) * 0.04)
            return (low - margin, high + margin)
        }
        let x = Scale(domain: pad(allX), range: (area.left, area.right))
        let y = Scale(domain: pad(allY), range: (area.bottom, area.top))
        let variance = charts.pcaExplainedVariance
        svg.axes(
            area, x: x, y: y,
            xTitle:
                "principal component 1 (\(Format.percent(variance.first ?? 0)) of the variance)",
            yTitle: "component 2 (\(Format.percent(variance.count > 1 ? variance[1] : 0)))",
            xLabel: { String(format: "%.1f", $0) }, yLabel: { String(format: "%.1f", $0) })
        for i in 0..<n {
            let colour = detail.segmentIndex(sample.labels[i]).map(Palette.colour) ?? "#999999"
            svg.circle(
                x: x(xs[i]), y: y(ys[i]), r: 2.2, fill: colour, opacity: 0.55, cssClass: "pt")
        }
        for (index, centre) in centroids.enumerated() {
            svg.circle(
                x: x(centre.0), y: y(centre.1), r: 8, fill: Palette.colour(index),
                stroke: "#000000", cssClass: "centroid")
            svg.text(
                String(detail.segments[index].id), x: x(centre.0), y: y(centre.1) + 3.5, size: 9,
                anchor: .middle,
                weight: "bold", fill: "#FFFFFF")
        }
        svg.legend(detail.segments, x: area.left, y: area.bottom + 48, width: area.width)
        let together = variance.prefix(2).reduce(0, +)
        let reading =
            "\(Format.grouped(n)) sampled customers; the two components show \(Format.percent(together)) of the variance"
            + (together < 0.7
                ? ", so segments that overlap here may still be apart in the dimensions not shown."
                : ".")
            + " Large circles are the segment centres."
        return Figure(
            id: "segment-map",
            title: "Segment map: customers on the first two principal components",
            svg: svg.render(
                label: "scatter of sampled customers coloured by segment", id: "segment-map-chart"),
            reading: reading)
    }

    /// A centroid (scaled space) on the components.
    private static func project(
        _ centroid: [Double], _ charts: Segmentation_V1_ModelCharts
    ) -> (Double, Double) {
        let d = centroid.count
        guard d > 0, charts.pcaMean.count == d, charts.pcaComponents.count >= d else {
            return (0, 0)
        }
        func on(_ row: Int) -> Double {
            guard charts.pcaComponents.count >= (row + 1) * d else { return 0 }
            return (0..<d).reduce(0.0) {
                $0 + (centroid[$1] - charts.pcaMean[$1]) * charts.pcaComponents[row * d + $1]
            }
        }
        return (on(0), on(1))
    }

    /// Per segment, its customers' silhouettes sorted, as horizontal bars; the mean as a line.
    static func silhouettes(_ detail: Segmentation_V1_ModelDetail) -> Figure? {
        let sample = detail.sample
        guard !sample.silhouettes.isEmpty, sample.silhouettes.count == sample.labels.count else {
            return nil
        }
        var groups = [[Double]](repeating: [], count: detail.segments.count)
        for (label, value) in zip(sample.labels, sample.silhouettes) {
            if let index = detail.segmentIndex(label) { groups[index].append(value) }
        }
        groups = groups.map { $0.sorted(by: >) }
        let total = Double(sample.silhouettes.count)
        // Bands in proportion to the segments' sampled customers, but never under 26 px, so every
        // label fits beside its band however small the segment.
        let (gap, minimumBand, proportional) = (6.0, 26.0, 340.0)
        let heights = groups.map {
            max(minimumBand, proportional * Double($0.count) / max(1, total))
        }
        let width = 700.0
        let area = PlotArea(
            left: 230, top: 22, width: width - 250,
            height: heights.reduce(0, +) + gap * Double(groups.count + 1))
        var svg = SVG(width: width, height: area.bottom + 40)
        let low = min(-0.1, sample.silhouettes.min() ?? 0)
        let x = Scale(domain: (low, 1), range: (area.left, area.right))
        svg.axes(
            area, x: x, y: nil,
            xTitle:
                "silhouette (how much closer each customer is to its own segment than to the next)",
            yTitle: nil,
            xLabel: { String(format: "%.1f", $0) })
        var top = area.top + gap
        for (index, values) in groups.enumerated() {
            let bandHeight = heights[index]
            let rowHeight = bandHeight / Double(max(1, values.count))
            // One path per segment: a bar per customer would be thousands of elements.
            var d = "M\(SVG.number(x(0))),\(SVG.number(top))"
            for (i, value) in values.enumerated() {
                let yy = top + rowHeight * Double(i)
                d +=
                    " L\(SVG.number(x(value))),\(SVG.number(yy)) L\(SVG.number(x(value))),\(SVG.number(yy + rowHeight))"
            }
            d += " L\(SVG.number(x(0))),\(SVG.number(top + bandHeight)) Z"
            svg.path(
                d, stroke: "none", fill: Palette.colour(index), width: 0,
                cssClass: "silhouette-band")
            let mean = values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
            let segment = detail.segments[index]
            svg.text(
                segmentLabel(segment, limit: 40), x: area.left - 6, y: top + bandHeight / 2 - 1,
                size: 9.5, anchor: .end)
            svg.text(
                "mean \(Format.score(mean)), \(values.count) customers", x: area.left - 6,
                y: top + bandHeight / 2 + 10, size: 8.5,
                anchor: .end, fill: "#666")
            top += bandHeight + gap
        }
        let overall = sample.silhouettes.reduce(0, +) / total
        svg.line(
            x1: x(overall), y1: area.top, x2: x(overall), y2: area.bottom, stroke: "#D55E00",
            width: 1.5, dashed: true,
            cssClass: "mean-line")
        svg.text(
            "sample mean \(Format.score(overall))", x: x(overall), y: area.top - 6, size: 9.5,
            anchor: .middle, fill: "#D55E00")
        svg.line(x1: x(0), y1: area.top, x2: x(0), y2: area.bottom, stroke: "#333333")
        let negative = groups.enumerated().map {
            (
                $0.offset,
                Double($0.element.filter { $0 < 0 }.count) / Double(max(1, $0.element.count))
            )
        }
        let worst = negative.max { $0.1 < $1.1 }
        // One silhouette figure for the model (all customers, or the sample the k choice used);
        // this chart's mean is of its own smaller sample, and says so.
        var reading =
            "Mean silhouette \(Format.score(overall)) over the \(Format.grouped(Int(total))) customers drawn here (a sample; "
            + "the model's silhouette, \(Format.score(detail.metrics.silhouette)), is over "
            + (detail.silhouetteSampleSize > 0
                ? "a sample of \(Format.grouped(Int(detail.silhouetteSampleSize)))"
                : "all \(Format.grouped(Int(detail.dataReport.customersOut)))")
            + " customers)"
        if let worst, worst.1 > 0 {
            reading +=
                "; segment \(detail.segments[worst.0].id) has the largest share of customers closer to another segment "
                + "than to their own (\(Format.percent(worst.1)) below 0)"
        }
        return Figure(
            id: "silhouettes", title: "Silhouette per customer, by segment",
            svg: svg.render(label: "sorted silhouette values per segment", id: "silhouette-chart"),
            reading: reading + ".")
    }
}
