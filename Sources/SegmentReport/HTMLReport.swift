import Foundation
import SegmentationMessages

/// The model report: one self-contained HTML file (inline SVG and CSS; no script, font or image
/// from anywhere) that opens offline in any browser and prints to A4.
public enum HTMLReport {
    /// - Parameter detail: a GetModel response's model, asked for with its sample.
    /// - Parameters:
    ///   - sizes: the model's segment sizes over its versions (a chart when there are two or more).
    ///   - drift: live scoring's drift, when the report should show it.
    public static func render(
        _ detail: Segmentation_V1_ModelDetail, generatedAt: Date = Date(),
        sizes: Segmentation_V1_ListSegmentSizesResponse? = nil,
        drift: Segmentation_V1_GetDriftResponse? = nil
    ) -> String {
        let figures = Self.figures(detail)
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(h("Segments of \(reference(detail))"))</title>
            <style>\(css)</style></head><body>
            <header><h1>\(h("Segments of \(reference(detail))"))</h1>
            <p class="lead">\(h(lead(detail)))</p></header>
            """
        html += section("About this model", summaryTable(detail))
        html += section("Algorithms compared", comparison(detail))
        html += section(
            "Choosing k",
            figureHTML(figures["k-choice"]) + selectionNotes(detail)
                + figureHTML(figures["dendrogram"]))
        let mapNote =
            figures["segment-map"] == nil && detail.features.count < 2
            ? "<p class=\"reason\">No segment map: the model clusters on one feature, so there is no second axis to draw; "
                + "the box plots below show how the segments split it.</p>" : ""
        html += section(
            "Segment map",
            mapNote + figureHTML(figures["segment-map"]) + figureHTML(figures["silhouettes"]))
        html += section(
            "Profiles",
            ["profile-heatmap", "box-plots", "pair-plot", "shares"].map { figureHTML(figures[$0]) }
                .joined())
        html += section(
            "The segments", detail.segments.enumerated().map { segmentCard($1, index: $0) }.joined()
        )
        html += section(
            "Since the previous version", LineageSection.html(detail, figures: figures))
        html += section("Over time", OverTimeSection.html(detail, sizes: sizes, drift: drift))
        html += section("Customer value", ValueSection.html(detail, figures: figures))
        if let grid = figures["rfm-grid"] { html += section("The RFM grid", figureHTML(grid)) }
        if let countries = figures["countries"] {
            html += section("Regional view", figureHTML(countries))
        }
        let stamp = ISO8601DateFormatter().string(from: generatedAt)
        html +=
            "<footer>Generated \(h(stamp)) by segment report from \(h(reference(detail))). "
            + "Numbers are the model's own, computed when it was trained.</footer></body></html>\n"
        return html
    }

    /// Every chart the model's data allows, by id.
    public static func figures(_ detail: Segmentation_V1_ModelDetail) -> [String: Figure] {
        let made: [Figure?] = [
            KChoiceFigure.make(detail), MapFigures.segmentMap(detail),
            MapFigures.silhouettes(detail),
            ProfileFigures.heatmap(detail), ProfileFigures.boxPlots(detail),
            ProfileFigures.pairPlot(detail),
            ProfileFigures.shares(detail), RFMFigures.grid(detail), RFMFigures.countries(detail),
            DendrogramFigure.make(detail), ValueFigures.calibration(detail),
            ValueFigures.probabilityAlive(detail), ValueFigures.segmentValue(detail),
            LineageFigures.flow(detail),
        ]
        return Dictionary(uniqueKeysWithValues: made.compactMap { $0 }.map { ($0.id, $0) })
    }

    // MARK: Parts

    private static func reference(_ detail: Segmentation_V1_ModelDetail) -> String {
        "\(detail.version.name)@\(detail.version.version)"
    }

    private static func lead(_ detail: Segmentation_V1_ModelDetail) -> String {
        let customers = detail.dataReport.customersOut
        return "\(detail.segments.count) segments of \(Format.grouped(Int(customers))) customers, "
            + "clustered on \(detail.features.map(readable).joined(separator: ", "))."
    }

    private static func summaryTable(_ detail: Segmentation_V1_ModelDetail) -> String {
        let report = detail.dataReport
        var rows: [(String, String)] = [
            (
                "Model",
                reference(detail)
                    + (detail.version.aliases.isEmpty
                        ? "" : " (aliases: \(detail.version.aliases.joined(separator: ", ")))")
            ),
            (
                "Trained",
                detail.version.hasCreatedAt
                    ? ISO8601DateFormatter().string(from: detail.version.createdAt.date) : "unknown"
            ),
            (
                "Dataset",
                detail.version.datasetID
                    + (report.sources.isEmpty
                        ? ""
                        : " (\(report.sources.count) file\(report.sources.count == 1 ? "" : "s"))")
            ),
            (
                "Rows",
                "\(Format.grouped(Int(report.rowsIn))) read, \(Format.grouped(Int(report.rowsOut))) kept"
            ),
            (
                "Customers",
                "\(Format.grouped(Int(report.customersIn))) found, \(Format.grouped(Int(report.customersOut))) clustered"
            ),
        ]
        for step in report.steps {
            rows.append(
                (
                    "  removed",
                    "\(Format.grouped(Int(step.removed))) rows: \(step.rule.isEmpty ? step.name : step.rule)"
                ))
        }
        for imputed in report.imputed {
            rows.append(
                (
                    "  filled in",
                    "\(Format.grouped(Int(imputed.count))) missing \(imputed.column) with the median \(Format.amount(imputed.median))"
                ))
        }
        if report.cancellationsNetted {
            rows.append(
                (
                    "  netted",
                    "\(Format.amount(report.cancelledAmount)) of spend given back by cancellation invoices"
                        + (report.customersWithoutNetSpend > 0
                            ? "; \(Format.grouped(Int(report.customersWithoutNetSpend))) customers with no net spend left out"
                            : "")
                ))
        }
        rows += leftOutColumns(report)
        if !report.snapshotDate.isEmpty {
            rows.append(("Recency measured to", report.snapshotDate))
        }
        let transforms = zip(
            detail.features,
            detail.log1P
                + [Bool](
                    repeating: false, count: max(0, detail.features.count - detail.log1P.count))
        )
        .map { $1 ? "log(1 + \(readable($0)))" : readable($0) }
        rows.append(
            (
                "Features",
                transforms.joined(separator: ", ") + "; scaling \(scalingName(detail.scaling))"
            ))
        let parameters = detail.algorithmParameters.sorted { $0.key < $1.key }.map {
            "\($0.key) \($0.value)"
        }.joined(separator: ", ")
        rows.append(
            (
                "Algorithm",
                AlgorithmText.describe(detail) + (parameters.isEmpty ? "" : " (\(parameters))")
            ))
        rows.append(
            (
                "k",
                "\(detail.chosenK) of \(detail.kTable.map { String($0.k) }.joined(separator: ", "))"
            ))
        rows.append(("Training took", String(format: "%.1f s", detail.trainingSeconds)))
        return "<table class=\"facts\">"
            + rows.map { "<tr><th>\(h($0.0))</th><td>\(h($0.1))</td></tr>" }.joined() + "</table>"
    }

    /// Every column the model does not cluster on, and why.
    private static func leftOutColumns(_ report: Segmentation_V1_DataReport) -> [(String, String)] {
        let groups: [(String, [String], String)] = [
            (
                "Identifiers", report.identifierColumns,
                "left out: they name rows, they do not describe customers"
            ),
            (
                "Sensitive", report.sensitiveColumns,
                "left out unless explicitly allowed, and never used in names or actions; "
                    + "each segment's make-up by them is shown below for fairness review"
            ),
            (
                "Free text", report.ignoredColumns,
                "left out: too many distinct values to be categories"
            ),
            ("Not used", report.unusedColumns, "no role or feature reads them"),
        ]
        return groups.filter { !$0.1.isEmpty }.map {
            ($0.0 + " columns", "\($0.1.joined(separator: ", ")): \($0.2)")
        }
    }

    /// Compare mode's table, each algorithm at its own chosen k; empty for other models.
    private static func comparison(_ detail: Segmentation_V1_ModelDetail) -> String {
        let rows = AlgorithmText.comparisonRows(detail)
        guard !rows.isEmpty else { return "" }
        let header =
            ["Algorithm", "k", "Silhouette", "Davies-Bouldin", "Calinski-Harabasz"]
            + (detail.algorithmComparison.candidates.contains(where: \.hasBic) ? ["BIC"] : []) + [
                "Seconds", "",
            ]
        return
            "<p class=\"reason\"><strong>Kept by the rule:</strong> \(h(detail.algorithmComparison.rule)).</p>"
            + "<table class=\"facts\"><tr>" + header.map { "<th>\(h($0))</th>" }.joined() + "</tr>"
            + rows.map { "<tr>" + $0.map { "<td>\(h($0))</td>" }.joined() + "</tr>" }.joined()
            + "</table>"
    }

    private static func scalingName(_ scaling: Segmentation_V1_Scaling) -> String {
        switch scaling {
        case .robust: "robust (median, interquartile range)"
        case .minMax: "min-max"
        case .none: "none"
        default: "standard (mean, standard deviation)"
        }
    }

    private static func selectionNotes(_ detail: Segmentation_V1_ModelDetail) -> String {
        var html =
            detail.selectionReason.isEmpty
            ? ""
            : "<p class=\"reason\"><strong>Why k = \(detail.chosenK):</strong> \(h(detail.selectionReason))</p>"
        if detail.hasStability {
            let s = detail.stability
            html +=
                "<p class=\"reason\"><strong>Stability:</strong> "
                + h(
                    String(
                        format:
                            "refitted %d times (%d other seeds, %d bootstrap samples), the segments agree with these by a mean adjusted Rand index of %.2f "
                            + "(lowest %.2f; 1 is identical, 0 chance). Each segment is found again with a mean Jaccard index of ",
                        s.seedRuns + s.bootstrapRuns, s.seedRuns, s.bootstrapRuns, s.meanAri,
                        s.minimumAri)
                        + detail.segments.indices.map { i in
                            i < s.segmentJaccard.count
                                ? String(format: "%.2f (%d)", s.segmentJaccard[i], i) : ""
                        }
                        .joined(separator: ", ") + ". Below 0.8 a warning follows.") + "</p>"
        }
        if !detail.selectionWarnings.isEmpty {
            html +=
                "<ul class=\"warnings\">"
                + detail.selectionWarnings.map { "<li>\(h($0))</li>" }.joined() + "</ul>"
        }
        return html
    }

    private static func segmentCard(_ segment: Segmentation_V1_Segment, index: Int) -> String {
        var html =
            "<article class=\"card\" id=\"segment-\(segment.id)\" style=\"border-left-color:\(Palette.colour(index))\">"
        html += "<h3>\(segment.id). \(h(segment.name))</h3>"
        html +=
            "<p class=\"size\">"
            + h(
                "\(Format.grouped(Int(segment.size))) customers (\(Format.percent(segment.customerShare)))"
                    + (segment.hasRevenueShare
                        ? ", \(Format.percent(segment.revenueShare)) of revenue" : "")) + "</p>"
        html += "<p>\(h(segment.description_p))</p>"
        if segment.hasFacts { html += factsList(segment) }
        let numbers = segment.features.map { f -> String in
            let population =
                f.hasPopulationMedian
                ? " (all customers \(Format.feature(f.feature, f.populationMedian)))" : ""
            return
                "<li>\(h(readable(f.feature))): median \(h(Format.feature(f.feature, f.median)))\(h(population))</li>"
        }
        html += "<ul class=\"numbers\">" + numbers.joined() + "</ul>"
        html += ValueSection.card(segment)
        if !segment.actions.isEmpty {
            html +=
                "<p class=\"label\">Recommended actions</p><ol>"
                + segment.actions.map { "<li>\(h($0))</li>" }.joined() + "</ol>"
        }
        if !segment.rfmMix.isEmpty {
            html +=
                "<p class=\"label\">RFM segments inside"
                + (segment.rfmMix.count > 5 ? " (the largest five)" : "") + "</p><p>"
                + segment.rfmMix.prefix(5).map { h("\($0.value) \(Format.percent($0.share))") }
                .joined(separator: " · ") + "</p>"
        }
        for composition in segment.composition {
            let all = Dictionary(
                uniqueKeysWithValues: composition.populationShares.map { ($0.value, $0.share) })
            html +=
                "<p class=\"label\">By \(h(composition.attribute))</p><p>"
                + composition.shares.map { share in
                    h(
                        "\(share.value) \(Format.percent(share.share))"
                            + (all[share.value].map { " (all \(Format.percent($0)))" } ?? ""))
                }.joined(separator: " · ") + "</p>"
        }
        return html + "</article>"
    }

    /// The raw facts a transactions segment's name is built from, each beside all customers'.
    private static func factsList(_ segment: Segmentation_V1_Segment) -> String {
        let f = segment.facts
        func times(_ value: Double, _ population: Double) -> String {
            population > 0 ? String(format: "%.2fx", value / population) : ""
        }
        let items = [
            "Lapsed (no purchase for over \(f.lapseDays) days): \(Format.percent(f.lapsedShare)) (all customers \(Format.percent(f.populationLapsedShare)))",
            "Bought once: \(Format.percent(f.oneTimeShare)) (all customers \(Format.percent(f.populationOneTimeShare)))",
            "Median spend: \(Format.amount(f.medianSpend)), \(times(f.medianSpend, f.populationMedianSpend)) all customers' \(Format.amount(f.populationMedianSpend)); "
                + "mean \(Format.amount(f.meanSpend)), \(times(f.meanSpend, f.populationMeanSpend)) theirs",
            "Revenue: \(Format.percent(f.revenueShare)) from \(Format.percent(segment.customerShare)) of customers",
            "Median spend per purchase: \(Format.amount(f.medianBasket)), \(times(f.medianBasket, f.populationMedianBasket)) all customers'",
        ]
        return "<p class=\"label\">Facts</p><ul class=\"numbers facts-list\">"
            + items.map { "<li>\(h($0))</li>" }.joined() + "</ul>"
    }

    /// A chart with its title and reading (nothing when there is no chart).
    static func figureHTML(_ figure: Figure?) -> String {
        guard let figure else { return "" }
        return
            "<figure id=\"\(h(figure.id))\"><figcaption class=\"title\">\(h(figure.title))</figcaption>\(figure.svg)"
            + "<figcaption class=\"reading\">\(h(figure.reading))</figcaption></figure>"
    }

    private static func section(_ title: String, _ body: String) -> String {
        body.isEmpty ? "" : "<section><h2>\(h(title))</h2>\(body)</section>"
    }

    private static func h(_ text: String) -> String { SVG.escape(text) }

    static let css = """
        @page { size: A4; margin: 12mm; }
        body { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #222;
               max-width: 720px; margin: 24px auto; padding: 0 12px; line-height: 1.45; font-size: 14px; }
        h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 19px; border-bottom: 2px solid #0072B2; padding-bottom: 3px; margin-top: 32px; }
        h3 { font-size: 15px; margin: 0 0 6px; } .lead { color: #444; margin-top: 0; }
        table.facts { border-collapse: collapse; width: 100%; font-size: 13px; }
        table.facts th { text-align: left; font-weight: 600; width: 28%; padding: 3px 8px 3px 0; vertical-align: top; white-space: pre; }
        table.facts td { padding: 3px 0; }
        figure { margin: 16px 0 24px; break-inside: avoid; page-break-inside: avoid; }
        figure svg { max-width: 100%; height: auto; display: block; }
        figcaption.title { font-weight: 600; margin-bottom: 6px; } figcaption.reading { color: #444; font-size: 13px; margin-top: 6px; }
        .reason { font-size: 13px; } .warnings { color: #8A4B00; font-size: 13px; }
        .card { border: 1px solid #DDD; border-left: 6px solid #0072B2; border-radius: 4px; padding: 10px 14px; margin: 12px 0;
                break-inside: avoid; page-break-inside: avoid; }
        .card .size { color: #444; margin: 0 0 6px; } .card .label { font-weight: 600; margin: 8px 0 2px; font-size: 13px; }
        .card ul, .card ol { margin: 2px 0 4px 20px; padding: 0; font-size: 13px; }
        footer { color: #777; font-size: 12px; margin: 32px 0 8px; border-top: 1px solid #DDD; padding-top: 6px; }
        @media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } }
        """
}
