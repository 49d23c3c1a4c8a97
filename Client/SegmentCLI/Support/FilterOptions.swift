import ArgumentParser
import SegmentationAPI
import SegmentationEngine
import SegmentationMapping

/// `--include` / `--exclude` row filters, shared by `train` and `score`.
struct FilterOptions: ParsableArguments, Sendable {
    @Option(
        name: .customLong("include"), parsing: .singleValue,
        help:
            "Keep only rows whose COLUMN equals VALUE (repeatable; several values of one column: any of them). E.g. --include 'Country=United Kingdom'."
    )
    var include: [String] = []

    @Option(
        name: .customLong("exclude"), parsing: .singleValue,
        help:
            "Drop rows whose COLUMN equals VALUE (repeatable). E.g. --exclude 'Order Status=Cancelled'. Values match ignoring case; every dropped row is counted."
    )
    var exclude: [String] = []

    func validate() throws {
        _ = try filters()
    }

    /// The filters as the API's messages; a malformed one is a usage error naming it.
    func protos() throws -> [Segmentation_V1_RowFilter] {
        try filters().map(\.proto)
    }

    private func filters() throws -> [RowFilter] {
        do {
            let all =
                try include.map { try RowFilter(parsing: $0, mode: .include) }
                + exclude.map { try RowFilter(parsing: $0, mode: .exclude) }
            guard all.count <= RowFilter.maximumCount else {
                throw ValidationError(
                    "at most \(RowFilter.maximumCount) --include/--exclude filters")
            }
            return all
        } catch let error as InputError {
            throw ValidationError(error.description)
        }
    }
}

/// A comma-separated list option's items, trimmed, empty ones dropped.
func listItems(_ text: String?) -> [String] {
    (text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
        !$0.isEmpty
    }
}
