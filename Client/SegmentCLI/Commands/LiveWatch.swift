import ArgumentParser
import Foundation
import SegmentationAPI

extension Live {
    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print customers moving between segments of a live store, as they move.",
            discussion: """
                One line per move: position, customer, from -> to, cause (transaction, \
                time_passing, model_change), the store's date. Runs until interrupted; pass the \
                last position printed as --after to resume with nothing missed (a summary's is \
                the last of its #first-last range).
                """)
        @Option(help: "Model name (the store's ref).") var model: String
        @Option(help: "The last position already seen (0: from the oldest move kept).")
        var after: Int64 = 0
        @Option(
            help:
                "Stop after this many events: moves, or with --summarize summaries too (0: never).")
        var limit = 0
        @Flag(
            help:
                "Sum up model changes: a count per from/to pair instead of a line per customer (an alias switch is one summary, or several when other moves come between)."
        )
        var summarize = false
        @OptionGroup var server: ServerOptions

        func validate() throws {
            guard after >= 0 else { throw ValidationError("--after must be 0 or more") }
            guard limit >= 0 else { throw ValidationError("--limit must be 0 or more") }
        }

        func run() async throws {
            let (model, after, limit, summarize) = (model, after, limit, summarize)
            try await server.call { services, format in
                if format == .csv {
                    Output.print(
                        CSVText.line([
                            "sequence", "customer_id", "from_segment_id", "from_segment",
                            "to_segment_id", "to_segment", "cause", "date", "model_version",
                            "from_model_version", "from_stable_id", "to_stable_id", "customers",
                        ]))
                }
                try await services.live.watchSegmentChanges(
                    .with {
                        $0.model = .init(text: model)
                        $0.afterSequence = after
                        $0.summarizeModelChanges = summarize
                    }
                ) { response in
                    var seen = 0
                    for try await change in response.messages {
                        Output.print(try Self.line(change, format: format))
                        seen += 1
                        if limit > 0, seen >= limit { break }
                    }
                }
            }
        }

        static func line(
            _ change: Segmentation_V1_SegmentChange, format: OutputFormat
        ) throws
            -> String
        {
            let cause =
                switch change.cause {
                case .transaction: "transaction"
                case .timePassing: "time_passing"
                case .modelChange: "model_change"
                default: "unknown"
                }
            switch format {
            case .json: return try Output.json(change).replacingOccurrences(of: "\n", with: " ")
            case .csv where change.hasSummary:
                // A row per pair, its customer empty and its count last.
                return change.summary.pairs.map { pair in
                    CSVText.line([
                        String(change.sequence), "", String(pair.fromSegmentID),
                        pair.fromSegmentName, String(pair.toSegmentID), pair.toSegmentName, cause,
                        change.date, String(change.modelVersion), String(pair.fromModelVersion),
                        String(pair.fromStableID), String(pair.toStableID), String(pair.customers),
                    ])
                }.joined(separator: "\n")
            case .csv:
                return CSVText.line([
                    String(change.sequence), change.customerID, String(change.fromSegmentID),
                    change.fromSegmentName, String(change.toSegmentID), change.toSegmentName, cause,
                    change.date, String(change.modelVersion), String(change.fromModelVersion),
                    String(change.fromStableID), String(change.toStableID), "1",
                ])
            case .table where change.hasSummary:
                let summary = change.summary
                let head =
                    "#\(summary.firstSequence)-\(change.sequence) \(change.date) \(summary.customers) customers re-placed under version \(change.modelVersion) (model_change):"
                return
                    ([head]
                    + summary.pairs.map { pair in
                        func segment(_ id: Int32, _ name: String, _ version: Int32) -> String {
                            id < 0 ? "(none)" : "v\(version) \(id) \(name)"
                        }
                        return
                            "  \(pair.customers): \(segment(pair.fromSegmentID, pair.fromSegmentName, pair.fromModelVersion)) -> \(segment(pair.toSegmentID, pair.toSegmentName, change.modelVersion))"
                    }).joined(separator: "\n")
            case .table:
                // After a model change the two segments are of different versions: say which.
                let versions = change.fromModelVersion != change.modelVersion
                func segment(_ id: Int32, _ name: String, _ version: Int32) -> String {
                    id < 0 ? "(none)" : versions ? "v\(version) \(id) \(name)" : "\(id) \(name)"
                }
                let from = segment(
                    change.fromSegmentID, change.fromSegmentName, change.fromModelVersion)
                let to = segment(change.toSegmentID, change.toSegmentName, change.modelVersion)
                return
                    "#\(change.sequence) \(change.date) customer \(change.customerID): \(from) -> \(to) (\(cause))"
            }
        }
    }
}
