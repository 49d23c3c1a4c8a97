import Foundation
import GRPCCore
import GRPCProtobuf
import SegmentationAPI
import SegmentationEngine
import Testing

@testable import SegmentCLI
@testable import SegmentServer

/// One wrong request and what the server must answer.
struct BadInput: Sendable {
    var label: String
    var code: RPCError.Code
    /// Part of the message: what names the problem.
    var names: String
    var call: @Sendable (Services) async throws -> Void
}

@Suite("Bad input through the real server", .serialized, .timeLimit(.minutes(10)))
struct BadInputTests {
    @Test(
        "Every bad request: the exact status, a short message naming the problem and no server path; the server keeps serving and the store is unchanged"
    )
    func table() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 60)
        try await harness.withServer { services, server in
            let dataset = try await services.upload(path)
            let job = try await services.train(dataset.id, model: "m", ks: 3...3)
            _ = try await services.models.setAlias(
                .with {
                    $0.model = .init(name: "m", version: Int(1)); $0.alias = "prod"
                })
            let cases =
                Self.specCases(dataset: dataset.id) + Self.registryCases(job: job.id)
                + Self.scoringCases()
                + Self.uploadCases() + Self.jobAndDatasetCases(dataset: dataset.id)
            #expect(cases.count >= 80)
            #expect(Set(cases.map(\.label)).count == cases.count, "two cases share a label")
            let before = try await Self.snapshot(services)
            for bad in cases {
                do {
                    try await bad.call(services)
                    Issue.record("\(bad.label): accepted")
                } catch let error as RPCError {
                    #expect(error.code == bad.code, "\(bad.label): \(error.code) \(error.message)")
                    #expect(
                        error.message.contains(bad.names),
                        "\(bad.label): '\(error.message)' does not name '\(bad.names)'")
                    #expect(
                        error.message.utf8.count < 600,
                        "\(bad.label): a \(error.message.utf8.count)-byte message")
                    #expect(
                        !error.message.contains(harness.dataDirectory)
                            && !error.message.contains("/tmp/"),
                        "\(bad.label): names a server path")
                }
            }
            #expect(
                try await Self.snapshot(services) == before, "a refused request changed the store")
            // Nothing half-written left behind: no staging folder, no folder without a record.
            let datasets = (harness.dataDirectory as NSString).appendingPathComponent("datasets")
            #expect(
                try FileManager.default.contentsOfDirectory(
                    atPath: (datasets as NSString).appendingPathComponent(".staging")
                ).isEmpty)
            #expect(
                Set(
                    try FileManager.default.contentsOfDirectory(atPath: datasets).filter {
                        !$0.hasPrefix(".")
                    })
                    == [dataset.id.replacingOccurrences(of: "sha256:", with: "")])
            #expect(try await services.health.check(.init()).status == .serving)
            #expect(try await server.registry.versions(of: "m").count == 1)
        }
    }

    @Test(
        "Client text in any error is cut at 64 characters: a 400-character value in each field a client fills is never echoed longer"
    )
    func echoBound() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 60)
        let long = String(repeating: "Q", count: 400)
        try await harness.withServer { services, _ in
            let dataset = try await services.upload(path)
            _ = try await services.train(dataset.id, model: "m", ks: 3...3)
            let cases = Self.echoCases(long, dataset: dataset.id)
            for (label, call) in cases {
                let text: String
                do {
                    // accepted: what the client reads (a failed job's error)
                    text = try await call(services)
                } catch let error as RPCError {
                    text = error.message
                }
                let run = text.split(whereSeparator: { $0 != "Q" }).map(\.count).max() ?? 0
                #expect(
                    run <= 64,
                    "\(label): echoes \(run) characters of client text: \(text.prefix(200))")
            }
        }
    }

    /// A long value in each client-filled text field, in a request that is refused.
    static func echoCases(
        _ long: String, dataset: String
    ) -> [(String, @Sendable (Services) async throws -> String)] {
        let columns = ["recency", "frequency", "monetary", "avg_order_value"]
        @Sendable func spec(
            _ change: @escaping @Sendable (inout Segmentation_V1_TrainingSpec) -> Void
        ) -> @Sendable (Services) async throws -> String {
            { services in
                var spec = Segmentation_V1_TrainingSpec.with {
                    $0.modelName = "m"; $0.datasetID = dataset; $0.k = 3
                }
                change(&spec)
                let job = try await services.training.submitTrainingJob(.with { $0.spec = spec })
                    .job
                let final = try await services.waitForJob(job.id)
                return final.state == .failed ? final.error : "accepted"
            }
        }
        @Sendable func score(
            _ change: @escaping @Sendable (inout Segmentation_V1_ScoreRequest) -> Void
        ) -> @Sendable (Services) async throws -> String {
            { services in
                var request = Segmentation_V1_ScoreRequest.with {
                    $0.model = .init(text: "m")
                    $0.features = .with {
                        $0.featureNames = columns;
                        $0.rows = [
                            .with {
                                $0.customerID = "c1"; $0.values = [1, 2, 3, 4]
                            }
                        ]
                    }
                }
                change(&request)
                _ = try await services.scoring.score(request)
                return "accepted"
            }
        }
        @Sendable func upload(
            header: Segmentation_V1_DatasetHeader = .with {
                $0.name = "x"; $0.kind = .transactions
            },
            file: String = "a.csv", text: String
        ) -> @Sendable (Services) async throws -> String {
            { services in
                _ = try await services.datasets.uploadDataset(requestProducer: { writer in
                    try await writer.write(.with { $0.header = header })
                    try await writer.write(
                        .with {
                            $0.chunk = .with {
                                $0.fileName = file; $0.data = Data(text.utf8)
                            }
                        })
                })
                return "accepted"
            }
        }
        let retail =
            "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        return [
            ("spec model name", spec { $0.modelName = long }),
            ("spec dataset id", spec { $0.datasetID = "sha256:" + long }),
            ("spec feature", spec { $0.features = [long] }),
            (
                "spec log feature",
                spec {
                    $0.logTransform = .listed; $0.logFeatures = [long]
                }
            ),
            ("spec snapshot date", spec { $0.snapshotDate = long }),
            (
                "spec filter column",
                spec {
                    $0.filters = [
                        .with {
                            $0.mode = .exclude; $0.column = long; $0.value = "x"
                        }
                    ]
                }
            ),
            (
                "spec filter value",
                spec {
                    $0.filters = [
                        .with {
                            $0.mode = .include; $0.column = "Country"; $0.value = long
                        }
                    ]
                }
            ),
            ("spec sensitive opt-in", spec { $0.allowSensitive = [long] }),
            (
                "get model",
                { services in
                    _ = try await services.models.getModel(.with { $0.model = .init(text: long) });
                    return "accepted"
                }
            ),
            (
                "get model alias",
                { services in
                    _ = try await services.models.getModel(
                        .with { $0.model = .init(text: "m@" + long) });
                    return "accepted"
                }
            ),
            (
                "set alias",
                { services in
                    _ = try await services.models.setAlias(
                        .with {
                            $0.model = .init(name: "m", version: Int(1)); $0.alias = long
                        });
                    return "accepted"
                }
            ),
            (
                "delete alias",
                { services in
                    _ = try await services.models.deleteAlias(
                        .with {
                            $0.name = "m"; $0.alias = long
                        });
                    return "accepted"
                }
            ),
            (
                "list versions",
                { services in
                    _ = try await services.models.listVersions(.with { $0.name = long });
                    return "accepted"
                }
            ),
            (
                "list versions page token",
                { services in
                    _ = try await services.models.listVersions(
                        .with {
                            $0.name = "m"; $0.pageToken = long
                        });
                    return "accepted"
                }
            ),
            (
                "list jobs page token",
                { services in
                    _ = try await services.training.listJobs(.with { $0.pageToken = long });
                    return "accepted"
                }
            ),
            (
                "list datasets page token",
                { services in
                    _ = try await services.datasets.listDatasets(.with { $0.pageToken = long });
                    return "accepted"
                }
            ),
            (
                "get job",
                { services in
                    _ = try await services.training.getJob(.with { $0.jobID = long });
                    return "accepted"
                }
            ),
            (
                "cancel job",
                { services in
                    _ = try await services.training.cancelJob(.with { $0.jobID = long });
                    return "accepted"
                }
            ),
            (
                "get dataset",
                { services in
                    _ = try await services.datasets.getDataset(.with { $0.id = "sha256:" + long });
                    return "accepted"
                }
            ),
            (
                "delete dataset",
                { services in
                    _ = try await services.datasets.deleteDataset(.with { $0.id = long });
                    return "accepted"
                }
            ),
            (
                "score feature name",
                score { $0.features.featureNames = Array(columns.prefix(3)) + [long] }
            ),
            (
                "score customer id",
                score {
                    $0.features.rows = [
                        .with {
                            $0.customerID = long; $0.values = [1, 2, .nan, 4]
                        }
                    ]
                }
            ),
            (
                "score matrix customer id",
                score {
                    $0.matrix = .with {
                        $0.featureNames = columns; $0.values = [1, -2, 3, 4];
                        $0.customerIds = [long]
                    }
                }
            ),
            (
                "score CSV column",
                score { $0.csv = .with { $0.data = Data("\(long),x\n1,2\n".utf8) } }
            ),
            (
                "score CSV snapshot",
                score {
                    $0.csv = .with {
                        $0.data = Data(
                            (retail + "536365,A,x,1,2010-12-01 08:26,2.5,17850,UK\n").utf8)
                    }; $0.snapshotDate = long
                }
            ),
            (
                "score CSV cell",
                score {
                    $0.csv = .with {
                        $0.data = Data(
                            (retail + "536365,A,x,\(long),2010-12-01 08:26,2.5,17850,UK\n").utf8)
                    }
                }
            ),
            (
                "score CSV date",
                score {
                    $0.csv = .with {
                        $0.data = Data((retail + "536365,A,x,1,\(long),2.5,17850,UK\n").utf8)
                    }
                }
            ),
            (
                "upload role column",
                upload(
                    header: .with {
                        $0.kind = .transactions;
                        $0.columns = .with { $0.roles = [long: "customer_id"] }
                    }, text: retail + "1,A,x,1,2010-12-01 08:26,2.5,1,UK\n")
            ),
            (
                "upload role",
                upload(
                    header: .with {
                        $0.kind = .transactions;
                        $0.columns = .with { $0.roles = ["CustomerID": long] }
                    }, text: retail + "1,A,x,1,2010-12-01 08:26,2.5,1,UK\n")
            ),
            (
                "upload file name",
                upload(file: String(repeating: "Q", count: 250) + "/", text: retail)
            ),
            ("upload header column", upload(text: "\(long),Quantity\n1,2\n")),
            ("upload cell", upload(text: retail + "1,A,x,\(long),2010-12-01 08:26,2.5,1,UK\n")),
            ("upload date", upload(text: retail + "1,A,x,1,\(long),2.5,1,UK\n")),
            (
                "upload customer id",
                upload(
                    text: retail + "1,A,x,1,2010-12-01 08:26,2.5,\(long),UK\n"
                        + "2,A,x,1,2010-12-01 08:26,abc,\(long),UK\n")
            ),
        ]
    }

    /// What a refused request must not change: datasets, versions, aliases, segment names, jobs.
    static func snapshot(_ services: Services) async throws -> [String] {
        var lines = try await services.datasets.listDatasets(.init()).datasets.map {
            "dataset \($0.id) \($0.sizeBytes)"
        }
        for model in try await services.models.listModels(.init()).models {
            lines.append(
                "model \(model.name) \(model.latestVersion) \(model.aliases.sorted { $0.key < $1.key })"
            )
            let detail = try await services.models.getModel(
                .with { $0.model = .init(text: model.name) }
            ).model
            lines += detail.segments.map {
                "segment \($0.id) \($0.name) | \($0.description_p) | \($0.actions)"
            }
        }
        lines += try await services.training.listJobs(.with { $0.pageSize = 1000 }).jobs.map {
            "job \($0.id) \($0.state)"
        }
        return lines
    }

}
