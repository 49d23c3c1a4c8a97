import Foundation
import SegmentationAPI

/// Segments over time in tables: how a version's segments continue its predecessor's, and where
/// customers move between two versions.
enum LineagePrinter {
    /// `models show`: the match with the previous version, and what happened to a person's wording.
    static func lineageSection(_ model: Segmentation_V1_ModelDetail) -> String? {
        guard model.hasLineage else { return nil }
        let lineage = model.lineage
        let previous = "@\(lineage.previousVersion)"
        guard lineage.unavailable.isEmpty else {
            return
                "segments not matched to \(previous) (all are new, with new stable ids): \(lineage.unavailable)"
        }
        var lines = [
            "segments matched to \(previous)"
                + (lineage.hasStayedShare
                    ? " (\(Output.percent(lineage.stayedShare)) of the customers stay in a continuing segment):"
                    : ":")
        ]
        lines.append(Output.table(matchHeader, matchRows(lineage.matches, lineage.movement)))
        for note in lineage.carried {
            let fields = note.fields.joined(separator: ", ")
            let what = note.personName.isEmpty ? fields : "\(fields) \(quoted(note.personName))"
            lines.append(
                note.carried
                    ? "kept a person's \(what) on segment \(note.currentID) (from segment \(note.previousID) of \(previous))"
                    : "not kept: a person's \(what) of segment \(note.previousID) of \(previous): \(note.reason)"
            )
        }
        return lines.joined(separator: "\n")
    }

    static let matchHeader = ["from", "", "to", "stable_id", "overlap", "centres_apart"]

    /// One row per pair, new and retired segment.
    static func matchRows(
        _ matches: [Segmentation_V1_SegmentMatch], _ movement: Segmentation_V1_SegmentMovement
    ) -> [[String]] {
        let from = Dictionary(uniqueKeysWithValues: movement.from.map { ($0.id, $0) })
        let to = Dictionary(uniqueKeysWithValues: movement.to.map { ($0.id, $0) })
        func label(_ ref: Segmentation_V1_SegmentRef?) -> String {
            ref.map { "\($0.id) \($0.name)" } ?? "-"
        }
        return matches.map { match in
            let earlier = match.hasPreviousID ? from[match.previousID] : nil
            let later = match.hasCurrentID ? to[match.currentID] : nil
            let kind: String =
                switch match.kind {
                case .matched: "->"
                case .new: "new"
                case .retired: "retired"
                default: "?"
                }
            return [
                label(earlier), kind, label(later),
                String((later ?? earlier)?.stableID ?? 0),
                Output.number(match.overlap, digits: 2),
                match.hasCentreDistance ? Output.number(match.centreDistance, digits: 2) : "",
            ]
        }
    }

    /// The from x to counts as a table: rows the earlier segments, columns the later ones.
    static func matrix(_ movement: Segmentation_V1_SegmentMovement) -> String {
        let width = movement.to.count
        let header = ["from \\ to"] + movement.to.map { "\($0.id) \($0.name)" } + ["total"]
        let total = max(1, movement.counts.reduce(0, +))
        var rows = movement.from.enumerated().map { f, segment -> [String] in
            let row = movement.counts[(f * width)..<((f + 1) * width)]
            return ["\(segment.id) \(segment.name)"] + row.map { String($0) }
                + [String(row.reduce(0, +))]
        }
        rows.append(
            ["total"]
                + (0..<width).map { t in
                    String(
                        (0..<movement.from.count).reduce(0) { $0 + movement.counts[$1 * width + t] }
                    )
                } + [String(total)])
        return Output.table(header, rows)
    }

    private static func quoted(_ text: String) -> String { "\"\(text)\"" }
}
