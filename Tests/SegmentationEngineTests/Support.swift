import Foundation

@testable import SegmentationEngine

/// Locates `../shared` beside the checkout (or `$SEGMENT_SHARED_DIR`), for fixture tests.
enum Shared {
    static let root: String = {
        if let custom = ProcessInfo.processInfo.environment["SEGMENT_SHARED_DIR"] { return custom }
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent()
            .deletingLastPathComponent()
        return package.deletingLastPathComponent().appendingPathComponent("shared").path
    }()

    static func path(_ relative: String) -> String {
        (root as NSString).appendingPathComponent(relative)
    }

    static var hasFixtures: Bool {
        FileManager.default.fileExists(atPath: path("fixtures/README.md"))
    }
    static var hasOnlineRetail: Bool {
        FileManager.default.fileExists(atPath: path("data/online-retail/by-day"))
    }

    static let skipMessage = "../shared is absent: fixture test skipped"

    /// A numeric CSV with a header line, as a matrix.
    static func matrix(_ relative: String) throws -> Matrix {
        let rows = try CSVReader.rows(of: String(contentsOfFile: path(relative), encoding: .utf8))
        return Matrix(rowArrays: rows.dropFirst().map { $0.map { Double($0)! } })
    }

    static func labels(_ relative: String) throws -> [Int32] {
        try CSVReader.rows(of: String(contentsOfFile: path(relative), encoding: .utf8)).dropFirst()
            .map { Int32($0[0])! }
    }

    static func json(_ relative: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(relative)))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }
}

func relativeError(_ a: Double, _ b: Double) -> Double {
    a == b ? 0 : abs(a - b) / max(abs(a), abs(b), 1e-300)
}

/// Two blobs far apart in two dimensions, a hand-checkable case.
func twoBlobs() -> (Matrix, [Int32]) {
    let points: [[Double]] = [[0, 0], [0, 1], [1, 0], [10, 10], [10, 11], [11, 10]]
    return (Matrix(rowArrays: points), [0, 0, 0, 1, 1, 1])
}
