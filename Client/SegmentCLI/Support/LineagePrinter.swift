import Foundation
import SegmentReport
import SegmentationAPI

/// Segments over time in tables: how a version's segments continue its predecessor's, and where
/// customers move between two versions.
enum LineagePrinter {
    /// `models show`: the match with the previous version, and what happened to a person's wording.
    static func lineageSection(_ model: Segmentation_V1_ModelDetail) -> String? {
        guard model.hasLineage else { return nil }
        let lineage = model.lineage
        guard lineage.unavailable.isEmpty == false || isWellFormed(lineage.movement) else {
            return
                "segments matched to @\(lineage.previousVersion): the server's answer does not fit together"
        }
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
        lines.append(
            Output.table(
                LineageText.matchHeader,
                LineageText.matchRows(lineage.matches, lineage.movement)))
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

    /// Whether a movement's counts fit its segments (an answer the CLI can draw).
    static func isWellFormed(_ movement: Segmentation_V1_SegmentMovement) -> Bool {
        movement.counts.count == movement.from.count * movement.to.count
            && (movement.lifetimeValue.isEmpty
                || movement.lifetimeValue.count == movement.counts.count)
            && Set(movement.from.map(\.id)).count == movement.from.count
            && Set(movement.to.map(\.id)).count == movement.to.count
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
