import Foundation
import SegmentationMessages
import Testing

@testable import SegmentReport

@Suite("The report's customer-value section")
struct ValueReportTests {
    /// A model whose three segments carry value figures, with a holdout check.
    static func valuedModel(
        dropout: (a: Double, b: Double) = (0.25, 1.4)
    ) -> Segmentation_V1_ModelDetail {
        var detail = ReportTests.syntheticModel(k: 3, features: 4, sample: 60)
        detail.customerValue = .with {
            $0.purchases = .with {
                $0.r = 0.8; $0.alpha = 37; $0.a = dropout.a; $0.b = dropout.b
            }
            $0.purchasesFit = .with {
                $0.customers = 3000; $0.converged = true
            }
            $0.spend = .with {
                $0.p = 1.5; $0.q = 4.3; $0.v = 923
            }
            $0.spendFit = .with {
                $0.customers = 2228; $0.converged = true
            }
            $0.horizons = .with {
                $0.purchaseHorizonDays = 90; $0.valueHorizonDays = 365
            }
            $0.calibration = .with { check in
                check.calibrationEndDate = "2011-08-07"; check.holdoutEndDate = "2011-12-09"
                check.holdoutDays = 124; check.totalActual = 4345; check.totalPredicted = 5829
                check.groups = (0...7).map { g in
                    .with {
                        $0.calibrationPurchases = Int32(g); $0.customers = Int64(100 + g)
                        $0.meanActual = Double(g) * 0.5; $0.meanPredicted = Double(g) * 0.6
                    }
                }
            }
        }
        let values: [(Double, Double, Double)] = [
            (0.3, 0.76, 300_000), (0.9, 0, 1_400_000), (0.65, 0.42, 250_000),
        ]
        for (c, (alive, lapsed, lifetime)) in values.enumerated() {
            detail.segments[c].facts.value = .with {
                $0.customers = 100; $0.purchaseHorizonDays = 90; $0.valueHorizonDays = 365
                $0.meanPAlive = alive; $0.shareLikelyLapsed = lapsed; $0.expectedPurchases = 200
                $0.expectedRevenue = lifetime / 4; $0.lifetimeValue = lifetime
                $0.valueAtRisk = lifetime * lapsed * 0.8
                $0.pAliveHistogram = (0..<10).map {
                    Int64($0 < 5 ? lapsed * 20 : (1 - lapsed) * 20)
                }
                $0.dropoutProbability = dropout.a / (dropout.a + dropout.b)
            }
            detail.segments[c].products = .with {
                $0.minimumBuyers = 10
                $0.distinctive = [
                    .with {
                        $0.code = "23561"; $0.name = "SET OF 6 RIBBONS"; $0.buyers = 40;
                        $0.share = 0.4; $0.lift = 3.3
                    }
                ]
                $0.popular = [
                    .with {
                        $0.code = "22423"; $0.name = "REGENCY CAKESTAND"; $0.buyers = 60;
                        $0.share = 0.6; $0.lift = 1.2
                    }
                ]
            }
        }
        return detail
    }

    @Test(
        "The holdout check, P(alive) by segment and value with the part at risk are drawn, well-formed, and their readings state the model's numbers"
    )
    func charts() throws {
        let detail = Self.valuedModel()
        let figures = HTMLReport.figures(detail)
        let calibration = try #require(figures["value-calibration"])
        #expect(
            calibration.reading.contains("predicts 5,829 repeat purchases in the next 124 days"))
        #expect(calibration.reading.contains("they made 4,345 (+34%)"))
        let alive = try #require(figures["p-alive"])
        #expect(alive.reading.contains("has the most likely lapsed (P(alive) under 0.5): 76%"))
        #expect(!alive.reading.contains("almost no dropout"))
        let value = try #require(figures["segment-value"])
        #expect(value.reading.contains("1,950,000 in all"))
        #expect(value.svg.components(separatedBy: "class=\"value-at-risk\"").count - 1 == 2)
        for figure in [calibration, alive, value] { try XMLCheck.wellFormed(figure.svg) }
        let html = HTMLReport.render(detail)
        #expect(html.contains("<h2>Customer value</h2>"))
        #expect(html.contains("a customer stops after a purchase with probability 0.15"))
        #expect(
            html.contains("23561 SET OF 6 RIBBONS 3.3x")
                && html.contains("22423 REGENCY CAKESTAND 60%"))
    }

    @Test("A model that sees almost no dropout says P(alive) cannot single out lapsed customers")
    func negligibleDropout() throws {
        let detail = Self.valuedModel(dropout: (0.0039, 6.8))
        let alive = try #require(HTMLReport.figures(detail)["p-alive"])
        #expect(alive.reading.contains("cannot single out lapsed customers"))
    }

    @Test("No customer-value model: the section says why, and no value chart is drawn")
    func unavailable() {
        var detail = Self.valuedModel()
        detail.customerValue = .with {
            $0.unavailable =
                "only 3 of 50 customers bought on more than one day; the purchase model needs at least 20"
        }
        for c in detail.segments.indices { detail.segments[c].facts.clearValue() }
        let html = HTMLReport.render(detail)
        #expect(html.contains("No customer-value figures:</strong> only 3 of 50 customers"))
        let figures = HTMLReport.figures(detail)
        #expect(
            figures["value-calibration"] == nil && figures["p-alive"] == nil
                && figures["segment-value"] == nil)
    }
}
