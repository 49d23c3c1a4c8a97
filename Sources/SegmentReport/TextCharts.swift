import Foundation
import SegmentationMessages

/// Compact charts for the terminal: segment shares as bars, the k table with the chosen row
/// marked and a sparkline of silhouette.
public enum TextCharts {
    static let blocks: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]

    /// One character per value, low to high.
    public static func sparkline(_ values: [Double]) -> String {
        let finite = values.filter(\.isFinite)
        guard let low = finite.min(), let high = finite.max() else { return "" }
        return String(
            values.map { value -> Character in
                guard value.isFinite else { return " " }
                let t = high > low ? (value - low) / (high - low) : 0.5
                return blocks[min(blocks.count - 1, Int(t * Double(blocks.count - 1) + 0.5))]
            })
    }

    /// A bar of `width` cells for a share 0...1, in eighths.
    public static func bar(_ share: Double, width: Int = 30) -> String {
        let eighths = Int((max(0, min(1, share)) * Double(width * 8)).rounded())
        let full = String(repeating: "█", count: eighths / 8)
        let partial = eighths % 8 == 0 ? "" : String(blocks[eighths % 8 - 1])
        return full + partial
    }

    /// Segment shares (customers, and revenue when known), one line per segment.
    public static func shares(_ detail: Segmentation_V1_ModelDetail) -> String {
        let nameWidth = min(40, detail.segments.map { "\($0.id) \($0.name)".count }.max() ?? 10)
        var lines = [
            "segment shares (█ customers"
                + (detail.segments.allSatisfy(\.hasRevenueShare) ? ", revenue after the bar)" : ")")
        ]
        for segment in detail.segments {
            let full = "\(segment.id) \(segment.name)"
            let cut = full.count > nameWidth ? String(full.prefix(nameWidth - 1)) + "…" : full
            let label = cut.padding(toLength: nameWidth, withPad: " ", startingAt: 0)
            var line =
                "  \(label) \(bar(segment.customerShare).padding(toLength: 30, withPad: " ", startingAt: 0)) "
                + Format.percent(segment.customerShare).padding(
                    toLength: 5, withPad: " ", startingAt: 0)
            if segment.hasRevenueShare {
                line += "  revenue \(Format.percent(segment.revenueShare))"
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    /// The k table with the chosen row marked, and silhouette's sparkline over k.
    public static func kTable(_ detail: Segmentation_V1_ModelDetail) -> String {
        let rows = detail.kTable.sorted { $0.k < $1.k }
        guard !rows.isEmpty else { return "" }
        var lines = [
            "k choice: silhouette over k = \(rows.first!.k)...\(rows.last!.k)  \(sparkline(rows.map(\.silhouette)))",
            "     k    inertia  silhouette  davies-bouldin  smallest",
        ]
        for row in rows {
            let mark = Int(row.k) == Int(detail.chosenK) ? "▶" : " "
            lines.append(
                "  \(mark) " + String(row.k).leftPad(3) + Format.compact(row.inertia).leftPad(11)
                    + Format.score(row.silhouette).leftPad(12)
                    + Format.score(row.daviesBouldin).leftPad(16)
                    + Format.percent(row.smallestShare).leftPad(10)
                    + (mark == "▶" ? "  chosen" : ""))
        }
        return lines.joined(separator: "\n")
    }
}

extension String {
    func leftPad(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
