import Foundation
import SegmentationMessages

/// The RFM score grid and the regional view.
enum RFMFigures {
    /// 5 x 5: frequency score across, recency score up (5 = most recent at the top), counts in the
    /// cells, each cell's named RFM segment under its count.
    static func grid(_ detail: Segmentation_V1_ModelDetail) -> Figure? {
        let grid = detail.charts.rfmGrid
        guard grid.counts.count == 25, grid.cellSegments.count == 25 else { return nil }
        let total = max(1, grid.counts.reduce(0, +))
        let largest = Double(grid.counts.max() ?? 1)
        let (cellW, cellH, left, top) = (118.0, 62.0, 70.0, 10.0)
        var svg = SVG(width: left + 5 * cellW + 20, height: top + 5 * cellH + 50)
        for r in 1...5 {
            for f in 1...5 {
                let index = (r - 1) * 5 + (f - 1)
                let (x, y) = (left + Double(f - 1) * cellW, top + Double(5 - r) * cellH)
                let count = grid.counts[index]
                let t = Double(count) / max(1, largest)
                svg.rect(
                    x: x, y: y, width: cellW - 2, height: cellH - 2, fill: Palette.sequential(t),
                    cssClass: "rfm-cell",
                    title: "R\(r) F\(f) \(grid.cellSegments[index]): \(count) customers")
                let ink = Palette.ink(on: Palette.sequential(t))
                svg.text(
                    Format.grouped(Int(count)), x: x + cellW / 2, y: y + 24, size: 12,
                    anchor: .middle, weight: "bold", fill: ink)
                svg.text(
                    grid.cellSegments[index], x: x + cellW / 2, y: y + 42, size: 9, anchor: .middle,
                    fill: ink)
            }
            svg.text(
                "R\(r)", x: left - 8, y: top + Double(5 - r) * cellH + cellH / 2 + 4, size: 10,
                anchor: .end)
        }
        for f in 1...5 {
            svg.text(
                "F\(f)", x: left + Double(f - 1) * cellW + cellW / 2, y: top + 5 * cellH + 14,
                size: 10, anchor: .middle)
        }
        svg.text(
            "frequency score (1 = fewest orders, 5 = most)", x: left + 2.5 * cellW,
            y: top + 5 * cellH + 32, size: 10, anchor: .middle)
        svg.text(
            "recency score (5 = most recent)", x: 16, y: top + 2.5 * cellH, size: 10,
            anchor: .middle, rotate: true)
        var bySegment: [String: Int64] = [:]
        for (name, count) in zip(grid.cellSegments, grid.counts) {
            bySegment[name, default: 0] += count
        }
        let biggest = bySegment.max { $0.value < $1.value }
        let reading =
            "Recency and frequency scored 1-5 by the training customers' quintiles (ties in frequency keep equal counts together) over \(Format.grouped(Int(total))) customers, grouped into the named RFM segments"
            + (biggest.map {
                "; the largest is \($0.key) with \(Format.percent(Double($0.value) / Double(total)))"
            } ?? "") + "."
        return Figure(
            id: "rfm-grid", title: "The RFM grid",
            svg: svg.render(label: "recency by frequency score grid", id: "rfm-chart"),
            reading: reading)
    }

    /// For the largest countries, the segment mix as a 100% bar, with the country's customers.
    /// A country is singled out in the reading only with at least this many customers.
    static let minimumCountryCustomers = 100

    static func countries(_ detail: Segmentation_V1_ModelDetail) -> Figure? {
        let mix = detail.charts.countryMix
        let k = detail.segments.count
        guard mix.countries.count >= 2, k > 0, mix.counts.count == mix.countries.count * k else {
            return nil
        }
        let rowHeight = 24.0
        let (left, barWidth) = (150.0, 440.0)
        let legendHeight = SVG.legendHeight(detail.segments, width: barWidth + 100)
        var svg = SVG(
            width: 700, height: 20 + rowHeight * Double(mix.countries.count) + 20 + legendHeight)
        var overall = [Int64](repeating: 0, count: k)
        for (c, _) in mix.countries.enumerated() {
            for s in 0..<k { overall[s] += mix.counts[c * k + s] }
        }
        let grandTotal = Double(max(1, overall.reduce(0, +)))
        var mostDifferent: (country: String, segment: Int, share: Double)?
        for (c, country) in mix.countries.enumerated() {
            let counts = (0..<k).map { mix.counts[c * k + $0] }
            let total = Double(max(1, counts.reduce(0, +)))
            let top = 10 + rowHeight * Double(c)
            svg.text(country, x: left - 8, y: top + 13, size: 10, anchor: .end)
            var x = left
            for (s, count) in counts.enumerated() where count > 0 {
                let w = barWidth * Double(count) / total
                svg.rect(
                    x: x, y: top + 2, width: w, height: 16, fill: Palette.colour(s),
                    cssClass: "country-part",
                    title:
                        "\(country), segment \(detail.segments[s].id): \(count) customers (\(Format.percent(Double(count) / total)))"
                )
                x += w
                let gap = Double(count) / total - Double(overall[s]) / grandTotal
                if country != "Other", total >= Double(Self.minimumCountryCustomers),
                    abs(gap)
                        > abs(
                            mostDifferent.map {
                                $0.share - Double(overall[$0.segment]) / grandTotal
                            } ?? 0)
                {
                    mostDifferent = (country, s, Double(count) / total)
                }
            }
            svg.text(
                "\(Format.compact(total)) customers", x: left + barWidth + 6, y: top + 13,
                size: 9.5, fill: "#555")
        }
        svg.legend(
            detail.segments, x: left, y: 20 + rowHeight * Double(mix.countries.count) + 10,
            width: barWidth + 100)
        var reading = "Segment mix of each country's customers (countries by size)"
        if let m = mostDifferent {
            let customers =
                mix.countries.firstIndex(of: m.country).map { c in
                    (0..<k).reduce(Int64(0)) { $0 + mix.counts[c * k + $1] }
                } ?? 0
            reading +=
                "; among countries of at least \(Self.minimumCountryCustomers) customers it differs most in \(m.country) "
                + "(\(Format.grouped(Int(customers))) customers), where segment \(detail.segments[m.segment].id) is \(Format.percent(m.share)) "
                + "of customers against \(Format.percent(Double(overall[m.segment]) / grandTotal)) overall"
        } else {
            reading +=
                "; no country of at least \(Self.minimumCountryCustomers) customers differs from the overall mix to single out"
        }
        return Figure(
            id: "countries", title: "Segments by country",
            svg: svg.render(label: "segment mix per country", id: "country-chart"),
            reading: reading + ".")
    }
}
