import Foundation
import GRPCCore
import SegmentationAPI
import SegmentationEngine
import Testing

@testable import SegmentCLI
@testable import SegmentReport
@testable import SegmentServer

#if canImport(FoundationXML)
    import FoundationXML
#endif

@Suite("The model report, from a model the server trained", .serialized, .timeLimit(.minutes(10)))
struct ModelReportTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    static let pngStats = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/png-stats.py").path

    /// A trained model as GetModel returns it with its sample, and the report drawn from it.
    static func trainedReport(
        _ harness: Harness
    ) async throws -> (Segmentation_V1_ModelDetail, String) {
        let (path, _) = try harness.sampleFile(customers: 1500, seed: 11)
        return try await harness.withServer { services, _ in
            let dataset = try await services.upload(path)
            let job = try await services.train(dataset.id, model: "shop", ks: 2...6, nInit: 2)
            #expect(job.state == .succeeded)
            let model = try await services.models.getModel(
                .with {
                    $0.model = .init(text: "shop"); $0.includeSample = true
                },
                options: largeResponses
            ).model
            return (model, HTMLReport.render(model))
        }
    }

    @Test(
        "The report holds every chart, every segment by name, the chosen k marked and one point per sampled customer"
    )
    func content() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (model, html) = try await Self.trainedReport(harness)
        let figures = HTMLReport.figures(model)
        #expect(
            Set(figures.keys) == [
                "k-choice", "segment-map", "silhouettes", "profile-heatmap", "box-plots",
                "pair-plot",
                "shares", "rfm-grid", "countries", "value-calibration", "p-alive",
                "segment-value",
            ])
        // The customer-value model came through the server: fitted, each segment's figures
        // summing to what the value chart says.
        #expect(model.hasCustomerValue && model.customerValue.unavailable.isEmpty)
        let lifetime = model.segments.reduce(0) { $0 + $1.facts.value.lifetimeValue }
        #expect(figures["segment-value"]!.reading.contains("\(Format.amount(lifetime)) in all"))
        #expect(
            model.segments.allSatisfy {
                $0.facts.value.pAliveHistogram.reduce(0, +) == $0.size
            })
        for segment in model.segments {
            #expect(html.contains(SVG.escape(segment.name)), "segment \(segment.id) is not named")
            #expect(html.contains("id=\"segment-\(segment.id)\""))
        }
        #expect(html.contains("class=\"chosen-k\"") && html.contains("k = \(model.chosenK) chosen"))
        let sampled = model.sample.labels.count
        #expect(sampled == 1500)
        #expect(html.components(separatedBy: "class=\"pt\"").count - 1 == sampled)
        #expect(
            html.components(separatedBy: "class=\"centroid\"").count - 1 == model.segments.count)
        // The data the charts need came from training: components explain most of the variance,
        // the grid counts every customer, the boxes match the segments.
        #expect(
            model.charts.pcaExplainedVariance.count == 2
                && model.charts.pcaExplainedVariance.reduce(0, +) <= 1.0001)
        #expect(model.charts.rfmGrid.counts.reduce(0, +) == model.dataReport.customersOut)
        #expect(model.charts.boxes.count == model.segments.count)
        for (segment, boxes) in zip(model.segments, model.charts.boxes) {
            for box in boxes.features {
                let median = segment.features.first { $0.feature == box.feature }?.median
                #expect(
                    median.map { abs($0 - box.median) <= 1e-9 * max(1, abs($0)) } == true,
                    "\(box.feature) median differs")
                #expect(
                    box.minimum <= box.lowerWhisker && box.lowerWhisker <= box.q1
                        && box.q1 <= box.median)
                #expect(
                    box.median <= box.q3 && box.q3 <= box.upperWhisker
                        && box.upperWhisker <= box.maximum)
            }
        }
        #expect(model.charts.countryMix.counts.reduce(0, +) == model.dataReport.customersOut)
        for figure in figures.values { try ReportSVGs.wellFormed(figure.svg) }
    }

    @Test(
        "Rendered in a real headless browser: the screenshot is not blank and the page logs no console error",
        .enabled(if: chromium != nil, "needs Debian's chromium (scripts/setup.sh installs it)"))
    func browser() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (_, html) = try await Self.trainedReport(harness)
        let page = (harness.dataDirectory as NSString).appendingPathComponent("report.html")
        try html.write(toFile: page, atomically: true, encoding: .utf8)
        let shot = try await Self.screenshot(page, harness)
        #expect(shot.errors.isEmpty, "console: \(shot.errors)")
        let stats = try await ProcessTests.run("/usr/bin/python3", [Self.pngStats, shot.png]).stdout
            .split(separator: " ")
        #expect(stats.count == 4)
        let (colours, inked) = (
            Int(stats[2]) ?? 0,
            Double(stats[3].trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        )
        #expect(
            colours > 50 && inked > 0.05,
            "a blank-looking screenshot: \(colours) colours, \(inked) non-white")
        // The console check itself works: a page that logs an error is caught.
        let broken = (harness.dataDirectory as NSString).appendingPathComponent("broken.html")
        try
            "<!DOCTYPE html><html><body><p>x</p><script>console.error('deliberate')</script></body></html>"
            .write(toFile: broken, atomically: true, encoding: .utf8)
        #expect(
            !(try await Self.screenshot(broken, harness)).errors.isEmpty,
            "a console error was not reported")
    }

    /// A full-page screenshot at A4-ish width, and the console errors Chromium logged.
    static func screenshot(
        _ page: String, _ harness: Harness
    ) async throws -> (png: String, errors: [String]) {
        let png = page + ".png"
        let profile = (harness.dataDirectory as NSString).appendingPathComponent(
            "chromium-profile-\(UUID().uuidString)")
        let result = try await ProcessTests.run(
            chromium!,
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                "--no-first-run", "--user-data-dir=\(profile)",
                "--enable-logging=stderr", "--v=0", "--window-size=800,3000", "--screenshot=\(png)",
                "file://\(page)",
            ])
        #expect(
            FileManager.default.fileExists(atPath: png),
            "no screenshot: \(result.stderr.suffix(600))")
        // Chromium logs every console message as "...:CONSOLE:line] "text", source: ..."; the report has no
        // script, so any such line is an error the page raised.
        let errors = result.stderr.split(separator: "\n").map(String.init).filter {
            $0.contains(":CONSOLE")
        }
        return (png, errors)
    }
}

enum ReportSVGs {
    static func wellFormed(_ xml: String) throws {
        let parser = XMLParser(data: Data(xml.utf8))
        guard parser.parse() else {
            throw CocoaError(
                .coderReadCorrupt,
                userInfo: [
                    NSLocalizedDescriptionKey:
                        "not well-formed: \(parser.parserError.map { "\($0)" } ?? "")"
                ])
        }
    }
}
