import Foundation
import SegmentBuildC

/// What `--version` prints and the `segment_build_info` metric carries: the product version, the
/// git commit it was built from ("-dirty" when the tree had changes) and when it was compiled.
public struct BuildInfo: Sendable, Equatable {
    public var version: String
    public var commit: String
    /// ISO 8601 (UTC when SOURCE_DATE_EPOCH set it; otherwise the build machine's local time).
    public var date: String

    public static let current = BuildInfo(
        version: String(cString: segment_build_version()),
        commit: String(cString: segment_build_commit()),
        date: isoDate(compilerDate: String(cString: segment_build_date())))

    /// One line, e.g. "segment-server 0.9.0 (commit 030a0d2e91b4, built 2026-12-04T02:50:11)".
    public func line(program: String) -> String {
        "\(program) \(version) (commit \(commit), built \(date))"
    }

    /// `__DATE__ __TIME__` ("Dec  4 2026 02:50:11") as "2026-12-04T02:50:11".
    static func isoDate(compilerDate: String) -> String {
        let parts = compilerDate.split(separator: " ")
        let months = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ]
        guard parts.count == 4, let month = months.firstIndex(of: String(parts[0])),
            let day = Int(parts[1]), let year = Int(parts[2])
        else { return compilerDate }
        let date = String(format: "%04d-%02d-%02d", year, month + 1, day)
        return "\(date)T\(parts[3])"
    }
}
