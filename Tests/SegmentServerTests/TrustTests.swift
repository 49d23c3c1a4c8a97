import Foundation
import GRPCCore
import SegmentationAPI
import SegmentationEngine
import Testing

@testable import SegmentCLI
@testable import SegmentServer

@Suite("What the server tells a marketer, over gRPC", .serialized, .timeLimit(.minutes(10)))
struct TrustTests {
    @Test(
        "The k choice explains itself; filters are counted; export equals scoring; guests never fail a score"
    )
    func trust() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        // Add an "Order Status" column marking some orders cancelled.
        let (raw, _) = try harness.sampleFile(customers: 500, seed: 4)
        var lines = try String(contentsOfFile: raw, encoding: .utf8).split(separator: "\n").map(
            String.init)
        lines[0] += ",Order Status"
        for i in 1..<lines.count { lines[i] += i % 7 == 0 ? ",Cancelled" : ",Complete" }
        let path = raw + ".status.csv"
        try (lines.joined(separator: "\n") + "\n").write(
            toFile: path, atomically: true, encoding: .utf8)
        let cancelled = (1..<lines.count).filter { $0 % 7 == 0 }.count

        try await harness.withServer { services, _ in
            let dataset = try await services.upload(path)
            let submitted = try await services.training.submitTrainingJob(
                .with {
                    $0.spec = .with {
                        $0.modelName = "shop"; $0.datasetID = dataset.id; $0.nInit = 3
                        $0.filters = [
                            .with {
                                $0.mode = .exclude; $0.column = "Order Status";
                                $0.value = "cancelled"
                            }
                        ]
                    }
                }
            ).job
            let (job, events) = try await services.watchEvents(submitted.id)
            #expect(job.state == .succeeded, "\(job.error)")
            // On a loaded machine the watch can begin at any point of the job; once it has seen a
            // k fitted, the choice (published after every fit) must follow.
            if events.contains(where: { $0.logLine.hasPrefix("fitted k=") }) {
                #expect(events.contains { $0.logLine.hasPrefix("chose k=") })
            }
            let detail = try await services.models.getModel(
                .with { $0.model = .init(text: "shop") }
            ).model
            #expect(detail.selection == .actionable)
            #expect((3...8).contains(detail.chosenK))
            #expect(detail.selectionReason.hasPrefix("actionable: the highest silhouette"))
            #expect(detail.runnerUpKs.count == 2)
            #expect(detail.kTable.allSatisfy { $0.smallestShare > 0 })
            let step = try #require(
                detail.dataReport.steps.first { $0.rule == "exclude Order Status=cancelled" })
            #expect(step.removed == Int64(cancelled))
            // Description names the products each segment buys: every column is used.
            #expect(detail.dataReport.unusedColumns == [])
            #expect(detail.segments.allSatisfy { $0.hasProducts && !$0.products.popular.isEmpty })
            #expect(detail.spec.filters.count == 1)
            #expect(
                detail.segments.allSatisfy {
                    $0.hasDistances && $0.distances.p99 >= $0.distances.median
                })

            // Export: every training customer, the same segments as scoring them.
            let exported = try await services.models.exportAssignments(
                .with { $0.model = .init(text: "shop") }
            ) { response in
                var parts: [Segmentation_V1_ExportAssignmentsResponse] = []
                for try await part in response.messages { parts.append(part) }
                return parts
            }
            #expect(exported.first?.featureNames.contains("recency") == true)
            let ids = exported.flatMap(\.customerIds)
            #expect(ids.count == Int(detail.dataReport.customersOut))
            #expect(
                exported.flatMap(\.features).count == ids.count * exported[0].featureNames.count)
            let scored = try await services.scoring.score(
                .with {
                    $0.model = .init(text: "shop")
                    $0.csv = .with { $0.data = try! Data(contentsOf: URL(fileURLWithPath: path)) }
                    $0.filters = [
                        .with {
                            $0.mode = .exclude; $0.column = "Order Status"; $0.value = "Cancelled"
                        }
                    ]
                    $0.snapshotDate = detail.dataReport.snapshotDate
                }, options: largeResponses)
            let exportedSegment = Dictionary(
                uniqueKeysWithValues: zip(ids, exported.flatMap(\.segmentIds)))
            #expect(scored.scores.scores.count == ids.count)
            #expect(
                scored.scores.scores.allSatisfy { exportedSegment[$0.customerID] == $0.segmentID })
            #expect(
                scored.scores.scores.allSatisfy { abs($0.contributions.reduce(0, +) - 1) < 1e-9 })
            #expect(
                scored.dataReport.steps.first { $0.rule == "exclude Order Status=Cancelled" }?
                    .removed == Int64(cancelled))

            // A message holding only guest orders (no customer id) scores nobody, and says why.
            let guests =
                "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country,Order Status\n"
                + "1,A,x,1,2011-12-01 10:00:00,2.5,,UK,Complete\n2,A,x,1,2011-12-01 10:00:00,2.5,,UK,Complete\n"
            let none = try await services.scoring.score(
                .with {
                    $0.model = .init(text: "shop"); $0.csv = .with { $0.data = Data(guests.utf8) }
                })
            #expect(none.scores.scores.isEmpty)
            #expect(none.dataReport.steps.first { $0.name == "missing customer id" }?.removed == 2)

            // A person's wording: name, description and actions, each bounded.
            let renamed = try await services.models.renameSegment(
                .with {
                    $0.model = .init(text: "shop"); $0.segmentID = 0; $0.newName = "Core"
                    $0.newDescription = "Our core customers";
                    $0.newActions = .with { $0.actions = ["Thank them"] }
                }
            ).version
            let edited = try await services.models.getModel(
                .with { $0.model = .init(text: "shop@\(renamed.version)") }
            ).model
            #expect(
                edited.segments[0].name == "Core"
                    && edited.segments[0].description_p == "Our core customers")
            #expect(edited.segments[0].actions == ["Thank them"])
            #expect(
                edited.annotations.map(\.kind) == [
                    "rename-segment", "describe-segment", "set-actions",
                ])
            #expect(
                await statusCode {
                    _ = try await services.models.renameSegment(
                        .with {
                            $0.model = .init(text: "shop"); $0.segmentID = 0;
                            $0.newName = String(repeating: "x", count: 10 << 20)
                        }, options: largeResponses)
                } == .invalidArgument)
            #expect(
                await statusCode {
                    _ = try await services.training.submitTrainingJob(
                        .with {
                            $0.spec = .with {
                                $0.modelName = "x"; $0.datasetID = dataset.id;
                                $0.filters = [
                                    .with {
                                        $0.column = "Country"; $0.value = "UK"
                                    }
                                ]
                            }
                        })
                } == .invalidArgument)
            #expect(
                await statusCode {
                    _ = try await services.training.submitTrainingJob(
                        .with {
                            $0.spec = .with {
                                $0.modelName = "x"; $0.datasetID = dataset.id;
                                $0.selection = .UNRECOGNIZED(99)
                            }
                        })
                } == .invalidArgument)
        }
    }

    @Test("Customer tables: a transactions file sent as customers is refused with the hint")
    func wrongKind() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 80, seed: 2)
        try await harness.withServer { services, _ in
            do {
                _ = try await services.upload(path, kind: .customers)
                Issue.record("a transactions file was accepted as a customers table")
            } catch let error as RPCError {
                #expect(error.code == .invalidArgument)
                // The API names its fields, never a client's flags; the CLI says its flag.
                #expect(error.message.contains("upload it as kind transactions"))
                #expect(!error.message.contains("--"))
                #expect(
                    CLIError.from(error, server: "s").description.contains(
                        "use --kind transactions"))
            }
        }
    }
}
