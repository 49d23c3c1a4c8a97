import Foundation
import SegmentationMessages

/// Inertia, silhouette and Davies-Bouldin against k, on aligned panels sharing the k axis, with
/// the chosen k and the elbow marked.
enum KChoiceFigure {
    static func make(_ detail: Segmentation_V1_ModelDetail) -> Figure? {
        let rows = detail.kTable.sorted { $0.k < $1.k }
        guard rows.count >= 2, let first = rows.first, let last = rows.last else { return nil }
        // Mixture models add their BIC, the likelihood-based view of k.
        let panels: [(String, KeyPath<Segmentation_V1_KMetrics, Double>, String)] =
            [
                ("inertia", \.inertia, "lower is tighter"),
                ("silhouette", \.silhouette, "higher is better separated"),
                ("Davies-Bouldin", \.daviesBouldin, "lower is better"),
            ]
            + (rows.allSatisfy(\.hasBic)
                ? [("BIC", \.bic, "lower is better, for the mixture")] : [])
        let (width, panelHeight, gap) = (700.0, 100.0, 26.0)
        var svg = SVG(width: width, height: 30 + Double(panels.count) * (panelHeight + gap) + 30)
        let x = Scale(
            domain: (Double(first.k) - 0.5, Double(last.k) + 0.5), range: (70, width - 20))
        for (index, (name, keyPath, hint)) in panels.enumerated() {
            let area = PlotArea(
                left: 70, top: 24 + Double(index) * (panelHeight + gap), width: width - 90,
                height: panelHeight)
            let values = rows.map { $0[keyPath: keyPath] }.filter(\.isFinite)
            let low = min(0, values.min() ?? 0), high = max(values.max() ?? 1, low + 1e-9)
            let y = Scale(domain: (low, high + (high - low) * 0.05), range: (area.bottom, area.top))
            let isLast = index == panels.count - 1
            svg.axes(
                area, x: isLast ? x : nil, y: y, xTitle: isLast ? "k (number of segments)" : nil,
                yTitle: nil,
                xLabel: { String(Int($0)) },
                yLabel: name == "inertia" ? Format.compact : Format.score)
            svg.text(
                "\(name) (\(hint))", x: area.left, y: area.top - 6, size: 10, weight: "bold",
                fill: "#333")
            let points = rows.map { (x(Double($0.k)), y($0[keyPath: keyPath])) }
            svg.path(
                "M"
                    + points.map { "\(SVG.number($0.0)),\(SVG.number($0.1))" }.joined(
                        separator: " L"), stroke: "#0072B2")
            for (row, point) in zip(rows, points) {
                let chosen = Int(row.k) == Int(detail.chosenK)
                svg.circle(
                    x: point.0, y: point.1, r: chosen ? 5 : 3, fill: chosen ? "#D55E00" : "#0072B2",
                    cssClass: chosen ? "chosen-point" : nil)
            }
        }
        // The elbow and the chosen k, marked inside each panel (not across the panels' titles).
        let chosenX = x(Double(detail.chosenK))
        let nearRight = chosenX > width - 130
        for index in panels.indices {
            let top = 24 + Double(index) * (panelHeight + gap), bottom = top + panelHeight
            if detail.elbowK > 0 {
                let px = x(Double(detail.elbowK))
                svg.line(
                    x1: px, y1: top, x2: px, y2: bottom, stroke: "#666666", dashed: true,
                    cssClass: "elbow")
            }
            svg.line(
                x1: chosenX, y1: top, x2: chosenX, y2: bottom, stroke: "#D55E00", width: 2,
                cssClass: "chosen-k")
        }
        let lastBottom = 24 + Double(panels.count) * (panelHeight + gap) - gap
        if detail.elbowK > 0 {
            let px = x(Double(detail.elbowK))
            svg.text(
                "elbow k = \(detail.elbowK)", x: px + (px > width - 130 ? -4 : 4),
                y: lastBottom - 4, size: 9,
                anchor: px > width - 130 ? .end : .start, fill: "#555")
        }
        svg.text(
            "k = \(detail.chosenK) chosen", x: chosenX + (nearRight ? -4 : 4), y: 24 + 14, size: 10,
            anchor: nearRight ? .end : .start, weight: "bold", fill: "#D55E00")
        let chosen = rows.first { Int($0.k) == Int(detail.chosenK) }
        let reading =
            "k = \(detail.chosenK) was chosen"
            + (chosen.map {
                " (silhouette \(Format.score($0.silhouette)), smallest segment \(Format.percent($0.smallestShare)))"
            } ?? "")
            + (detail.elbowK > 0 && detail.elbowK != detail.chosenK
                ? "; the inertia curve bends most at k = \(detail.elbowK)" : "")
            + "."
        return Figure(
            id: "k-choice", title: "Choosing k: \(rows.count) values of k fitted and measured",
            svg: svg.render(
                label: "inertia, silhouette and Davies-Bouldin against k", id: "k-choice-chart"),
            reading: reading)
    }
}
