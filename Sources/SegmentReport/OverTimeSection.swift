import Foundation
import SegmentationMessages

/// The report's "Over time" section: each stable segment's size across the model's trained
/// versions (a chart), and when asked, how far live scoring has drifted from the training data.
public enum OverTimeSection {
    static func html(
        _ detail: Segmentation_V1_ModelDetail, sizes: Segmentation_V1_ListSegmentSizesResponse?,
        drift: Segmentation_V1_GetDriftResponse?
    ) -> String {
        var html = ""
        if let figure = sizesFigure(detail, sizes) { html += HTMLReport.figureHTML(figure) }
        if let drift { html += driftHTML(drift) }
        return html
    }

    /// Customers per stable segment, one line each across the versions (at least two).
    public static func sizesFigure(
        _ detail: Segmentation_V1_ModelDetail, _ sizes: Segmentation_V1_ListSegmentSizesResponse?
    ) -> Figure? {
        // Up to the report's own version: later versions' segments are not this one's story.
        guard let sizes else { return nil }
        let versions = sizes.versions.filter { $0.version <= detail.version.version }
        guard versions.count >= 2 else { return nil }
        var names: [Int32: String] = [:]
        for version in versions { for s in version.segments { names[s.stableID] = s.name } }
        let stable = names.keys.sorted()
        let high = versions.flatMap { $0.segments.map(\.customers) }.max() ?? 1
        let (width, height) = (720.0, max(340.0, 40 + 15 * Double(stable.count)))
        let area = PlotArea(left: 70, top: 20, width: 420, height: height - 80)
        let x = Scale(
            domain: (0, Double(max(1, versions.count - 1))), range: (area.left, area.right))
        let y = Scale(domain: (0, Double(high) * 1.1), range: (area.bottom, area.top))
        var svg = SVG(width: width, height: height)
        svg.axes(area, x: nil, y: y, xTitle: "version", yTitle: "customers")
        for (i, version) in versions.enumerated() {
            svg.text(
                "@\(version.version)", x: x(Double(i)), y: area.bottom + 13, size: 9,
                anchor: .middle, fill: "#555")
        }
        let current = Dictionary(
            detail.segments.enumerated().map { ($1.stableID, $0) },
            uniquingKeysWith: { first, _ in first })
        for (n, id) in stable.enumerated() {
            let colour = current[id].map(Palette.colour) ?? "#9a9a9a"
            let points = versions.enumerated().compactMap { i, version -> (Double, Double)? in
                version.segments.first { $0.stableID == id }.map {
                    (x(Double(i)), y(Double($0.customers)))
                }
            }
            guard !points.isEmpty else { continue }
            if points.count > 1 {
                svg.path(
                    "M"
                        + points.map { "\(SVG.number($0.0)),\(SVG.number($0.1))" }
                        .joined(separator: " L"), stroke: colour, cssClass: "size-line")
            }
            for point in points {
                svg.circle(x: point.0, y: point.1, r: 3, fill: colour, cssClass: "size-point")
            }
            svg.text(
                "\(id) \(String(names[id]!.prefix(30)))", x: area.right + 10,
                y: area.top + 12 + Double(n) * 15, size: 9, fill: colour)
        }
        let first = versions.first!, latest = versions.last!
        let reading =
            "Customers in each stable segment (a segment keeps its stable id while later versions match it) from @\(first.version) "
            + "to @\(latest.version); a line starts where a segment is new and stops where it was retired. Grey: segments not in "
            + "@\(detail.version.version), this report's version."
        return Figure(
            id: "segment-sizes", title: "Segment sizes over the model's versions",
            svg: svg.render(label: "customers per stable segment and version", id: "sizes-chart"),
            reading: reading)
    }

    static func driftHTML(_ drift: Segmentation_V1_GetDriftResponse) -> String {
        let head =
            "<h3>Live scoring against the training data (last \(drift.sinceHours) hours)</h3>"
        guard drift.unavailable.isEmpty else {
            return head + "<p class=\"reason\">\(h(drift.unavailable)).</p>"
        }
        let rows = (drift.features + [drift.segments]).map { item in
            "<tr><td>\(h(item.name))</td><td>\(String(format: "%.3f", item.psi))</td><td>\(h(item.reading))</td></tr>"
        }
        return head
            + "<p class=\"reason\">\(h(Format.grouped(Int(drift.customers)))) customers scored by every server that counts drift (a customer scored twice counts twice); "
            + "the population stability index over the training deciles of each feature and over the segment shares: "
            + "below 0.1 stable, 0.1 to 0.25 moderate, above 0.25 a shift.</p>"
            + "<table><thead><tr><th>feature</th><th>PSI</th><th>reading</th></tr></thead><tbody>"
            + rows.joined() + "</tbody></table>"
    }

    private static func h(_ text: String) -> String { SVG.escape(text) }
}
