import Foundation
import SegmentationMessages

/// The report's "Since the previous version" section: how this version's segments continue the
/// previous one's (the match, what a person set on them) and the flow of customers between them.
enum LineageSection {
    static func html(_ detail: Segmentation_V1_ModelDetail, figures: [String: Figure]) -> String {
        guard detail.hasLineage else { return "" }
        let lineage = detail.lineage
        let previous = "\(detail.version.name)@\(lineage.previousVersion)"
        guard lineage.unavailable.isEmpty else {
            return
                "<p class=\"reason\">The segments could not be matched to \(h(previous))'s, so all are new: \(h(lineage.unavailable)).</p>"
        }
        var html =
            "<p class=\"reason\">Each segment of \(h(previous)) is matched to at most one of this version's: the pairing "
            + "with the most customers in common (Jaccard index) in total, a pair kept when they share at least 30% "
            + "or their centres lie within half a spread. A matched segment keeps its stable id.</p>"
        html += matchTable(lineage)
        if !lineage.carried.isEmpty {
            html +=
                "<ul class=\"warnings\">"
                + lineage.carried.map { note in
                    let what =
                        note.fields.joined(separator: ", ")
                        + (note.personName.isEmpty ? "" : " \u{201C}\(note.personName)\u{201D}")
                    return "<li>"
                        + h(
                            note.carried
                                ? "Kept a person's \(what) on segment \(note.currentID)."
                                : "Not kept: a person's \(what) of \(previous)'s segment \(note.previousID), because \(note.reason)."
                        )
                        + "</li>"
                }.joined() + "</ul>"
        }
        return html + HTMLReport.figureHTML(figures["segment-flow"])
    }

    private static func matchTable(_ lineage: Segmentation_V1_SegmentLineage) -> String {
        let rows = LineageText.matchRows(lineage.matches, lineage.movement).map { cells in
            "<tr>" + cells.map { "<td>\(h($0))</td>" }.joined() + "</tr>"
        }
        return "<table><thead><tr>" + LineageText.matchHeader.map { "<th>\(h($0))</th>" }.joined()
            + "</tr></thead><tbody>" + rows.joined() + "</tbody></table>"
    }

    private static func h(_ text: String) -> String { SVG.escape(text) }
}

/// Customers flowing from the previous version's segments (left) to this version's (right):
/// bands as wide as the customers, coloured where the segment continues, grey where it does not.
enum LineageFigures {
    static func flow(_ detail: Segmentation_V1_ModelDetail) -> Figure? {
        guard detail.hasLineage, detail.lineage.unavailable.isEmpty,
            let movement = SegmentFlow(detail.lineage), movement.total > 0
        else { return nil }
        let (width, nodeWidth, gap) = (760.0, 14.0, 10.0)
        let usable = 380.0
        let height = usable + gap * Double(max(movement.from.count, movement.to.count)) + 40
        let (left, right) = (250.0, width - 250.0 - nodeWidth)
        let scale = usable / Double(movement.total)
        var svg = SVG(width: width, height: height)
        let fromTops = tops(movement.fromTotals, scale: scale, gap: gap)
        let toTops = tops(movement.toTotals, scale: scale, gap: gap)
        var fromOffset = fromTops, toOffset = toTops
        let colours = Dictionary(
            detail.segments.enumerated().map { ($1.id, Palette.colour($0)) },
            uniquingKeysWith: { first, _ in first })
        for f in movement.from.indices {
            for t in movement.to.indices {
                let count = movement.count(f, t)
                guard count > 0 else { continue }
                let band = Double(count) * scale
                let (y0, y1) = (fromOffset[f], toOffset[t])
                fromOffset[f] += band
                toOffset[t] += band
                let (x0, x1) = (left + nodeWidth, right)
                let mid = (x0 + x1) / 2
                let d =
                    "M\(SVG.number(x0)),\(SVG.number(y0)) C\(SVG.number(mid)),\(SVG.number(y0)) \(SVG.number(mid)),\(SVG.number(y1)) \(SVG.number(x1)),\(SVG.number(y1)) "
                    + "L\(SVG.number(x1)),\(SVG.number(y1 + band)) C\(SVG.number(mid)),\(SVG.number(y1 + band)) \(SVG.number(mid)),\(SVG.number(y0 + band)) \(SVG.number(x0)),\(SVG.number(y0 + band)) Z"
                let continues = movement.continues(f, t)
                svg.path(
                    d, stroke: "none",
                    fill: continues ? colours[movement.to[t].id] ?? "#999" : "#9a9a9a",
                    width: 0, opacity: continues ? 0.55 : 0.35,
                    cssClass: continues ? "flow-stay" : "flow-move",
                    title:
                        "\(Format.grouped(count)) customers: \(movement.from[f].name) to \(movement.to[t].name)"
                )
            }
        }
        for (f, segment) in movement.from.enumerated() {
            let h = Double(movement.fromTotals[f]) * scale
            svg.rect(x: left, y: fromTops[f], width: nodeWidth, height: h, fill: "#555")
            svg.text(
                "\(segmentLabelText(segment.name)) (\(Format.grouped(movement.fromTotals[f])))",
                x: left - 6, y: fromTops[f] + h / 2 + 4, size: 10, anchor: .end)
        }
        for (t, segment) in movement.to.enumerated() {
            let h = Double(movement.toTotals[t]) * scale
            svg.rect(
                x: right, y: toTops[t], width: nodeWidth, height: h,
                fill: colours[segment.id] ?? "#555")
            svg.text(
                "\(segmentLabelText(segment.name)) (\(Format.grouped(movement.toTotals[t])))",
                x: right + nodeWidth + 6, y: toTops[t] + h / 2 + 4, size: 10)
        }
        svg.text(
            "@\(detail.lineage.previousVersion)", x: left + nodeWidth / 2, y: height - 8, size: 10,
            anchor: .middle, fill: "#555")
        svg.text(
            "@\(detail.version.version)", x: right + nodeWidth / 2, y: height - 8, size: 10,
            anchor: .middle, fill: "#555")
        let stayed = detail.lineage.hasStayedShare ? detail.lineage.stayedShare : 0
        let reading =
            "The \(Format.grouped(movement.total)) customers of this version's training data, as @\(detail.lineage.previousVersion) "
            + "and this version assign them (the same customers and facts: only the models differ). "
            + "\(Format.percent(stayed)) stay in a segment that continues (coloured bands); grey bands are customers whose "
            + "segment does not continue. segment models diff shows the customers themselves."
        return Figure(
            id: "segment-flow",
            title: "This version's customers in the previous version's segments and in its own",
            svg: svg.render(
                label: "customers from the previous version's segments to this version's",
                id: "segment-flow-chart"),
            reading: reading)
    }

    private static func tops(_ totals: [Int], scale: Double, gap: Double) -> [Double] {
        var y = 10.0
        return totals.map { total in
            defer { y += Double(total) * scale + gap }
            return y
        }
    }

    private static func segmentLabelText(_ name: String) -> String {
        name.count > 34 ? String(name.prefix(33)) + "…" : name
    }
}

/// A lineage's movement read for drawing: totals per side and which pairs continue.
private struct SegmentFlow {
    let from: [Segmentation_V1_SegmentRef]
    let to: [Segmentation_V1_SegmentRef]
    let counts: [Int]
    let pairs: Set<[Int32]>

    init?(_ lineage: Segmentation_V1_SegmentLineage) {
        let movement = lineage.movement
        guard !movement.from.isEmpty, !movement.to.isEmpty,
            movement.counts.count == movement.from.count * movement.to.count
        else { return nil }
        from = movement.from
        to = movement.to
        counts = movement.counts.map { Int(max(0, $0)) }
        pairs = Set(
            lineage.matches.filter { $0.kind == .matched }.map { [$0.previousID, $0.currentID] })
    }

    var total: Int { counts.reduce(0, +) }
    func count(_ f: Int, _ t: Int) -> Int { counts[f * to.count + t] }
    func continues(_ f: Int, _ t: Int) -> Bool { pairs.contains([from[f].id, to[t].id]) }
    var fromTotals: [Int] { from.indices.map { f in to.indices.reduce(0) { $0 + count(f, $1) } } }
    var toTotals: [Int] { to.indices.map { t in from.indices.reduce(0) { $0 + count($1, t) } } }
}
