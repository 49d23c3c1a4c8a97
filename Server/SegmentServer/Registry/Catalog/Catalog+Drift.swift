import Foundation
import SegmentationEngine

// Drift windows: per model version and hour, the scored customers' counts over the training
// bins, added to by every server that scores the version.

extension CatalogStore {
    public func addDriftCounts(_ windows: [DriftWindow]) async throws {
        guard !windows.isEmpty else { return }
        // In one order on every server, so two servers adding to the same rows never deadlock.
        let windows = windows.sorted {
            ($0.model, $0.version, $0.hour) < ($1.model, $1.version, $1.hour)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        try await write { transaction in
            for window in windows {
                _ = try await transaction.rows(
                    """
                    INSERT INTO drift_windows (model, version, hour, counts_json) VALUES (?, ?, ?, ?)
                    ON CONFLICT (model, version, hour) DO NOTHING
                    """, window.model, window.version, window.hour,
                    String(decoding: try encoder.encode(window.counts.emptied), as: UTF8.self))
                let stored = try await transaction.rows(
                    "SELECT counts_json FROM drift_windows WHERE model = ? AND version = ? AND hour = ?\(transaction.forUpdate)",
                    window.model, window.version, window.hour)
                var counts =
                    (try stored.first.flatMap { try? Self.decodeCounts(try $0.text("counts_json")) })
                    ?? window.counts.emptied
                if counts.bins.map(\.count) != window.counts.bins.map(\.count)
                    || counts.segments.count != window.counts.segments.count
                {
                    counts = window.counts.emptied  // a damaged row is replaced, not added to
                }
                counts.add(window.counts)
                _ = try await transaction.rows(
                    "UPDATE drift_windows SET counts_json = ? WHERE model = ? AND version = ? AND hour = ?",
                    String(decoding: try encoder.encode(counts), as: UTF8.self), window.model,
                    window.version, window.hour)
            }
            let oldest = (windows.map(\.hour).max() ?? 0) - DriftWindow.retentionHours
            _ = try await transaction.rows("DELETE FROM drift_windows WHERE hour < ?", oldest)
        }
    }

    public func driftWindows(
        _ name: String, _ version: Int, sinceHour: Int
    ) async throws -> [DriftWindow] {
        try await read { transaction in
            try await transaction.rows(
                """
                SELECT hour, counts_json FROM drift_windows WHERE model = ? AND version = ? AND hour >= ?
                ORDER BY hour
                """, name, version, sinceHour
            ).compactMap { row in
                // A row that does not decode is left out (it cannot be added to anything).
                guard let counts = try? Self.decodeCounts(try row.text("counts_json")) else {
                    return nil
                }
                return DriftWindow(
                    model: name, version: version, hour: try row.int("hour"), counts: counts)
            }
        }
    }

    private static func decodeCounts(_ json: String) throws -> DriftCounts {
        try JSONDecoder().decode(DriftCounts.self, from: Data(json.utf8))
    }
}

extension DriftCounts {
    /// The same shape with every count zero.
    var emptied: DriftCounts {
        DriftCounts(
            customers: 0, bins: bins.map { [Int](repeating: 0, count: $0.count) },
            segments: [Int](repeating: 0, count: segments.count))
    }
}
