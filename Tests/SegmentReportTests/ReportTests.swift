import Foundation
import SegmentationMessages
import Testing

@testable import SegmentReport

@Suite("The report module on its own")
struct ReportTests {
    @Test("Numbers for people")
    func formatting() {
        #expect(Format.compact(950) == "950")
        #expect(Format.compact(1234) == "1.2k")
        #expect(Format.compact(35_400) == "35k")
        #expect(Format.compact(1_260_000) == "1.3M")
        #expect(Format.compact(.nan) == "n/a")
        #expect(Format.amount(1234.4) == "1,234")
        #expect(Format.amount(56.71) == "56.7")
        #expect(Format.amount(3e70) == "3e+70")
        #expect(Format.percent(0.35) == "35%")
        #expect(Format.percent(0.042) == "4.2%")
        #expect(Format.percent(0.0004) == "<0.1%")
        #expect(Format.grouped(-1_234_567) == "-1,234,567")
    }

    @Test("Ticks are round numbers inside the domain; log scales tick at powers of ten")
    func ticks() {
        let linear = Scale(domain: (0, 0.73), range: (0, 100)).ticks()
        #expect(linear == [0, 0.2, 0.4, 0.6])
        let log = Scale(domain: (0, 25_000), range: (0, 100), log1p: true).ticks()
        #expect(log == [0, 1, 10, 100, 1000, 10_000])
        // A range of under three decades ticks at 1, 2 and 5 times each power: recency's 1...374 days
        // has ticks above 100.
        #expect(
            Scale(domain: (1, 374), range: (0, 100), log1p: true).ticks() == [
                1, 2, 5, 10, 20, 50, 100, 200,
            ])
        #expect(Scale(domain: (5, 5), range: (0, 100))(5) == 50)
    }

    @Test(
        "Report defects fixed: upright headers at many columns, shares for 0/1 columns, one silhouette meaning, distinct colours, regional call-outs on enough customers"
    )
    func reportDefects() throws {
        // 40 segments: every colour differs.
        #expect(Set((0..<40).map(Palette.colour)).count == 40)
        var detail = Self.syntheticModel(k: 3, features: 3, sample: 60)
        let columns = (0..<14).map { "A_RATHER_LONG_COLUMN_NAME_\($0)" } + ["Channel=Online"]
        detail.features = columns
        detail.log1P = columns.map { _ in false }
        for c in detail.segments.indices {
            detail.segments[c].features = columns.map { f in
                .with {
                    $0.feature = f; $0.mean = f.contains("=") ? 0.25 * Double(c + 1) : 10;
                    $0.median = f.contains("=") ? 0 : 9
                    $0.zScore = 0.3; $0.populationMean = f.contains("=") ? 0.5 : 10;
                    $0.populationMedian = 9
                }
            }
        }
        detail.charts.boxes = detail.segments.indices.map { c in
            .with {
                $0.segmentID = Int32(c)
                $0.features = columns.map { f in
                    .with {
                        $0.feature = f; $0.minimum = 0; $0.lowerWhisker = 0; $0.q1 = 0;
                        $0.median = 0; $0.q3 = 1; $0.upperWhisker = 1; $0.maximum = 1
                    }
                }
            }
        }
        let heatmap = try #require(ProfileFigures.heatmap(detail))
        #expect(heatmap.svg.contains("rotate(-90"), "15 long headers stand upright")
        #expect(
            heatmap.svg.contains(">25%<") && heatmap.svg.contains(">75%<"),
            "a 0/1 column's cells are shares")
        let boxes = try #require(ProfileFigures.boxPlots(detail))
        #expect(boxes.svg.components(separatedBy: "class=\"share-box\"").count - 1 == 3)
        #expect(boxes.svg.contains("Channel=Online (share of customers)"))
        // The silhouette chart's mean is of its sample, and the reading gives the model's figure beside it.
        detail.metrics.silhouette = 0.092
        let silhouettes = try #require(MapFigures.silhouettes(detail))
        #expect(
            silhouettes.svg.contains("sample mean")
                && silhouettes.reading.contains("the model's silhouette, 0.092"))
        // A country of 20 customers is not singled out.
        detail.charts.countryMix = .with {
            $0.countries = ["United Kingdom", "Bahrain"]
            $0.counts = [400, 300, 300, 20, 0, 0]
        }
        let countries = try #require(RFMFigures.countries(detail))
        #expect(
            !countries.reading.contains("Bahrain")
                && countries.reading.contains("at least 100 customers"), "\(countries.reading)")
        // The revenue bars are not orange, which means "above all customers" in the heatmap.
        #expect(!(ProfileFigures.shares(detail)?.svg.contains("#E69F00") ?? true))
    }

    @Test("Text is escaped: a hostile segment name cannot break the SVG or the page")
    func escaping() throws {
        var detail = Self.syntheticModel(k: 3, features: 3, sample: 60)
        detail.segments[0].name = "<script>alert('x')</script> & \"Co\" \u{1}"
        let html = HTMLReport.render(detail, generatedAt: Date(timeIntervalSince1970: 0))
        #expect(!html.contains("<script>"))
        #expect(
            html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;Co&quot;"))
        for svg in Self.svgs(in: html) { try XMLCheck.wellFormed(svg) }
    }

    @Test(
        "Every chart is drawn from a full model; each is well-formed XML; nothing is loaded from anywhere"
    )
    func everyChart() throws {
        let detail = Self.syntheticModel(k: 4, features: 4, sample: 200)
        let html = HTMLReport.render(detail)
        let ids = [
            "k-choice", "segment-map", "silhouettes", "profile-heatmap", "box-plots", "pair-plot",
            "shares", "rfm-grid", "countries",
        ]
        for id in ids { #expect(html.contains("<figure id=\"\(id)\""), "no \(id)") }
        let svgs = Self.svgs(in: html)
        #expect(svgs.count == ids.count)
        for svg in svgs { try XMLCheck.wellFormed(svg) }
        #expect(html.components(separatedBy: "class=\"pt\"").count - 1 == 200)
        #expect(html.components(separatedBy: "class=\"centroid\"").count - 1 == 4)
        #expect(html.contains("class=\"chosen-k\"") && html.contains("k = 4 chosen"))
        for segment in detail.segments { #expect(html.contains(segment.name)) }
        // Cards carry the composition by a sensitive attribute, against all customers.
        #expect(
            html.components(separatedBy: "By Gender</p><p>F 52% (all 50%) · M 48% (all 50%)").count
                - 1 == 4)
        // Self-contained: no script, no link, no fetched resource.
        #expect(!html.contains("<script") && !html.contains("<link") && !html.contains("src="))
        #expect(
            !html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("http"))
    }

    @Test("A model without charts (trained before they were kept) still reports what it has")
    func olderModel() throws {
        var detail = Self.syntheticModel(k: 3, features: 2, sample: 0)
        detail.clearCharts()
        let html = HTMLReport.render(detail)
        #expect(
            html.contains("<figure id=\"k-choice\"")
                && html.contains("<figure id=\"profile-heatmap\""))
        #expect(
            !html.contains("<figure id=\"segment-map\"")
                && !html.contains("<figure id=\"rfm-grid\""))
        for svg in Self.svgs(in: html) { try XMLCheck.wellFormed(svg) }
    }

    @Test("Terminal charts: bars in eighths, a sparkline, the chosen k marked")
    func textCharts() {
        #expect(TextCharts.bar(0.5, width: 4) == "██")
        #expect(TextCharts.bar(1.0 / 16, width: 4) == "▂")
        #expect(TextCharts.sparkline([0, 0.5, 1]) == "▁▅█")
        let detail = Self.syntheticModel(k: 4, features: 2, sample: 10)
        let table = TextCharts.kTable(detail)
        #expect(table.split(separator: "\n").filter { $0.contains("▶") }.count == 1)
        #expect(table.contains("▶   4") && table.contains("chosen"))
        #expect(TextCharts.shares(detail).split(separator: "\n").count == 5)
    }

    // MARK: Helpers

    static func svgs(in html: String) -> [String] {
        var out: [String] = []
        var rest = html[...]
        while let start = rest.range(of: "<svg "),
            let end = rest.range(of: "</svg>", range: start.upperBound..<rest.endIndex)
        {
            out.append(String(rest[start.lowerBound..<end.upperBound]))
            rest = rest[end.upperBound...]
        }
        return out
    }

    /// A model as GetModel returns it, with made-up but consistent numbers.
    static func syntheticModel(
        k: Int, features d: Int, sample n: Int
    ) -> Segmentation_V1_ModelDetail {
        var random = SystemRandomNumberGenerator()
        let names = ["recency", "frequency", "monetary", "avg_order_value", "tenure"].prefix(d).map
        { $0 }
        return .with { model in
            model.version = .with {
                $0.name = "shop"; $0.version = 2; $0.aliases = ["prod"]; $0.datasetID = "sha256:abc"
            }
            model.features = names
            model.log1P = names.map { $0 != "recency" }
            model.chosenK = Int32(k)
            model.elbowK = Int32(max(2, k - 1))
            model.kTable = (2...8).map { kk in
                .with {
                    $0.k = Int32(kk); $0.inertia = 1000 / Double(kk);
                    $0.silhouette = 0.5 - abs(Double(kk - k)) * 0.05
                    $0.daviesBouldin = 0.8 + Double(kk) * 0.05; $0.smallestShare = 0.3 / Double(kk)
                }
            }
            model.selectionReason = "actionable: the best silhouette among k = 3...8"
            model.selectionWarnings = ["weak structure"]
            model.dataReport = .with {
                $0.rowsIn = 1000; $0.rowsOut = 900; $0.customersOut = 300;
                $0.steps = [
                    .with {
                        $0.name = "no customer id"; $0.removed = 100
                    }
                ]
            }
            model.segments = (0..<k).map { c in
                .with {
                    $0.id = Int32(c); $0.name = "Segment Name \(c)";
                    $0.description_p = "Customers of kind \(c)."
                    $0.actions = ["Do \(c)"]; $0.size = Int64(100 - c * 10);
                    $0.customerShare = 1 / Double(k); $0.revenueShare = 1 / Double(k)
                    $0.features = names.map { f in
                        .with {
                            $0.feature = f; $0.mean = Double(c + 1) * 10;
                            $0.median = Double(c + 1) * 9; $0.zScore = Double(c) - 1.5
                            $0.populationMean = 25; $0.populationMedian = 20
                        }
                    }
                    $0.centroid = (0..<d).map { _ in Double.random(in: -1...1, using: &random) }
                    $0.rfmMix = [
                        .with {
                            $0.value = "Champions"; $0.share = 0.6
                        }
                    ]
                    $0.composition = [
                        .with {
                            $0.attribute = "Gender"
                            $0.shares = [
                                .with {
                                    $0.value = "F"; $0.share = 0.52
                                },
                                .with {
                                    $0.value = "M"; $0.share = 0.48
                                },
                            ]
                            $0.populationShares = [
                                .with {
                                    $0.value = "F"; $0.share = 0.5
                                },
                                .with {
                                    $0.value = "M"; $0.share = 0.5
                                },
                            ]
                        }
                    ]
                }
            }
            if n > 0 {
                model.sample = .with {
                    $0.labels = (0..<n).map { Int32($0 % k) }
                    $0.silhouettes = (0..<n).map { _ in
                        Double.random(in: -0.2...0.9, using: &random)
                    }
                    $0.pcaXy = (0..<(2 * n)).map { _ in Double.random(in: -3...3, using: &random) }
                    $0.raw = (0..<(n * d)).map { _ in Double.random(in: 0...500, using: &random) }
                    $0.dimensions = Int32(d)
                }
            }
            model.charts = .with {
                $0.pcaComponents = (0..<(2 * d)).map { _ in
                    Double.random(in: -1...1, using: &random)
                }
                $0.pcaExplainedVariance = [0.6, 0.3]
                $0.pcaMean = [Double](repeating: 0, count: d)
                $0.boxes = (0..<k).map { c in
                    .with {
                        $0.segmentID = Int32(c)
                        $0.features = names.map { f in
                            .with {
                                $0.feature = f; $0.minimum = 1; $0.lowerWhisker = 2; $0.q1 = 5;
                                $0.median = 10; $0.q3 = 20
                                $0.upperWhisker = 40; $0.maximum = 400; $0.outliers = 3
                            }
                        }
                    }
                }
                $0.rfmGrid = .with {
                    $0.counts = (0..<25).map { Int64($0 * 3) }
                    $0.cellSegments = (0..<25).map { "Cell \($0)" }
                }
                $0.countryMix = .with {
                    $0.countries = ["United Kingdom", "France", "Other"]
                    $0.counts = (0..<(3 * k)).map { Int64(5 + $0) }
                }
            }
        }
    }
}
