import Foundation
import SegmentationMessages

/// How a version's segments continue another's, as table cells: the report's match table and
/// the CLI's (`models show`, `models diff`) read the same.
public enum LineageText {
    public static let matchHeader = [
        "previous segment", "", "this version", "stable ids", "overlap (Jaccard)",
        "centres apart (spreads)",
    ]

    /// One row per matched pair, new and retired segment.
    public static func matchRows(
        _ matches: [Segmentation_V1_SegmentMatch], _ movement: Segmentation_V1_SegmentMovement
    ) -> [[String]] {
        let from = Dictionary(
            movement.from.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let to = Dictionary(
            movement.to.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        return matches.map { match in
            let earlier = match.hasPreviousID ? from[match.previousID] : nil
            let later = match.hasCurrentID ? to[match.currentID] : nil
            return [
                label(earlier), kind(match.kind), label(later), stableIDs(earlier, later),
                "\(Format.percent(match.overlap)) (\(Format.grouped(Int(match.sharedCustomers))) customers)",
                match.hasCentreDistance ? String(format: "%.2f", match.centreDistance) : "",
            ]
        }
    }

    private static func label(_ segment: Segmentation_V1_SegmentRef?) -> String {
        segment.map { "\($0.id). \($0.name)" } ?? ""
    }

    private static func kind(_ kind: Segmentation_V1_SegmentMatch.Kind) -> String {
        switch kind {
        case .matched: "continues as"
        case .new: "new"
        case .retired: "retired"
        default: ""
        }
    }

    /// "3" when both sides have the same stable id, "3 / 5" when not (two models compared).
    private static func stableIDs(
        _ earlier: Segmentation_V1_SegmentRef?, _ later: Segmentation_V1_SegmentRef?
    ) -> String {
        Set([earlier, later].compactMap { $0?.stableID }).sorted().map { String($0) }
            .joined(separator: " / ")
    }
}
