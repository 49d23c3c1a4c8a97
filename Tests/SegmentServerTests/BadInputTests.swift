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
    @Test("Every bad request: the exact status, a short message naming the problem and no server path; the server keeps serving and the store is unchanged")
    func table() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 60)
        try await harness.withServer { services, server in
            let dataset = try await services.upload(path)
            let job = try await services.train(dataset.id, model: "m", ks: 3...3)
            _ = try await services.models.setAlias(.with { $0.model = .init(name: "m", version: Int(1)); $0.alias = "prod" })
            let cases = Self.specCases(dataset: dataset.id) + Self.registryCases(job: job.id) + Self.scoringCases()
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
                    #expect(error.message.contains(bad.names), "\(bad.label): '\(error.message)' does not name '\(bad.names)'")
                    #expect(error.message.utf8.count < 600, "\(bad.label): a \(error.message.utf8.count)-byte message")
                    #expect(!error.message.contains(harness.dataDirectory) && !error.message.contains("/tmp/"),
                            "\(bad.label): names a server path")
                }
            }
            #expect(try await Self.snapshot(services) == before, "a refused request changed the store")
            // Nothing half-written left behind: no staging folder, no folder without a record.
            let datasets = (harness.dataDirectory as NSString).appendingPathComponent("datasets")
            #expect(try FileManager.default.contentsOfDirectory(atPath: (datasets as NSString).appendingPathComponent(".staging")).isEmpty)
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: datasets).filter { !$0.hasPrefix(".") })
                    == [dataset.id.replacingOccurrences(of: "sha256:", with: "")])
            #expect(try await services.health.check(.init()).status == .serving)
            #expect(try await server.registry.versions(of: "m").count == 1)
        }
    }

    @Test("Client text in any error is cut at 64 characters: a 400-character value in each field a client fills is never echoed longer")
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
                    text = try await call(services)  // accepted: what the client reads (a failed job's error)
                } catch let error as RPCError {
                    text = error.message
                }
                let run = text.split(whereSeparator: { $0 != "Q" }).map(\.count).max() ?? 0
                #expect(run <= 64, "\(label): echoes \(run) characters of client text: \(text.prefix(200))")
            }
        }
    }

    /// A long value in each client-filled text field, in a request that is refused.
    static func echoCases(_ long: String, dataset: String) -> [(String, @Sendable (Services) async throws -> String)] {
        let columns = ["recency", "frequency", "monetary", "avg_order_value"]
        @Sendable func spec(_ change: @escaping @Sendable (inout Segmentation_V1_TrainingSpec) -> Void) -> @Sendable (Services) async throws -> String {
            { services in
                var spec = Segmentation_V1_TrainingSpec.with { $0.modelName = "m"; $0.datasetID = dataset; $0.k = 3 }
                change(&spec)
                let job = try await services.training.submitTrainingJob(.with { $0.spec = spec }).job
                let final = try await services.waitForJob(job.id)
                return final.state == .failed ? final.error : "accepted"
            }
        }
        @Sendable func score(_ change: @escaping @Sendable (inout Segmentation_V1_ScoreRequest) -> Void) -> @Sendable (Services) async throws -> String {
            { services in
                var request = Segmentation_V1_ScoreRequest.with {
                    $0.model = .init(text: "m")
                    $0.features = .with { $0.featureNames = columns; $0.rows = [.with { $0.customerID = "c1"; $0.values = [1, 2, 3, 4] }] }
                }
                change(&request)
                _ = try await services.scoring.score(request)
                return "accepted"
            }
        }
        @Sendable func upload(header: Segmentation_V1_DatasetHeader = .with { $0.name = "x"; $0.kind = .transactions },
                              file: String = "a.csv", text: String) -> @Sendable (Services) async throws -> String {
            { services in
                _ = try await services.datasets.uploadDataset(requestProducer: { writer in
                    try await writer.write(.with { $0.header = header })
                    try await writer.write(.with { $0.chunk = .with { $0.fileName = file; $0.data = Data(text.utf8) } })
                })
                return "accepted"
            }
        }
        let retail = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        return [
            ("spec model name", spec { $0.modelName = long }),
            ("spec dataset id", spec { $0.datasetID = "sha256:" + long }),
            ("spec feature", spec { $0.features = [long] }),
            ("spec log feature", spec { $0.logTransform = .listed; $0.logFeatures = [long] }),
            ("spec snapshot date", spec { $0.snapshotDate = long }),
            ("spec filter column", spec { $0.filters = [.with { $0.mode = .exclude; $0.column = long; $0.value = "x" }] }),
            ("spec filter value", spec { $0.filters = [.with { $0.mode = .include; $0.column = "Country"; $0.value = long }] }),
            ("spec sensitive opt-in", spec { $0.allowSensitive = [long] }),
            ("get model", { services in _ = try await services.models.getModel(.with { $0.model = .init(text: long) }); return "accepted" }),
            ("get model alias", { services in _ = try await services.models.getModel(.with { $0.model = .init(text: "m@" + long) }); return "accepted" }),
            ("set alias", { services in _ = try await services.models.setAlias(.with { $0.model = .init(name: "m", version: Int(1)); $0.alias = long }); return "accepted" }),
            ("delete alias", { services in _ = try await services.models.deleteAlias(.with { $0.name = "m"; $0.alias = long }); return "accepted" }),
            ("list versions", { services in _ = try await services.models.listVersions(.with { $0.name = long }); return "accepted" }),
            ("list versions page token", { services in _ = try await services.models.listVersions(.with { $0.name = "m"; $0.pageToken = long }); return "accepted" }),
            ("list jobs page token", { services in _ = try await services.training.listJobs(.with { $0.pageToken = long }); return "accepted" }),
            ("list datasets page token", { services in _ = try await services.datasets.listDatasets(.with { $0.pageToken = long }); return "accepted" }),
            ("get job", { services in _ = try await services.training.getJob(.with { $0.jobID = long }); return "accepted" }),
            ("cancel job", { services in _ = try await services.training.cancelJob(.with { $0.jobID = long }); return "accepted" }),
            ("get dataset", { services in _ = try await services.datasets.getDataset(.with { $0.id = "sha256:" + long }); return "accepted" }),
            ("delete dataset", { services in _ = try await services.datasets.deleteDataset(.with { $0.id = long }); return "accepted" }),
            ("score feature name", score { $0.features.featureNames = Array(columns.prefix(3)) + [long] }),
            ("score customer id", score { $0.features.rows = [.with { $0.customerID = long; $0.values = [1, 2, .nan, 4] }] }),
            ("score matrix customer id", score { $0.matrix = .with { $0.featureNames = columns; $0.values = [1, -2, 3, 4]; $0.customerIds = [long] } }),
            ("score CSV column", score { $0.csv = .with { $0.data = Data("\(long),x\n1,2\n".utf8) } }),
            ("score CSV snapshot", score { $0.csv = .with { $0.data = Data((retail + "536365,A,x,1,2010-12-01 08:26,2.5,17850,UK\n").utf8) }; $0.snapshotDate = long }),
            ("score CSV cell", score { $0.csv = .with { $0.data = Data((retail + "536365,A,x,\(long),2010-12-01 08:26,2.5,17850,UK\n").utf8) } }),
            ("score CSV date", score { $0.csv = .with { $0.data = Data((retail + "536365,A,x,1,\(long),2.5,17850,UK\n").utf8) } }),
            ("upload role column", upload(header: .with { $0.kind = .transactions; $0.columns = .with { $0.roles = [long: "customer_id"] } }, text: retail + "1,A,x,1,2010-12-01 08:26,2.5,1,UK\n")),
            ("upload role", upload(header: .with { $0.kind = .transactions; $0.columns = .with { $0.roles = ["CustomerID": long] } }, text: retail + "1,A,x,1,2010-12-01 08:26,2.5,1,UK\n")),
            ("upload file name", upload(file: String(repeating: "Q", count: 250) + "/", text: retail)),
            ("upload header column", upload(text: "\(long),Quantity\n1,2\n")),
            ("upload cell", upload(text: retail + "1,A,x,\(long),2010-12-01 08:26,2.5,1,UK\n")),
            ("upload date", upload(text: retail + "1,A,x,1,\(long),2.5,1,UK\n")),
            ("upload customer id", upload(text: retail + "1,A,x,1,2010-12-01 08:26,2.5,\(long),UK\n" + "2,A,x,1,2010-12-01 08:26,abc,\(long),UK\n")),
        ]
    }

    /// What a refused request must not change: datasets, versions, aliases, segment names, jobs.
    static func snapshot(_ services: Services) async throws -> [String] {
        var lines = try await services.datasets.listDatasets(.init()).datasets.map { "dataset \($0.id) \($0.sizeBytes)" }
        for model in try await services.models.listModels(.init()).models {
            lines.append("model \(model.name) \(model.latestVersion) \(model.aliases.sorted { $0.key < $1.key })")
            let detail = try await services.models.getModel(.with { $0.model = .init(text: model.name) }).model
            lines += detail.segments.map { "segment \($0.id) \($0.name) | \($0.description_p) | \($0.actions)" }
        }
        lines += try await services.training.listJobs(.with { $0.pageSize = 1000 }).jobs.map { "job \($0.id) \($0.state)" }
        return lines
    }

    // MARK: The cases

    static func specCases(dataset: String) -> [BadInput] {
        let huge = String(repeating: "x", count: 1 << 20)
        let changes: [(String, @Sendable (inout Segmentation_V1_TrainingSpec) -> Void, String)] = [
            ("k = 1", { $0.k = 1 }, "at least 2"),
            ("k above 100", { $0.k = 101 }, "at most 100"),
            ("k range above 100", { $0.kRange = .with { $0.min = 2; $0.max = 500 } }, "k_range"),
            ("k range upside down", { $0.kRange = .with { $0.min = 6; $0.max = 3 } }, "k_range"),
            ("k above the customers", { $0.k = 100 }, "customers"),
            ("unknown scaling", { $0.scaling = .UNRECOGNIZED(42) }, "spec.scaling"),
            ("unknown log transform", { $0.logTransform = .UNRECOGNIZED(42) }, "spec.log_transform"),
            ("unknown algorithm", { $0.algorithm = .UNRECOGNIZED(42) }, "spec.algorithm"),
            ("unknown selection", { $0.selection = .UNRECOGNIZED(42) }, "spec.selection"),
            ("listed log with no feature", { $0.logTransform = .listed }, "names no feature"),
            ("listed log of an unknown feature", { $0.logTransform = .listed; $0.logFeatures = ["shoe_size"] }, "log_features"),
            ("elbow with one k", { $0.k = 4; $0.selection = .elbow }, "one k"),
            ("snapshot 0001-01-01", { $0.snapshotDate = "0001-01-01" }, "outside"),
            ("snapshot 9999-12-31", { $0.snapshotDate = "9999-12-31" }, "outside"),
            ("snapshot not a date", { $0.snapshotDate = "yesterday" }, "not a date"),
            ("unknown feature", { $0.features = ["shoe_size"] }, "shoe_size"),
            ("filter without a mode", { $0.filters = [.with { $0.column = "Country" }] }, "mode"),
            ("filter on a missing column", { $0.filters = [.with { $0.mode = .exclude; $0.column = "Status"; $0.value = "x" }] }, "to filter on"),
            ("n_init too large", { $0.nInit = 5000 }, "n_init"),
            ("n_init over the server's flag", { $0.nInit = 101 }, "--max-n-init"),
            ("max_iter over the server's flag", { $0.maxIter = 20_000 }, "--max-iter"),
            ("more features than columns allowed", { $0.features = (0..<1001).map { "f\($0)" } }, "--max-columns"),
            ("model name '.'", { $0.modelName = "." }, "model name"),
            ("model name '..'", { $0.modelName = ".." }, "model name"),
            ("model name too long", { $0.modelName = huge }, "bytes"),
            ("model name with a slash", { $0.modelName = "a/b" }, "model name"),
            ("no model name", { $0.modelName = "" }, "model name"),
            ("no dataset", { $0.datasetID = "" }, "dataset_id"),
            ("features named twice", { $0.features = ["recency", "recency"] }, "recency"),
            ("negative tolerance", { $0.tol = -1 }, "tol"),
        ]
        return changes.map { label, change, names in
            BadInput(label: "spec: \(label)", code: .invalidArgument, names: names) { services in
                var spec = Segmentation_V1_TrainingSpec.with { $0.modelName = "m"; $0.datasetID = dataset }
                change(&spec)
                _ = try await services.training.submitTrainingJob(.with { $0.spec = spec }, options: largeResponses)
            }
        } + [
            BadInput(label: "spec: unknown dataset", code: .notFound, names: "dataset") { services in
                _ = try await services.training.submitTrainingJob(.with { $0.spec = .with { $0.modelName = "m"; $0.datasetID = "sha256:0000" } })
            },
        ]
    }

    static func registryCases(job: String) -> [BadInput] {
        let accents = "a" + String(repeating: "\u{301}", count: 60_000)
        var cases: [BadInput] = []
        for alias in ["latest", "LATEST", "12", "", "a b", String(repeating: "a", count: 65)] {
            cases.append(BadInput(label: "alias '\(alias.prefix(8))' (\(alias.count) characters)", code: .invalidArgument, names: "alias") { services in
                _ = try await services.models.setAlias(.with { $0.model = .init(name: "m", version: Int(1)); $0.alias = alias })
            })
        }
        func rename(_ change: @escaping @Sendable (inout Segmentation_V1_RenameSegmentRequest) -> Void) -> @Sendable (Services) async throws -> Void {
            { services in
                var request = Segmentation_V1_RenameSegmentRequest.with { $0.model = .init(text: "m"); $0.segmentID = 0 }
                change(&request)
                _ = try await services.models.renameSegment(request, options: largeResponses)
            }
        }
        cases += [
            BadInput(label: "alias to a missing version", code: .notFound, names: "m@9", call: { services in
                _ = try await services.models.setAlias(.with { $0.model = .init(name: "m", version: Int(9)); $0.alias = "prod" })
            }),
            BadInput(label: "alias on a missing model", code: .notFound, names: "ghost", call: { services in
                _ = try await services.models.setAlias(.with { $0.model = .init(name: "ghost", version: Int(1)); $0.alias = "prod" })
            }),
            BadInput(label: "unalias a missing alias", code: .notFound, names: "canary", call: { services in
                _ = try await services.models.deleteAlias(.with { $0.name = "m"; $0.alias = "canary" })
            }),
            BadInput(label: "delete an aliased version", code: .failedPrecondition, names: "prod", call: { services in
                _ = try await services.models.deleteVersion(.with { $0.model = .init(name: "m", version: 1) })
            }),
            BadInput(label: "delete a version by alias", code: .invalidArgument, names: "model.version", call: { services in
                _ = try await services.models.deleteVersion(.with { $0.model = .init(text: "m@prod"); $0.force = true })
            }),
            BadInput(label: "delete a missing version", code: .notFound, names: "m@7", call: { services in
                _ = try await services.models.deleteVersion(.with { $0.model = .init(name: "m", version: 7); $0.force = true })
            }),
            BadInput(label: "get a missing version", code: .notFound, names: "m@999", call: { services in
                _ = try await services.models.getModel(.with { $0.model = .init(text: "m@999") })
            }),
            BadInput(label: "get with an empty version", code: .invalidArgument, names: "alias ''", call: { services in
                _ = try await services.models.getModel(.with { $0.model = .init(text: "m@") })
            }),
            BadInput(label: "get a 100 kB reference", code: .invalidArgument, names: "bytes", call: { services in
                _ = try await services.models.getModel(.with { $0.model = .init(text: String(repeating: "y", count: 100_000)) })
            }),
            BadInput(label: "get a reference of 60,000 combining accents", code: .invalidArgument, names: "bytes", call: { services in
                _ = try await services.models.getModel(.with { $0.model = .init(text: accents) })
            }),
            BadInput(label: "list versions of a missing model", code: .notFound, names: "ghost", call: { services in
                _ = try await services.models.listVersions(.with { $0.name = "ghost" })
            }),
            BadInput(label: "export a missing model", code: .notFound, names: "ghost", call: { services in
                _ = try await services.models.exportAssignments(.with { $0.model = .init(text: "ghost") }) { for try await _ in $0.messages {} }
            }),
            BadInput(label: "rename an unknown segment", code: .notFound, names: "segment", call: rename { $0.segmentID = 42 }),
            BadInput(label: "rename to 101 characters", code: .invalidArgument, names: "100", call: rename { $0.newName = String(repeating: "n", count: 101) }),
            BadInput(label: "rename to combining accents", code: .invalidArgument, names: "100", call: rename { $0.newName = accents }),
            BadInput(label: "rename to a 1 MiB name", code: .invalidArgument, names: "100", call: rename { $0.newName = String(repeating: "n", count: 1 << 20) }),
            BadInput(label: "description of 1,001 characters", code: .invalidArgument, names: "1000", call: rename { $0.newDescription = String(repeating: "d", count: 1001) }),
            BadInput(label: "11 actions", code: .invalidArgument, names: "10", call: rename { $0.newActions = .with { $0.actions = (0..<11).map { "do \($0)" } } }),
            BadInput(label: "an action of 201 characters", code: .invalidArgument, names: "200", call: rename { $0.newActions = .with { $0.actions = [String(repeating: "a", count: 201)] } }),
            BadInput(label: "rename on a missing model", code: .notFound, names: "ghost", call: rename { $0.model = .init(text: "ghost"); $0.newName = "x" }),
        ]
        return cases
    }

    static func scoringCases() -> [BadInput] {
        let columns = ["recency", "frequency", "monetary", "avg_order_value"]
        func score(_ change: @escaping @Sendable (inout Segmentation_V1_ScoreRequest) -> Void) -> @Sendable (Services) async throws -> Void {
            { services in
                var request = Segmentation_V1_ScoreRequest.with { $0.model = .init(text: "m") }
                change(&request)
                _ = try await services.scoring.score(request, options: largeResponses)
            }
        }
        @Sendable func rows(_ values: [Double], columns: [String] = columns) -> Segmentation_V1_FeatureRows {
            .with { $0.featureNames = columns; $0.rows = [.with { $0.customerID = "c1"; $0.values = values }] }
        }
        return [
            BadInput(label: "score without a model", code: .invalidArgument, names: "model", call: score { $0.model = .init(text: ""); $0.features = rows([1, 2, 3, 4]) }),
            BadInput(label: "score a missing model", code: .notFound, names: "ghost", call: score { $0.model = .init(text: "ghost"); $0.features = rows([1, 2, 3, 4]) }),
            BadInput(label: "score a missing alias", code: .notFound, names: "canary", call: score { $0.model = .init(text: "m@canary"); $0.features = rows([1, 2, 3, 4]) }),
            BadInput(label: "score with no customers", code: .invalidArgument, names: "no customers", call: score { _ in }),
            BadInput(label: "score an empty batch", code: .invalidArgument, names: "no customers", call: score { $0.features = .with { $0.featureNames = columns } }),
            BadInput(label: "score a NaN", code: .invalidArgument, names: "c1", call: score { $0.features = rows([1, 2, .nan, 4]) }),
            BadInput(label: "score an infinity", code: .invalidArgument, names: "monetary", call: score { $0.features = rows([1, 2, .infinity, 4]) }),
            BadInput(label: "score a negative recency", code: .invalidArgument, names: "recency", call: score { $0.features = rows([-5, 2, 3, 4]) }),
            BadInput(label: "score a short row", code: .invalidArgument, names: "c1", call: score { $0.features = rows([1, 2, 3]) }),
            BadInput(label: "score an unknown column", code: .invalidArgument, names: "shoe_size", call: score {
                $0.features = rows([1, 2, 3, 4, 5], columns: columns + ["shoe_size"])
            }),
            BadInput(label: "score without a column", code: .invalidArgument, names: "avg_order_value", call: score {
                $0.features = rows([1, 2, 3], columns: Array(columns.prefix(3)))
            }),
            BadInput(label: "matrix without columns", code: .invalidArgument, names: "matrix.feature_names", call: score { $0.matrix = .with { $0.values = [1, 2, 3, 4] } }),
            BadInput(label: "matrix of a partial row", code: .invalidArgument, names: "matrix.values", call: score {
                $0.matrix = .with { $0.featureNames = columns; $0.values = [1, 2, 3, 4, 5] }
            }),
            BadInput(label: "matrix with the wrong number of ids", code: .invalidArgument, names: "customer_ids", call: score {
                $0.matrix = .with { $0.featureNames = columns; $0.values = [1, 2, 3, 4]; $0.customerIds = ["a", "b"] }
            }),
            BadInput(label: "CSV of binary bytes", code: .invalidArgument, names: "request", call: score {
                $0.csv = .with { $0.data = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919) }) }
            }),
            BadInput(label: "CSV without the customer column", code: .invalidArgument, names: "CustomerID", call: score {
                $0.csv = .with { $0.data = Data("InvoiceNo,StockCode,Quantity\n1,2,3\n".utf8) }
            }),
            BadInput(label: "CSV with a bad snapshot date", code: .invalidArgument, names: "snapshot_date", call: score {
                $0.csv = .with { $0.data = Data("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n536365,A,x,1,2010-12-01 08:26,2.5,17850,UK\n".utf8) }
                $0.snapshotDate = "31/12/2011"
            }),
            BadInput(label: "CSV with a filter on a missing column", code: .invalidArgument, names: "Status", call: score {
                $0.csv = .with { $0.data = Data("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n536365,A,x,1,2010-12-01 08:26,2.5,17850,UK\n".utf8) }
                $0.filters = [.with { $0.mode = .exclude; $0.column = "Status"; $0.value = "x" }]
            }),
        ]
    }

    static func uploadCases() -> [BadInput] {
        func upload(_ messages: [Segmentation_V1_UploadDatasetRequest]) -> @Sendable (Services) async throws -> Void {
            { services in
                _ = try await services.datasets.uploadDataset(requestProducer: { writer in
                    for message in messages { try await writer.write(message) }
                })
            }
        }
        let header = Segmentation_V1_UploadDatasetRequest.with { $0.header = .with { $0.name = "bad"; $0.kind = .transactions } }
        func chunk(_ name: String, _ text: String) -> Segmentation_V1_UploadDatasetRequest {
            .with { $0.chunk = .with { $0.fileName = name; $0.data = Data(text.utf8) } }
        }
        let good = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n536365,A,x,1,2010-12-01 08:26,2.5,17850,UK\n"
        return [
            BadInput(label: "upload without a header", code: .invalidArgument, names: "header", call: upload([chunk("a.csv", good)])),
            BadInput(label: "upload with two headers", code: .invalidArgument, names: "one header", call: upload([header, header])),
            BadInput(label: "upload of no file", code: .invalidArgument, names: "no file", call: upload([header])),
            BadInput(label: "upload of an unknown kind", code: .invalidArgument, names: "kind", call: upload([
                .with { $0.header = .with { $0.kind = .UNRECOGNIZED(9) } }, chunk("a.csv", good),
            ])),
            BadInput(label: "upload of a path", code: .invalidArgument, names: "plain name", call: upload([header, chunk("../../etc/passwd", good)])),
            BadInput(label: "upload of a hidden file", code: .invalidArgument, names: "plain name", call: upload([header, chunk(".hidden.csv", good)])),
            BadInput(label: "upload of an unnamed file", code: .invalidArgument, names: "plain name", call: upload([header, chunk("", good)])),
            BadInput(label: "upload of a file name over 255 bytes", code: .invalidArgument, names: "255 bytes",
                     call: upload([header, chunk(String(repeating: "é", count: 200) + ".csv", good)])),
            BadInput(label: "upload of a file name with a NUL", code: .invalidArgument, names: "control characters",
                     call: upload([header, chunk("a\u{0}b.csv", good)])),
            BadInput(label: "upload of a file name with a newline", code: .invalidArgument, names: "'a\\nb.csv'",
                     call: upload([header, chunk("a\nb.csv", good)])),
            BadInput(label: "upload of a file sent twice", code: .invalidArgument, names: "twice", call: upload([
                header, chunk("a.csv", good), chunk("b.csv", good), chunk("a.csv", good),
            ])),
            BadInput(label: "upload of an empty file", code: .invalidArgument, names: "a.csv", call: upload([header, chunk("a.csv", "")])),
            BadInput(label: "upload of only a header row", code: .invalidArgument, names: "rows", call: upload([
                header, chunk("a.csv", "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"),
            ])),
            BadInput(label: "upload without a customer column", code: .invalidArgument, names: "CustomerID", call: upload([
                header, chunk("a.csv", "InvoiceNo,Quantity\n1,2\n"),
            ])),
            BadInput(label: "upload with an unknown role", code: .invalidArgument, names: "shoe", call: upload([
                .with { $0.header = .with { $0.kind = .transactions; $0.columns = .with { $0.roles = ["shoe": "x"] } } }, chunk("a.csv", good),
            ])),
            BadInput(label: "upload of binary bytes", code: .invalidArgument, names: "a.bin", call: upload([
                header, .with { $0.chunk = .with { $0.fileName = "a.bin"; $0.data = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) }) } },
            ])),
        ]
    }

    static func jobAndDatasetCases(dataset: String) -> [BadInput] {
        [
            BadInput(label: "get a missing job", code: .notFound, names: "job-0", call: { services in
                _ = try await services.training.getJob(.with { $0.jobID = "job-0" })
            }),
            BadInput(label: "watch a missing job", code: .notFound, names: "job-0", call: { services in
                _ = try await services.training.watchJob(.with { $0.jobID = "job-0" }) { for try await _ in $0.messages {} }
            }),
            BadInput(label: "cancel a missing job", code: .notFound, names: "job-0", call: { services in
                _ = try await services.training.cancelJob(.with { $0.jobID = "job-0" })
            }),
            BadInput(label: "cancel a finished job", code: .failedPrecondition, names: "finished", call: { services in
                let finished = try await services.training.listJobs(.with { $0.pageSize = 1 }).jobs[0]
                _ = try await services.training.cancelJob(.with { $0.jobID = finished.id })
            }),
            BadInput(label: "get a missing dataset", code: .notFound, names: "sha256:feed", call: { services in
                _ = try await services.datasets.getDataset(.with { $0.id = "sha256:feed" })
            }),
            BadInput(label: "delete a dataset with no id", code: .invalidArgument, names: "id", call: { services in
                _ = try await services.datasets.deleteDataset(.init())
            }),
            BadInput(label: "delete a missing dataset", code: .notFound, names: "sha256:feed", call: { services in
                _ = try await services.datasets.deleteDataset(.with { $0.id = "sha256:feed" })
            }),
            BadInput(label: "delete a dataset a version needs", code: .failedPrecondition, names: "m@1", call: { services in
                _ = try await services.datasets.deleteDataset(.with { $0.id = dataset })
            }),
        ]
    }
}
