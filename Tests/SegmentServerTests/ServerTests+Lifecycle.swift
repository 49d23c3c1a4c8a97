import Foundation
import GRPCCore
import SegmentationAPI
import SegmentationEngine
import Testing

@testable import SegmentCLI
@testable import SegmentServer

/// Restarts, cancels, limits, health, edits and customer tables, end to end.
extension ServerTests {
    @Test(
        "After a restart every model, version, alias and finished job is back; running jobs are marked failed"
    )
    func restartPersistence() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 150)
        let (jobID, rows) = try await harness.withServer { services, _ in
            let dataset = try await services.upload(path)
            let job = try await services.train(dataset.id, model: "kept", ks: 2...3)
            _ = try await services.models.setAlias(
                .with {
                    $0.model = .init(name: "kept", version: Int(1)); $0.alias = "production"
                })
            let row = Segmentation_V1_FeatureRow.with {
                $0.customerID = "x"; $0.values = [10, 3, 500, 160]
            }
            let scored = try await services.scoring.score(
                .with {
                    $0.model = .init(text: "kept@production")
                    $0.features = .with {
                        $0.featureNames = ["recency", "frequency", "monetary", "avg_order_value"];
                        $0.rows = [row]
                    }
                })
            return (job.id, scored.scores.scores)
        }
        // A job left "running" by a crash.
        let registry = try SQLiteRegistry(
            path: (harness.dataDirectory as NSString).appendingPathComponent("registry.sqlite"))
        var orphan = try #require(try await registry.job(id: jobID))
        orphan.id = "job-orphan"
        orphan.status = .running
        orphan.modelVersion = nil
        try await registry.insertJob(orphan)

        try await harness.withServer { services, _ in
            let models = try await services.models.listModels(.init()).models
            #expect(models.map(\.name) == ["kept"])
            #expect(models.first?.aliases == ["production": 1])
            let scored = try await services.scoring.score(
                .with {
                    $0.model = .init(text: "kept@production")
                    $0.features = .with {
                        $0.featureNames = ["recency", "frequency", "monetary", "avg_order_value"]
                        $0.rows = [
                            .with {
                                $0.customerID = "x"; $0.values = [10, 3, 500, 160]
                            }
                        ]
                    }
                })
            #expect(scored.scores.scores == rows)
            #expect(
                try await services.training.getJob(.with { $0.jobID = jobID }).job.state
                    == .succeeded)
            let orphanNow = try await services.training.getJob(.with { $0.jobID = "job-orphan" })
                .job
            #expect(orphanNow.state == .failed)
            #expect(orphanNow.error == "server restarted")
            // Interrupted, worth submitting again: UNAVAILABLE, INTERRUPTED.
            #expect(orphanNow.failure.code == 14 && orphanNow.failure.reason == "INTERRUPTED")
            #expect(try await services.datasets.listDatasets(.init()).datasets.count == 1)
        }
    }

    @Test("A running job can be cancelled; watchers see it end")
    func cancelRunningJob() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 3000)
        try await harness.withServer { services, _ in
            let dataset = try await services.upload(path)
            let job = try await services.training.submitTrainingJob(
                .with {
                    $0.spec = .with {
                        $0.modelName = "slow"; $0.datasetID = dataset.id
                        $0.kRange = .with {
                            $0.min = 2; $0.max = 40
                        }; $0.nInit = 100; $0.maxIter = 10_000; $0.tol = 1e-300
                    }
                }
            ).job
            // A second job waits in the queue behind it (one job at a time) and is cancelled there.
            let queued = try await services.training.submitTrainingJob(
                .with {
                    $0.spec = .with {
                        $0.modelName = "later"; $0.datasetID = dataset.id; $0.k = 3
                    }
                }
            ).job
            try await Task.sleep(for: .milliseconds(300))
            let cancelledQueued = try await services.training.cancelJob(
                .with { $0.jobID = queued.id }
            ).job
            #expect(cancelledQueued.state == .cancelled)
            _ = try await services.training.cancelJob(.with { $0.jobID = job.id })
            let final = try await services.waitForJob(job.id)
            #expect(final.state == .cancelled)
            #expect(final.modelVersion == 0)
            #expect(
                await statusCode {
                    _ = try await services.models.getModel(.with { $0.model = .init(text: "slow") })
                } == .notFound)
        }
    }

    @Test("An upload over the size limit is RESOURCE_EXHAUSTED and leaves nothing behind")
    func uploadLimit() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 200)
        try await harness.withServer(maximumUploadBytes: 10_000) { services, _ in
            #expect(await statusCode { _ = try await services.upload(path) } == .resourceExhausted)
            #expect(try await services.datasets.listDatasets(.init()).datasets.isEmpty)
            let datasets = (harness.dataDirectory as NSString).appendingPathComponent("datasets")
            let left = try FileManager.default.contentsOfDirectory(atPath: datasets).filter {
                !$0.hasPrefix(".")
            }  // .staging, .segment-registry
            #expect(left.isEmpty)
            #expect(
                try FileManager.default.contentsOfDirectory(
                    atPath: (datasets as NSString).appendingPathComponent(".staging")
                ).isEmpty)
        }
    }

    @Test("Health: SERVING once the registry is open; unknown services are NOT_FOUND")
    func health() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        try await harness.withServer { services, _ in
            #expect(try await services.health.check(.with { $0.service = "" }).status == .serving)
            #expect(
                try await services.health.check(
                    .with { $0.service = "segmentation.v1.ScoringService" }
                ).status == .serving)
            #expect(
                await statusCode {
                    _ = try await services.health.check(.with { $0.service = "nope.Service" })
                } == .notFound)
            let first = try await services.health.watch(.with { $0.service = "" }) { response in
                for try await status in response.messages { return status.status }
                return .unknown
            }
            #expect(first == .serving)
        }
    }

    @Test("Renaming a segment registers a new version that records the change")
    func renameSegment() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 150)
        try await harness.withServer { services, _ in
            let dataset = try await services.upload(path)
            _ = try await services.train(dataset.id, model: "r", ks: 3...3)
            let version = try await services.models.renameSegment(
                .with {
                    $0.model = .init(text: "r@1"); $0.segmentID = 0; $0.newName = "Sleepers";
                    $0.author = "ana"
                }
            ).version
            #expect(version.version == 2 && version.parentVersion == 1)
            let renamed = try await services.models.getModel(.with { $0.model = .init(text: "r") })
                .model
            #expect(renamed.segments[0].name == "Sleepers")
            #expect(renamed.segments[0].generatedName != "Sleepers")
            #expect(renamed.annotations.first?.author == "ana")
            let original = try await services.models.getModel(
                .with { $0.model = .init(text: "r@1") }
            ).model
            #expect(original.segments[0].name == renamed.segments[0].generatedName)
            #expect(
                await statusCode {
                    _ = try await services.models.renameSegment(
                        .with {
                            $0.model = .init(text: "r"); $0.segmentID = 99; $0.newName = "x"
                        })
                } == .notFound)
            #expect(
                await statusCode {
                    _ = try await services.models.renameSegment(
                        .with {
                            $0.model = .init(text: "r"); $0.segmentID = 1; $0.newName = " "
                        })
                } == .invalidArgument)
        }
    }

    @Test("Customer tables: upload, train on chosen columns with one-hot text, score raw rows")
    func customerTables() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        var csv = "CUST_ID,BALANCE,PURCHASES,REGION,NOTES\n"
        var random = SeededGenerator(seed: 8)
        for i in 0..<200 {
            let rich = i % 2 == 0
            csv += "C\(i),\(rich ? 4000 + random.nextUnit() * 900 : 80 + random.nextUnit() * 40),"
            csv +=
                "\(i == 3 ? "" : String(rich ? 2500 + random.nextUnit() * 300 : 15 + random.nextUnit() * 5)),\(rich ? "north" : "south"),free text \(i)\n"
        }
        let path = try harness.sideFile("cards.csv")
        try csv.write(toFile: path, atomically: true, encoding: .utf8)
        try await harness.withServer { services, _ in
            let dataset = try await services.upload(path, kind: .customers)
            #expect(dataset.rows == 200)
            let job = try await services.train(
                dataset.id, model: "cards", ks: 2...2, features: ["BALANCE", "PURCHASES", "REGION"])
            #expect(job.state == .succeeded, "\(job.error)")
            let model = try await services.models.getModel(
                .with { $0.model = .init(text: "cards") }
            ).model
            #expect(model.features == ["BALANCE", "PURCHASES", "REGION=south"])
            #expect(model.dataReport.imputed.first?.column == "PURCHASES")
            #expect(model.segments.map(\.size) == [100, 100])
            let scored = try await services.scoring.score(
                .with {
                    $0.model = .init(text: "cards")
                    $0.csv = .with {
                        $0.data = Data(
                            "CUST_ID,BALANCE,PURCHASES,REGION,NOTES\nN1,4100,2600,north,x\nN2,90,,south,y\n"
                                .utf8)
                    }
                })
            #expect(scored.scores.scores.map(\.customerID) == ["N1", "N2"])
            #expect(scored.scores.scores[0].segmentID != scored.scores.scores[1].segmentID)
            #expect(
                await statusCode {
                    _ = try await services.scoring.score(
                        .with {
                            $0.model = .init(text: "cards")
                            $0.csv = .with {
                                $0.data = Data(
                                    "CUST_ID,BALANCE,PURCHASES,REGION,NOTES,EXTRA\nN1,1,2,north,x,9\n"
                                        .utf8)
                            }
                        })
                } == .invalidArgument)
        }
    }
}
