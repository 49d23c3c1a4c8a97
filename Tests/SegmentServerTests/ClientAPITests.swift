import Foundation
import GRPCCore
import SegmentationAPI
import Testing

@testable import SegmentCLI
@testable import SegmentServer

/// What a client in another language relies on: one model reference form, pages, idempotent
/// submits and uploads, responses that say what they hold, a score stream that survives a bad
/// request.
@Suite("The API for other services", .serialized, .timeLimit(.minutes(10)))
struct ClientAPITests {
    @Test(
        "A failed job's status tells bad data (INVALID_ARGUMENT and its reason) from an interruption, and a succeeded job has none"
    )
    func jobFailureStatus() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 200, seed: 6)
        try await harness.withServer { services, _ in
            let dataset = try await services.upload(path)
            let trained = try await services.train(dataset.id, model: "ok", ks: 3...3)
            #expect(trained.state == .succeeded && !trained.hasStatus)
            // A filter that leaves no customer: the data or the spec must change.
            let submitted = try await services.training.submitTrainingJob(
                .with {
                    $0.spec = .with {
                        $0.modelName = "bad"; $0.datasetID = dataset.id; $0.k = 3
                        $0.filters = [
                            .with {
                                $0.mode = .include; $0.column = "Country"; $0.value = "Atlantis"
                            }
                        ]
                    }
                }
            ).job
            let job = try await services.waitForJob(submitted.id)
            #expect(job.state == .failed)
            #expect(job.failure.code == 3, "\(job.status)")
            #expect(job.failure.reason != nil && job.status.message == job.error)
        }
    }

    @Test(
        "gzip and deflate: compressed uploads and scores are read, and the segments equal an uncompressed client's"
    )
    func compression() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 400, seed: 4)
        let csv = try Data(contentsOf: URL(fileURLWithPath: path))
        try await harness.withServer { services, server in
            let dataset = try await services.upload(path)
            #expect(
                try await services.train(dataset.id, model: "shop", ks: 3...3).state == .succeeded)
            let request = Segmentation_V1_ScoreRequest.with {
                $0.model = .init(text: "shop")
                $0.csv = .with { $0.data = csv }
            }
            let plain = try await services.scoring.score(request)
            let port = try await server.listeningPort
            let algorithms: [(CompressionAlgorithm, CompressionAlgorithmSet)] = [
                (.gzip, .gzip), (.deflate, .deflate),
            ]
            for (algorithm, accepted) in algorithms {
                try await withGRPCClient(
                    transport: .http2NIOPosix(
                        target: .ipv4(address: "127.0.0.1", port: port),
                        transportSecurity: .plaintext,
                        config: .defaults {
                            $0.compression = .init(
                                algorithm: algorithm, enabledAlgorithms: accepted)
                        })
                ) { client in
                    let compressed = Services(client: client)
                    // A client stream of compressed chunks stores the same bytes (same dataset id).
                    #expect(try await compressed.upload(path).id == dataset.id)
                    let scored = try await compressed.scoring.score(request)
                    #expect(scored == plain, "\(algorithm)")
                }
            }
        }
    }

    @Test(
        "Pages: every version once, in order, across pages; tokens bound to their list and filter; bad sizes and tokens refused"
    )
    func paging() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 300, seed: 3)
        try await harness.withServer { services, _ in
            let dataset = try await services.upload(path)
            _ = try await services.train(dataset.id, model: "pages", ks: 3...3)
            // Each rename makes a new version: 5 in all.
            for round in 1...4 {
                _ = try await services.models.renameSegment(
                    .with {
                        $0.model = .init(text: "pages"); $0.segmentID = 0;
                        $0.newName = "Renamed \(round)"
                    })
            }
            var seen: [Int32] = []
            var token = ""
            var pages = 0
            repeat {
                let page = try await services.models.listVersions(
                    .with {
                        $0.name = "pages"; $0.pageSize = 2; $0.pageToken = token
                    })
                #expect(page.versions.count <= 2)
                seen += page.versions.map(\.version)
                token = page.nextPageToken
                pages += 1
            } while !token.isEmpty && pages < 10
            #expect(seen == [1, 2, 3, 4, 5] && pages == 3)

            let first = try await services.models.listVersions(
                .with {
                    $0.name = "pages"; $0.pageSize = 2
                })
            #expect(!first.nextPageToken.isEmpty)
            let bad: [(String, @Sendable () async throws -> Void)] = [
                (
                    "a token from another filter",
                    {
                        _ = try await services.models.listVersions(
                            .with {
                                $0.name = "other"; $0.pageToken = first.nextPageToken
                            })
                    }
                ),
                (
                    "a token from another list",
                    {
                        _ = try await services.models.listModels(
                            .with { $0.pageToken = first.nextPageToken })
                    }
                ),
                (
                    "a made-up token",
                    {
                        _ = try await services.models.listModels(
                            .with { $0.pageToken = "bm90IGEgdG9rZW4" })
                    }
                ),
                (
                    "a negative page size",
                    { _ = try await services.training.listJobs(.with { $0.pageSize = -1 }) }
                ),
            ]
            for (label, call) in bad {
                #expect(await statusCode(call) == .invalidArgument, "\(label)")
            }
            let models = try await services.models.listModels(.with { $0.pageSize = 1 })
            #expect(models.models.map(\.name) == ["pages"] && models.nextPageToken.isEmpty)
        }
    }

    @Test(
        "request_id: a retried submit returns the first job and a retried upload the same dataset; the same id for another request is ALREADY_EXISTS; jobs page newest first"
    )
    func idempotency() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 300, seed: 4)
        let (otherPath, _) = try harness.sampleFile(customers: 200, seed: 5)
        try await harness.withServer { services, _ in
            func upload(_ file: String, id: String) async throws -> Segmentation_V1_Dataset {
                try await Uploader.upload(
                    [file],
                    header: .with {
                        $0.kind = .transactions; $0.requestID = id
                    }, services: services
                ).dataset
            }
            let dataset = try await upload(path, id: "upload-1")
            #expect(try await upload(path, id: "upload-1").id == dataset.id)
            #expect(
                await statusCode { _ = try await upload(otherPath, id: "upload-1") }
                    == .alreadyExists)
            // Content stored before under no id: the same rules, and nothing left behind by a refusal.
            let other = try await upload(otherPath, id: "")
            #expect(
                await statusCode { _ = try await upload(otherPath, id: "upload-1") }
                    == .alreadyExists)
            #expect(
                await statusCode { _ = try await upload(otherPath, id: "bad id with spaces") }
                    == .invalidArgument)
            #expect(try await upload(otherPath, id: "upload-2").id == other.id)
            let folders = try FileManager.default.contentsOfDirectory(
                atPath: (harness.dataDirectory as NSString).appendingPathComponent("datasets"))
            #expect(folders.filter { !$0.hasPrefix(".") }.count == 2, "\(folders)")

            func submit(_ id: String, k: Int32) async throws -> Segmentation_V1_Job {
                try await services.training.submitTrainingJob(
                    .with {
                        $0.requestID = id
                        $0.spec = .with {
                            $0.modelName = "idem"; $0.datasetID = dataset.id; $0.k = k
                        }
                    }
                ).job
            }
            let job = try await submit("train-1", k: 3)
            #expect(try await submit("train-1", k: 3).id == job.id)
            #expect(await statusCode { _ = try await submit("train-1", k: 4) } == .alreadyExists)
            #expect(
                await statusCode { _ = try await submit(String(repeating: "x", count: 65), k: 3) }
                    == .invalidArgument)
            let second = try await submit("train-2", k: 4)
            #expect(second.id != job.id)
            _ = try await services.waitForJob(job.id)
            _ = try await services.waitForJob(second.id)
            // still the same job once it finished
            #expect(try await submit("train-1", k: 3).id == job.id)
            let versions = try await services.models.listVersions(.with { $0.name = "idem" })
                .versions
            #expect(versions.count == 2, "one version per distinct request, not per call")

            var listed: [String] = []
            var token = ""
            repeat {
                let page = try await services.training.listJobs(
                    .with {
                        $0.pageSize = 1; $0.pageToken = token; $0.modelName = "idem"
                    })
                listed += page.jobs.map(\.id)
                token = page.nextPageToken
            } while !token.isEmpty && listed.count < 10
            #expect(Set(listed) == [job.id, second.id] && listed.count == 2)
        }
    }

    @Test(
        "ModelRef everywhere: by number, alias or latest; an alias promoted from another alias; bad refs name the field; responses hold scores or packed columns, never both"
    )
    func modelReferences() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 300, seed: 6)
        try await harness.withServer { services, _ in
            let dataset = try await services.upload(path)
            _ = try await services.train(dataset.id, model: "refs", ks: 3...3)
            _ = try await services.train(dataset.id, model: "refs", ks: 4...4)
            _ = try await services.models.setAlias(
                .with {
                    $0.model = .init(name: "refs", version: 1); $0.alias = "staging"
                })
            let promoted = try await services.models.setAlias(
                .with {
                    $0.model = .init(text: "refs@staging"); $0.alias = "production"
                })
            #expect(promoted.previousVersion == 0 && promoted.version == 1)
            let detail = try await services.models.getModel(
                .with { $0.model = .init(text: "refs@production") }
            ).model
            #expect(detail.version.version == 1)
            #expect(
                try await services.models.getModel(.with { $0.model = .init(text: "refs") }).model
                    .version.version == 2)
            #expect(
                try await services.models.getModel(.with { $0.model = .init(text: "refs@latest") })
                    .model.version.version == 2)
            let refused = await statusCode {
                _ = try await services.models.setAlias(
                    .with {
                        $0.model = .init(text: "refs"); $0.alias = "latest"
                    })
            }
            #expect(refused == .invalidArgument)
            do {
                _ = try await services.models.getModel(.with { $0.model = .init() })
                Issue.record("an empty ModelRef was accepted")
            } catch let error as RPCError {
                #expect(
                    error.code == .invalidArgument
                        && error.message.contains("model.name is required"))
            }

            let features = detail.expectedColumns
            let rows = Segmentation_V1_FeatureRows.with {
                $0.featureNames = features
                $0.rows = [
                    .with {
                        $0.customerID = "a"; $0.values = features.map { _ in 3 }
                    }
                ]
            }
            let byRows = try await services.scoring.score(
                .with {
                    $0.model = .init(text: "refs@production"); $0.features = rows
                })
            #expect(byRows.modelVersion == 1)
            guard case .scores(let scores)? = byRows.result else {
                Issue.record("no scores"); return
            }
            #expect(scores.scores.count == 1)
            let byMatrix = try await services.scoring.score(
                .with {
                    $0.model = .init(name: "refs", version: 2)
                    $0.matrix = .with {
                        $0.featureNames = features;
                        $0.values = features.map { _ in 3 } + features.map { _ in 50 }
                    }
                })
            guard case .packed(let packed)? = byMatrix.result else {
                Issue.record("no packed scores"); return
            }
            #expect(packed.segmentIds.count == 2 && byMatrix.modelVersion == 2)
        }
    }

    @Test(
        "ScoreStream: each response echoes its request_id; a bad row or an unknown model fails that response only and the stream goes on"
    )
    func streamErrors() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 300, seed: 7)
        try await harness.withServer { services, server in
            let dataset = try await services.upload(path)
            _ = try await services.train(dataset.id, model: "stream", ks: 3...3)
            let features = try await services.models.getModel(
                .with { $0.model = .init(text: "stream") }
            ).model.expectedColumns
            func rows(_ width: Int) -> Segmentation_V1_FeatureRows {
                .with {
                    $0.featureNames = features;
                    $0.rows = [
                        .with {
                            $0.customerID = "c-\(width)"; $0.values = (0..<width).map { _ in 2 }
                        }
                    ]
                }
            }
            let requests: [Segmentation_V1_ScoreRequest] = [
                .with {
                    $0.requestID = "r1"; $0.model = .init(text: "stream");
                    $0.features = rows(features.count)
                },
                .with {
                    $0.requestID = "r2"; $0.features = rows(features.count - 1)
                },  // wrong arity
                .with {
                    $0.requestID = "r3"; $0.features = rows(features.count)
                },  // the model carries over
                .with {
                    $0.requestID = "r4"; $0.model = .init(text: "ghost");
                    $0.features = rows(features.count)
                },
                .with {
                    $0.requestID = "r5"; $0.features = rows(features.count)
                },  // no model to carry over
                .with {
                    $0.requestID = "r6"; $0.model = .init(text: "stream@1");
                    $0.features = rows(features.count)
                },
            ]
            let answers = try await services.scoring.scoreStream { writer in
                for request in requests { try await writer.write(request) }
            } onResponse: { response in
                var answers: [Segmentation_V1_ScoreResponse] = []
                for try await answer in response.messages { answers.append(answer) }
                return answers
            }
            #expect(answers.map(\.requestID) == ["r1", "r2", "r3", "r4", "r5", "r6"])
            #expect(answers.map(\.hasError) == [false, true, false, true, true, false])
            #expect(
                answers[1].error.code == Int32(RPCError.Code.invalidArgument.rawValue)
                    && answers[1].error.reason == "BAD_ROW")
            #expect(answers[1].error.field == "customers[c-\(features.count - 1)].values")
            #expect(
                answers[3].error.code == Int32(RPCError.Code.notFound.rawValue)
                    && answers[3].error.message.contains("ghost"))
            #expect(answers[4].error.message.contains("model is required"))
            #expect(
                answers[0].scores.scores == answers[2].scores.scores && answers[5].modelVersion == 1
            )
            // The failed requests are counted, though the stream's own status is OK.
            let exposition = String(decoding: server.metrics.registry.emitToBuffer(), as: UTF8.self)
            #expect(
                exposition.contains(
                    #"segment_score_stream_errors_total{grpc_code="INVALID_ARGUMENT"} 2"#),
                "\(exposition)")
            #expect(
                exposition.contains(#"segment_score_stream_errors_total{grpc_code="NOT_FOUND"} 1"#))
        }
    }
}
