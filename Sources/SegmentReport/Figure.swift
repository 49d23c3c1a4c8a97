import Foundation
import SegmentationMessages

/// One chart of the report: a title, the drawing, and a one-line reading of it in words.
public struct Figure: Sendable {
    public var id: String
    public var title: String
    public var svg: String
    public var reading: String
}

/// The plotting area inside an SVG, with margins for the axes' labels.
struct PlotArea {
    var left: Double
    var top: Double
    var width: Double
    var height: Double
    var right: Double { left + width }
    var bottom: Double { top + height }
}

extension SVG {
    /// Gridlines, tick labels and axis titles for a plot area.
    mutating func axes(
        _ area: PlotArea, x: Scale?, y: Scale?, xTitle: String?, yTitle: String?,
        xLabel: (Double) -> String = Format.compact, yLabel: (Double) -> String = Format.compact
    ) {
        rect(
            x: area.left, y: area.top, width: area.width, height: area.height, fill: "none",
            stroke: "#BBBBBB")
        if let y {
            for tick in y.ticks() {
                let py = y(tick)
                line(x1: area.left, y1: py, x2: area.right, y2: py, stroke: "#EEEEEE")
                text(
                    yLabel(tick), x: area.left - 4, y: py + 3.5, size: 9, anchor: .end, fill: "#555"
                )
            }
        }
        if let x {
            for tick in x.ticks() {
                let px = x(tick)
                line(x1: px, y1: area.bottom, x2: px, y2: area.bottom + 3, stroke: "#999999")
                text(
                    xLabel(tick), x: px, y: area.bottom + 13, size: 9, anchor: .middle, fill: "#555"
                )
            }
        }
        if let xTitle {
            text(
                xTitle, x: area.left + area.width / 2, y: area.bottom + 27, size: 10,
                anchor: .middle, fill: "#333")
        }
        if let yTitle {
            text(
                yTitle, x: area.left - 34, y: area.top + area.height / 2, size: 10, anchor: .middle,
                fill: "#333", rotate: true)
        }
    }

    /// A legend of segment swatches, wrapping; returns the height used.
    @discardableResult
    mutating func legend(
        _ segments: [Segmentation_V1_Segment], x: Double, y: Double, width: Double
    ) -> Double {
        for (index, place) in Self.legendPlaces(segments, width: width).enumerated() {
            let label = segmentLabel(segments[index], limit: 60)
            rect(
                x: x + place.x, y: y + place.y - 8, width: 10, height: 10,
                fill: Palette.colour(index))
            text(label, x: x + place.x + 14, y: y + place.y + 1, size: 9.5, fill: "#333")
        }
        return Self.legendHeight(segments, width: width)
    }

    /// The height a legend takes at this width (to size the drawing before it is drawn).
    static func legendHeight(_ segments: [Segmentation_V1_Segment], width: Double) -> Double {
        (legendPlaces(segments, width: width).map(\.y).max() ?? 0) + 15
    }

    private static func legendPlaces(
        _ segments: [Segmentation_V1_Segment], width: Double
    ) -> [(x: Double, y: Double)] {
        var (cx, cy) = (0.0, 0.0)
        return segments.map { segment in
            let itemWidth = 18 + Double(segmentLabel(segment, limit: 60).count) * 5.6
            if cx + itemWidth > width && cx > 0 { cx = 0; cy += 15 }
            defer { cx += itemWidth + 8 }
            return (cx, cy)
        }
    }
}

extension Segmentation_V1_ModelDetail {
    /// A segment's position (colour index) for a label; labels are segment ids.
    func segmentIndex(_ label: Int32) -> Int? {
        segments.firstIndex { $0.id == label }
    }

    /// Whether the model log-transforms a feature (then its axes are log scales).
    func isLogged(_ feature: String) -> Bool {
        guard let index = features.firstIndex(of: feature), index < log1P.count else {
            return false
        }
        return log1P[index]
    }
}

/// "3 Recent, High-Value Buyers", cut to fit a chart's label column.
func segmentLabel(_ segment: Segmentation_V1_Segment, limit: Int = 34) -> String {
    let label = "\(segment.id) \(segment.name)"
    return label.count <= limit ? label : String(label.prefix(limit - 1)) + "…"
}

/// "avg_order_value" -> "avg order value".
func readable(_ feature: String) -> String { feature.replacingOccurrences(of: "_", with: " ") }
