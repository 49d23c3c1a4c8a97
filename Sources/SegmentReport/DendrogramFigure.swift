import Foundation
import SegmentationMessages

/// Ward's tree, its top merges: the clusters at the cut as leaves (with their sizes), every merge
/// above them at its height, and a dashed line where the tree cuts into the chosen k.
enum DendrogramFigure {
    static func make(_ detail: Segmentation_V1_ModelDetail) -> Figure? {
        let tree = detail.charts.dendrogram
        let leaves = tree.leafSizes.count
        guard detail.charts.hasDendrogram, leaves >= 2, tree.merges.count == leaves - 1 else {
            return nil
        }
        let (width, height) = (700.0, 330.0)
        let area = PlotArea(left: 70, top: 20, width: width - 90, height: height - 80)
        let top = tree.merges.map(\.height).max() ?? 1
        let y = Scale(domain: (0, top * 1.05), range: (area.bottom, area.top))
        var svg = SVG(width: width, height: height)
        svg.axes(area, x: nil, y: y, xTitle: nil, yTitle: nil, yLabel: Format.compact)
        svg.text(
            "merge height (Ward's distance, scaled features)", x: area.left, y: area.top - 6,
            size: 10, weight: "bold", fill: "#333")

        // Leaves left to right in the order a walk from the root meets them, so no lines cross.
        var order: [Int] = []
        func walk(_ node: Int) {
            if node < leaves { order.append(node); return }
            let merge = tree.merges[node - leaves]
            walk(Int(merge.left))
            walk(Int(merge.right))
        }
        walk(leaves + tree.merges.count - 1)
        let step = area.width / Double(leaves)
        var x = [Double](repeating: 0, count: leaves + tree.merges.count)
        var level = [Double](repeating: 0, count: leaves + tree.merges.count)
        for (position, leaf) in order.enumerated() {
            x[leaf] = area.left + step * (Double(position) + 0.5)
            svg.text(
                Format.grouped(Int(tree.leafSizes[leaf])), x: x[leaf], y: area.bottom + 14, size: 9,
                anchor: .middle, fill: "#555")
        }
        for (index, merge) in tree.merges.enumerated() {
            let node = leaves + index
            let (a, b) = (Int(merge.left), Int(merge.right))
            x[node] = (x[a] + x[b]) / 2
            level[node] = merge.height
            let py = y(merge.height)
            svg.line(x1: x[a], y1: y(level[a]), x2: x[a], y2: py, stroke: "#0072B2", width: 1.5)
            svg.line(x1: x[b], y1: y(level[b]), x2: x[b], y2: py, stroke: "#0072B2", width: 1.5)
            svg.line(x1: x[a], y1: py, x2: x[b], y2: py, stroke: "#0072B2", width: 1.5)
        }
        let sampled = detail.algorithmParameters["sampled_rows"].flatMap { $0 == "none" ? nil : $0 }
        svg.text(
            "customers in each of the \(leaves) clusters at the bottom of this view"
                + (sampled.map { " (of the tree's sample, \($0))" } ?? ""),
            x: area.left, y: area.bottom + 30, size: 9, fill: "#555")
        // k clusters lie between the (k-1)-th highest merge and the k-th highest one.
        let heights = tree.merges.map(\.height).sorted(by: >)
        let k = Int(detail.chosenK)
        var reading =
            "The tree's top \(tree.merges.count) merges, from \(leaves) clusters up to one; long vertical lines are groups that stay apart until late."
        if k >= 2, k <= heights.count {
            let cut = (heights[k - 2] + (k - 1 < heights.count ? heights[k - 1] : 0)) / 2
            svg.line(
                x1: area.left, y1: y(cut), x2: area.right, y2: y(cut), stroke: "#D55E00",
                width: 1.5, dashed: true, cssClass: "cut")
            svg.text(
                "cut into k = \(k)", x: area.left + 4, y: y(cut) - 4, size: 10, weight: "bold",
                fill: "#D55E00")
            reading +=
                " The dashed line cuts it into the \(k) clusters the segments started from (a k-means step then settled each customer in its nearest segment)."
        }
        return Figure(
            id: "dendrogram", title: "Ward's tree: the top merges",
            svg: svg.render(
                label: "dendrogram of the top merges of Ward's tree", id: "dendrogram-chart"),
            reading: reading)
    }
}
