import Foundation
import SegmentationAPI

/// How models, segments and jobs are shown in tables.
enum ModelPrinter {
    static func segmentsTable(_ model: Segmentation_V1_ModelDetail) -> (header: [String], rows: [[String]]) {
        let keyFeatures = Array(model.features.prefix(4))
        let header = ["id", "segment", "customers", "share", "revenue"] + keyFeatures.map { "mean \($0)" } + ["first action"]
        let rows = model.segments.map { segment -> [String] in
            let means = keyFeatures.map { feature in
                segment.features.first { $0.feature == feature }.map { Output.number($0.mean, digits: 1) } ?? ""
            }
            return [String(segment.id), segment.name, String(segment.size), Output.percent(segment.customerShare),
                    segment.hasRevenueShare ? Output.percent(segment.revenueShare) : ""] + means + [segment.actions.first ?? ""]
        }
        return (header, rows)
    }

    /// The metrics of every k tried; the chosen k and the elbow marked when known.
    static func kTable(_ rows: [Segmentation_V1_KMetrics], chosen: Int32 = 0, elbow: Int32 = 0) -> String {
        Output.table(
            ["k", "inertia", "silhouette", "davies-bouldin", "calinski-harabasz", ""],
            rows.map { row in
                [String(row.k), Output.number(row.inertia, digits: 1), Output.number(row.silhouette, digits: 4),
                 Output.number(row.daviesBouldin, digits: 4), Output.number(row.calinskiHarabasz, digits: 1),
                 [row.k == chosen ? "chosen" : nil, row.k == elbow ? "elbow" : nil].compactMap { $0 }.joined(separator: ", ")]
            })
    }

    static func summary(_ model: Segmentation_V1_ModelDetail) -> String {
        let report = model.dataReport
        var lines = [
            "model \(model.version.name)@\(model.version.version)"
                + (model.version.aliases.isEmpty ? "" : " (\(model.version.aliases.joined(separator: ", ")))")
                + ", \(model.segments.count) segments of \(report.customersOut) customers",
            "features: \(model.features.enumerated().map { (model.log1P[$0.offset] ? "log1p " : "") + $0.element }.joined(separator: ", ")); scaling \(model.scaling)",
            "k chosen by \(model.selection): \(model.chosenK)" + (model.elbowK > 0 ? " (elbow at \(model.elbowK))" : "")
                + String(format: "; silhouette %.4f, Davies-Bouldin %.4f, Calinski-Harabasz %.1f",
                         model.metrics.silhouette, model.metrics.daviesBouldin, model.metrics.calinskiHarabasz),
            "data: \(report.rowsIn) rows in, \(report.rowsOut) kept; "
                + report.steps.filter { $0.removed > 0 }.map { "\($0.removed) \($0.name)" }.joined(separator: ", ")
                + (report.snapshotDate.isEmpty ? "" : "; snapshot \(report.snapshotDate)"),
        ]
        if !report.imputed.isEmpty {
            lines.append("imputed: " + report.imputed.map { "\($0.count) in \($0.column) (median \($0.median))" }.joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }

    static func actions(_ model: Segmentation_V1_ModelDetail) -> String {
        model.segments.map { segment in
            "\(segment.id) \(segment.name): \(segment.description_p)\n    actions: \(segment.actions.joined(separator: "; "))"
        }.joined(separator: "\n")
    }

    static func jobRow(_ job: Segmentation_V1_Job) -> [String] {
        [job.id, job.spec.modelName, stateName(job.state), job.stage, Output.percent(job.fraction),
         job.modelVersion > 0 ? "\(job.spec.modelName)@\(job.modelVersion)" : "", Output.timestamp(job.createdAt), job.error]
    }

    static let jobHeader = ["job", "model", "state", "stage", "progress", "version", "created", "error"]

    /// One job as a one-row table, CSV, or its JSON.
    static func emit(_ job: Segmentation_V1_Job, format: OutputFormat) throws {
        try Output.emit(format, header: jobHeader, rows: [jobRow(job)]) { try Output.json(job) }
    }

    static func stateName(_ state: Segmentation_V1_JobState) -> String {
        switch state {
        case .queued: "queued"
        case .running: "running"
        case .succeeded: "succeeded"
        case .failed: "failed"
        case .cancelled: "cancelled"
        default: "unknown"
        }
    }
}
