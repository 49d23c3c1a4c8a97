import Foundation
import SegmentReport
import SegmentationAPI

/// How models, segments and jobs are shown in tables.
enum ModelPrinter {
    /// A model for people (summary, warnings, k table, segments, feature means and medians,
    /// descriptions and actions), as CSV (the segments table) or as JSON (the whole detail).
    static func show(
        _ model: Segmentation_V1_ModelDetail, format: OutputFormat, kTable showK: Bool = true,
        warnings: [String] = []
    ) throws {
        let table = segmentsTable(model, format: format)
        switch format {
        case .json: Output.print(try Output.json(model))
        case .csv: Output.print(Output.csv(table.header, table.rows))
        case .table:
            Output.print(summary(model))
            for warning in warnings { Output.print(warning) }
            let compared = AlgorithmText.comparisonRows(model)
            if !compared.isEmpty {
                Output.print("")
                Output.print("algorithms compared (\(model.algorithmComparison.rule)):")
                Output.print(Output.table(AlgorithmText.comparisonHeader(model), compared))
            }
            if showK {
                Output.print("")
                Output.print(
                    kTable(
                        model.kTable, chosen: model.chosenK, elbow: model.elbowK,
                        runnerUps: model.runnerUpKs))
            }
            Output.print("")
            Output.print(Output.table(table.header, table.rows))
            for section in [
                LineagePrinter.lineageSection(model), factsTable(model),
                ValuePrinter.valueSection(model), ValuePrinter.productsSection(model),
            ] {
                guard let section else { continue }
                Output.print("")
                Output.print(section)
            }
            Output.print("")
            Output.print(featureTable(model))
            Output.print("")
            Output.print(actions(model))
            Output.print("")
            Output.print(charts(model, kTable: !showK))
        }
    }

    /// One row per segment: size, shares and the first action. Table cells are formatted for
    /// people; the CSV form carries plain numbers (shares as fractions).
    static func segmentsTable(
        _ model: Segmentation_V1_ModelDetail, format: OutputFormat
    ) -> (header: [String], rows: [[String]]) {
        let people = format != .csv
        // The stable id last: scripts reading the CSV's columns by position keep working.
        let header = [
            "id", "segment", "customers", "share", "revenue_share", "first_action", "stable_id",
        ]
        let rows = model.segments.map { segment -> [String] in
            [
                String(segment.id), segment.name, String(segment.size),
                people ? Output.percent(segment.customerShare) : Output.raw(segment.customerShare),
                segment.hasRevenueShare
                    ? (people
                        ? Output.percent(segment.revenueShare) : Output.raw(segment.revenueShare))
                    : "",
                segment.actions.first ?? "", segment.stableID > 0 ? String(segment.stableID) : "",
            ]
        }
        return (header, rows)
    }

    /// Transactions models: the raw facts behind every name, each segment beside all customers.
    static func factsTable(_ model: Segmentation_V1_ModelDetail) -> String? {
        guard let first = model.segments.first, first.hasFacts else { return nil }
        let f0 = first.facts
        func times(_ value: Double, _ population: Double) -> String {
            population > 0 ? String(format: "%.2fx", value / population) : "-"
        }
        var rows = model.segments.map { segment -> [String] in
            let f = segment.facts
            return [
                String(segment.id), segment.name, Output.percent(f.lapsedShare),
                Output.percent(f.oneTimeShare),
                Output.number(f.medianRecency, digits: 0),
                Output.number(f.medianFrequency, digits: 1),
                "\(Output.number(f.medianSpend, digits: 1)) (\(times(f.medianSpend, f.populationMedianSpend)))",
                "\(Output.percent(f.revenueShare)) / \(Output.percent(segment.customerShare))",
                "\(Output.number(f.medianBasket, digits: 1)) (\(times(f.medianBasket, f.populationMedianBasket)))",
            ]
        }
        rows.append([
            "", "all customers", Output.percent(f0.populationLapsedShare),
            Output.percent(f0.populationOneTimeShare),
            Output.number(f0.populationMedianRecency, digits: 0),
            Output.number(f0.populationMedianFrequency, digits: 1),
            Output.number(f0.populationMedianSpend, digits: 1), "100% / 100%",
            Output.number(f0.populationMedianBasket, digits: 1),
        ])
        let basis =
            f0.lapseBasis == "fallback"
            ? "the default: too few repeat customers to read gaps from"
            : "twice the median gap between a repeat customer's purchases"
        return "segment facts (lapsed: no purchase for over \(f0.lapseDays) days, \(basis)):\n"
            + Output.table(
                [
                    "id", "segment", "lapsed", "one_time", "median_days_since", "median_purchases",
                    "median_spend (x all)",
                    "revenue / customers", "median_basket (x all)",
                ], rows)
    }

    /// Text charts: the segments' shares as bars, and silhouette over k as a sparkline (with the
    /// whole k table, the chosen row marked, when it was not printed above).
    static func charts(_ model: Segmentation_V1_ModelDetail, kTable full: Bool) -> String {
        var parts = [TextCharts.shares(model)]
        let rows = model.kTable.sorted { $0.k < $1.k }
        if full {
            parts.append(TextCharts.kTable(model))
        } else if let first = rows.first, let last = rows.last {
            parts.append(
                "silhouette over k = \(first.k)...\(last.k): \(TextCharts.sparkline(rows.map(\.silhouette)))  (k = \(model.chosenK) chosen)"
            )
        }
        return parts.joined(separator: "\n\n")
    }

    /// Every clustering feature's mean and median per segment, beside the population's.
    static func featureTable(_ model: Segmentation_V1_ModelDetail) -> String {
        let features = model.features
        func cell(_ summary: Segmentation_V1_FeatureSummary?) -> String {
            guard let summary else { return "" }
            return
                "\(Output.number(summary.mean, digits: 1)) / \(Output.number(summary.median, digits: 1)) (z \(String(format: "%+.2f", summary.zScore)))"
        }
        var rows = model.segments.map { segment in
            [String(segment.id), segment.name]
                + features.map { feature in cell(segment.features.first { $0.feature == feature }) }
        }
        if let any = model.segments.first {
            rows.append(
                ["", "all customers"]
                    + features.map { feature in
                        guard let summary = any.features.first(where: { $0.feature == feature }),
                            summary.hasPopulationMean
                        else { return "" }
                        return
                            "\(Output.number(summary.populationMean, digits: 1)) / \(Output.number(summary.populationMedian, digits: 1))"
                    })
        }
        return
            "mean / median (z-score against all customers, on the log scale where log1p applies) of every clustering feature:\n"
            + Output.table(["id", "segment"] + features, rows)
    }

    /// The metrics of every k tried; the chosen k, the runners-up and the elbow marked.
    /// Mixture models add each k's BIC and AIC (lower is better) and mean log-likelihood per customer.
    static func kTable(
        _ rows: [Segmentation_V1_KMetrics], chosen: Int32 = 0, elbow: Int32 = 0,
        runnerUps: [Int32] = []
    ) -> String {
        let bic = rows.contains(where: \.hasBic)
        return Output.table(
            ["k", "inertia", "silhouette", "davies_bouldin", "calinski_harabasz"]
                + (bic ? ["bic", "aic", "log_likelihood"] : [])
                + ["smallest_segment", "note"],
            rows.map { row in
                [
                    String(row.k), Output.number(row.inertia, digits: 1),
                    Output.number(row.silhouette, digits: 4),
                    Output.number(row.daviesBouldin, digits: 4),
                    Output.number(row.calinskiHarabasz, digits: 1),
                ]
                    + (bic
                        ? [
                            row.hasBic ? Output.number(row.bic, digits: 1) : "",
                            row.hasAic ? Output.number(row.aic, digits: 1) : "",
                            row.hasMeanLogLikelihood
                                ? Output.number(row.meanLogLikelihood, digits: 4) : "",
                        ] : []) + [
                        row.smallestShare > 0 ? Output.percent(row.smallestShare) : "",
                        [
                            row.k == chosen ? "chosen" : nil,
                            runnerUps.contains(row.k) ? "runner-up" : nil,
                            row.k == elbow ? "elbow" : nil,
                        ]
                        .compactMap { $0 }.joined(separator: ", "),
                    ]
            })
    }

    static func summary(_ model: Segmentation_V1_ModelDetail) -> String {
        let report = model.dataReport
        var lines = [
            "model \(model.version.name)@\(model.version.version)"
                + (model.version.aliases.isEmpty
                    ? "" : " (\(model.version.aliases.joined(separator: ", ")))")
                + ", \(model.segments.count) segments of \(report.customersOut) customers",
            "features: \(model.features.enumerated().map { (model.log1P[$0.offset] ? "log1p " : "") + $0.element }.joined(separator: ", ")); scaling \(name(model.scaling))",
            "algorithm: " + algorithmLine(model),
            "k = \(model.chosenK)"
                + String(
                    format: " (silhouette %.3f, Davies-Bouldin %.3f, Calinski-Harabasz %.1f)",
                    model.metrics.silhouette, model.metrics.daviesBouldin,
                    model.metrics.calinskiHarabasz),
            "chosen by "
                + (model.selectionReason.isEmpty ? name(model.selection) : model.selectionReason),
        ]
        if model.hasStability {
            let s = model.stability
            lines.append(
                String(
                    format:
                        "stability: %d refits (%d seeds, %d bootstrap samples), mean adjusted Rand index %.2f (lowest %.2f); ",
                    s.seedRuns + s.bootstrapRuns, s.seedRuns, s.bootstrapRuns, s.meanAri,
                    s.minimumAri)
                    + "each segment found again (Jaccard): "
                    + s.segmentJaccard.map { String(format: "%.2f", $0) }.joined(separator: ", ")
                    + (s.failedRuns > 0 ? "; \(s.failedRuns) refits failed" : ""))
        }
        lines += model.selectionWarnings.map { "warning: \($0)" }
        lines += dataLines(report)
        return lines.joined(separator: "\n")
    }

    static func algorithmLine(_ model: Segmentation_V1_ModelDetail) -> String {
        AlgorithmText.describe(model)
    }

    /// The data report in lines, each only when it has something to say.
    static func dataLines(_ report: Segmentation_V1_DataReport) -> [String] {
        var data = "data: \(report.rowsIn) rows in, \(report.rowsOut) kept"
        let removed = report.steps.filter { $0.removed > 0 }.map {
            "\($0.removed) \($0.rule.isEmpty ? $0.name : $0.rule)"
        }
        if !removed.isEmpty { data += " (removed: " + removed.joined(separator: ", ") + ")" }
        if !report.firstDate.isEmpty { data += "; \(report.firstDate) to \(report.lastDate)" }
        if !report.snapshotDate.isEmpty { data += "; recency to \(report.snapshotDate)" }
        var lines = [data]
        if report.cancellationsNetted {
            lines.append(
                "cancellations netted against purchases: \(Output.number(report.cancelledAmount, digits: 2)) of spend"
                    + (report.customersWithoutNetSpend > 0
                        ? "; \(report.customersWithoutNetSpend) customers left out with no net spend"
                        : ""))
        }
        if !report.imputed.isEmpty {
            lines.append(
                "imputed: "
                    + report.imputed.map {
                        "\($0.count) in \($0.column) (median \(Output.number($0.median)))"
                    }.joined(separator: ", "))
        }
        let lists: [(String, [String])] = [
            ("columns not used", report.unusedColumns),
            ("identifier columns left out", report.identifierColumns),
            (
                "sensitive columns (clustered on only with --allow-sensitive; never in names or actions)",
                report.sensitiveColumns
            ),
            ("free-text columns left out", report.ignoredColumns),
        ]
        for (label, names) in lists where !names.isEmpty {
            lines.append("\(label): \(names.joined(separator: ", "))")
        }
        if let problem = report.problems.first {
            lines.append(
                "first unreadable row: \(problem.source) line \(problem.line): \(problem.reason)")
        }
        return lines
    }

    static func actions(_ model: Segmentation_V1_ModelDetail) -> String {
        model.segments.map { segment in
            var text = "\(segment.id) \(segment.name): \(segment.description_p)"
            if !segment.actions.isEmpty {
                text += "\n    actions: \(segment.actions.joined(separator: "; "))"
            }
            for attribute in segment.composition {
                let population = Dictionary(
                    uniqueKeysWithValues: attribute.populationShares.map { ($0.value, $0.share) })
                text +=
                    "\n    by \(attribute.attribute): "
                    + attribute.shares.map { share in
                        "\(share.value) \(Output.percent(share.share))"
                            + (population[share.value].map { " (all \(Output.percent($0)))" } ?? "")
                    }.joined(separator: ", ")
            }
            return text
        }.joined(separator: "\n")
    }

    private static func name(_ scaling: Segmentation_V1_Scaling) -> String {
        switch scaling {
        case .robust: "robust"
        case .minMax: "min-max"
        case .none: "none"
        default: "standard"
        }
    }

    private static func name(_ selection: Segmentation_V1_KSelection) -> String {
        switch selection {
        case .silhouette: "silhouette"
        case .elbow: "elbow"
        case .fixed: "fixed"
        case .bic: "bic"
        case .aic: "aic"
        default: "actionable"
        }
    }

    static func jobRow(_ job: Segmentation_V1_Job, format: OutputFormat = .table) -> [String] {
        [
            job.id, job.spec.modelName, stateName(job.state), job.stage,
            format == .csv ? Output.raw(job.fraction) : Output.percent(job.fraction),
            job.modelVersion > 0 ? "\(job.spec.modelName)@\(job.modelVersion)" : "",
            Output.timestamp(job.createdAt), job.error,
        ]
    }

    static let jobHeader = [
        "job", "model", "state", "stage", "progress", "version", "created", "error",
    ]

    /// One job as a one-row table, CSV, or its JSON.
    static func emit(_ job: Segmentation_V1_Job, format: OutputFormat) throws {
        try Output.emit(format, header: jobHeader, rows: [jobRow(job, format: format)]) {
            try Output.json(job)
        }
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
