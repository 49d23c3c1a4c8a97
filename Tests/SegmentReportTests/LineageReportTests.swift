import Foundation
import SegmentationMessages
import Testing

@testable import SegmentReport

@Suite("The report's section on the previous version")
struct LineageReportTests {
    /// A 3-segment version continuing a 4-segment one: two matched, one new, two retired.
    static func continuingModel() -> Segmentation_V1_ModelDetail {
        var detail = ReportTests.syntheticModel(k: 3, features: 4, sample: 60)
        detail.version.name = "shop"
        detail.version.version = 5
        let from: [Segmentation_V1_SegmentRef] = (0..<4).map { i in
            .with {
                $0.id = Int32(i); $0.stableID = Int32(i + 1); $0.name = "Old \(i)"
            }
        }
        let to: [Segmentation_V1_SegmentRef] = detail.segments.enumerated().map { i, segment in
            .with {
                $0.id = segment.id; $0.stableID = Int32([1, 3, 5][i]); $0.name = segment.name
            }
        }
        detail.lineage = .with {
            $0.previousVersion = 4
            $0.movement = .with {
                $0.from = from
                $0.to = to
                // rows: from 0...3, columns: to 0...2
                $0.counts = [80, 5, 15, 2, 10, 8, 10, 60, 30, 3, 2, 25]
            }
            $0.matches = [
                .with {
                    $0.kind = .matched; $0.previousID = 0; $0.currentID = 0; $0.overlap = 0.7
                    $0.centreDistance = 0.2; $0.sharedCustomers = 80
                },
                .with {
                    $0.kind = .matched; $0.previousID = 2; $0.currentID = 1; $0.overlap = 0.6
                    $0.centreDistance = 0.3; $0.sharedCustomers = 60
                },
                .with {
                    $0.kind = .new; $0.currentID = 2; $0.overlap = 0.25
                },
                .with {
                    $0.kind = .retired; $0.previousID = 1; $0.overlap = 0.1
                },
                .with {
                    $0.kind = .retired; $0.previousID = 3; $0.overlap = 0.2
                },
            ]
            $0.carried = [
                .with {
                    $0.previousID = 0; $0.currentID = 0; $0.fields = ["name"]
                    $0.personName = "Whales"; $0.carried = false
                    $0.reason =
                        "it was set on 'Frequent Buyers' and the segment now reads 'Lapsed Buyers'"
                }
            ]
            $0.stayedShare = 140.0 / 250.0
        }
        return detail
    }

    @Test("The flow chart draws one band per moving pair, coloured where the segment continues")
    func flow() throws {
        let detail = Self.continuingModel()
        let figure = try #require(HTMLReport.figures(detail)["segment-flow"])
        try XMLCheck.wellFormed(figure.svg)
        let stays = figure.svg.components(separatedBy: "class=\"flow-stay\"").count - 1
        let moves = figure.svg.components(separatedBy: "class=\"flow-move\"").count - 1
        #expect(stays == 2 && moves == 10)
        #expect(figure.reading.contains("The 250 customers"))
        #expect(figure.reading.contains("56% stay in a segment that continues"))
        let html = HTMLReport.render(detail)
        #expect(html.contains("<h2>Since the previous version</h2>"))
        #expect(html.contains("<td>1. Old 1</td><td>retired</td>"))
        #expect(
            html.contains("Not kept: a person&#39;s name")
                || html.contains("Not kept: a person's name"))
        #expect(html.contains("shop@4"))
    }

    @Test("Sizes over time: one line per stable segment across the versions, drift as a table")
    func overTime() throws {
        let detail = Self.continuingModel()
        let sizes = Segmentation_V1_ListSegmentSizesResponse.with { response in
            response.name = "shop"
            response.versions = [(1, [1, 2, 3, 4]), (4, [1, 2, 3, 4]), (5, [1, 3, 5])].map {
                version, ids in
                .with {
                    $0.version = Int32(version)
                    $0.segments = ids.map { id in
                        .with {
                            $0.stableID = Int32(id); $0.id = Int32(id - 1); $0.name = "S\(id)"
                            $0.customers = Int64(100 * id)
                        }
                    }
                }
            }
        }
        let figure = try #require(OverTimeSection.sizesFigure(detail, sizes))
        try XMLCheck.wellFormed(figure.svg)
        // Five stable segments: four lines of two or more points, one new segment's lone point.
        #expect(figure.svg.components(separatedBy: "class=\"size-line\"").count - 1 == 4)
        #expect(figure.svg.components(separatedBy: "class=\"size-point\"").count - 1 == 11)
        let drift = Segmentation_V1_GetDriftResponse.with {
            $0.sinceHours = 24; $0.customers = 1200
            $0.features = [
                .with {
                    $0.name = "recency"; $0.psi = 0.41; $0.reading = "shift"
                }
            ]
            $0.segments = .with {
                $0.name = "segments"; $0.psi = 0.02; $0.reading = "stable"
            }
        }
        let html = HTMLReport.render(detail, sizes: sizes, drift: drift)
        #expect(html.contains("<h2>Over time</h2>"))
        #expect(html.contains("<td>recency</td><td>0.410</td><td>shift</td>"))
        #expect(html.contains("1,200 customers scored"))
        // One version only: no chart.
        var one = sizes
        one.versions = [sizes.versions[0]]
        #expect(OverTimeSection.sizesFigure(detail, one) == nil)
    }

    @Test("A first version has no such section; an unmatched one says why and draws nothing")
    func absentOrUnavailable() {
        var detail = ReportTests.syntheticModel(k: 3, features: 4, sample: 60)
        #expect(!HTMLReport.render(detail).contains("Since the previous version"))
        detail.lineage = .with {
            $0.previousVersion = 1
            $0.unavailable = "one version was trained on transactions and the other on customers"
        }
        #expect(HTMLReport.figures(detail)["segment-flow"] == nil)
        #expect(HTMLReport.render(detail).contains("could not be matched"))
    }
}
