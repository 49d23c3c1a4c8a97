import ArgumentParser
import Foundation
import SegmentationAPI

/// `segment live`: a model's live store, fed with transactions as they happen.
struct Live: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Feed a model's live store with transactions; show customers, audiences and moves.",
        discussion: """
            A live store keeps every customer's running state from their transactions and their \
            segment under the ref it follows (the one named on the first ingest: NAME, NAME@3 or \
            NAME@alias), re-placed as they buy, as days pass and when the alias moves.
            """,
        subcommands: [Ingest.self, Show.self, Members.self, Watch.self])
}

/// The store's clock (`--clock`).
enum LiveClockOption: String, ExpressibleByArgument, CaseIterable {
    case wall, event

    var proto: Segmentation_V1_LiveClock { self == .wall ? .wall : .event }
}
