import Foundation
import SegmentationAPI
import Testing

@testable import SegmentCLI

@Suite("What the CLI prints for scripts and people", .timeLimit(.minutes(10)))
struct OutputTests {
    @Test("The why column shows what pulls a customer in and what pushes it away, signed")
    func whyBothWays() {
        let model = Segmentation_V1_ModelDetail.with {
            $0.features = ["recency", "frequency", "monetary", "avg_order_value"]
        }
        let printer = ScorePrinter(format: .table, model: model)
        // A first-time buyer of 5,000 among frequent buyers: spend pulls, frequency pushes hard.
        #expect(
            printer.why([0.05, -2.3, 3.0, 0.25]) == "spend +300%, order value +25%, frequency -230%"
        )
        #expect(printer.why([0.6, 0.4, 0, 0]) == "recency +60%, frequency +40%")
    }

    @Test("JSON keeps zero-valued fields; unset messages, optional fields and oneofs stay absent")
    func jsonDefaults() throws {
        let response = Segmentation_V1_ScoreResponse.with {
            $0.modelName = "shop"
            $0.scores = .with {
                $0.scores = [
                    .with {
                        $0.customerID = "c1"; $0.segmentID = 0; $0.distance = 0;
                        $0.contributions = [0.5, 0.5]
                    }
                ]
            }
        }
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(Output.json(response).utf8))
                as? [String: Any])
        #expect(object["modelVersion"] as? NSNumber == 0)
        // messages that are not set
        #expect(object["packed"] == nil && object["dataReport"] == nil && object["error"] == nil)
        let score = try #require(
            ((object["scores"] as? [String: Any])?["scores"] as? [[String: Any]])?.first)
        #expect(score["segmentId"] as? NSNumber == 0)
        #expect(score["distance"] as? NSNumber == 0)
        #expect(score["outlier"] as? Bool == false)
        #expect(score["rfmSegment"] as? String == "")
        #expect(score["contributions"] as? [Double] == [0.5, 0.5])

        let detail = Segmentation_V1_ModelDetail.with {
            $0.segments = [
                .with {
                    $0.id = 0; $0.features = [.with { $0.feature = "recency" }]
                }
            ]
            $0.algorithmParameters = [:]
        }
        let model = try #require(
            try JSONSerialization.jsonObject(with: Data(Output.json(detail).utf8)) as? [String: Any]
        )
        #expect(model["selection"] as? String == "K_SELECTION_UNSPECIFIED")
        #expect(model["algorithmParameters"] as? [String: Any] != nil)
        #expect(model["runnerUpKs"] as? [Any] != nil)
        let segment = try #require((model["segments"] as? [[String: Any]])?.first)
        #expect(segment["size"] as? String == "0")  // int64 as a string, as proto3 JSON writes it
        #expect(segment["revenueShare"] == nil)  // optional: absent means not set
        let feature = try #require((segment["features"] as? [[String: Any]])?.first)
        #expect(feature["zScore"] as? NSNumber == 0 && feature["populationMean"] == nil)
    }

    @Test("The data report prints only lines with something to say")
    func dataReport() {
        let plain = ModelPrinter.dataLines(
            .with {
                $0.rowsIn = 10; $0.rowsOut = 10; $0.steps = [.with { $0.name = "cancellation" }]
            })
        #expect(plain == ["data: 10 rows in, 10 kept"])
        let full = ModelPrinter.dataLines(
            .with {
                $0.rowsIn = 10; $0.rowsOut = 7
                $0.steps = [
                    .with {
                        $0.name = "row filter"; $0.rule = "exclude Status=Cancelled"; $0.removed = 3
                    }
                ]
                $0.unusedColumns = ["Note"]
            })
        #expect(
            full == [
                "data: 10 rows in, 7 kept (removed: 3 exclude Status=Cancelled)",
                "columns not used: Note",
            ])
    }

    @Test("CSV carries plain numbers")
    func csvNumbers() {
        #expect(
            Output.raw(0.25) == "0.25" && Output.raw(1234) == "1234" && Output.raw(-0.5) == "-0.5")
        let table = ModelPrinter.segmentsTable(
            .with {
                $0.segments = [
                    .with {
                        $0.id = 0; $0.name = "A"; $0.size = 1200; $0.customerShare = 0.35;
                        $0.revenueShare = 0.5; $0.stableID = 3
                    },
                    // From a server before stable ids: none printed rather than a made-up 0.
                    .with {
                        $0.id = 1; $0.name = "B"; $0.size = 10; $0.customerShare = 0.01
                    },
                ]
            }, format: .csv)
        #expect(table.header.last == "stable_id")
        #expect(table.rows[0] == ["0", "A", "1200", "0.35", "0.5", "", "3"])
        #expect(table.rows[1].last == "")
    }
}
